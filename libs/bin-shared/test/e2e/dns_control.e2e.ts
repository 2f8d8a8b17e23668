// etc-resolv-conf for real: the driver runs in a private mount namespace (`unshare -m`) where a temp
// directory is bind-mounted over /etc and a temp file over /etc/resolv.conf, so the machine's own files are
// never touched while the code uses its default paths and must write the bind-mounted file in place.
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { bundle } from '../support/bundle';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RESOLV_CONF_MARKER } from '../../src/dns_control';

const ORIGINAL = 'nameserver 198.18.12.53\nnameserver 198.18.12.54\nsearch lan.example\noptions edns0\n';

/** /etc is replaced inside the namespace: drop settings that point into it. */
function childEnv(): NodeJS.ProcessEnv {
  const env = { ...process.env };
  delete env['NODE_EXTRA_CA_CERTS'];
  return env;
}

describe('etc-resolv-conf in a private mount namespace', () => {
  let dir: string;
  let driver: { file: string; dispose: () => void };
  let file: string;
  let etc: string;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'pbs-dns-'));
    driver = await bundle(join(import.meta.dirname, 'support/dns_driver.ts'));
  });
  afterAll(() => {
    driver.dispose();
    rmSync(dir, { recursive: true, force: true });
  });

  function fresh(): void {
    etc = join(dir, 'etc');
    rmSync(etc, { recursive: true, force: true });
    mkdirSync(etc);
    writeFileSync(join(etc, 'resolv.conf'), '');
    file = join(dir, 'resolv.conf.mounted');
    writeFileSync(file, ORIGINAL);
  }

  function run(...args: string[]): { status: number | null; json: unknown; stderr: string } {
    const script = `mount --make-rprivate / && mount --bind "$1" /etc && mount --bind "$2" /etc/resolv.conf && shift 2 && exec "$@"`;
    const r = spawnSync('unshare', ['-m', 'sh', '-c', script, 'sh', etc, file, process.execPath, driver.file, ...args], {
      encoding: 'utf8',
      timeout: 20_000,
      env: childEnv(),
    });
    const line = r.stdout.trim().split('\n').pop() ?? '';
    return { status: r.status, json: line === '' ? undefined : JSON.parse(line), stderr: r.stderr };
  }

  it('rewrites the file in place with a marker and reports the original upstreams', () => {
    fresh();
    const r = run('set', '100.100.111.1', 'fd00:2021:1111:8000:100:100:111:0');
    expect(r.stderr).toBe('');
    expect(r.json).toEqual({ resolvers: ['198.18.12.53', '198.18.12.54'] });
    const now = readFileSync(file, 'utf8');
    expect(now.startsWith(RESOLV_CONF_MARKER)).toBe(true);
    expect(now).toContain('nameserver 100.100.111.1\nnameserver fd00:2021:1111:8000:100:100:111:0\n');
    expect(now).toContain('search corp.example lan.example');
    expect(now).toContain('options edns0');
    expect(readFileSync(join(etc, 'resolv.conf.before-postern'), 'utf8')).toBe(ORIGINAL);
  });

  it('deactivate() restores the original and removes the backup', () => {
    fresh();
    const r = run('set-deactivate', '100.100.111.1');
    expect(r.json).toEqual({ ok: true });
    expect(readFileSync(file, 'utf8')).toBe(ORIGINAL);
    expect(existsSync(join(etc, 'resolv.conf.before-postern'))).toBe(false);
  });

  it('reverts what a crashed run left behind on the next start', () => {
    fresh();
    expect(run('crash', '100.100.111.1').status).toBe(3);
    expect(readFileSync(file, 'utf8').startsWith(RESOLV_CONF_MARKER)).toBe(true);
    expect(run('start').json).toEqual({ ok: true });
    expect(readFileSync(file, 'utf8')).toBe(ORIGINAL);
    expect(existsSync(join(etc, 'resolv.conf.before-postern'))).toBe(false);
  });

  it('never touches the machine resolv.conf', () => {
    expect(readFileSync('/etc/resolv.conf', 'utf8')).not.toContain('Postern');
    expect(existsSync('/etc/resolv.conf.before-postern')).toBe(false);
  });
});
