// postern-relay joins the portal's relay topic with a fresh stamp secret and becomes ready.
import { spawn } from 'node:child_process';
import { createServer } from 'node:net';
import { describe, expect, it } from 'vitest';
import { WebSocketServer } from 'ws';
import { bundleRelay } from '../support/topology';

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const a = s.address();
      const p = typeof a === 'object' && a !== null ? a.port : 0;
      s.close(() => {
        resolve(p);
      });
    });
  });
}

describe('portal join', () => {
  it('sends phx_join on topic relay with a 64-hex stamp secret and the token, then /readyz turns 200', async () => {
    const file = await bundleRelay('relay-portal-unit');
    const wss = new WebSocketServer({ host: '127.0.0.1', port: 0 });
    await new Promise<void>((r) => wss.once('listening', () => { r(); }));
    const addr = wss.address();
    const wsPort = typeof addr === 'object' && addr !== null ? addr.port : 0;
    const seen: { url: string; auth: string | undefined; join: unknown }[] = [];
    wss.on('connection', (ws, req) => {
      ws.on('message', (data: Buffer) => {
        const f = JSON.parse(data.toString()) as { topic: string; event: string; payload: unknown; ref: number };
        if (f.event === 'phx_join') {
          seen.push({ url: req.url ?? '', auth: req.headers['x-authorization'] as string | undefined, join: f.payload });
          ws.send(JSON.stringify({ topic: 'relay', event: 'phx_reply', payload: { status: 'ok', response: {} }, ref: f.ref }));
          ws.send(JSON.stringify({ topic: 'relay', event: 'init', payload: {}, ref: null }));
        }
      });
    });
    const health = await freePort();
    const udp = 40000 + (process.pid % 9000);
    const child = spawn(process.execPath, [file, '--public-ip4-addr', '198.18.16.1', '--listen-port', String(udp), '--health-check-addr', `127.0.0.1:${health}`, '--api-url', `ws://127.0.0.1:${wsPort}`, '--log-format', 'json'], {
      env: { ...process.env, POSTERN_TOKEN: 'relay-token' },
      stdio: 'pipe',
    });
    let out = '';
    child.stdout.on('data', (b: Buffer) => (out += b.toString()));
    child.stderr.on('data', (b: Buffer) => (out += b.toString()));
    try {
      const deadline = Date.now() + 20_000;
      let ready = false;
      while (Date.now() < deadline && !ready) {
        ready = await fetch(`http://127.0.0.1:${health}/readyz`).then((r) => r.ok, () => false);
        if (!ready) await new Promise((r) => setTimeout(r, 200));
      }
      expect(ready, out).toBe(true);
      expect(seen.length).toBeGreaterThanOrEqual(1);
      expect(seen[0]?.url).toMatch(/^\/relay\/websocket\?/);
      expect(seen[0]?.url).toContain(`port=${udp}`);
      expect(seen[0]?.auth).toBe('Bearer relay-token');
      expect(seen[0]?.join).toEqual({ stamp_secret: expect.stringMatching(/^[0-9a-f]{64}$/) });
      child.kill('SIGTERM');
      const code = await new Promise<number | null>((r) => child.once('exit', (c) => { r(c); }));
      expect(code).toBe(0);
    } finally {
      child.kill('SIGKILL');
      wss.close();
    }
  }, 60_000);
});
