import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { build } from 'esbuild';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { MAX_MMAP_THRESHOLD, missingEnv, missingNodeFlags, reexecArgv, reexecAtStart, reexecWith, setMmapThreshold, trimMalloc, userMmapThreshold } from '../../src/index';

const real = process.platform;
function pretend(platform: string): void {
  Object.defineProperty(process, 'platform', { value: platform, configurable: true });
}

describe('missingNodeFlags', () => {
  it('keeps a flag the user set, with any value or spelling, on the command line or in NODE_OPTIONS', () => {
    const want = ['--max-semi-space-size=2', '--trace-gc'];
    expect(missingNodeFlags(want, [])).toEqual(want);
    expect(missingNodeFlags(want, ['--max-semi-space-size=16'])).toEqual(['--trace-gc']);
    expect(missingNodeFlags(want, ['--max_semi_space_size=1', '--trace-gc'])).toEqual([]);
    expect(missingNodeFlags(want, ['--cpu-prof'], '  --max-semi-space-size=2   --inspect ')).toEqual(['--trace-gc']);
    expect(missingNodeFlags(want, [], '--max-semi-space-size-x=2')).toEqual(want);
  });

  it('takes a boolean flag and its --no- form for one flag: the user may turn it either way', () => {
    const want = ['--no-memory-reducer'];
    expect(missingNodeFlags(want, [])).toEqual(want);
    expect(missingNodeFlags(want, ['--memory-reducer'])).toEqual([]);
    expect(missingNodeFlags(want, ['--no_memory_reducer'])).toEqual([]);
    expect(missingNodeFlags(want, [], '--no-memory-reducer')).toEqual([]);
    expect(missingNodeFlags(want, ['--memory-reducer-for-small-heaps'])).toEqual(want);
    expect(missingNodeFlags(['--trace-gc'], ['--no-trace-gc'])).toEqual([]);
  });

  it('rejects what is not a --name[=value] flag with INVALID_NODE_FLAG', () => {
    for (const bad of ['max-semi-space-size=2', '--', '--a b', '', '-e', '--x=']) {
      expect(() => missingNodeFlags([bad], [])).toThrow(expect.objectContaining({ code: 'INVALID_NODE_FLAG' }));
    }
  });
});

describe('missingEnv', () => {
  it('keeps a variable the user set, even to an empty value', () => {
    expect(missingEnv({ MALLOC_ARENA_MAX: '2', A: 'x' }, { MALLOC_ARENA_MAX: '8' })).toEqual({ A: 'x' });
    expect(missingEnv({ MALLOC_ARENA_MAX: '2' }, { MALLOC_ARENA_MAX: '' })).toEqual({});
    expect(missingEnv({ MALLOC_ARENA_MAX: '2' }, {})).toEqual({ MALLOC_ARENA_MAX: '2' });
  });
});

describe('reexecArgv', () => {
  it('is node, its own flags, the missing ones, then the script and its arguments', () => {
    const argv = reexecArgv(['--max-semi-space-size=2'], { execPath: '/usr/bin/node', execArgv: ['--trace-gc'], argv: ['node', '/opt/gw/main.js', '--log-format', 'json'] });
    expect(argv).toEqual(['/usr/bin/node', '--trace-gc', '--max-semi-space-size=2', '/opt/gw/main.js', '--log-format', 'json']);
    expect(() => reexecArgv(['--x'], { argv: ['node'] })).toThrow(expect.objectContaining({ code: 'INVALID_NODE_FLAG' }));
  });
});

describe('setMmapThreshold', () => {
  it('refuses what glibc would not take, before calling it', () => {
    const invalid = expect.objectContaining({ code: 'INVALID_THRESHOLD' });
    for (const bad of [-1, MAX_MMAP_THRESHOLD + 1, 1.5, Number.NaN, 2 ** 40]) expect(() => setMmapThreshold(bad)).toThrow(invalid);
  });

  it('userMmapThreshold sees the variable and the tunable, not other tunables', () => {
    expect(userMmapThreshold({})).toBe(false);
    expect(userMmapThreshold({ MALLOC_MMAP_THRESHOLD_: '65536' })).toBe(true);
    expect(userMmapThreshold({ GLIBC_TUNABLES: 'glibc.malloc.mmap_threshold=65536' })).toBe(true);
    expect(userMmapThreshold({ GLIBC_TUNABLES: 'glibc.malloc.arena_max=2:glibc.malloc.mmap_threshold=65536' })).toBe(true);
    expect(userMmapThreshold({ GLIBC_TUNABLES: 'glibc.malloc.arena_max=2' })).toBe(false);
    expect(userMmapThreshold({ GLIBC_TUNABLES: 'glibc.malloc.mmap_threshold_x=1' })).toBe(false);
  });

  it('reexecAtStart sets it once no re-exec is needed; a bad one is said on stderr and returned, not thrown', () => {
    const said = vi.spyOn(console, 'error').mockImplementation(() => undefined);
    try {
      const start = { argv: ['node', 'main.js'], execArgv: ['--no-memory-reducer'], env: {} };
      expect(reexecAtStart('postern-x', { nodeFlags: ['--no-memory-reducer'], mmapThreshold: MAX_MMAP_THRESHOLD }, start)).toBeUndefined();
      expect(said).not.toHaveBeenCalled();
      const err = reexecAtStart('postern-x', { nodeFlags: ['--no-memory-reducer'], mmapThreshold: MAX_MMAP_THRESHOLD * 2 }, start);
      expect(err).toEqual(expect.objectContaining({ code: 'INVALID_THRESHOLD' }));
      expect(String(said.mock.calls[0]?.[0])).toMatch(/^postern-x: running with V8's and glibc's default settings .*mmapThreshold/);
      // the user's own threshold wins: nothing is set, so nothing is refused
      const own = { ...start, env: { MALLOC_MMAP_THRESHOLD_: '131072' } };
      expect(reexecAtStart('postern-x', { nodeFlags: ['--no-memory-reducer'], mmapThreshold: MAX_MMAP_THRESHOLD * 2 }, own)).toBeUndefined();
    } finally {
      said.mockRestore();
    }
  });
});

describe('on other platforms', () => {
  afterEach(() => {
    pretend(real);
  });
  it('trimMalloc and a needed re-exec fail with UNSUPPORTED_PLATFORM; nothing to do is not an error', () => {
    pretend('darwin');
    const unsupported = expect.objectContaining({ code: 'UNSUPPORTED_PLATFORM' });
    expect(() => trimMalloc()).toThrow(unsupported);
    expect(() => setMmapThreshold(MAX_MMAP_THRESHOLD)).toThrow(unsupported);
    expect(() => reexecWith({ nodeFlags: ['--max-semi-space-size=2'] }, { execArgv: [], env: {} })).toThrow(unsupported);
    expect(() => reexecWith({ env: { MALLOC_ARENA_MAX: '2' } }, { execArgv: [], env: {} })).toThrow(unsupported);
    const settings = { nodeFlags: ['--max-semi-space-size=2'], env: { MALLOC_ARENA_MAX: '2' } };
    expect(reexecWith(settings, { execArgv: ['--max-semi-space-size=4'], env: { MALLOC_ARENA_MAX: '8' } })).toBe(false);
  });

  it('reexecAtStart: --version/--help never re-execute; a failed re-exec is said on stderr and returned, not thrown', () => {
    pretend('darwin');
    const said = vi.spyOn(console, 'error').mockImplementation(() => undefined);
    try {
      const want = { nodeFlags: ['--no-memory-reducer'] };
      for (const info of ['--version', '-V', '--help', '-h']) {
        expect(reexecAtStart('postern-x', want, { argv: ['node', 'main.js', '--log', 'debug', info], execArgv: [], env: {} })).toBeUndefined();
      }
      expect(reexecAtStart('postern-x', want, { argv: ['node', 'main.js'], execArgv: ['--no-memory-reducer'], env: {} })).toBeUndefined();
      expect(said).not.toHaveBeenCalled();
      const err = reexecAtStart('postern-x', want, { argv: ['node', 'main.js', '--log', 'debug'], execArgv: [], env: {} });
      expect(err).toEqual(expect.objectContaining({ code: 'UNSUPPORTED_PLATFORM' }));
      expect(said).toHaveBeenCalledTimes(1);
      expect(String(said.mock.calls[0]?.[0])).toMatch(/^postern-x: running with V8's and glibc's default settings .*--no-memory-reducer/);
    } finally {
      said.mockRestore();
    }
  });
});

describe('in a real node process', () => {
  let dir = '';
  let driver = '';
  let trimDriver = '';
  let mmapDriver = '';
  const repoModules = join(import.meta.dirname, '..', '..', '..', '..', 'node_modules');
  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'pbs-reexec-'));
    driver = join(dir, 'reexec.cjs');
    trimDriver = join(dir, 'trim.cjs');
    mmapDriver = join(dir, 'mmap.cjs');
    for (const [name, out] of [['reexec_driver.ts', driver], ['trim_driver.ts', trimDriver], ['mmap_driver.ts', mmapDriver]] as const) {
      await build({ entryPoints: [join(import.meta.dirname, '..', 'support', name)], outfile: out, bundle: true, platform: 'node', format: 'cjs', target: 'node20', logLevel: 'error', external: ['koffi'] });
    }
  });
  afterAll(() => {
    rmSync(dir, { recursive: true, force: true });
  });

  /** The driver's JSON line. */
  type Report = Record<string, unknown>;
  function runDriver(nodeFlags: string[], extraEnv: Record<string, string> = {}, file = driver): Promise<{ report: Report; pid: number | undefined; code: number | null; stderr: string }> {
    return new Promise((resolve, reject) => {
      const child = spawn(process.execPath, [...nodeFlags, file, 'one', 'two words'], {
        env: { PATH: process.env['PATH'] ?? '', NODE_PATH: repoModules, PBS_MARK: 'kept', ...extraEnv },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let out = '';
      let stderr = '';
      child.stdout.on('data', (d: Buffer) => (out += d.toString()));
      child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
      child.on('error', reject);
      child.on('close', (code) => {
        try {
          resolve({ report: JSON.parse(out) as Report, pid: child.pid, code, stderr });
        } catch (err) {
          reject(new Error(`driver printed ${JSON.stringify(out)}, stderr ${stderr}`, { cause: err }));
        }
      });
    });
  }

  it('trimMalloc returns the free pages inside the malloc arenas to the kernel', async () => {
    const r = await runDriver([], {}, trimDriver);
    expect(r.code).toBe(0);
    expect(r.report['released']).toBe(true);
    // 50 MB were malloced and freed in a thread's arena; free() alone leaves (most of) the hole below the kept
    // block resident (23-48 MB above the start in 6 runs, 7 MB after the trim: the thread's isolate).
    const base = Number(r.report['base']);
    const heldAfterFree = Number(r.report['freed']) - base;
    expect(heldAfterFree).toBeGreaterThan(10 * 1048576);
    expect(Number(r.report['trimmed']) - base).toBeLessThan(heldAfterFree / 2);
  });

  it('setMmapThreshold puts a ring-sized buffer made afterwards below 2^31 (glibc maps it on its own, above, by default)', async () => {
    const r = await runDriver([], {}, mmapDriver);
    expect(r.code).toBe(0);
    expect(r.report['accepted']).toBe(true);
    expect(Number(r.report['before'])).toBeGreaterThan(2 ** 31);
    expect(Number(r.report['after'])).toBeGreaterThan(0);
    expect(Number(r.report['after'])).toBeLessThan(2 ** 31);
  });

  it('reexecWith replaces a process started without the flag (same pid, arguments, environment and stdout) and the flag takes effect', async () => {
    const r = await runDriver(['--no-warnings']);
    expect(r.code).toBe(0);
    expect(r.report['pid']).toBe(r.pid);
    expect(r.report['execArgv']).toEqual(['--no-warnings', '--max-semi-space-size=2']);
    expect(r.report['args']).toEqual(['one', 'two words']);
    expect(r.report['mark']).toBe('kept');
    expect(r.report['added']).toBe('added');
    // 2 MiB semi-spaces: the new space stays at 4 MiB through a burst that grows V8's default to 32 MiB.
    expect(r.report['newSpaceMiB']).toBeLessThanOrEqual(4);
  });

  it('reexecWith re-executes for a missing variable alone (the flag given in NODE_OPTIONS stays there)', async () => {
    const r = await runDriver([], { NODE_OPTIONS: '--max-semi-space-size=2' });
    expect(r.code).toBe(0);
    expect(r.report['pid']).toBe(r.pid);
    expect(r.report['execArgv']).toEqual([]);
    expect(r.report['added']).toBe('added');
    expect(r.report['newSpaceMiB']).toBeLessThanOrEqual(4);
  });

  it("reexecWith keeps the user's own values (no re-exec): the young generation then grows as that value allows", async () => {
    const r = await runDriver(['--max-semi-space-size=16'], { PBS_ADDED: 'mine' });
    expect(r.code).toBe(0);
    expect(r.report['execArgv']).toEqual(['--max-semi-space-size=16']);
    expect(r.report['added']).toBe('mine');
    expect(r.report['newSpaceMiB']).toBeGreaterThan(8);
  });
});
