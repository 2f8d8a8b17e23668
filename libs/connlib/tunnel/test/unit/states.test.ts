// Behaviours of ClientState and GatewayState one at a time: buffering, anti-spoofing, expiry.
import { buildUdp } from '@postern/ip-packet';
import { describe, expect, it } from 'vitest';
import { GatewayHarness, WALL } from '../support/gateway-harness';
import { ip, packet } from '../support/packets';
import { Sim } from '../support/sim';

const SITE = { id: 'site-a', name: 'A' };

function udp(dst: string, port: number, n: number, src = '100.64.0.1'): Uint8Array {
  return buildUdp({ source: ip(src), destination: ip(dst), sourcePort: 5000, destinationPort: port, payload: new Uint8Array([n & 0xff]) });
}

function world(opts: { maxBufferedPackets?: number } = {}): Sim {
  const sim = new Sim(opts);
  sim.addGateway('gw-1', 'site-a', 1);
  sim.init([{ type: 'cidr', id: 'res-10', address: '10.0.0.0/24', name: 'ten', sites: [SITE] }]);
  sim.allowed.add('res-10');
  return sim;
}

describe('ClientState buffering', () => {
  it('buffers a bounded number of packets while unauthorised, dropping the oldest, and flushes the rest in order', () => {
    const sim = world({ maxBufferedPackets: 16 });
    sim.answering = false;
    for (let i = 0; i < 40; i++) sim.send(udp('10.0.0.1', 80, i));
    expect(sim.client.drops.bufferFull).toBe(24);
    sim.answering = true;
    sim.advance(2000);
    sim.send(udp('10.0.0.1', 80, 40)); // traffic continues: the request goes out again, now answered
    sim.advance(100);
    expect(sim.delivered()).toEqual(Array.from({ length: 16 }, (_, i) => `10.0.0.1:80#${String(i + 25)}`));
    expect(sim.requests).toHaveLength(2);
  });

  it('forgets the buffer when the portal refuses the authorisation', () => {
    const sim = world();
    sim.allowed.clear();
    sim.send(udp('10.0.0.1', 80, 1));
    sim.allowed.add('res-10');
    sim.advance(2000);
    sim.send(udp('10.0.0.1', 80, 2));
    sim.advance(100);
    expect(sim.delivered()).toEqual(['10.0.0.1:80#2']);
  });
});

describe('anti-spoofing', () => {
  it('the gateway drops packets whose source is not the client tunnel IP', () => {
    const h = new GatewayHarness();
    h.authorize({ type: 'cidr', id: 'r', address: '10.0.0.0/24', filters: [] }, 0);
    expect(h.send(packet('udp 100.64.0.1:1 -> 10.0.0.1:80'), 1)).toBe('tun');
    expect(h.send(packet('udp 100.64.0.9:1 -> 10.0.0.1:80'), 1)).toBe('drop');
    expect(h.send(packet('udp [fd00:2021:1111::9]:1 -> [fd00::1]:80'), 1)).toBe('drop');
    expect(h.gateway.drops.spoofedSource).toBe(2);
  });

  it('the gateway forwards to a client only traffic from that client\'s resources', () => {
    const h = new GatewayHarness();
    h.authorize({ type: 'cidr', id: 'r', address: '10.0.0.0/24', filters: [] }, 0);
    expect(h.inbound(udp('100.64.0.1', 5000, 1, '10.0.0.7'), 1)).toBe(true);
    expect(h.inbound(udp('100.64.0.1', 5000, 1, '10.0.1.7'), 1)).toBe(false);
    expect(h.inbound(udp('100.64.0.99', 5000, 1, '10.0.0.7'), 1)).toBe(false);
  });

  it('the client drops packets from a gateway whose source is no resource authorised through it', () => {
    const sim = world();
    sim.send(udp('10.0.0.1', 80, 1));
    sim.advance(100);
    const gw = sim.gateways.get('gw-1');
    if (gw === undefined) throw new Error('gw');
    // the gateway believes the client may reach 172.16.0.0/16; the client never asked for it
    sim.toGateway(gw, {
      event: 'create_authorization',
      payload: {
        ref: 'x',
        resource: { type: 'cidr', id: 'other', address: '172.16.0.0/16', filters: [] },
        client: { id: 'client-1', public_key: Buffer.from(sim.client.publicKey).toString('base64'), preshared_key: sim.pskFor('gw-1'), ipv4: '100.64.0.1', ipv6: 'fd00:2021:1111::1' },
        client_ice_credentials: { username: 'a', password: 'b' },
        gateway_ice_credentials: { username: 'c', password: 'd' },
        flow_logs_ingest_token: 't',
      },
    });
    const before = sim.clientTun.length;
    const t = gw.state.handleTunPacket(udp('100.64.0.1', 5000, 7, '172.16.0.1'), sim.now);
    expect(t).toBeDefined();
    if (t !== undefined) expect(sim.client.handleNetworkDatagram(gw.addr, t.payload.slice(), sim.now)).toBeUndefined();
    sim.settle();
    expect(sim.clientTun.length).toBe(before);
    expect(sim.client.drops.spoofedInbound).toBe(1);
  });
});

describe('GatewayState expiry', () => {
  it('schedules a timeout at expires_at and evicts the resource then', () => {
    const h = new GatewayHarness();
    h.authorize({ type: 'cidr', id: 'r', address: '10.0.0.0/24', filters: [] }, 0, WALL / 1000 + 60);
    expect(h.gateway.pollTimeout()).toBeLessThanOrEqual(60_000);
    expect(h.send(packet('udp -> 10.0.0.1:80'), 59_999)).toBe('tun');
    h.gateway.handleTimeout(60_000);
    expect(h.gateway.authorizedResources('client-1', 60_000)).toEqual([]);
    const events = [];
    for (let e = h.gateway.pollEvent(); e !== undefined; e = h.gateway.pollEvent()) events.push(e);
    expect(events).toContainEqual({ type: 'accessExpired', clientId: 'client-1', resourceId: 'r' });
  });

  it('an expiry update into the past evicts at once', () => {
    const h = new GatewayHarness();
    h.authorize({ type: 'cidr', id: 'r', address: '10.0.0.0/24', filters: [] }, 0, WALL / 1000 + 600);
    h.gateway.handlePortalMessage({ event: 'access_authorization_expiry_updated', payload: { client_id: 'client-1', resource_id: 'r', expires_at: WALL / 1000 + 1 } }, 5000);
    expect(h.send(packet('udp -> 10.0.0.1:80'), 5000)).toBe('drop');
  });
});

describe('GatewayState IPv6', () => {
  it('forwards replies to a client by its IPv6 tunnel address', () => {
    const h = new GatewayHarness();
    h.authorize({ type: 'cidr', id: 'r6', address: 'fd00:1::/64', filters: [] }, 0);
    expect(h.send(packet('udp [fd00:2021:1111::1]:1 -> [fd00:1::5]:80'), 1)).toBe('tun');
    expect(h.inbound(packet('udp [fd00:1::5]:80 -> [fd00:2021:1111::1]:1'), 1)).toBe(true);
    expect(h.inbound(packet('udp [fd00:1::5]:80 -> [fd00:2021:1111::7]:1'), 1)).toBe(false);
  });
});
