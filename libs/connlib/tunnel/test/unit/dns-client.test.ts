// ClientDns on its own: sentinel selection (portal upstreams win over the system's), forwarding with
// per-query ids, timeouts, and the NAT set-up gate (bounded buffer, resend, Inactive).
import * as dnsPacket from 'dns-packet';
import { buildUdp, decodeP2pControlBytes, IpPacket } from '@postern/ip-packet';
import { describe, expect, it } from 'vitest';
import { ASSIGNED_IPS_RESEND_MS, ClientDns, DNS_FORWARD_TIMEOUT_MS, MAX_NAT_BUFFERED, isDo53Forward, type Do53Forward } from '../../src/dns/client-dns';
import { ip } from '../support/packets';
import { seededRng } from '../support/rng';

const APP = '00000000-0000-0000-0000-0000000000b1';

function q(name: string, id: number): Uint8Array {
  return new Uint8Array(dnsPacket.encode({ id, type: 'query', flags: dnsPacket.RECURSION_DESIRED, questions: [{ name, type: 'A', class: 'IN' }] }));
}

function toSentinel(payload: Uint8Array, sport: number, sentinel = '100.100.111.1'): IpPacket {
  const p = IpPacket.parse(buildUdp({ source: ip('100.64.0.1'), destination: ip(sentinel), sourcePort: sport, destinationPort: 53, payload }));
  if (p instanceof Error) throw p;
  return p;
}

/** The next forward, which must be a Do53 one (or none). */
function do53Forward(d: ClientDns): Do53Forward | undefined {
  const f = d.pollForward();
  if (f !== undefined && !isDo53Forward(f)) throw new Error(`a ${f.transport} forward where Do53 was expected`);
  return f;
}

function answers(d: ClientDns): { port: number; id: number; rcode: number }[] {
  const out: { port: number; id: number; rcode: number }[] = [];
  for (let b = d.pollTunWrite(); b !== undefined; b = d.pollTunWrite()) {
    const p = IpPacket.parse(b);
    if (p instanceof Error || !p.isUdp()) continue;
    const m = dnsPacket.decode(Buffer.from(p.transportPayload()));
    out.push({ port: p.destinationPort ?? 0, id: m.id ?? 0, rcode: (m.flags ?? 0) & 0xf });
  }
  return out;
}

describe('ClientDns', () => {
  it('one sentinel per upstream: the portal Do53 list wins over the system, IPv6 upstreams get IPv6 sentinels', () => {
    const d = new ClientDns(seededRng(1));
    expect(d.setUpstreams(undefined, ['10.0.0.53', '127.0.0.53'])).toBe(true);
    expect(d.sentinelIps).toEqual(['100.100.111.1', '100.100.111.2']);
    expect(d.setUpstreams(undefined, ['10.0.0.53', '127.0.0.53'])).toBe(false);
    expect(d.setUpstreams(['198.18.0.53', '2001:db8::53', '100.100.111.1'], undefined)).toBe(true);
    expect(d.sentinelIps).toEqual(['100.100.111.1', 'fd00:2021:1111:8000:100:100:111:0']);
  });

  it('forwards with a fresh id per query, so two askers with the same id each get their own answer', () => {
    const d = new ClientDns(seededRng(2));
    d.setUpstreams(['198.18.0.53'], []);
    d.handleSentinelPacket(toSentinel(q('a.example', 7), 1001), 0);
    d.handleSentinelPacket(toSentinel(q('b.example', 7), 1002), 0);
    const f1 = do53Forward(d);
    const f2 = do53Forward(d);
    expect(f1?.upstream).toEqual({ ip: '198.18.0.53', port: 53 });
    const id1 = dnsPacket.decode(Buffer.from(f1?.query ?? new Uint8Array(0))).id;
    const id2 = dnsPacket.decode(Buffer.from(f2?.query ?? new Uint8Array(0))).id;
    expect(id1).not.toBe(id2);
    for (const f of [f2, f1]) {
      const m = dnsPacket.decode(Buffer.from(f?.query ?? new Uint8Array(0)));
      d.handleUpstreamResponse('198.18.0.53', 53, new Uint8Array(dnsPacket.encode({ id: m.id, type: 'response', questions: m.questions, answers: [] })), 1);
    }
    expect(answers(d)).toEqual([
      { port: 1002, id: 7, rcode: 0 },
      { port: 1001, id: 7, rcode: 0 },
    ]);
    // a second answer to the same id is not relayed
    d.handleUpstreamResponse('198.18.0.53', 53, new Uint8Array(dnsPacket.encode({ id: id1, type: 'response', questions: [], answers: [] })), 2);
    expect(answers(d)).toEqual([]);
    expect(d.drops['upstreamUnsolicited']).toBe(1);
  });

  it('SERVFAIL without any upstream; late upstream answers are dropped', () => {
    const d = new ClientDns(seededRng(3));
    d.handleSentinelPacket(toSentinel(q('a.example', 9), 1001), 0);
    expect(answers(d)).toEqual([{ port: 1001, id: 9, rcode: 2 }]);
    // a sentinel address without an upstream behind it
    d.setUpstreams(['198.18.0.53'], []);
    d.handleSentinelPacket(toSentinel(q('a.example', 9), 1001, '100.100.111.9'), 0);
    expect(answers(d)).toEqual([{ port: 1001, id: 9, rcode: 2 }]);
    d.handleSentinelPacket(toSentinel(q('b.example', 10), 1002), 0);
    const f = do53Forward(d);
    d.handleTimeout(DNS_FORWARD_TIMEOUT_MS);
    const m = dnsPacket.decode(Buffer.from(f?.query ?? new Uint8Array(0)));
    d.handleUpstreamResponse('198.18.0.53', 53, new Uint8Array(dnsPacket.encode({ id: m.id, type: 'response', questions: m.questions, answers: [] })), DNS_FORWARD_TIMEOUT_MS);
    expect(answers(d)).toEqual([]);
  });

  it('holds packets for a proxy IP until Active (bounded), resends assigned_ips, Inactive answers with ICMP', () => {
    const d = new ClientDns(seededRng(4));
    d.setUpstreams(['198.18.0.53'], []);
    d.setResources([{ id: APP, address: 'app.corp.internal', ipStack: 'ipv4_only' }]);
    d.handleSentinelPacket(toSentinel(q('app.corp.internal', 1), 1000), 0);
    const reply = IpPacket.parse(d.pollTunWrite() ?? new Uint8Array(0));
    const a0 = reply instanceof Error ? undefined : dnsPacket.decode(Buffer.from(reply.transportPayload())).answers?.[0];
    const proxy = a0 !== undefined && 'data' in a0 && typeof a0.data === 'string' ? a0.data : '';
    expect(proxy).toMatch(/^100\./);
    const pkt = (n: number): IpPacket => {
      const p = IpPacket.parse(buildUdp({ source: ip('100.64.0.1'), destination: ip(proxy), sourcePort: 5000, destinationPort: 80, payload: new Uint8Array([n]) }));
      if (p instanceof Error) throw p;
      return p;
    };
    const first = d.gate('gw', APP, pkt(0), 0);
    expect(first.kind).toBe('held');
    const control = first.kind === 'held' ? first.control : undefined;
    const ev = decodeP2pControlBytes(control ?? new Uint8Array(0));
    expect(ev).toMatchObject({ type: 'assigned_ips', resource: APP, domain: 'app.corp.internal' });
    expect(ev instanceof Error ? [] : ev.type === 'assigned_ips' ? ev.proxyIps : []).toHaveLength(4); // IPv4 only
    for (let i = 1; i <= MAX_NAT_BUFFERED + 5; i++) expect(d.gate('gw', APP, pkt(i), 10)).toEqual({ kind: 'held', control: undefined });
    expect(d.drops['natBufferFull']).toBe(6);
    const again = d.gate('gw', APP, pkt(99), ASSIGNED_IPS_RESEND_MS);
    expect(again.kind === 'held' && again.control !== undefined).toBe(true);
    const held = d.handleDomainStatus('gw', APP, 'app.corp.internal', 'Active', ASSIGNED_IPS_RESEND_MS);
    expect(held).toHaveLength(MAX_NAT_BUFFERED);
    expect(d.gate('gw', APP, pkt(100), ASSIGNED_IPS_RESEND_MS)).toEqual({ kind: 'send' });
    // another gateway starts over; Inactive there turns the held packet into ICMP unreachable
    expect(d.gate('gw2', APP, pkt(1), 0).kind).toBe('held');
    expect(d.handleDomainStatus('gw2', APP, 'app.corp.internal', 'Inactive', 1)).toEqual([]);
    const icmp = IpPacket.parse(d.pollTunWrite() ?? new Uint8Array(0));
    expect(icmp instanceof Error ? false : icmp.isIcmpError()).toBe(true);
    expect(d.gate('gw2', APP, pkt(2), 2)).toEqual({ kind: 'unreachable' });
    d.forgetGateway('gw2');
    expect(d.gate('gw2', APP, pkt(3), 3).kind).toBe('held');
  });
});
