// The minimal Phoenix portal over a real websocket on loopback: join replies, init, heartbeats, pushes, garbage.
import type { AddressInfo } from 'node:net';
import { WebSocket } from 'ws';
import { afterEach, describe, expect, it } from 'vitest';
import { createAuthorization, gatewayInit, parseFrame, TestPhoenixPortal, TestPortalError, type PhoenixFrame } from '../../src/index';

let portal: TestPhoenixPortal | undefined;
const sockets: WebSocket[] = [];
afterEach(async () => {
  for (const s of sockets.splice(0)) s.terminate();
  await portal?.close();
  portal = undefined;
});

/** A websocket client that queues every frame it receives. */
async function connect(p: TestPhoenixPortal, query: string): Promise<{ ws: WebSocket; next: () => Promise<PhoenixFrame> }> {
  const { port } = p.server.address() as AddressInfo;
  const ws = new WebSocket(`ws://127.0.0.1:${String(port)}/socket/websocket?${query}`);
  sockets.push(ws);
  const inbox: PhoenixFrame[] = [];
  let wake: (() => void) | undefined;
  ws.on('message', (d: Buffer) => {
    inbox.push(parseFrame(d));
    wake?.();
  });
  await new Promise((resolve, reject) => {
    ws.once('open', resolve);
    ws.once('error', reject);
  });
  const next = async (): Promise<PhoenixFrame> => {
    for (;;) {
      const f = inbox.shift();
      if (f !== undefined) return f;
      await new Promise<void>((resolve, reject) => {
        const t = setTimeout(() => { reject(new Error('no frame within 2 s')); }, 2000);
        wake = () => {
          clearTimeout(t);
          resolve();
        };
      });
    }
  };
  return { ws, next };
}

const frame = (topic: string, event: string, payload: unknown, ref: string | null): string => JSON.stringify({ topic, event, payload, ref });

describe('TestPhoenixPortal', () => {
  it('replies ok to a join, pushes init on the served topic, and then lets the test push', async () => {
    let joins = 0;
    const seen: string[] = [];
    const p = new TestPhoenixPortal({
      host: '127.0.0.1',
      port: 0,
      init: gatewayInit({ apiHost: '127.0.0.1', masquerade: true }),
      onJoin: () => joins++,
      onFrame: (f) => seen.push(f.event),
    });
    portal = p;
    await p.listening();
    expect(() => { p.push('x', {}); }).toThrow(expect.objectContaining({ code: 'NOT_JOINED' }));
    const c = await connect(p, 'public_key=AAAA%2B%2F%3D&token=t');
    c.ws.send(frame('gateway', 'phx_join', {}, '1'));
    expect(await c.next()).toEqual({ topic: 'gateway', event: 'phx_reply', payload: { status: 'ok', response: {} }, ref: '1' });
    const init = await c.next();
    expect(init.event).toBe('init');
    expect(init.ref).toBeNull();
    expect(init.payload).toMatchObject({ config: { ipv4_masquerade_enabled: true, ipv6_masquerade_enabled: true }, flow_logs: { api_url: 'http://127.0.0.1' }, relays: [] });
    expect(joins).toBe(1);
    expect(p.joined).toBe(true);
    expect(p.publicKey).toBe('AAAA+/=');
    c.ws.send(frame('phoenix', 'heartbeat', {}, '2'));
    expect(await c.next()).toMatchObject({ topic: 'phoenix', event: 'phx_reply', ref: '2' });
    p.push('create_authorization', createAuthorization({
      ref: 'r1',
      resource: { id: 'res' },
      client: { id: 'c1', publicKey: 'pk', presharedKey: 'psk', ipv4: '100.64.0.2', ipv6: 'fd00::2' },
      iceUser: 'u',
      icePassword: 'p',
      flowLogsToken: 'f',
      expiresAt: 1234,
    }));
    const push = await c.next();
    expect(push).toMatchObject({ topic: 'gateway', event: 'create_authorization', ref: null });
    expect(push.payload).toEqual({
      ref: 'r1',
      resource: { id: 'res' },
      client: { id: 'c1', public_key: 'pk', preshared_key: 'psk', ipv4: '100.64.0.2', ipv6: 'fd00::2' },
      client_ice_credentials: { username: 'u', password: 'p' },
      gateway_ice_credentials: { username: 'gate', password: 'gategategategategatega' },
      expires_at: 1234,
      flow_logs_ingest_token: 'f',
    });
    expect(seen).toEqual(['phx_join', 'heartbeat']);
  });

  it('answers a join of another topic without init, and survives garbage frames', async () => {
    const p = new TestPhoenixPortal({ host: '127.0.0.1', port: 0, topic: 'client', init: { hello: 1 } });
    portal = p;
    await p.listening();
    const c = await connect(p, '');
    c.ws.send('not json');
    c.ws.send(JSON.stringify({ event: 'phx_join' }));
    c.ws.send(frame('gateway', 'phx_join', {}, '7'));
    expect(await c.next()).toMatchObject({ topic: 'gateway', event: 'phx_reply', ref: '7' });
    c.ws.send(frame('client', 'phx_join', {}, '8'));
    expect(await c.next()).toMatchObject({ topic: 'client', event: 'phx_reply', ref: '8' });
    expect(await c.next()).toEqual({ topic: 'client', event: 'init', payload: { hello: 1 }, ref: null });
    expect(p.publicKey).toBeUndefined();
    expect(createAuthorization({ ref: 'r', resource: null, client: { id: 'c', publicKey: 'a', presharedKey: 'b', ipv4: 'x', ipv6: 'y' }, iceUser: 'u', icePassword: 'p', flowLogsToken: 't' })).not.toHaveProperty('expires_at');
  });

  it('refuses frames that are not Phoenix frames with a typed error', () => {
    expect(() => parseFrame('{')).toThrow(TestPortalError);
    expect(() => parseFrame('[1,2]')).toThrow(expect.objectContaining({ code: 'BAD_FRAME' }));
    expect(() => parseFrame('{"topic":1,"event":"x"}')).toThrow(expect.objectContaining({ code: 'BAD_FRAME' }));
    expect(parseFrame('{"topic":"t","event":"e","payload":{"a":1},"ref":{"bad":1}}')).toEqual({ topic: 't', event: 'e', payload: { a: 1 }, ref: null });
  });
});
