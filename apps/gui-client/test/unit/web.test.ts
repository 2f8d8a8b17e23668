// The GUI's web server: the per-run secret, Host and CSRF checks, and the sign-in callback's state check.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { localConnector } from '../../src/ipc/local';
import { GuiController } from '../../src/gui/controller';
import { TokenStore } from '../../src/gui/files';
import { checkRequest, cookieValue, startWeb, type WebHandle } from '../../src/gui/web';
import { FakeBackend } from '../../src/service/fake-backend';
import { ServiceHandler } from '../../src/service/handler';

const SECRET = 's3cret';

describe('request checks', () => {
  const ok = { method: 'GET', host: '127.0.0.1:5000', cookie: `a=b; postern_gui=${SECRET}`, csrf: undefined };
  it('lets a GET with the cookie and our Host through', () => {
    expect(checkRequest(ok, SECRET, 5000)).toBe('ok');
    expect(checkRequest({ ...ok, host: 'localhost:5000' }, SECRET, 5000)).toBe('ok');
  });
  it('refuses a missing or wrong cookie', () => {
    expect(checkRequest({ ...ok, cookie: undefined }, SECRET, 5000)).toBe('no-secret');
    expect(checkRequest({ ...ok, cookie: 'postern_gui=s3creT' }, SECRET, 5000)).toBe('no-secret');
    expect(checkRequest({ ...ok, cookie: 'postern_gui=' }, SECRET, 5000)).toBe('no-secret');
  });
  it('refuses another Host (DNS rebinding)', () => {
    expect(checkRequest({ ...ok, host: 'evil.example:5000' }, SECRET, 5000)).toBe('bad-host');
    expect(checkRequest({ ...ok, host: '127.0.0.1:5001' }, SECRET, 5000)).toBe('bad-host');
    expect(checkRequest({ ...ok, host: undefined }, SECRET, 5000)).toBe('bad-host');
  });
  it('requires the secret header on state-changing requests', () => {
    expect(checkRequest({ ...ok, method: 'POST' }, SECRET, 5000)).toBe('no-csrf');
    expect(checkRequest({ ...ok, method: 'POST', csrf: 'x' }, SECRET, 5000)).toBe('no-csrf');
    expect(checkRequest({ ...ok, method: 'POST', csrf: SECRET }, SECRET, 5000)).toBe('ok');
  });
  it('reads one cookie out of a header', () => {
    expect(cookieValue('x=1; postern_gui=abc; y=2', 'postern_gui')).toBe('abc');
    expect(cookieValue('postern_guix=abc', 'postern_gui')).toBeUndefined();
  });
});

describe('GUI web server', () => {
  let dir: string;
  let web: WebHandle;
  let controller: GuiController;
  let handler: ServiceHandler;
  let tokens: TokenStore;

  beforeEach(async () => {
    dir = mkdtempSync(join(tmpdir(), 'pgui-web-'));
    const log = pino({ level: 'silent' });
    const settings = { authUrl: 'http://127.0.0.1:9', apiUrl: 'ws://127.0.0.1:9', logFilter: 'info' };
    handler = new ServiceHandler({ backend: new FakeBackend(10), deviceId: 'd', version: '1', gitSha: 'x', logger: log, settings });
    tokens = new TokenStore(dir);
    controller = new GuiController({ connectService: localConnector(handler), tokens, settings, saveSettings: () => undefined, applyLogFilter: () => undefined, version: '1', logger: log });
    controller.start();
    web = await startWeb({ controller, logger: log, collectLogs: () => [{ name: 'a.log', data: Buffer.from('x') }], secret: SECRET });
  });
  afterEach(async () => {
    controller.close();
    await web.close();
    await handler.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const cookie = { cookie: `postern_gui=${SECRET}` };

  it('refuses requests without the secret and turns the launch URL into a cookie', async () => {
    expect((await fetch(`${web.origin}/`)).status).toBe(403);
    expect((await fetch(`${web.origin}/api/state`)).status).toBe(403);
    expect((await fetch(`${web.origin}/api/logs.zip`)).status).toBe(403);
    expect((await fetch(`${web.origin}/?s=wrong`, { redirect: 'manual' })).status).toBe(403);
    const launch = await fetch(web.launchUrl, { redirect: 'manual' });
    expect(launch.status).toBe(303);
    expect(launch.headers.get('set-cookie')).toContain(`postern_gui=${SECRET}; HttpOnly; SameSite=Lax`);
    const page = await fetch(`${web.origin}/`, { headers: cookie });
    expect(page.status).toBe(200);
    expect(page.headers.get('content-security-policy')).toContain("script-src 'self'");
    expect((await fetch(`${web.origin}/api/sign-out`, { method: 'POST', headers: cookie })).status).toBe(403);
    expect((await fetch(`${web.origin}/api/sign-out`, { method: 'POST', headers: { ...cookie, 'x-postern-secret': SECRET } })).status).toBe(200);
  });

  it('checks the sign-in state once and keeps the token in a 0600 file', async () => {
    const post = { method: 'POST', headers: { ...cookie, 'x-postern-secret': SECRET } };
    const { url } = (await (await fetch(`${web.origin}/api/sign-in`, post)).json()) as { url: string };
    const signIn = new URL(url);
    expect(signIn.origin + signIn.pathname).toBe('http://127.0.0.1:9/sign_in');
    expect(signIn.searchParams.get('redirect_uri')).toBe(`${web.origin}/auth/callback`);
    const state = signIn.searchParams.get('state') ?? '';
    expect(state.length).toBeGreaterThan(20);
    const forged = await fetch(`${web.origin}/auth/callback?token=evil&state=guess`, { headers: cookie, redirect: 'manual' });
    expect(forged.status).toBe(400);
    expect(tokens.load()).toBeUndefined();
    const good = await fetch(`${web.origin}/auth/callback?token=tok&state=${state}&account_slug=demo&actor_name=Alice`, { headers: cookie, redirect: 'manual' });
    expect(good.status).toBe(303);
    expect(tokens.load()).toEqual({ token: 'tok', accountSlug: 'demo', actorName: 'Alice' });
    expect(tokens.mode()).toBe(0o600);
    const replay = await fetch(`${web.origin}/auth/callback?token=tok2&state=${state}`, { headers: cookie, redirect: 'manual' });
    expect(replay.status).toBe(400);
    await expect.poll(async () => ((await (await fetch(`${web.origin}/api/state`, { headers: cookie })).json()) as { session: string }).session).toBe('Connected');
  });

  it('exports logs as a zip', async () => {
    const r = await fetch(`${web.origin}/api/logs.zip`, { headers: cookie });
    expect(r.status).toBe(200);
    expect(r.headers.get('content-type')).toBe('application/zip');
    const b = Buffer.from(await r.arrayBuffer());
    expect(b.readUInt32LE(0)).toBe(0x04034b50);
  });
});
