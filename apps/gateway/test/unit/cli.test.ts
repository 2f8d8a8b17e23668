import { symlinkSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
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

describe('postern-gateway CLI', () => {
  let bundle: Awaited<ReturnType<typeof bundleApp>>;
  const dir = mkdtempSync(join(tmpdir(), 'postern-gw-cli-'));
  beforeAll(async () => {
    bundle = await bundleApp(join(import.meta.dirname, '../../src/main.ts'), { binary: 'postern-gateway', version: '1.2.3', gitSha: '0123abcd' });
    // native packages (koffi) stay external: let the bundle in its temp folder find the workspace's node_modules
    symlinkSync(join(import.meta.dirname, '../../../../node_modules'), join(dirname(bundle.file), 'node_modules'));
  });
  afterAll(() => {
    bundle.dispose();
    rmSync(dir, { recursive: true, force: true });
  });

  it('prints "<binary> <version> (<git sha>)" for --version', () => {
    const r = runNode(bundle.file, ['--version']);
    expect(r.stdout.trim()).toBe('postern-gateway 1.2.3 (0123abcd)');
    expect(r.status).toBe(0);
  });

  it('reads flags and environment variables with defaults', () => {
    const c = parseCli(['--tun-threads', '2', '--health-check-addr=127.0.0.1:9000', '--no-check', '--max-partition-time', '30m'], {
      POSTERN_API_URL: 'ws://198.18.24.1:8080',
      POSTERN_TOKEN: ' tok \n',
      POSTERN_ID: 'gw-1',
      POSTERN_LOG: 'debug',
    });
    expect(c).toMatchObject({ apiUrl: 'ws://198.18.24.1:8080', token: 'tok', id: 'gw-1', tunThreads: 2, noCheck: true, logFilter: 'debug', logFormat: 'human', maxPartitionTimeMs: 1_800_000 });
    expect(c.healthCheckAddr).toEqual({ host: '127.0.0.1', port: 9000 });
  });

  it('takes the token from POSTERN_TOKEN, then --token-file, then the systemd credential', () => {
    const file = join(dir, 'tok');
    writeFileSync(file, 'from-file\n');
    writeFileSync(join(dir, 'token'), 'from-credential\n');
    expect(resolveToken(parseCli([], { POSTERN_TOKEN: 'env' }), {})).toBe('env');
    expect(resolveToken(parseCli(['--token-file', file], {}), {})).toBe('from-file');
    expect(resolveToken(parseCli([], {}), { CREDENTIALS_DIRECTORY: dir })).toBe('from-credential');
    expect(message(() => resolveToken(parseCli([], {}), {}))).toMatch(/missing token/);
    expect(message(() => resolveToken(parseCli(['--token-file', join(dir, 'nope')], {}), {}))).toMatch(/cannot read the token file/);
  });

  it('rejects bad flags with one clear line', () => {
    expect(message(() => parseCli(['--bogus'], {}))).toBe('unknown flag --bogus');
    expect(message(() => parseCli(['positional'], {}))).toMatch(/unexpected argument/);
    expect(message(() => parseCli(['--tun-threads', '0'], {}))).toMatch(/--tun-threads/);
    expect(message(() => parseCli(['--api-url', 'ftp://x'], {}))).toMatch(/--api-url/);
    expect(message(() => parseCli(['--log-format', 'xml'], {}))).toMatch(/--log-format/);
    expect(message(() => parseCli(['--health-check-addr', 'nope'], {}))).toMatch(/host:port/);
    expect(message(() => parseCli(['--max-partition-time', 'soon'], {}))).toMatch(/duration/);
    expect(message(() => parseCli(['--no-check=1'], {}))).toMatch(/takes no value/);
    expect(message(() => parseCli(['--id'], {}))).toMatch(/needs a value/);
  });

  it('exits 2 with one line on a bad flag or a missing token', () => {
    const bad = runNode(bundle.file, ['--tun-threads', 'x']);
    expect(bad.status).toBe(2);
    expect(bad.stderr.trim().split('\n')).toHaveLength(1);
    expect(bad.stderr).toMatch(/^postern-gateway: --tun-threads/);
    const env = { PATH: process.env['PATH'] ?? '' };
    const missing = runNode(bundle.file, ['--no-check'], env);
    expect(missing.status).toBe(2);
    expect(missing.stderr.trim()).toMatch(/^postern-gateway: missing token/);
  });

  it('prints usage for --help', () => {
    const r = runNode(bundle.file, ['--help']);
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/POSTERN_API_URL/);
  });
});
