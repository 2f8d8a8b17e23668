// GatewayDns on its own: resolution through the queue (concurrency, timeout), the proxy -> real NAT with
// ICMP errors translated back, and forgetting a resource.
import { buildDestinationUnreachable, buildUdp, decodeP2pControlBytes, IpPacket } from '@postern/ip-packet';
import { describe, expect, it } from 'vitest';
import { GATEWAY_RESOLVE_CONCURRENCY, GATEWAY_RESOLVE_TIMEOUT_MS, GatewayDns } from '../../src/dns/gateway-dns';
import { ip } from '../support/packets';

const RES = '00000000-0000-0000-0000-0000000000c1';
const PROXY = '100.96.0.1';

function statuses(d: GatewayDns): string[] {
  const out: string[] = [];
  for (let c = d.pollControl(); c !== undefined; c = d.pollControl()) {
    const ev = decodeP2pControlBytes(c.packet);
    if (!(ev instanceof Error) && ev.type === 'domain_status') out.push(`${ev.domain}:${ev.status}`);
  }
  return out;
}

function udp(src: string, dst: string, sport: number, dport: number): IpPacket {
  const p = IpPacket.parse(buildUdp({ source: ip(src), destination: ip(dst), sourcePort: sport, destinationPort: dport, payload: new Uint8Array([1, 2, 3]) }));
  if (p instanceof Error) throw p;
  return p;
}

function active(): GatewayDns {
  const d = new GatewayDns();
  d.handleAssignedIps('cl', RES, 'app.corp.internal', [PROXY, '100.96.0.2'], '**.corp.internal', 0);
  const r = d.pollResolveRequest(0);
  expect(r?.name).toBe('app.corp.internal');
  d.handleResolveResult(r?.requestId ?? 0, { kind: 'ok', ips: ['10.1.2.3'] }, 1);
  expect(statuses(d)).toEqual(['app.corp.internal:Active']);
  return d;
}

describe('GatewayDns', () => {
  it('resolves at most 16 names at once and fails the ones without an answer after 10 s (Inactive)', () => {
    const d = new GatewayDns();
    for (let i = 0; i < 20; i++) d.handleAssignedIps('cl', RES, `n${String(i)}.corp.internal`, [PROXY], '**.corp.internal', 0);
    const started: string[] = [];
    for (let r = d.pollResolveRequest(0); r !== undefined; r = d.pollResolveRequest(0)) started.push(r.name);
    expect(started).toHaveLength(GATEWAY_RESOLVE_CONCURRENCY);
    expect(d.pollTimeout()).toBe(GATEWAY_RESOLVE_TIMEOUT_MS);
    d.handleTimeout(GATEWAY_RESOLVE_TIMEOUT_MS);
    expect(statuses(d)).toHaveLength(GATEWAY_RESOLVE_CONCURRENCY);
    expect(d.pollResolveRequest(GATEWAY_RESOLVE_TIMEOUT_MS)?.name).toBe('n16.corp.internal');
  });

  it('NATs a flow to the real IP and translates an ICMP port unreachable about it back to the proxy IP', () => {
    const d = active();
    const out = udp('100.64.0.1', PROXY, 4000, 53);
    expect(d.resourcesForProxyIp('cl', out)).toEqual([RES]);
    expect(d.translateOutbound('cl', out, 2)).toBe(true);
    expect(out.destinationText()).toBe('10.1.2.3');
    expect(out.checksumsValid()).toBe(true);
    // the real host refuses it (after the kernel's masquerade is undone, the quote is our NATed packet)
    const err = IpPacket.parse(buildDestinationUnreachable(out, 'prohibited') ?? new Uint8Array(0));
    if (err instanceof Error) throw err;
    expect(d.translateInbound('cl', err, 3)).toBe(true);
    expect(err.sourceText()).toBe(PROXY);
    expect(err.checksumsValid()).toBe(true);
    const quote = err.icmpErrorQuote();
    expect(quote instanceof Error ? '' : `${quote.destinationText()}:${String(quote.sourcePort)}`).toBe(`${PROXY}:4000`);
    // the reply itself
    const reply = udp('10.1.2.3', '100.64.0.1', 53, 4000);
    expect(d.translateInbound('cl', reply, 4)).toBe(true);
    expect(`${reply.sourceText()}:${String(reply.sourcePort)} ${String(reply.checksumsValid())}`).toBe(`${PROXY}:53 true`);
    // unrelated traffic is not touched
    const other = udp('10.1.2.3', '100.64.0.1', 53, 4001);
    expect(d.translateInbound('cl', other, 5)).toBe(false);
    expect(d.translateInbound('other-client', udp('10.1.2.3', '100.64.0.1', 53, 4000), 5)).toBe(false);
  });

  it('forgets the proxy IPs of a resource the client lost', () => {
    const d = active();
    const out = udp('100.64.0.1', PROXY, 4000, 80);
    expect(d.translateOutbound('cl', out, 2)).toBe(true);
    d.forgetResource('cl', RES, 3);
    expect(d.resourcesForProxyIp('cl', udp('100.64.0.1', PROXY, 4000, 80))).toEqual([]);
    expect(d.natEntries('cl')).toEqual([]);
    expect(d.translateInbound('cl', udp('10.1.2.3', '100.64.0.1', 80, 4000), 4)).toBe(false);
  });
});
