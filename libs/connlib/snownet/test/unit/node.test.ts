import { buildUdp, parseIp } from '@postern/ip-packet';
import { encodeMessage, Method, shortTermKey, type Attribute } from '@postern/stun';
import { describe, expect, it } from 'vitest';
import { Node, formatHostCandidate, netAddr, parseCandidate, relayInfosFromPortal, type NodeEvent } from '../../src/index';
import { addr } from '../support/addr';
import { key, seededRng } from '../support/rng';


const CLIENT_ADDR = addr('198.18.32.1:40000');
const GATEWAY_ADDR = addr('198.18.32.2:52625');

function pair(opts: { idleTimeout?: number; handshakeTimeout?: number } = {}) {
  const rng = seededRng(7);
  const client = new Node({ role: 'client', privateKey: key(rng), rng: seededRng(1), wallClockAtZero: 1_700_000_000_000, ...opts });
  const gateway = new Node({ role: 'gateway', privateKey: key(rng), rng: seededRng(2), wallClockAtZero: 1_700_000_000_000, ...opts });
  const psk = key(rng);
  return { client, gateway, psk };
}

/** Delivers every queued transmit between the two nodes until both are quiet. */
function pump(client: Node, gateway: Node, now: number): Uint8Array[] {
  const delivered: Uint8Array[] = [];
  for (let i = 0; i < 20; i++) {
    let moved = false;
    for (let t = client.pollTransmit(); t !== undefined; t = client.pollTransmit()) {
      moved = true;
      expect(t.dst.key).toBe(GATEWAY_ADDR.key);
      const r = gateway.decapsulate(CLIENT_ADDR, t.payload, now);
      if (r.kind === 'packet') delivered.push(r.packet.slice());
    }
    for (let t = gateway.pollTransmit(); t !== undefined; t = gateway.pollTransmit()) {
      moved = true;
      expect(t.dst.key).toBe(CLIENT_ADDR.key);
      const r = client.decapsulate(GATEWAY_ADDR, t.payload, now);
      if (r.kind === 'packet') delivered.push(r.packet.slice());
    }
    if (!moved) break;
  }
  return delivered;
}

function events(node: Node): NodeEvent[] {
  const out: NodeEvent[] = [];
  for (let e = node.pollEvent(); e !== undefined; e = node.pollEvent()) out.push(e);
  return out;
}

function udp(n: number): Uint8Array {
  const source = parseIp('100.64.0.1');
  const destination = parseIp('10.0.0.1');
  if (source === undefined || destination === undefined) throw new Error('ip');
  return buildUdp({ source, destination, sourcePort: 1000 + n, destinationPort: 80, payload: new Uint8Array([n]) });
}

describe('Node', () => {
  it('connects a client to a gateway at its address and carries packets both ways', () => {
    const { client, gateway, psk } = pair();
    gateway.upsertConnection('c1', { publicKey: client.publicKey, presharedKey: psk }, 0);
    expect(client.upsertConnection('g1', { publicKey: gateway.publicKey, presharedKey: psk, remote: GATEWAY_ADDR }, 0)).toBe('created');
    pump(client, gateway, 1);
    expect(events(client)).toContainEqual({ type: 'connected', peerId: 'g1' });
    expect(events(gateway)).toContainEqual({ type: 'connected', peerId: 'c1' });
    expect(gateway.remoteOf('c1')?.key).toBe(CLIENT_ADDR.key);

    const pkt = udp(1);
    const r = client.encapsulate('g1', pkt, 2);
    expect(r.kind).toBe('transmit');
    if (r.kind !== 'transmit') return;
    const d = gateway.decapsulate(CLIENT_ADDR, r.transmit.payload.slice(), 2);
    expect(d.kind).toBe('packet');
    if (d.kind === 'packet') {
      expect(d.peerId).toBe('c1');
      expect([...d.packet]).toEqual([...pkt]);
    }
    const back = gateway.encapsulate('c1', pkt, 3);
    expect(back.kind).toBe('transmit');
  });

  it('queues packets sent before the handshake and delivers them in order', () => {
    const { client, gateway, psk } = pair();
    gateway.upsertConnection('c1', { publicKey: client.publicKey, presharedKey: psk }, 0);
    client.upsertConnection('g1', { publicKey: gateway.publicKey, presharedKey: psk }, 0);
    for (let i = 0; i < 5; i++) expect(client.encapsulate('g1', udp(i), 0).kind).toBe('drop');
    expect(client.addRemoteCandidate('g1', formatHostCandidate(GATEWAY_ADDR), 1)).toBe(true);
    const delivered = pump(client, gateway, 1);
    expect(delivered.map((p) => p[p.length - 1])).toEqual([0, 1, 2, 3, 4]);
  });

  it('drops handshakes from unknown keys and data for unknown indices', () => {
    const { client, gateway, psk } = pair();
    client.upsertConnection('g1', { publicKey: gateway.publicKey, presharedKey: psk, remote: GATEWAY_ADDR }, 0);
    const t = client.pollTransmit();
    expect(t).toBeDefined();
    if (t === undefined) return;
    expect(gateway.decapsulate(CLIENT_ADDR, t.payload, 0)).toMatchObject({ kind: 'drop', reason: 'unknownPeer' });
    const data = new Uint8Array(48);
    data[0] = 4;
    expect(gateway.decapsulate(CLIENT_ADDR, data, 0)).toMatchObject({ kind: 'drop', reason: 'unknownPeer' });
    expect(gateway.decapsulate(CLIENT_ADDR, new Uint8Array([1, 2, 3]), 0)).toMatchObject({ kind: 'drop', reason: 'notWireGuard' });
  });

  it('fails a connection whose handshake never completes', () => {
    const { client, gateway, psk } = pair({ handshakeTimeout: 3000 });
    client.upsertConnection('g1', { publicKey: gateway.publicKey, presharedKey: psk, remote: GATEWAY_ADDR }, 0);
    for (let now = 0; now <= 3000; now += 250) client.handleTimeout(now);
    expect(events(client)).toContainEqual({ type: 'failed', peerId: 'g1', reason: 'handshakeTimeout' });
    expect(client.hasConnection('g1')).toBe(false);
  });

  it('fails a connected peer that went silent and keeps a live one up with keepalives', () => {
    const { client, gateway, psk } = pair({ idleTimeout: 15_000 });
    gateway.upsertConnection('c1', { publicKey: client.publicKey, presharedKey: psk }, 0);
    client.upsertConnection('g1', { publicKey: gateway.publicKey, presharedKey: psk, remote: GATEWAY_ADDR }, 0);
    pump(client, gateway, 0);
    events(client);
    events(gateway);
    for (let now = 0; now <= 30_000; now += 250) {
      client.handleTimeout(now);
      gateway.handleTimeout(now);
      pump(client, gateway, now);
    }
    expect(events(client)).toEqual([]);
    expect(client.isConnected('g1', 30_000)).toBe(true);
    // now the gateway disappears
    for (let now = 30_000; now <= 50_000; now += 250) {
      client.handleTimeout(now);
      while (client.pollTransmit() !== undefined);
    }
    expect(events(client)).toContainEqual({ type: 'failed', peerId: 'g1', reason: 'idleTimeout' });
  });

  it('re-handshakes after a reset with the same keys', () => {
    const { client, gateway, psk } = pair();
    gateway.upsertConnection('c1', { publicKey: client.publicKey, presharedKey: psk }, 0);
    client.upsertConnection('g1', { publicKey: gateway.publicKey, presharedKey: psk, remote: GATEWAY_ADDR }, 0);
    pump(client, gateway, 0);
    events(client);
    client.reset(1000);
    expect(client.isConnected('g1', 1000)).toBe(false);
    pump(client, gateway, 1000);
    expect(events(client)).toContainEqual({ type: 'connected', peerId: 'g1' });
    const r = client.encapsulate('g1', udp(9), 1001);
    expect(r.kind).toBe('transmit');
    if (r.kind === 'transmit') expect(gateway.decapsulate(CLIENT_ADDR, r.transmit.payload.slice(), 1001).kind).toBe('packet');
  });

  it('signals local host candidates to peers', () => {
    const { gateway, client, psk } = pair();
    gateway.setLocalAddresses([GATEWAY_ADDR]);
    gateway.upsertConnection('c1', { publicKey: client.publicKey, presharedKey: psk }, 0);
    const ev = events(gateway).find((e) => e.type === 'newIceCandidate');
    expect(ev).toBeDefined();
    if (ev?.type !== 'newIceCandidate') return;
    expect(parseCandidate(ev.candidate)?.addr.key).toBe(GATEWAY_ADDR.key);
  });
});

describe('candidates', () => {
  it('parses host, srflx and relay candidates and rejects garbage', () => {
    expect(parseCandidate('candidate:7031633958891736544 1 udp 50331391 35.244.108.190 53909 typ relay')).toMatchObject({ type: 'relay', priority: 50331391 });
    expect(parseCandidate('candidate:1 1 udp 2130706431 [::1] 1 typ host')).toBeUndefined();
    expect(parseCandidate('candidate:1 1 udp 2130706431 fd00::1 4000 typ host')?.addr.key).toBe('[fd00::1]:4000');
    expect(parseCandidate('candidate:1 1 tcp 2130706431 1.2.3.4 4000 typ host')).toBeUndefined();
    expect(parseCandidate('nonsense')).toBeUndefined();
    expect(netAddr('1.2.3.4', 70000)).toBeUndefined();
  });
});

describe('relays from the portal', () => {
  it('merges the per-family entries of a relay id and skips stun and malformed entries', () => {
    const relays = relayInfosFromPortal([
      { type: 'turn', id: 'r1', addr: '198.18.32.10:3478', username: '4000000000:salt', password: 'pw' },
      { type: 'turn', id: 'r1', addr: '[fd00::10]:3478', username: '4000000000:salt', password: 'pw' },
      { type: 'turn', id: 'r2', addr: 'not-an-address', username: 'u', password: 'p' },
      { type: 'stun', id: 'r3', addr: '198.18.32.12:3478' },
      { type: 'turn', id: 'r4', addr: '198.18.32.13:3479', username: 'u4', password: 'p4' },
    ]);
    expect(relays).toEqual([
      { id: 'r1', ipv4: '198.18.32.10', ipv6: 'fd00::10', port: 3478, username: '4000000000:salt', password: 'pw' },
      { id: 'r4', ipv4: '198.18.32.13', port: 3479, username: 'u4', password: 'p4' },
    ]);
  });

  it('setRelays allocates new relays and deallocates the ones no longer listed', () => {
    const { client } = pair();
    client.setLocalAddresses([CLIENT_ADDR], 0);
    const r1 = { id: 'r1', ipv4: '198.18.32.10', port: 3478, username: 'u', password: 'p' };
    const r2 = { id: 'r2', ipv4: '198.18.32.11', port: 3478, username: 'u', password: 'p' };
    client.setRelays([r1, r2], 0);
    expect(client.relayStats().map((r) => [r.relayId, r.state])).toEqual([['r1', 'binding'], ['r2', 'binding']]);
    const sent = [client.pollTransmit()?.dst.key, client.pollTransmit()?.dst.key];
    expect(sent).toEqual(['198.18.32.10:3478', '198.18.32.11:3478']);
    client.setRelays([r2], 1);
    expect(client.relayStats().map((r) => r.relayId)).toEqual(['r2']);
    // a relay's datagram that is not STUN/ChannelData is consumed by the allocation, never thrown
    expect(client.decapsulate(addr('198.18.32.11:3478'), new Uint8Array([0xff, 1, 2]), 2)).toEqual({ kind: 'handled', peerId: undefined });
  });

  it('ICE checks with malformed role attributes are dropped, never answered or thrown', () => {
    const { client, gateway, psk } = pair();
    const c = { username: 'cufr', password: 'client-password-123456' };
    const g = { username: 'gufr', password: 'gateway-password-12345' };
    gateway.setLocalAddresses([GATEWAY_ADDR], 0);
    gateway.upsertConnection('c1', { publicKey: client.publicKey, presharedKey: psk, localIceCredentials: g, remoteIceCredentials: c }, 0);
    while (gateway.pollTransmit() !== undefined);
    const check = (attributes: Attribute[]): Uint8Array =>
      encodeMessage({ method: Method.Binding, cls: 'request', transactionId: new Uint8Array(12).fill(3), attributes: [{ name: 'USERNAME', value: 'gufr:cufr' }, ...attributes] }, { integrity: shortTermKey(g.password), fingerprint: true });
    // ICE-CONTROLLING of 4 bytes instead of 8 (MESSAGE-INTEGRITY recomputed would not help: it does not decode)
    const short = check([{ name: 'ICE-CONTROLLING', tieBreaker: 9n }]);
    const at = short.findIndex((_, i) => short[i] === 0x80 && short[i + 1] === 0x2a);
    short[at + 3] = 4;
    expect(gateway.decapsulate(CLIENT_ADDR, short, 1)).toMatchObject({ kind: 'drop', reason: 'unknownStun' });
    // both role attributes: authenticated, yet malformed
    expect(gateway.decapsulate(CLIENT_ADDR, check([{ name: 'ICE-CONTROLLING', tieBreaker: 9n }, { name: 'ICE-CONTROLLED', tieBreaker: 9n }]), 1)).toMatchObject({ kind: 'drop', reason: 'unknownStun' });
    expect(gateway.pollTransmit()).toBeUndefined();
    // the same check with one role is answered
    expect(gateway.decapsulate(CLIENT_ADDR, check([{ name: 'ICE-CONTROLLING', tieBreaker: 9n }]), 1)).toMatchObject({ kind: 'handled', peerId: 'c1' });
    expect(gateway.pollTransmit()?.dst.key).toBe(CLIENT_ADDR.key);
  });
});
