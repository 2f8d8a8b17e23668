import { chmodSync, symlinkSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bundleApp, runNode } from '@postern/testing';
import { CliError, parseCli, resolveToken } from '../../src/cli';

const message = (f: () => unknown): string => {
  try {
    f();
    return 'accepted';
  } catch (e) {
    expect(e).toBeInstanceOf(CliError);
    return (e as Error).message;
  }
};
const isRoot = process.getuid?.() === 0;

describe('postern-client CLI', () => {
  let bundle: Awaited<ReturnType<typeof bundleApp>>;
  const dir = mkdtempSync(join(tmpdir(), 'postern-client-cli-'));
  beforeAll(async () => {
    bundle = await bundleApp(join(import.meta.dirname, '../../src/main.ts'), { binary: 'postern-client', version: '1.2.3', gitSha: '0123abcd' });
    // native packages (koffi) stay external: let the bundle in its temp folder find the workspace's node_modules
    symlinkSync(join(import.meta.dirname, '../../../../node_modules'), join(dirname(bundle.file), 'node_modules'));
  });
  afterAll(() => {
    bundle.dispose();
    rmSync(dir, { recursive: true, force: true });
  });

  it('prints "<binary> <version> (<git sha>)" for --version', () => {
    const r = runNode(bundle.file, ['--version']);
    expect(r.stdout.trim()).toBe('postern-client 1.2.3 (0123abcd)');
    expect(r.status).toBe(0);
  });

  it('reads flags and environment variables with defaults', () => {
    const c = parseCli(['--activate-internet-resource', '--dns-control', 'etc-resolv-conf', '--exit'], { POSTERN_API_URL: 'ws://198.18.24.1:8080', POSTERN_TOKEN: 'tok' });
    expect(c).toMatchObject({ apiUrl: 'ws://198.18.24.1:8080', token: 'tok', activateInternetResource: true, dnsControl: 'etc-resolv-conf', exit: true, check: false, tunName: 'tun-postern' });
    expect(parseCli([], {}).dnsControl).toBe('systemd-resolved');
    expect(parseCli([], { POSTERN_DNS_CONTROL: 'disabled' }).dnsControl).toBe('disabled');
  });

  it('rejects bad flags with one clear line', () => {
    expect(message(() => parseCli(['--bogus'], {}))).toBe('unknown flag --bogus');
    expect(message(() => parseCli(['--dns-control', 'magic'], {}))).toMatch(/--dns-control: expected one of systemd-resolved/);
    expect(message(() => parseCli(['--api-url', 'nonsense'], {}))).toMatch(/--api-url/);
    expect(message(() => parseCli(['--tun-name', 'a-name-longer-than-15'], {}))).toMatch(/--tun-name/);
    expect(message(() => parseCli(['--exit=yes'], {}))).toMatch(/takes no value/);
  });

  it.runIf(isRoot)('accepts only a root-owned token file without group/other access', () => {
    const file = join(dir, 'token');
    writeFileSync(file, 'secret\n');
    chmodSync(file, 0o600);
    expect(resolveToken(parseCli(['--token-file', file], {}), {})).toBe('secret');
    chmodSync(file, 0o644);
    expect(message(() => resolveToken(parseCli(['--token-file', file], {}), {}))).toMatch(/must not be readable by group or others/);
    expect(message(() => resolveToken(parseCli([], {}), { POSTERN_TOKEN_PATH: join(dir, 'missing') }))).toMatch(/missing token/);
  });

  it('exits 2 with one line on a bad flag or a missing token; --check validates and exits 0', () => {
    const env = { PATH: process.env['PATH'] ?? '', POSTERN_TOKEN_PATH: join(dir, 'missing') };
    const bad = runNode(bundle.file, ['--dns-control', 'x'], env);
    expect(bad.status).toBe(2);
    expect(bad.stderr.trim().split('\n')).toHaveLength(1);
    const missing = runNode(bundle.file, ['--check'], env);
    expect(missing.status).toBe(2);
    expect(missing.stderr.trim()).toMatch(/^postern-client: missing token/);
    const ok = runNode(bundle.file, ['--check'], { ...env, POSTERN_TOKEN: 'tok' });
    expect(ok.status).toBe(0);
    expect(ok.stdout).toMatch(/configuration is valid/);
  });
});
