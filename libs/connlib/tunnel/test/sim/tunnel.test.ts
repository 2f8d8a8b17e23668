// Client + gateways + fake portal over a simulated network with a fake clock.
import { buildUdp, parseIpPacket } from '@postern/ip-packet';
import type { ClientResourceWire } from '@postern/model';
import { describe as group, expect, it } from 'vitest';
import { REQUEST_AUTHORIZATION_INTERVAL_MS } from '../../src/index';
import { ip, packet } from '../support/packets';
import { Sim } from '../support/sim';

const SITE = { id: 'site-a', name: 'A' };
const cidr = (id: string, address: string, filters: ClientResourceWire extends infer _ ? unknown[] : never = []): ClientResourceWire => ({
  type: 'cidr',
  id,
  address,
  name: id,
  sites: [SITE],
  filters: filters as never,
});

function udp(dst: string, port: number, n: number): Uint8Array {
  return buildUdp({ source: ip('100.64.0.1'), destination: ip(dst), sourcePort: 5000, destinationPort: port, payload: new Uint8Array([n]) });
}

function world(opts: { idleTimeoutMs?: number } = {}): Sim {
  const sim = new Sim(opts);
  sim.addGateway('gw-1', 'site-a', 1);
  sim.addGateway('gw-2', 'site-a', 2);
  sim.init([cidr('res-10', '10.0.0.0/24'), cidr('res-10-5', '10.0.0.5/32', [{ protocol: 'udp', port_range_start: 53, port_range_end: 53 }]), cidr('res-172', '172.16.0.0/16')]);
  sim.allowed.add('res-10');
  sim.allowed.add('res-10-5');
  return sim;
}

const repliesTo = (sim: Sim) =>
  sim.clientTun.flatMap((p) => {
    const v = parseIpPacket(p);
    return v instanceof Error || v.isIcmpError() ? [] : [`${v.sourceText()}#${String(v.transportPayload()[0] ?? '')}`];
  });
const icmpErrors = (sim: Sim) =>
  sim.clientTun.filter((p) => {
    const v = parseIpPacket(p);
    return !(v instanceof Error) && v.isIcmpError();
  }).length;

group('tunnel simulation', () => {
  it('packets reach the resource in order, once authorised and connected, and replies come back', () => {
    const sim = world();
    for (let i = 0; i < 5; i++) sim.send(udp('10.0.0.1', 80, i));
    sim.advance(100);
    expect(sim.requests.map((r) => r.resourceId)).toEqual(['res-10']);
    expect(sim.delivered()).toEqual([0, 1, 2, 3, 4].map((i) => `10.0.0.1:80#${String(i)}`));
    expect(repliesTo(sim)).toEqual([0, 1, 2, 3, 4].map((i) => `10.0.0.1#${String(i)}`));
    sim.send(udp('10.0.0.2', 80, 9));
    expect(sim.delivered()).toContain('10.0.0.2:80#9');
    expect(sim.requests).toHaveLength(1);
  });

  it('reuses the connection to a gateway for another resource of the site', () => {
    const sim = world();
    sim.send(udp('10.0.0.1', 80, 1));
    sim.advance(100);
    sim.send(udp('10.0.0.5', 53, 2));
    sim.advance(100);
    expect(sim.requests.map((r) => r.resourceId)).toEqual(['res-10', 'res-10-5']);
    expect(sim.client.gatewayFor('res-10')).toBe(sim.client.gatewayFor('res-10-5'));
    expect(sim.delivered()).toEqual(['10.0.0.1:80#1', '10.0.0.5:53#2']);
    const connected = sim.clientEvents.filter((e) => e.type === 'gatewayConnected');
    expect(connected).toHaveLength(1);
    // the event names the ICE pair in use (what the apps log): host candidates on both sides here
    expect(connected[0]).toMatchObject({ path: 'host', via: expect.stringMatching(/^host .+ -> host .+$/) as unknown });
  });

  it('does not reach CIDRs the policy does not authorise, nor addresses of no resource', () => {
    const sim = world();
    sim.send(udp('172.16.0.1', 80, 1));
    sim.send(udp('192.0.2.1', 80, 2));
    sim.advance(3000);
    expect(sim.delivered()).toEqual([]);
    expect(sim.clientEvents).toContainEqual({ type: 'authorizationFailed', resourceId: 'res-172', reason: 'forbidden' });
    expect(sim.client.drops.noRoute).toBe(1);
  });

  it('answers filtered packets with ICMP prohibited on the client, and on the gateway when only it knows the filter', () => {
    const sim = world();
    sim.send(udp('10.0.0.5', 80, 1)); // /32 resource allows udp 53 only: longest prefix wins
    expect(icmpErrors(sim)).toBe(1);
    expect(sim.requests).toEqual([]);
    sim.send(udp('10.0.0.5', 53, 2));
    sim.advance(100);
    expect(sim.delivered()).toEqual(['10.0.0.5:53#2']);
    // the portal narrows the filter on the gateway first
    const gw = sim.client.gatewayFor('res-10-5');
    const g = gw === undefined ? undefined : sim.gateways.get(gw);
    if (g === undefined) throw new Error('no gateway');
    sim.toGateway(g, { event: 'resource_updated', payload: { type: 'cidr', id: 'res-10-5', address: '10.0.0.5/32', filters: [{ protocol: 'tcp' }] } });
    sim.send(udp('10.0.0.5', 53, 3));
    expect(icmpErrors(sim)).toBe(2);
    expect(sim.delivered()).toEqual(['10.0.0.5:53#2']);
  });

  it('reject_access cuts traffic at once and later requests are refused', () => {
    const sim = world();
    sim.send(udp('10.0.0.1', 80, 1));
    sim.advance(100);
    sim.rejectAccess('res-10');
    sim.send(udp('10.0.0.1', 80, 2));
    sim.advance(3000);
    expect(sim.delivered()).toEqual(['10.0.0.1:80#1']);
    expect(sim.clientEvents).toContainEqual({ type: 'authorizationFailed', resourceId: 'res-10', reason: 'forbidden' });
  });

  it('resource deletion takes effect immediately', () => {
    const sim = world();
    sim.send(udp('10.0.0.1', 80, 1));
    sim.advance(100);
    sim.deleteResource('res-10');
    sim.send(udp('10.0.0.1', 80, 2));
    sim.advance(100);
    expect(sim.delivered()).toEqual(['10.0.0.1:80#1']);
    expect(sim.client.drops.noRoute).toBe(1);
  });

  it('access expiry (expires_at) cuts traffic on the gateway', () => {
    const sim = world();
    sim.accessSeconds = 5;
    sim.send(udp('10.0.0.1', 80, 1));
    sim.advance(4000);
    sim.send(udp('10.0.0.1', 80, 2));
    sim.advance(2000);
    sim.send(udp('10.0.0.1', 80, 3));
    sim.advance(10);
    expect(sim.delivered()).toEqual(['10.0.0.1:80#1', '10.0.0.1:80#2']);
    const gw = [...sim.gateways.values()].find((g) => g.events.some((e) => e.type === 'accessExpired'));
    expect(gw).toBeDefined();
  });

  it('a second gateway of the site takes over when the first says Goodbye', () => {
    const sim = world();
    sim.send(udp('10.0.0.1', 80, 1));
    sim.advance(100);
    const first = sim.client.gatewayFor('res-10');
    if (first === undefined) throw new Error('not authorised');
    sim.stopGateway(first, true);
    expect(sim.clientEvents).toContainEqual({ type: 'gatewayDisconnected', gatewayId: first, reason: 'goodbye' });
    sim.send(udp('10.0.0.1', 80, 2));
    sim.advance(100);
    const second = sim.client.gatewayFor('res-10');
    expect(second).toBeDefined();
    expect(second).not.toBe(first);
    expect(sim.delivered()).toEqual(['10.0.0.1:80#1', '10.0.0.1:80#2']);
  });

  it('a second gateway takes over when the first vanishes without a word (idle timeout)', () => {
    const sim = world({ idleTimeoutMs: 6000 });
    sim.send(udp('10.0.0.1', 80, 1));
    sim.advance(100);
    const first = sim.client.gatewayFor('res-10');
    if (first === undefined) throw new Error('not authorised');
    sim.stopGateway(first, false);
    sim.advance(7000);
    expect(sim.clientEvents.some((e) => e.type === 'gatewayDisconnected' && e.gatewayId === first)).toBe(true);
    sim.send(udp('10.0.0.1', 80, 2));
    sim.advance(100);
    expect(sim.client.gatewayFor('res-10')).not.toBe(first);
    expect(sim.delivered()).toEqual(['10.0.0.1:80#1', '10.0.0.1:80#2']);
  });

  it('re-sends request_authorization at most every 2 s while traffic continues', () => {
    const sim = world();
    sim.answering = false;
    for (let t = 0; t < 7000; t += 100) {
      sim.send(udp('10.0.0.1', 80, t / 100));
      sim.advance(100);
    }
    const times = sim.requests.map((r) => r.at);
    expect(times).toEqual([0, 2000, 4000, 6000]);
    for (let i = 1; i < times.length; i++) expect((times[i] ?? 0) - (times[i - 1] ?? 0)).toBeGreaterThanOrEqual(REQUEST_AUTHORIZATION_INTERVAL_MS);
    sim.advance(10_000); // no traffic: no more requests
    expect(sim.requests).toHaveLength(4);
  });

  it('keeps authorisations across a reset (network change) and reconnects', () => {
    const sim = world();
    sim.send(udp('10.0.0.1', 80, 1));
    sim.advance(100);
    sim.client.reset(sim.now);
    sim.settle();
    sim.advance(100);
    sim.send(udp('10.0.0.1', 80, 2));
    sim.advance(100);
    expect(sim.requests).toHaveLength(1);
    expect(sim.delivered()).toEqual(['10.0.0.1:80#1', '10.0.0.1:80#2']);
  });

  it('two roams in the same millisecond: the second handshake is dropped (WireGuard replay/rate limit), the packet waits for the retry and is not lost', () => {
    // The counterexample MODEL_SEED=random found: with no time between two resets the gateway drops the second
    // initiation (same TAI64N millisecond, < 20 ms after the first); the client retries after REKEY_TIMEOUT.
    const sim = world();
    sim.send(udp('10.0.0.1', 80, 1));
    sim.advance(100);
    sim.roam();
    sim.roam();
    sim.send(udp('10.0.0.1', 80, 2));
    sim.advance(100);
    expect(sim.delivered()).toEqual(['10.0.0.1:80#1']);
    sim.advance(5_500);
    expect(sim.delivered()).toEqual(['10.0.0.1:80#1', '10.0.0.1:80#2']);
    // with 25 ms between the roams the second handshake is accepted at once
    sim.roam();
    sim.advance(25);
    sim.roam();
    sim.send(udp('10.0.0.1', 80, 3));
    sim.advance(100);
    expect(sim.delivered()).toEqual(['10.0.0.1:80#1', '10.0.0.1:80#2', '10.0.0.1:80#3']);
  });

  it('routes to the Internet resource only when it is active, and only after the CIDR resources', () => {
    const sim = world();
    sim.upsertResource({ type: 'internet', id: 'res-internet', name: 'Internet', sites: [SITE] });
    sim.allowed.add('res-internet');
    sim.send(udp('8.8.8.8', 53, 1));
    expect(sim.client.drops.noRoute).toBe(1);
    sim.client.setInternetResourceActive(true);
    sim.send(udp('8.8.8.8', 53, 2));
    sim.advance(100);
    sim.send(udp('10.0.0.1', 80, 3));
    sim.advance(100);
    expect(sim.delivered()).toEqual(['8.8.8.8:53#2', '10.0.0.1:80#3']);
    expect(sim.requests.map((r) => r.resourceId)).toEqual(['res-internet', 'res-10']);
    // private destinations via the Internet resource: ICMP network unreachable from the gateway
    sim.send(packet('udp -> 192.168.1.1:80'));
    sim.advance(10);
    expect(icmpErrors(sim)).toBe(1);
  });
});
