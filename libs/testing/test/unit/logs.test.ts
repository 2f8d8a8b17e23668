// Kept logs, the secrets list, and tools/scripts/check-secrets.mjs over them.
import { spawn, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeEach, describe, expect, it } from 'vitest';
import { keepLogs, logPath, registerSecret, SECRETS_FILE, TestLogError, testLogDir, writeLog } from '../../src/index';

const CHECK = join(import.meta.dirname, '..', '..', '..', '..', 'tools', 'scripts', 'check-secrets.mjs');
const root = mkdtempSync(join(tmpdir(), 'plogs-'));
let dir = root;
const saved = process.env['POSTERN_TEST_LOGS'];
afterAll(() => {
  if (saved === undefined) delete process.env['POSTERN_TEST_LOGS'];
  else process.env['POSTERN_TEST_LOGS'] = saved;
  rmSync(root, { recursive: true, force: true });
});
let n = 0;
beforeEach(() => {
  dir = join(root, `run${++n}`);
  process.env['POSTERN_TEST_LOGS'] = dir;
});

function check(...args: string[]): { status: number | null; out: string } {
  const r = spawnSync(process.execPath, [CHECK, ...args], { encoding: 'utf8', env: { ...process.env, POSTERN_TEST_LOGS: dir } });
  return { status: r.status, out: r.stdout + r.stderr };
}

const TOKEN = 'postern-test-token-Zx9+/q==';
const KEY = 'fiAjSBWDgQfD1CFJkTwOf4zg+1QhH0eTT+oLaVIMpH8=';

describe('kept logs', () => {
  it('writes a child process stdout and stderr under $POSTERN_TEST_LOGS/<suite>/<name>.log', async () => {
    expect(testLogDir()).toBe(dir);
    const child = spawn(process.execPath, ['-e', 'console.log("out line"); console.error("err line")']);
    const file = keepLogs(child, 'relay', 'postern-relay');
    await new Promise<void>((resolve) => child.once('close', () => { resolve(); }));
    await new Promise((r) => setTimeout(r, 50));
    expect(file).toBe(join(dir, 'relay', 'postern-relay.log'));
    const text = readFileSync(file, 'utf8');
    expect(text).toContain('out line');
    expect(text).toContain('err line');
    expect(text).toMatch(/^--- \d{4}-.* postern-relay started$/m);
  });

  it('refuses names that are paths and secrets that would match by chance', () => {
    expect(() => logPath('../x', 'a')).toThrow(TestLogError);
    expect(() => logPath('s', 'a/b')).toThrow(expect.objectContaining({ code: 'BAD_NAME' }));
    expect(() => { registerSecret('short'); }).toThrow(expect.objectContaining({ code: 'BAD_SECRET' }));
    expect(() => { registerSecret('with\ttab-in-it'); }).toThrow(expect.objectContaining({ code: 'BAD_SECRET' }));
  });

  it('registers each secret once, with its label', () => {
    registerSecret(TOKEN, 'client token');
    registerSecret(TOKEN, 'client token');
    registerSecret(KEY, 'gateway private key');
    expect(readFileSync(join(dir, SECRETS_FILE), 'utf8')).toBe(`client token\t${TOKEN}\ngateway private key\t${KEY}\n`);
  });
});

describe('check-secrets', () => {
  it('passes when no log holds a registered secret', () => {
    registerSecret(TOKEN, 'client token');
    writeLog('gateway', 'gw1', 'connected to portal\ntoken=[REDACTED]\n');
    const r = check();
    expect(r.status).toBe(0);
    expect(r.out).toMatch(/no secret in 1 log files \(1 secrets registered\)/);
    expect(r.out).toMatch(/^check-secrets: log files per suite: gateway 1$/m);
  });

  it('fails listing file:line and the label, never the secret, for every form it can take', () => {
    registerSecret(TOKEN, 'client token');
    registerSecret(KEY, 'gateway private key');
    writeLog('client', 'headless', ['ok', `url wss://p/?token=${encodeURIComponent(TOKEN)}`, 'ok'].join('\n'));
    writeLog('gateway', 'gw1', ['ok', 'ok', `key ${Buffer.from(KEY, 'base64').toString('hex')}`, `raw ${TOKEN}`].join('\n'));
    mkdirSync(join(dir, 'gui'), { recursive: true });
    writeFileSync(join(dir, 'gui', 'trace.json'), JSON.stringify({ k: KEY.replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '') }));
    const r = check();
    expect(r.status).toBe(1);
    expect(r.out).toMatch(/client\/headless\.log:2: client token \(URL-encoded\)$/m);
    expect(r.out).toMatch(/gw1\.log:3: gateway private key \(hex\)/);
    expect(r.out).toMatch(/gw1\.log:4: client token \(as is\)/);
    expect(r.out).toMatch(/trace\.json:1: gateway private key \(base64url\)/);
    expect(r.out).toMatch(/4 secret\(s\) found in logs/);
    expect(r.out).not.toContain(TOKEN);
    expect(r.out).not.toContain(KEY);
  });

  it('--reset empties the folder; a missing folder is nothing to check; bad flags exit 2', () => {
    registerSecret(TOKEN, 'client token');
    writeLog('relay', 'r', TOKEN);
    expect(check().status).toBe(1);
    expect(check('--reset').status).toBe(0);
    expect(readFileSync(join(dir, SECRETS_FILE), 'utf8')).toBe('');
    expect(check().status).toBe(0);
    expect(check('--dir', join(root, 'nope')).out).toMatch(/does not exist/);
    expect(check('--frobnicate').status).toBe(2);
  });
});
