import { describe, expect, it } from 'vitest';
import { parseClientIngress, turnPassword, turnSalt } from '@postern/model';
import { Harness, KEYS } from '../support';
import { PENDING_TIMEOUT_MS } from '../../src/core/broker';
import { IDLE_TIMEOUT_MS } from '../../src/core/portal';

function request(h: Harness, client: number, resourceId: string, connected: string[] = []) {
  h.send(client, { topic: 'client', event: 'request_authorization', payload: { resource_id: resourceId, connected_gateway_ids: connected }, ref: 1 });
}

function creates(h: Harness, gw: number) {
  return h.take(gw).filter((f) => f.event === 'create_authorization');
}

describe('two gateways in one site', () => {
  it('balance load: each new authorization goes to the least loaded gateway', () => {
    const h = new Harness();
    const a = h.gateway('gw-a', KEYS.gw1);
    const b = h.gateway('gw-b', KEYS.gw2);
    const counts = { a: 0, b: 0 };
    for (let i = 0; i < 6; i++) {
      const { conn } = h.client(`client-${i}`, i % 2 ? KEYS.client : KEYS.client2);
      request(h, conn, h.resourceId('lab-net'));
      const ca = creates(h, a.conn);
      const cb = creates(h, b.conn);
      counts.a += ca.length;
      counts.b += cb.length;
      for (const c of [...ca, ...cb]) h.send(ca.length ? a.conn : b.conn, { topic: 'gateway', event: 'authorization_created', payload: { ref: c.payload.ref }, ref: 2 });
    }
    expect(counts).toEqual({ a: 3, b: 3 });
    expect(h.core.stats().authorizationsActive).toBe(6);
  });

  it('prefer a gateway the client is already connected to', () => {
    const h = new Harness();
    const a = h.gateway('gw-a', KEYS.gw1);
    const b = h.gateway('gw-b', KEYS.gw2);
    const { conn } = h.client();
    for (let i = 0; i < 4; i++) request(h, conn, h.resourceId('lab-web'), [b.id]);
    expect(creates(h, a.conn)).toHaveLength(0);
    expect(creates(h, b.conn)).toHaveLength(4);
  });

  it('fail over a pending authorization when its gateway disconnects, then fail as offline', () => {
    const h = new Harness();
    const a = h.gateway('gw-a', KEYS.gw1);
    const b = h.gateway('gw-b', KEYS.gw2);
    const { conn } = h.client();
    request(h, conn, h.resourceId('lab-net'), [a.id]);
    expect(creates(h, a.conn)).toHaveLength(1);
    h.core.close(a.conn, h.now);
    h.flush();
    const [moved] = creates(h, b.conn);
    expect(moved).toBeDefined();
    h.core.close(b.conn, h.now);
    h.flush();
    expect(h.take(conn).map((f) => [f.event, f.payload.reason])).toEqual([['authorization_creation_failed', 'offline']]);
  });

  it('route new requests to the surviving gateway after one goes away', () => {
    const h = new Harness();
    const a = h.gateway('gw-a', KEYS.gw1);
    const b = h.gateway('gw-b', KEYS.gw2);
    const { conn } = h.client();
    h.core.close(a.conn, h.now);
    h.flush();
    request(h, conn, h.resourceId('lab-net'), [a.id]);
    const [c] = creates(h, b.conn);
    h.send(b.conn, { topic: 'gateway', event: 'authorization_created', payload: { ref: c?.payload.ref }, ref: 1 });
    const [created] = h.take(conn);
    expect(created?.payload.gateway_id).toBe(b.id);
  });

  it('fail over when a gateway never acknowledges', () => {
    const h = new Harness();
    const a = h.gateway('gw-a', KEYS.gw1);
    const b = h.gateway('gw-b', KEYS.gw2);
    const { conn } = h.client();
    request(h, conn, h.resourceId('lab-net'), [a.id]);
    const [first] = creates(h, a.conn);
    h.now += PENDING_TIMEOUT_MS;
    h.send(a.conn, { topic: 'phoenix', event: 'heartbeat', payload: {}, ref: 1 });
    h.send(b.conn, { topic: 'phoenix', event: 'heartbeat', payload: {}, ref: 1 });
    h.core.tick(h.now);
    h.flush();
    expect(creates(h, b.conn)).toHaveLength(1);
    // A late acknowledgement from the first gateway is ignored.
    h.send(a.conn, { topic: 'gateway', event: 'authorization_created', payload: { ref: first?.payload.ref }, ref: 2 });
    expect(h.take(conn)).toEqual([]);
  });

  it('ignore an acknowledgement from a gateway that was not asked', () => {
    const h = new Harness();
    const a = h.gateway('gw-a', KEYS.gw1);
    const b = h.gateway('gw-b', KEYS.gw2);
    const { conn } = h.client();
    request(h, conn, h.resourceId('lab-net'), [a.id]);
    const [c] = creates(h, a.conn);
    h.send(b.conn, { topic: 'gateway', event: 'authorization_created', payload: { ref: c?.payload.ref }, ref: 1 });
    expect(h.take(conn)).toEqual([]);
  });
});

describe('relays', () => {
  it('hand each device TURN credentials of joined relays, and announce relays coming and going', () => {
    const h = new Harness();
    const { conn: client } = h.client();
    const gw = h.gateway();
    const relay = h.relay('198.18.0.9', '3478');
    const [presence] = h.take(client);
    const parsed = parseClientIngress(presence ?? { event: '' });
    if (parsed.kind !== 'message' || parsed.msg.event !== 'relays_presence') throw new Error(JSON.stringify(presence));
    const [turn] = parsed.msg.payload.connected;
    if (turn?.type !== 'turn') throw new Error('no turn relay');
    expect(turn.addr).toBe('198.18.0.9:3478');
    expect(turn.username).toBe(`${turn.expires_at}:${turnSaltOf(KEYS.client)}`);
    expect(turn.password).toBe(turnPassword('ab'.repeat(32), turn.expires_at, turnSaltOf(KEYS.client)));
    expect(turn.expires_at).toBe(Math.floor(h.now / 1000) + 7 * 24 * 3600);
    expect(h.take(gw.conn).map((f) => f.event)).toEqual(['relays_presence']);
    // a device joining later gets the relay in init
    expect(h.client('late', KEYS.client2).init.relays).toHaveLength(1);
    h.core.close(relay, h.now);
    h.flush();
    expect(h.take(client)).toEqual([{ topic: 'client', event: 'relays_presence', payload: { disconnected_ids: [turn.id], connected: [] }, ref: null }]);
  });

  it('give a dual-stack relay one entry per family with the same id', () => {
    const h = new Harness();
    const conn = h.connect('relay', 'postern-demo-relay-token', { ipv4: '198.18.0.9', ipv6: 'fd00::9', port: '3478' });
    h.join(conn, 'relay', { stamp_secret: 'cd'.repeat(32) });
    const relays = h.client().init.relays;
    expect(relays.map((r: { addr: string }) => r.addr)).toEqual(['198.18.0.9:3478', '[fd00::9]:3478']);
    expect(new Set(relays.map((r: { id: string }) => r.id)).size).toBe(1);
  });

  it('answer no_relays with the current relays', () => {
    const h = new Harness();
    h.relay();
    const { conn } = h.client();
    h.send(conn, { topic: 'client', event: 'no_relays', payload: {}, ref: 3 });
    const [f] = h.take(conn);
    expect(f?.event).toBe('relays_presence');
    expect(f?.payload.connected).toHaveLength(1);
  });
});

describe('idle sockets', () => {
  it('close a connection that sends nothing for longer than the idle timeout', () => {
    const h = new Harness();
    const { conn } = h.client();
    h.now += IDLE_TIMEOUT_MS + 1;
    h.core.tick(h.now);
    h.flush();
    expect(h.closed.get(conn)).toMatchObject({ code: 1001 });
  });
});

function turnSaltOf(key: string): string {
  return turnSalt(key);
}
