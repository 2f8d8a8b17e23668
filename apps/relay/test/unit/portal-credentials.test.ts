// The relay topic flow the ICE work depends on: postern-relay (bundled, real process) joins a fake portal
// with its stamp secret; TURN credentials minted from that secret the portal's way (turn.md:
// username "<expiry>:<salt>", password base64_nopad(sha256("<expiry>:<stamp_secret>:<salt>"))) allocate on
// it; a wrong password, an expired username and a secret the relay never sent are refused with 401.
import { spawn, type ChildProcess } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WebSocketServer } from 'ws';
import { getAttribute } from '@postern/stun';
import { bundleRelay } from '../support/topology';
import { TestTurnClient } from '../support/turn-client';

const UDP_PORT = 41000 + (process.pid % 8000);
const HEALTH_PORT = 18000 + (process.pid % 8000);

function mint(stampSecret: string, expiry: number, devicePublicKey: string): { username: string; password: string } {
  const salt = createHash('sha256').update(devicePublicKey).digest('base64').replace(/=+$/, '');
  const password = createHash('sha256').update(`${String(expiry)}:${stampSecret}:${salt}`).digest('base64').replace(/=+$/, '');
  return { username: `${String(expiry)}:${salt}`, password };
}

describe('relay topic: credentials from the stamp secret sent in the join', () => {
  let wss: WebSocketServer;
  let child: ChildProcess;
  let output = '';
  let stampSecret = '';

  beforeAll(async () => {
    const file = await bundleRelay('relay-portal-credentials');
    wss = new WebSocketServer({ host: '127.0.0.1', port: 0 });
    await new Promise<void>((r) => wss.once('listening', () => { r(); }));
    const addr = wss.address();
    const wsPort = typeof addr === 'object' && addr !== null ? addr.port : 0;
    wss.on('connection', (ws) => {
      ws.on('message', (data: Buffer) => {
        const f = JSON.parse(data.toString()) as { topic: string; event: string; payload: { stamp_secret?: string } | null; ref: number };
        if (f.event !== 'phx_join') return;
        stampSecret = f.payload?.stamp_secret ?? '';
        ws.send(JSON.stringify({ topic: 'relay', event: 'phx_reply', payload: { status: 'ok', response: {} }, ref: f.ref }));
        ws.send(JSON.stringify({ topic: 'relay', event: 'init', payload: {}, ref: null }));
      });
    });
    child = spawn(
      process.execPath,
      [file, '--public-ip4-addr', '127.0.0.1', '--listen-port', String(UDP_PORT), '--health-check-addr', `127.0.0.1:${String(HEALTH_PORT)}`, '--api-url', `ws://127.0.0.1:${String(wsPort)}`, '--log-format', 'json'],
      { env: { ...process.env, POSTERN_TOKEN: 'relay-token' }, stdio: 'pipe' },
    );
    child.stdout?.on('data', (b: Buffer) => (output += b.toString()));
    child.stderr?.on('data', (b: Buffer) => (output += b.toString()));
    const deadline = Date.now() + 20_000;
    while (Date.now() < deadline) {
      if (await fetch(`http://127.0.0.1:${String(HEALTH_PORT)}/readyz`).then((r) => r.ok, () => false)) return;
      await new Promise((r) => setTimeout(r, 200));
    }
    throw new Error(`the relay did not join the fake portal:\n${output}`);
  }, 60_000);

  afterAll(() => {
    child.kill('SIGKILL');
    wss.close();
  });

  const allocateWith = async (username: string, password: string): Promise<{ code: number | undefined; relayed: number }> => {
    const c = await TestTurnClient.open({ address: '127.0.0.1', port: UDP_PORT }, username, password);
    try {
      const r = await c.allocate();
      return { code: getAttribute(r.response, 'ERROR-CODE')?.code, relayed: r.relayed.length };
    } finally {
      c.close();
    }
  };

  it('allocates with portal-minted credentials (integrity-checked responses) and refuses bad ones with 401', async () => {
    expect(stampSecret, output).toMatch(/^[0-9a-f]{64}$/);
    const key = Buffer.from(randomBytes(32)).toString('base64');
    const expiry = Math.floor(Date.now() / 1000) + 3600;
    const good = mint(stampSecret, expiry, key);
    expect(await allocateWith(good.username, good.password)).toEqual({ code: undefined, relayed: 1 });

    expect((await allocateWith(good.username, `${good.password}x`)).code).toBe(401);
    const expired = mint(stampSecret, Math.floor(Date.now() / 1000) - 60, key);
    expect((await allocateWith(expired.username, expired.password)).code).toBe(401);
    const otherSecret = mint(randomBytes(32).toString('hex'), expiry, key);
    expect((await allocateWith(otherSecret.username, otherSecret.password)).code).toBe(401);
  }, 60_000);

  it('exits 2 with one line for an invalid --log-filter', async () => {
    const file = await bundleRelay('relay-log-filter');
    const p = spawn(process.execPath, [file, '--no-portal', '--user', 'a:b', '--public-ip4-addr', '127.0.0.1', '--log-filter', 'relay=loud'], { stdio: 'pipe' });
    let err = '';
    p.stderr.on('data', (b: Buffer) => (err += b.toString()));
    const code = await new Promise<number | null>((r) => p.once('exit', (c) => { r(c); }));
    expect(code).toBe(2);
    expect(err.trim().split('\n')).toHaveLength(1);
    expect(err).toMatch(/^postern-relay: .*loud/);
  }, 60_000);
});
