// DNS resources through ClientState and GatewayState in memory (the Sim: fake portal, simulated network,
// resource hosts that echo UDP): sentinel queries, forwarding, proxy IPs, assigned_ips/domain_status, the
// gateway's resolution (driven by the test as the IO shell would) and its NAT both ways.
import * as dnsPacket from 'dns-packet';
import type { DecodedPacket, RecordType } from 'dns-packet';
import { buildEchoRequest, buildTcp as buildTcpSeg, buildUdp, decodeP2pControlBytes, IpPacket, parseIpPacket } from '@postern/ip-packet';
import type { ClientResourceWire } from '@postern/model';
import { describe, expect, it } from 'vitest';
import { ip } from '../support/packets';
import type { DnsResourceRecord } from '../../src/index';
import { Sim, type SimGateway } from '../support/sim';

const SITE = { id: 'site-a', name: 'A' };
const APP = '00000000-0000-0000-0000-0000000000a1';
const WILD = '00000000-0000-0000-0000-0000000000a2';
const V4ONLY = '00000000-0000-0000-0000-0000000000a3';
const SENTINEL = '100.100.111.1';
const UPSTREAM = '198.18.26.10';

const dnsRes = (id: string, address: string, ipStack: 'dual' | 'ipv4_only' = 'dual'): ClientResourceWire => ({ type: 'dns', id, address, name: id, sites: [SITE], ip_stack: ipStack });

function world(dnsRecords?: readonly DnsResourceRecord[]): { sim: Sim; gw: SimGateway } {
  const sim = new Sim(dnsRecords === undefined ? {} : { dnsRecords });
  const gw = sim.addGateway('gw-1', 'site-a', 1);
  sim.init([dnsRes(APP, 'app.corp.internal'), dnsRes(WILD, '**.y.corp.internal'), dnsRes(V4ONLY, 'v4.corp.internal', 'ipv4_only')]);
  sim.allowed.add(APP);
  sim.allowed.add(WILD);
  sim.allowed.add(V4ONLY);
  sim.client.setSystemResolvers([UPSTREAM]);
  sim.settle();
  return { sim, gw };
}

function query(name: string, type: RecordType, id = 0x4242): Uint8Array {
  return new Uint8Array(dnsPacket.encode({ id, type: 'query', flags: dnsPacket.RECURSION_DESIRED, questions: [{ name, type, class: 'IN' }] }));
}

function udpToSentinel(payload: Uint8Array, sport = 33000): Uint8Array {
  return buildUdp({ source: ip('100.64.0.1'), destination: ip(SENTINEL), sourcePort: sport, destinationPort: 53, payload });
}

/** DNS answers the client's TUN got from the sentinel. */
function dnsReplies(sim: Sim): DecodedPacket[] {
  return sim.clientTun.flatMap((b) => {
    const p = parseIpPacket(b);
    if (p instanceof Error || !p.isUdp() || p.sourcePort !== 53) return [];
    return [dnsPacket.decode(Buffer.from(p.transportPayload()))];
  });
}

function ask(sim: Sim, name: string, type: RecordType = 'A'): string[] {
  sim.clientTun.length = 0;
  sim.send(udpToSentinel(query(name, type)));
  const r = dnsReplies(sim).at(-1);
  return (r?.answers ?? []).flatMap((a) => (a.type === type && 'data' in a && typeof a.data === 'string' ? [a.data] : []));
}

/** Runs the gateway's pending name resolutions with `answers` (name -> IPs). */
function resolveAll(sim: Sim, gw: SimGateway, answers: Record<string, string[]>): string[] {
  const asked: string[] = [];
  for (let r = gw.state.pollResolveRequest(sim.now); r !== undefined; r = gw.state.pollResolveRequest(sim.now)) {
    asked.push(r.name);
    gw.state.handleResolveResult(r.requestId, { kind: 'ok', ips: answers[r.name] ?? [] }, sim.now);
  }
  sim.settle();
  return asked;
}

function udp(dst: string, sport: number, n: number): Uint8Array {
  return buildUdp({ source: ip('100.64.0.1'), destination: ip(dst), sourcePort: sport, destinationPort: 7000, payload: new Uint8Array([n]) });
}

/** A world where app.corp.internal is set up on the gateway (-> 10.1.2.3) by a first UDP packet from port 5000. */
function activeApp(): { sim: Sim; gw: SimGateway; proxy: string } {
  const { sim, gw } = world();
  const proxy = ask(sim, 'app.corp.internal')[0] ?? '';
  sim.send(udp(proxy, 5000, 1));
  sim.advance(10);
  resolveAll(sim, gw, { 'app.corp.internal': ['10.1.2.3'] });
  return { sim, gw, proxy };
}

const delivered = (gw: SimGateway): string[] =>
  gw.tun.flatMap((b) => {
    const p = parseIpPacket(b);
    return p instanceof Error ? [] : [`${p.sourceText()}:${String(p.sourcePort ?? p.icmpIdentifier ?? '')}>${p.destinationText()}:${String(p.destinationPort ?? '')}#${String(p.transportPayload()[0] ?? '')}`];
  });

const replies = (sim: Sim): string[] =>
  sim.clientTun.flatMap((b) => {
    const p = parseIpPacket(b);
    if (p instanceof Error || p.isIcmpError() || p.sourcePort === 53) return [];
    return [`${p.sourceText()}:${String(p.sourcePort ?? '')}>${String(p.destinationPort ?? '')}#${String(p.transportPayload()[0] ?? '')}`];
  });

describe('DNS resources (client + gateway in memory)', () => {
  it('points the OS at one sentinel per upstream and answers resource names with 4+4 stable proxy IPs (TTL 1 s)', () => {
    const { sim } = world();
    const tun = sim.clientEvents.flatMap((e) => (e.type === 'tunConfigChanged' ? [e.config] : [])).at(-1);
    expect(tun?.upstreamDns).toEqual([SENTINEL]);
    expect(tun?.routes).toEqual(expect.arrayContaining(['100.96.0.0/11', '100.100.111.0/24']));
    const a = ask(sim, 'app.corp.internal');
    expect(a).toHaveLength(4);
    for (const x of a) expect(x).toMatch(/^100\.(9[6-9]|1[01]\d|12[0-7])\./);
    expect(ask(sim, 'APP.corp.internal.')).toEqual(a);
    const aaaa = ask(sim, 'app.corp.internal', 'AAAA');
    expect(aaaa).toHaveLength(4);
    expect(dnsReplies(sim).at(-1)?.answers?.[0]).toMatchObject({ ttl: 1 });
    // an IPv4-only resource: no AAAA
    expect(ask(sim, 'v4.corp.internal', 'AAAA')).toEqual([]);
    expect(ask(sim, 'v4.corp.internal')).toHaveLength(4);
  });

  it('a session seeded with the last dnsRecordsChanged (Firezone: kept across sessions in the tunnel process) keeps the proxy IPs of the names it resolved', () => {
    const { sim } = world();
    const a = ask(sim, 'app.corp.internal');
    const aaaa = ask(sim, 'app.corp.internal', 'AAAA');
    const wild = ask(sim, 'x.y.corp.internal');
    sim.settle();
    const records = sim.clientEvents.flatMap((e) => (e.type === 'dnsRecordsChanged' ? [e.records] : [])).at(-1) ?? [];
    expect(records.map((r) => r.domain).sort()).toEqual(['app.corp.internal', 'x.y.corp.internal']);
    expect(records.find((r) => r.domain === 'app.corp.internal')?.ips).toEqual(expect.arrayContaining([...a, ...aaaa]));

    // Without the records, a new session hands the first name it sees the first proxy IPs again (a collision).
    const fresh = world().sim;
    expect(ask(fresh, 'z.y.corp.internal')).toEqual(a);

    const next = world(records).sim;
    expect(ask(next, 'x.y.corp.internal')).toEqual(wild);
    expect(ask(next, 'app.corp.internal')).toEqual(a);
    expect(ask(next, 'app.corp.internal', 'AAAA')).toEqual(aaaa);
    const other = ask(next, 'z.y.corp.internal');
    expect(other).toHaveLength(4);
    for (const x of other) expect([...a, ...wild]).not.toContain(x);
    // An application that kept a proxy IP from before (no new query) reaches the resource through it.
    const { sim: again, gw } = world(records);
    again.send(udp(a[0] ?? '', 5000, 1));
    again.advance(10);
    expect(resolveAll(again, gw, { 'app.corp.internal': ['10.1.2.3'] })).toEqual(['app.corp.internal']);
    expect(delivered(gw).some((d) => d.endsWith('>10.1.2.3:7000#1'))).toBe(true);
  });

  it('forwards other names to the upstream behind the sentinel, relays the answer with the original id and caches it', () => {
    const { sim } = world();
    sim.send(udpToSentinel(query('plain.example', 'A', 0x1111), 40001));
    const f = sim.client.pollDnsForward();
    expect(f?.transport).toBe('udp');
    expect(sim.client.pollDnsForward()).toBeUndefined();
    if (f?.transport !== 'udp') return;
    expect(f.upstream).toEqual({ ip: UPSTREAM, port: 53 });
    const q = dnsPacket.decode(Buffer.from(f.query));
    const response = new Uint8Array(
      dnsPacket.encode({ id: q.id, type: 'response', flags: dnsPacket.RECURSION_AVAILABLE, questions: q.questions, answers: [{ type: 'A', name: 'plain.example', ttl: 300, data: '198.18.26.99' }] }),
    );
    // an answer from elsewhere is ignored
    sim.client.handleDnsUpstreamResponse('198.18.26.11', 53, response, sim.now);
    sim.settle();
    expect(dnsReplies(sim)).toHaveLength(0);
    sim.client.handleDnsUpstreamResponse(UPSTREAM, 53, response, sim.now);
    sim.settle();
    const r = dnsReplies(sim);
    expect(r).toHaveLength(1);
    expect(r[0]?.id).toBe(0x1111);
    expect(r[0]?.answers?.[0]).toMatchObject({ data: '198.18.26.99' });
    const toPort = parseIpPacket(sim.clientTun[0] ?? new Uint8Array(0));
    expect(toPort instanceof Error ? 0 : toPort.destinationPort).toBe(40001);
    // cached: answered without a new forward
    expect(ask(sim, 'plain.example')).toEqual(['198.18.26.99']);
    expect(sim.client.pollDnsForward()).toBeUndefined();
  });

  it('NXDOMAIN for the DoH canary, empty HTTPS, PTR of a proxy IP', () => {
    const { sim } = world();
    sim.send(udpToSentinel(query('use-application-dns.net', 'A')));
    expect((dnsReplies(sim).at(-1)?.flags ?? 0) & 0xf).toBe(3); // NXDOMAIN
    const a = ask(sim, 'app.corp.internal')[0] ?? '';
    const ptr = ask(sim, `${a.split('.').reverse().join('.')}.in-addr.arpa`, 'PTR');
    expect(ptr).toEqual(['app.corp.internal']);
  });

  it('the first packet to a proxy IP sets up the gateway NAT (assigned_ips -> resolve -> Active), then traffic flows both ways', () => {
    const { sim, gw } = world();
    const proxy = ask(sim, 'app.corp.internal')[0] ?? '';
    for (let i = 0; i < 3; i++) sim.send(udp(proxy, 5000, i));
    sim.advance(50);
    expect(sim.requests.map((r) => r.resourceId)).toEqual([APP]);
    expect(delivered(gw)).toEqual([]); // held until the gateway says Active
    expect(resolveAll(sim, gw, { 'app.corp.internal': ['10.1.2.3', 'fd00:aaaa::3'] })).toEqual(['app.corp.internal']);
    expect(delivered(gw)).toEqual([0, 1, 2].map((i) => `100.64.0.1:5000>10.1.2.3:7000#${String(i)}`));
    // echoed replies come back from the proxy IP
    expect(replies(sim)).toEqual([0, 1, 2].map((i) => `${proxy}:7000>5000#${String(i)}`));
    // later packets go straight through
    sim.send(udp(proxy, 5000, 9));
    expect(delivered(gw).at(-1)).toBe('100.64.0.1:5000>10.1.2.3:7000#9');
    expect(gw.state.dns.natEntries('client-1')).toHaveLength(1);
    // checksums fixed incrementally both ways
    const valid = (b: Uint8Array): boolean => {
      const p = IpPacket.parse(b);
      return !(p instanceof Error) && p.checksumsValid();
    };
    expect(gw.tun.every(valid)).toBe(true);
    expect(sim.clientTun.every(valid)).toBe(true);
    // TCP too, with the same source port as the UDP flow (a separate NAT entry per protocol)
    sim.send(buildTcpSeg({ source: ip('100.64.0.1'), destination: ip(proxy), sourcePort: 5000, destinationPort: 443, seq: 1, flags: 0x02 }));
    const syn = IpPacket.parse(gw.tun.at(-1) ?? new Uint8Array(0));
    expect(syn instanceof Error ? '' : `${syn.destinationText()}:${String(syn.destinationPort)} ${String(syn.checksumsValid())}`).toBe('10.1.2.3:443 true');
    expect(gw.state.dns.natEntries('client-1').map((e) => e.inside.protocol).sort()).toEqual(['tcp', 'udp']);
  });

  it('while traffic flows, assigned_ips is repeated every minute: the gateway follows a DNS change for new flows, existing flows keep their address', () => {
    const { sim, gw, proxy } = activeApp();
    for (let i = 0; i < 6; i++) {
      sim.advance(10_000);
      sim.send(udp(proxy, 5000, 2));
    }
    sim.advance(1_000);
    sim.send(udp(proxy, 5001, 3)); // due: assigned_ips goes along, the packet too (old mapping)
    expect(resolveAll(sim, gw, { 'app.corp.internal': ['10.9.9.9'] })).toEqual(['app.corp.internal']);
    sim.send(udp(proxy, 5002, 4));
    sim.send(udp(proxy, 5000, 5));
    expect(delivered(gw).slice(-3)).toEqual(['100.64.0.1:5001>10.1.2.3:7000#3', '100.64.0.1:5002>10.9.9.9:7000#4', '100.64.0.1:5000>10.1.2.3:7000#5']);
  });

  it('two names on one real IP stay apart: the NAT picks another outside port and replies find their proxy IP', () => {
    const { sim, gw } = world();
    const p1 = ask(sim, 'app.corp.internal')[0] ?? '';
    const p2 = ask(sim, 'x.y.corp.internal')[0] ?? '';
    sim.send(udp(p1, 6000, 1));
    sim.advance(10);
    resolveAll(sim, gw, { 'app.corp.internal': ['10.1.2.3'] });
    sim.send(udp(p2, 6000, 2));
    sim.advance(10);
    expect(resolveAll(sim, gw, { 'x.y.corp.internal': ['10.1.2.3'] })).toEqual(['x.y.corp.internal']);
    const d = delivered(gw);
    expect(d[0]).toBe('100.64.0.1:6000>10.1.2.3:7000#1');
    expect(d[1]).toMatch(/^100\.64\.0\.1:(\d+)>10\.1\.2\.3:7000#2$/);
    expect(d[1]).not.toMatch(/:6000>/);
    expect(replies(sim)).toEqual([`${p1}:7000>6000#1`, `${p2}:7000>6000#2`]);
  });

  it('ICMP echo through a proxy IP is NATed by its identifier', () => {
    const { sim, gw } = world();
    const proxy = ask(sim, 'app.corp.internal')[0] ?? '';
    sim.send(buildEchoRequest({ source: ip('100.64.0.1'), destination: ip(proxy), id: 77, seq: 1 }));
    sim.advance(10);
    resolveAll(sim, gw, { 'app.corp.internal': ['10.1.2.3'] });
    const p = IpPacket.parse(gw.tun.at(-1) ?? new Uint8Array(0));
    expect(p instanceof Error ? '' : `${p.destinationText()} id=${String(p.icmpIdentifier)}`).toBe('10.1.2.3 id=77');
    expect(p instanceof Error ? false : p.checksumsValid()).toBe(true);
  });

  it('a name the gateway cannot resolve is Inactive: held packets get ICMP unreachable', () => {
    const { sim, gw } = world();
    const proxy = ask(sim, 'nothing.y.corp.internal')[0] ?? '';
    sim.send(udp(proxy, 5000, 1));
    sim.advance(10);
    sim.clientTun.length = 0;
    resolveAll(sim, gw, {});
    expect(delivered(gw)).toEqual([]);
    const icmp = sim.clientTun.map((b) => IpPacket.parse(b)).filter((p) => !(p instanceof Error) && p.isIcmpError());
    expect(icmp).toHaveLength(1);
    // an IPv6 proxy IP of a name with only IPv4 addresses: Active, but the gateway refuses it with ICMP
    const v6 = ask(sim, 'app.corp.internal', 'AAAA')[0] ?? '';
    sim.send(buildUdp({ source: ip('fd00:2021:1111::1'), destination: ip(v6), sourcePort: 5000, destinationPort: 7000, payload: new Uint8Array([5]) }));
    sim.advance(10);
    resolveAll(sim, gw, { 'app.corp.internal': ['10.1.2.3'] });
    expect(gw.state.drops['natFailed']).toBe(1);
  });

  it('the gateway refuses assigned_ips for a name outside the resource or a resource not authorised', () => {
    const { sim, gw } = activeApp();
    // the client (compromised) claims another name for the authorised resource
    const status: string[] = [];
    const d = gw.state.dns;
    d.handleAssignedIps('client-1', APP, 'evil.example', ['100.96.0.200'], 'app.corp.internal', sim.now);
    d.handleAssignedIps('client-1', WILD, 'x.y.corp.internal', ['100.96.0.201'], undefined, sim.now);
    d.handleAssignedIps('client-1', APP, 'app.corp.internal', ['10.0.0.1'], 'app.corp.internal', sim.now);
    for (let c = d.pollControl(); c !== undefined; c = d.pollControl()) {
      const ev = decodeP2pControlBytes(c.packet);
      if (!(ev instanceof Error) && ev.type === 'domain_status') status.push(`${ev.domain}:${ev.status}`);
    }
    expect(status).toEqual(['evil.example:Inactive', 'x.y.corp.internal:Inactive', 'app.corp.internal:Inactive']);
    expect(gw.state.pollResolveRequest(sim.now)).toBeUndefined();
  });

  it('SRV/TXT of a resource go to its gateway (in-tunnel DNS, port 53535) once authorised; other names there are refused', () => {
    const { sim, gw } = activeApp();
    sim.clientTun.length = 0;
    sim.send(udpToSentinel(query('app.corp.internal', 'TXT', 0x5151), 41000));
    expect(sim.client.pollDnsForward()).toBeUndefined(); // not to the upstream
    const q = gw.state.pollSiteQuery();
    expect(q).toBeDefined();
    if (q === undefined) return;
    const decoded = dnsPacket.decode(Buffer.from(q.query));
    expect(decoded.questions?.[0]).toMatchObject({ name: 'app.corp.internal', type: 'TXT' });
    const answer = new Uint8Array(
      dnsPacket.encode({ id: decoded.id, type: 'response', flags: dnsPacket.RECURSION_AVAILABLE, questions: decoded.questions, answers: [{ type: 'TXT', name: 'app.corp.internal', ttl: 60, data: 'site says hi' }] }),
    );
    gw.state.handleSiteAnswer(q.id, answer, q.query, sim.now);
    sim.settle();
    const r = dnsReplies(sim).at(-1);
    expect(r?.id).toBe(0x5151);
    const txt = r?.answers?.[0];
    const data = txt !== undefined && 'data' in txt && Array.isArray(txt.data) ? txt.data : [];
    expect(Buffer.concat(data.map((d) => Buffer.from(d as Uint8Array))).toString()).toBe('site says hi');
    // a failed resolution: SERVFAIL to the asker
    sim.send(udpToSentinel(query('app.corp.internal', 'SRV', 0x5252), 41001));
    const q2 = gw.state.pollSiteQuery();
    gw.state.handleSiteAnswer(q2?.id ?? 0, undefined, q2?.query ?? new Uint8Array(0), sim.now);
    sim.settle();
    expect(((dnsReplies(sim).at(-1)?.flags ?? 0) & 0xf)).toBe(2);
    // straight to the gateway's port for a name of no resource: REFUSED, nothing for the resolver
    sim.send(buildUdp({ source: ip('100.64.0.1'), destination: ip(gw.ipv4), sourcePort: 53535, destinationPort: 53535, payload: query('evil.example', 'TXT', 0x5353) }));
    expect(gw.state.pollSiteQuery()).toBeUndefined();
  });

  it('TCP to the sentinel: handshake, a framed query, the answer, FIN', () => {
    const { sim } = world();
    const src = ip('100.64.0.1');
    const dst = ip(SENTINEL);
    const seg = (flags: number, seq: number, ack: number, payload?: Uint8Array): Uint8Array =>
      buildTcpSeg({ source: src, destination: dst, sourcePort: 41000, destinationPort: 53, seq, ack, flags, ...(payload === undefined ? {} : { payload }) });
    sim.clientTun.length = 0;
    sim.send(seg(0x02, 1000, 0));
    const synAck = tcpOf(sim.clientTun.at(-1));
    expect(synAck.flags).toBe(0x12);
    expect(synAck.ack).toBe(1001);
    const q = query('app.corp.internal', 'A', 0x7777);
    const framed = new Uint8Array(q.length + 2);
    framed[1] = q.length;
    framed.set(q, 2);
    sim.send(seg(0x10, 1001, synAck.seq + 1));
    sim.send(seg(0x18, 1001, synAck.seq + 1, framed));
    const data = sim.clientTun.map(tcpOf).filter((t) => t.payload.length > 0);
    expect(data).toHaveLength(1);
    const answer = dnsPacket.decode(Buffer.from(data[0]?.payload.subarray(2) ?? new Uint8Array(0)));
    expect(answer.id).toBe(0x7777);
    expect(answer.answers).toHaveLength(4);
    sim.send(seg(0x11, 1001 + framed.length, synAck.seq + 1 + framed.length));
    const fin = tcpOf(sim.clientTun.at(-1));
    expect(fin.flags & 0x01).toBe(1);
    expect(fin.ack).toBe(1001 + framed.length + 1);
  });
});


function tcpOf(b: Uint8Array | undefined): { flags: number; seq: number; ack: number; payload: Uint8Array } {
  const p = IpPacket.parse(b ?? new Uint8Array(0));
  if (p instanceof Error || !p.isTcp()) return { flags: -1, seq: 0, ack: 0, payload: new Uint8Array(0) };
  const v = new DataView(p.bytes.buffer, p.bytes.byteOffset + p.transportOffset);
  return { flags: p.tcpFlags ?? -1, seq: v.getUint32(4), ack: v.getUint32(8), payload: p.transportPayload() };
}
