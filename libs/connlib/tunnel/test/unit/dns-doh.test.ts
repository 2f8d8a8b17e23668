// ClientDns with DoH upstreams (sans-IO): the upstream choice (portal Do53, else portal DoH, else the
// system's), the host lookup through the system's resolver, RFC 8484 requests with id 0 and the asker's id
// restored, UDP truncation, and every failure (bad answers, shell errors, timeouts, no resolver) answered
// with SERVFAIL while the state keeps working.
import * as dnsPacket from 'dns-packet';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { DOH_BOOTSTRAP_TIMEOUT_MS, DOH_CONTENT_TYPE, DOH_QUERY_TIMEOUT_MS, DohError, type DohHttpResponse } from '@postern/dns';
import { ClientDns, isDo53Forward, type DnsForward, type Do53Forward, type DohForward, type DohNotice } from '../../src/dns/client-dns';
import { askOverTcp, idOf, out, q, txtAnswer, udpTo } from '../support/dns-askers';
import { seededRng } from '../support/rng';

const SYSTEM = '198.18.20.53';
const URL_NAMED = 'https://doh.example/dns-query';
const URL_LITERAL = 'https://198.18.20.2/dns-query';
const SERVFAIL = 2;

function all(d: ClientDns): DnsForward[] {
  const list: DnsForward[] = [];
  for (let f = d.pollForward(); f !== undefined; f = d.pollForward()) list.push(f);
  return list;
}

const isDoh = (f: DnsForward): f is DohForward => f.transport === 'https';

function client(doh: string[], system: string[] = [SYSTEM]): ClientDns {
  const d = new ClientDns(seededRng(11));
  d.setUpstreams([], system, doh);
  return d;
}

/** Answers the A and AAAA lookups of the DoH host from the system resolver. */
function answerLookups(d: ClientDns, lookups: Do53Forward[], now: number): void {
  for (const f of lookups) {
    const m = dnsPacket.decode(Buffer.from(f.query));
    const type = m.questions?.[0]?.type;
    const answers: dnsPacket.Answer[] = type === 'A' ? [{ type: 'A', name: 'doh.example', ttl: 300, data: '198.18.20.2' }] : [{ type: 'AAAA', name: 'doh.example', ttl: 300, data: 'fd00::2' }];
    d.handleUpstreamResponse(f.upstream.ip, f.upstream.port, new Uint8Array(dnsPacket.encode({ id: m.id ?? 0, type: 'response', questions: m.questions ?? [], answers })), now, 'udp');
  }
}

function http(body: Uint8Array, over: Partial<DohHttpResponse> = {}): DohHttpResponse {
  return { status: 200, contentType: DOH_CONTENT_TYPE, contentLength: body.byteLength, body, complete: true, ...over };
}

/** The DoH server's answer to request `f`: `n` TXT records for its question, id 0 as on the wire. */
function dohAnswer(f: DohForward, n = 1): Uint8Array {
  return txtAnswer(f.request.body, n);
}

/** A UDP query through a DoH upstream that is already looked up: returns its request. */
function ready(d: ClientDns, name: string, id: number, now: number, edns?: number): DohForward {
  d.handleSentinelPacket(udpTo(q(name, id, edns), 40000 + id), now);
  const f = all(d).find(isDoh);
  if (f === undefined) throw new Error('no DoH request');
  return f;
}

describe('ClientDns upstreams', () => {
  it("portal Do53 wins over portal DoH, DoH over the system's; DoH gets an IPv4 sentinel", () => {
    const d = new ClientDns(seededRng(1));
    d.setUpstreams(['198.18.20.9'], [SYSTEM], [URL_NAMED]);
    expect(d.upstreams).toEqual([{ kind: 'do53', ip: '198.18.20.9', port: 53 }]);
    d.setUpstreams([], undefined, undefined);
    expect(d.upstreams).toEqual([{ kind: 'doh', url: URL_NAMED }]);
    expect(d.sentinelIps).toEqual(['100.100.111.1']);
    d.setUpstreams(undefined, undefined, []);
    expect(d.upstreams).toEqual([{ kind: 'do53', ip: SYSTEM, port: 53 }]);
  });
});

describe('ClientDns over DoH', () => {
  it('looks the host up at the system resolver (A then AAAA), POSTs with id 0 to its IPv4 address, answers with the asker id, caches', () => {
    const d = client([URL_NAMED]);
    d.handleSentinelPacket(udpTo(q('a.example', 0x1234, 1232), 40001), 0);
    d.handleSentinelPacket(udpTo(q('b.example', 0x1235, 1232), 40002), 1);
    const lookups = all(d);
    expect(lookups.map((f) => (isDo53Forward(f) ? [f.transport, f.upstream.ip, dnsPacket.decode(Buffer.from(f.query)).questions?.[0]?.type] : f.transport))).toEqual([
      ['udp', SYSTEM, 'A'],
      ['udp', SYSTEM, 'AAAA'],
    ]);
    answerLookups(d, lookups.filter(isDo53Forward), 5);
    const reqs = all(d).filter(isDoh);
    expect(reqs.map((r) => [r.address, r.server.host, r.request.method, r.request.path, idOf(r.request.body)])).toEqual([
      ['198.18.20.2', 'doh.example', 'POST', '/dns-query', 0],
      ['198.18.20.2', 'doh.example', 'POST', '/dns-query', 0],
    ]);
    for (const r of reqs.reverse()) expect(d.handleDohResponse(r.token, http(dohAnswer(r)), 10)).toBeUndefined();
    expect(out(d).udp.map((m) => [m.id, (m.flags ?? 0) & 0xf, m.answers?.length])).toEqual([
      [0x1235, 0, 1],
      [0x1234, 0, 1],
    ]);
    expect(d.forwardStats).toMatchObject({ https: 2, httpsAnswers: 2, bootstrapLookups: 2 });
    // the same question again: from the cache, nothing sent
    d.handleSentinelPacket(udpTo(q('a.example', 0x999, 1232), 40003), 20);
    expect(all(d)).toEqual([]);
    expect(out(d).udp.map((m) => m.id)).toEqual([0x999]);
  });

  it('an IP-literal URL needs no lookup', () => {
    const d = client([URL_LITERAL], []);
    const f = ready(d, 'a.example', 7, 0);
    expect(f.address).toBe('198.18.20.2');
    expect(d.forwardStats.bootstrapLookups).toBe(0);
  });

  it('a large DoH answer is truncated for a UDP asker (its EDNS size), whole for a TCP asker', () => {
    const d = client([URL_LITERAL]);
    const f = ready(d, 'big.example', 0x42, 0);
    d.handleDohResponse(f.token, http(dohAnswer(f, 30)), 1);
    const [udp] = out(d).udp;
    expect([udp?.id, udp?.flag_tc, udp?.answers?.length]).toEqual([0x42, true, 0]);
    const decoder = askOverTcp(d, q('big2.example', 0x43), 2);
    const [t] = all(d).filter(isDoh);
    if (t === undefined) throw new Error('no DoH request for the TCP asker');
    d.handleDohResponse(t.token, http(dohAnswer(t, 30)), 3);
    const [tcp] = out(d, decoder).tcp;
    expect([tcp?.id, tcp?.flag_tc, tcp?.answers?.length]).toEqual([0x43, false, 30]);
  });

  it.each([
    ['HTTP 500', (f: DohForward) => http(dohAnswer(f), { status: 500 }), 'DOH_HTTP_STATUS'],
    ['text/html', (f: DohForward) => http(dohAnswer(f), { contentType: 'text/html' }), 'DOH_CONTENT_TYPE'],
    ['cut short', (f: DohForward) => http(dohAnswer(f).subarray(0, 20), { contentLength: 200 }), 'DOH_BODY_TRUNCATED'],
    ['oversized', () => http(new Uint8Array(70_000)), 'DOH_BODY_TOO_LARGE'],
    ['garbage', () => http(new Uint8Array(40).fill(0xff)), 'DOH_MALFORMED'],
    ['id mismatch', () => http(txtAnswer(q('a.example', 77), 1)), 'DOH_ID_MISMATCH'],
  ])('%s: SERVFAIL to the asker with its id, %s counted, the next query still works', (_name, bad, code) => {
    const d = client([URL_LITERAL]);
    const f = ready(d, 'a.example', 0x51, 0);
    expect(d.handleDohResponse(f.token, bad(f), 1)?.code).toBe(code);
    expect(out(d).udp.map((m) => [m.id, (m.flags ?? 0) & 0xf])).toEqual([[0x51, SERVFAIL]]);
    expect(d.dohFailures).toEqual({ [code]: 1 });
    const g = ready(d, 'a.example', 0x52, 2);
    d.handleDohResponse(g.token, http(dohAnswer(g)), 3);
    expect(out(d).udp.map((m) => [m.id, (m.flags ?? 0) & 0xf])).toEqual([[0x52, 0]]);
  });

  it('a failure in the shell (connect, TLS) answers SERVFAIL at once; a late response is ignored', () => {
    const d = client([URL_LITERAL]);
    const f = ready(d, 'a.example', 0x61, 0);
    d.handleDohFailure(f.token, new DohError('DOH_CONNECT', 'refused'), 1);
    expect(out(d).udp.map((m) => [m.id, (m.flags ?? 0) & 0xf])).toEqual([[0x61, SERVFAIL]]);
    expect(d.handleDohResponse(f.token, http(dohAnswer(f)), 2)).toBeUndefined();
    expect(out(d).udp).toEqual([]);
  });

  it('no answer: SERVFAIL to UDP and TCP askers at the DoH timeout, not before', () => {
    const d = client([URL_LITERAL]);
    ready(d, 'a.example', 0x71, 0);
    const decoder = askOverTcp(d, q('b.example', 0x72), 0);
    all(d);
    expect(d.pollTimeout()).toBeLessThanOrEqual(DOH_QUERY_TIMEOUT_MS);
    d.handleTimeout(DOH_QUERY_TIMEOUT_MS - 1);
    expect(out(d, decoder)).toMatchObject({ udp: [], tcp: [] });
    d.handleTimeout(DOH_QUERY_TIMEOUT_MS);
    const o = out(d, decoder);
    expect(o.udp.map((m) => [m.id, (m.flags ?? 0) & 0xf])).toEqual([[0x71, SERVFAIL]]);
    expect(o.tcp.map((m) => [m.id, (m.flags ?? 0) & 0xf])).toEqual([[0x72, SERVFAIL]]);
    expect(d.dohFailures).toEqual({ DOH_TIMEOUT: 2 });
  });

  it('a host that cannot be looked up: SERVFAIL at once without a system resolver, after the lookup timeout without an answer', () => {
    const none = client([URL_NAMED], []);
    none.handleSentinelPacket(udpTo(q('a.example', 0x81), 40081), 0);
    const notices = all(none).filter((f): f is DohNotice => f.transport === 'notice');
    expect(notices.map((n) => [n.upstream, n.error.code])).toEqual([[URL_NAMED, 'DOH_BOOTSTRAP']]);
    expect(out(none).udp.map((m) => [m.id, (m.flags ?? 0) & 0xf])).toEqual([[0x81, SERVFAIL]]);
    const silent = client([URL_NAMED]);
    silent.handleSentinelPacket(udpTo(q('a.example', 0x82), 40082), 0);
    expect(all(silent).filter(isDo53Forward)).toHaveLength(2);
    silent.handleTimeout(DOH_BOOTSTRAP_TIMEOUT_MS - 1);
    expect(out(silent).udp).toEqual([]);
    silent.handleTimeout(DOH_BOOTSTRAP_TIMEOUT_MS);
    expect(out(silent).udp.map((m) => [m.id, (m.flags ?? 0) & 0xf])).toEqual([[0x82, SERVFAIL]]);
    expect(silent.dohFailures).toEqual({ DOH_BOOTSTRAP: 1 });
  });

  it('a lookup that got no addresses moves the next one to the next system resolver', () => {
    const d = client([URL_NAMED], [SYSTEM, '198.18.20.54']);
    d.handleSentinelPacket(udpTo(q('a.example', 0x83), 40083), 0);
    expect(all(d).filter(isDo53Forward).map((f) => f.upstream.ip)).toEqual([SYSTEM, SYSTEM]);
    d.handleTimeout(DOH_BOOTSTRAP_TIMEOUT_MS); // the DoH query fails; the lookup's own answers may still come
    d.handleTimeout(DNS_TIMEOUT_BACKSTOP); // they did not: the next lookup goes elsewhere
    out(d);
    d.handleSentinelPacket(udpTo(q('b.example', 0x84), 40084), DNS_TIMEOUT_BACKSTOP + 1);
    expect(all(d).filter(isDo53Forward).map((f) => f.upstream.ip)).toEqual(['198.18.20.54', '198.18.20.54']);
  });

  it('any response bytes, status and headers: no throw, and the asker always hears back once', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 300 }), fc.constantFrom(200, 404, 500), fc.constantFrom(DOH_CONTENT_TYPE, 'text/plain'), fc.boolean(), (body, status, contentType, complete) => {
        const d = client([URL_LITERAL]);
        const f = ready(d, 'a.example', 0x91, 0);
        d.handleDohResponse(f.token, { status, contentType, contentLength: undefined, body, complete }, 1);
        d.handleTimeout(DNS_TIMEOUT_BACKSTOP);
        expect(out(d).udp.map((m) => m.id)).toEqual([0x91]);
      }),
      { numRuns: 300 },
    );
  });
});

/** Past every deadline (the forward's own 10 s included). */
const DNS_TIMEOUT_BACKSTOP = 60_000;
