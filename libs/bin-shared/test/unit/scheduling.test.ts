import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { build } from 'esbuild';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SCHED_BATCH, SCHED_OTHER, SCHED_POLICY_VAR, SchedulingError, parseSchedulingPolicy, schedulingAtStart, setSchedulingPolicy } from '../../src/index';

describe('parseSchedulingPolicy', () => {
  it('takes batch and other (any case, spaces around), and the fallback when unset or empty', () => {
    expect(parseSchedulingPolicy('batch', 'other')).toBe('batch');
    expect(parseSchedulingPolicy(' OTHER ', 'batch')).toBe('other');
    expect(parseSchedulingPolicy(undefined, 'batch')).toBe('batch');
    expect(parseSchedulingPolicy('', undefined)).toBeUndefined();
  });

  it.each(['fifo', 'rr', 'idle', '3', 'batch,other', 'b atch', '\u0000'])('refuses %j with INVALID_POLICY naming the variable', (v) => {
    let caught: unknown;
    try {
      parseSchedulingPolicy(v, 'batch');
    } catch (err) {
      caught = err;
    }
    expect(caught).toBeInstanceOf(SchedulingError);
    expect((caught as SchedulingError).code).toBe('INVALID_POLICY');
    expect((caught as SchedulingError).message).toContain(SCHED_POLICY_VAR);
  });
});

describe.runIf(process.platform === 'linux')('on Linux', () => {
  it('schedulingAtStart says a bad variable on stderr and changes nothing', () => {
    const said: unknown[] = [];
    const error = console.error;
    console.error = (m: unknown) => said.push(m);
    try {
      const r = schedulingAtStart('postern-x', 'batch', { [SCHED_POLICY_VAR]: 'realtime' });
      expect(r).toBeInstanceOf(SchedulingError);
    } finally {
      console.error = error;
    }
    expect(String(said[0])).toMatch(/^postern-x: keeping the kernel's default scheduling policy: POSTERN_SCHED_POLICY="realtime"/);
    expect(schedulingAtStart('postern-x', undefined, {})).toBeUndefined();
  });

  it('setSchedulingPolicy skips a thread that is gone and reports a refusal with its errno', () => {
    expect(setSchedulingPolicy('other', [2 ** 30])).toBe(0); // no such thread: ESRCH, skipped
    let caught: unknown;
    try {
      setSchedulingPolicy('batch', [-1]); // EINVAL
    } catch (err) {
      caught = err;
    }
    expect((caught as SchedulingError).code).toBe('SETSCHEDULER_FAILED');
    expect((caught as SchedulingError).errno).toBe(22);
  });

  const repoModules = join(import.meta.dirname, '..', '..', '..', '..', 'node_modules');
  const dir = mkdtempSync(join(tmpdir(), 'pbs-sched-'));
  const driver = { file: join(dir, 'sched.cjs') };
  beforeAll(async () => {
    // CommonJS, so that the external koffi resolves through NODE_PATH (the repository's node_modules)
    const entry = join(import.meta.dirname, '..', 'support', 'sched_driver.ts');
    await build({ entryPoints: [entry], outfile: driver.file, bundle: true, platform: 'node', format: 'cjs', target: 'node20', logLevel: 'error', external: ['koffi'] });
  });
  afterAll(() => {
    rmSync(dir, { recursive: true, force: true });
  });

  type Report = { before: Record<string, number>; after: Record<string, number>; result: string | null };
  function run(env: Record<string, string>): Promise<Report> {
    return new Promise((resolve, reject) => {
      const env2 = { PATH: process.env['PATH'] ?? '', NODE_PATH: repoModules, ...env };
      const child = spawn(process.execPath, [driver.file], { env: env2, stdio: ['ignore', 'pipe', 'pipe'] });
      let out = '';
      let err = '';
      child.stdout.on('data', (d: Buffer) => (out += d.toString()));
      child.stderr.on('data', (d: Buffer) => (err += d.toString()));
      child.on('error', reject);
      child.on('close', () => {
        try {
          resolve(JSON.parse(out) as Report);
        } catch (e) {
          reject(new Error(`driver printed ${JSON.stringify(out)}, stderr ${err}`, { cause: e }));
        }
      });
    });
  }

  it("a start step puts every thread in SCHED_BATCH, and a worker started afterwards inherits it", async () => {
    const r = await run({});
    expect(r.result).toBe('batch');
    const before = Object.values(r.before);
    expect(before.length).toBeGreaterThan(1); // node's own threads are there already
    expect(before.every((p) => p === SCHED_OTHER)).toBe(true);
    const newThreads = Object.keys(r.after).filter((t) => !(t in r.before));
    expect(newThreads.length).toBeGreaterThan(0); // the worker (and its helpers)
    expect(Object.values(r.after).every((p) => p === SCHED_BATCH)).toBe(true);
  });

  it(`${SCHED_POLICY_VAR}=other keeps the kernel's default`, async () => {
    const r = await run({ [SCHED_POLICY_VAR]: 'other' });
    expect(r.result).toBe('other');
    expect(Object.values(r.after).every((p) => p === SCHED_OTHER)).toBe(true);
  });
});
