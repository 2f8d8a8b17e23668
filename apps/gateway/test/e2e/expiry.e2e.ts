// Access expiry end to end: a client signs in on the portal's sign-in page and gets a device token with a short
// lifetime (`tokens.client_token_ttl_hours`); the portal grants access with `expires_at` = the token's expiry, and
// the gateway cuts the client's traffic within a second of that instant. Needs root (namespaces ptn-*).
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { registerSecret } from '@postern/testing';
import { buildApps, curl, DIST, hashToken, ROOT, waitFor, World, writeConfig, type Proc } from './world';

const isRoot = process.getuid?.() === 0;
const API = 'ws://198.18.24.2:8080';
const TTL_S = 20;
const REDIRECT = 'http://127.0.0.1:9/callback';
const PASSWORD = 'expiry-e2e-password';

describe.runIf(isRoot)('access expiry (expires_at from a short-lived signed-in token)', () => {
  let world: World;
  let dir: string;
  let client: Proc;
  let gateway: Proc;
  /** Latest wall-clock instant (ms) the access may end: the token's expiry rounded down to the second. */
  let expiresAtMs: number;
  let earliestExpiryMs: number;

  beforeAll(async () => {
    buildApps(['portal', 'gateway', 'headless-client']);
    dir = mkdtempSync(join(tmpdir(), 'postern-ptn-expiry-'));
    const config = join(dir, 'portal.yaml');
    // the portal sees the sign-in password and issues the client's token: check-secrets looks for both
    registerSecret(PASSWORD, 'gateway expiry e2e sign-in password');
    const tokens = { gw1: hashToken('expiry-gw1-token'), gw2: hashToken('expiry-gw2-token'), client: hashToken('expiry-unused-client-token') };
    const passwordHash = execFileSync(process.execPath, [join(DIST, 'portal/main.js'), 'hash-password', PASSWORD], { encoding: 'utf8' }).trim();
    writeConfig(config, { ...tokens, policies: ['lab'], signIn: { passwordHash, tokenTtlHours: TTL_S / 3600, redirect: REDIRECT } });
    world = await World.create();
    world.spawn('ptn-srv', process.execPath, [join(ROOT, 'scripts/demo/http-server.mjs'), '198.18.25.10', '80']);
    world.spawn('ptn-portal', process.execPath, [join(DIST, 'portal/main.js'), '--config', config, '--state', join(dir, 'portal.sqlite'), '--log-format', 'json']);
    await waitFor('the portal', async () => (await curl(world.get('ptn-portal'), 'http://198.18.24.2:8080/healthz', 1)).ok, 20_000, 200);
    await world.get('ptn-gw1').exec('bash', [join(ROOT, 'apps/gateway/packaging/setup-forwarding.sh'), 'up']);
    gateway = world.spawn('ptn-gw1', process.execPath, [join(DIST, 'gateway/main.js'), '--log-format', 'json'], {
      POSTERN_API_URL: API,
      POSTERN_TOKEN: 'expiry-gw1-token',
      POSTERN_ID: 'expiry-gw1',
      POSTERN_CONFIG_DIR: join(dir, 'gw1'),
    });
    await waitFor('the gateway to configure its TUN', () => gateway.output.includes('"TUN configured"'), 30_000);
    // sign in like a person would (the form POST), and take the token from the redirect
    const before = Date.now();
    const location = await world.get('ptn-portal').exec('curl', [
      '-sS', '-o', '/dev/null', '-w', '%{redirect_url}',
      '--data-urlencode', 'email=a@example.com', '--data-urlencode', `password=${PASSWORD}`,
      '--data-urlencode', `redirect_uri=${REDIRECT}`, '--data-urlencode', 'state=s1',
      'http://198.18.24.2:8080/sign_in',
    ]);
    const after = Date.now();
    const token = new URL(location.trim()).searchParams.get('token');
    if (token === null) throw new Error(`no token in the sign-in redirect: ${location}`);
    registerSecret(token, 'gateway expiry e2e signed-in client token');
    // expires_at is whole seconds: floor((issue + ttl) / 1000)
    expiresAtMs = Math.floor((after + TTL_S * 1000) / 1000) * 1000;
    earliestExpiryMs = Math.floor((before + TTL_S * 1000) / 1000) * 1000;
    client = world.spawn('ptn-cl', process.execPath, [join(DIST, 'headless-client/main.js'), '--dns-control', 'disabled', '--log-format', 'json'], {
      POSTERN_API_URL: API,
      POSTERN_TOKEN: token,
      POSTERN_ID: 'expiry-client',
      POSTERN_CONFIG_DIR: join(dir, 'client'),
    });
    await waitFor('the client to configure its TUN', () => client.output.includes('"TUN configured"'), 30_000);
  }, 300_000);

  afterAll(async () => {
    if (process.env['POSTERN_E2E_DUMP'] === '1') for (const p of world.procs) console.log(p.child.spawnargs.slice(3, 6).join(' '), '\n', p.output.slice(-6000));
    await world.destroy();
    rmSync(dir, { recursive: true, force: true });
  });

  it(`traffic flows until expires_at and stops within a second of it (token lifetime ${String(TTL_S)} s)`, async () => {
    const cl = world.get('ptn-cl');
    await waitFor('traffic before the expiry', async () => (await curl(cl, 'http://198.18.25.10/', 1)).ok, 10_000, 200);
    expect(Date.now()).toBeLessThan(earliestExpiryMs - 1_000); // enough time left to watch the cut
    let lastOk = 0;
    let firstFail = 0;
    while (Date.now() < expiresAtMs + 5_000) {
      const start = Date.now();
      const r = await curl(cl, 'http://198.18.25.10/', 0.4);
      if (r.ok) lastOk = start;
      else if (firstFail === 0 && start >= earliestExpiryMs - 1_000) firstFail = start;
      if (firstFail !== 0 && Date.now() > firstFail + 2_000) break;
      if (r.ok) await new Promise((res) => setTimeout(res, 50));
    }
    console.log(`expires_at ${new Date(earliestExpiryMs).toISOString()}..${new Date(expiresAtMs).toISOString()}: last success ${String(lastOk - expiresAtMs)} ms, first failure ${String(firstFail - expiresAtMs)} ms after it`);
    expect(firstFail).toBeGreaterThan(0);
    // it worked right up to the expiry (a poll within the last 1.5 s before it succeeded) ...
    expect(lastOk).toBeGreaterThanOrEqual(earliestExpiryMs - 1_500);
    // ... and stopped within a second after it, not early (a 0.4 s poll started just before the instant may fail)
    expect(firstFail - expiresAtMs).toBeLessThan(1_000);
    expect(firstFail).toBeGreaterThanOrEqual(earliestExpiryMs - 500);
    // the gateway enforced it (not a dead client): it logged the expiry, and the client is still running
    await waitFor('the gateway to log the expiry', () => gateway.output.includes('"access expired"'), 3_000);
    expect(client.child.exitCode).toBeNull();
    // and it stays cut: the expired token cannot buy a new authorisation
    expect((await curl(cl, 'http://198.18.25.10/', 2)).ok).toBe(false);
  }, 120_000);
});
