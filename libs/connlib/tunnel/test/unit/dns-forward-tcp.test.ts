// ClientDns forwarding by transport (RFC 7766): a query that came over TCP goes upstream over TCP, a UDP one
// over UDP; a truncated (TC=1) UDP answer is asked again over TCP and the asker gets what fits its UDP size;
// answers that come another way than the query went are dropped; timeouts answer every kind of asker.
import * as dnsPacket from 'dns-packet';
import fc from 'fast-check';
import { IpPacket } from '@postern/ip-packet';
import { DnsTcpDecoder } from '@postern/dns';
import { describe, expect, it } from 'vitest';
import { ClientDns, DNS_FORWARD_TIMEOUT_MS, isDo53Forward, type Do53Forward } from '../../src/dns/client-dns';
import { askOverTcp, idOf, out, q, txtAnswer, udpTo, withId } from '../support/dns-askers';
import { seededRng } from '../support/rng';

const UPSTREAM = '198.18.0.53';

function forwards(d: ClientDns): Do53Forward[] {
  const out: Do53Forward[] = [];
  for (let f = d.pollForward(); f !== undefined; f = d.pollForward()) if (isDo53Forward(f)) out.push(f);
  return out;
}

function client(): ClientDns {
  const d = new ClientDns(seededRng(7));
  d.setUpstreams([UPSTREAM], []);
  return d;
}

describe('ClientDns forwarding over TCP', () => {
  it('a query that came over TCP goes upstream over TCP, and its large answer comes back whole', () => {
    const d = client();
    const decoder = askOverTcp(d, q('big.example', 0x4242), 0);
    const [f] = forwards(d);
    expect(f?.transport).toBe('tcp');
    expect(f?.upstream).toEqual({ ip: UPSTREAM, port: 53 });
    expect(d.forwardStats).toMatchObject({ udp: 0, tcp: 1, truncatedRetriedOverTcp: 0 });
    const query = f?.query ?? new Uint8Array(0);
    const big = txtAnswer(query, 10);
    expect(big.byteLength).toBeGreaterThan(1500);
    d.handleUpstreamResponse(UPSTREAM, 53, big, 5, 'tcp');
    const o = out(d, decoder);
    expect(o.tcp).toHaveLength(1);
    expect(o.tcp[0]?.id).toBe(0x4242);
    expect(o.tcp[0]?.answers).toHaveLength(10);
    expect(o.tcpSegments.length).toBeGreaterThan(1); // more than one segment's worth
  });

  it('a UDP query goes over UDP', () => {
    const d = client();
    d.handleSentinelPacket(udpTo(q('a.example', 1), 5000), 0);
    expect(forwards(d).map((f) => f.transport)).toEqual(['udp']);
  });

  it('drops an answer that came another way than its query went', () => {
    const d = client();
    askOverTcp(d, q('a.example', 9), 0);
    const [f] = forwards(d);
    const a = txtAnswer(f?.query ?? new Uint8Array(0), 1);
    d.handleUpstreamResponse(UPSTREAM, 53, a, 1, 'udp');
    expect(d.drops['upstreamWrongTransport']).toBe(1);
    expect(out(d).tcp).toEqual([]);
    d.handleUpstreamResponse(UPSTREAM, 53, a, 2, 'tcp');
    expect(out(d).tcp.map((m) => m.id)).toEqual([9]);
  });

  it('a truncated UDP answer is asked again over TCP; the asker gets the whole answer when it fits its EDNS size', () => {
    const d = client();
    d.handleSentinelPacket(udpTo(q('big.example', 0x77, 1232), 5000), 0);
    const [f] = forwards(d);
    const query = f?.query ?? new Uint8Array(0);
    d.handleUpstreamResponse(UPSTREAM, 53, txtAnswer(query, 0, true), 1, 'udp');
    expect(out(d).udp).toEqual([]); // nothing to the asker yet
    const [retry] = forwards(d);
    expect(retry).toEqual({ upstream: { ip: UPSTREAM, port: 53 }, query, transport: 'tcp' });
    expect(d.forwardStats.truncatedRetriedOverTcp).toBe(1);
    const whole = txtAnswer(query, 4);
    expect(whole.byteLength).toBeGreaterThan(512);
    expect(whole.byteLength).toBeLessThanOrEqual(1232);
    d.handleUpstreamResponse(UPSTREAM, 53, whole, 2, 'tcp');
    const [a] = out(d).udp;
    expect(a?.id).toBe(0x77);
    expect(a?.flag_tc).toBe(false);
    expect(a?.answers).toHaveLength(4);
    // the whole answer was cached: the next UDP asker gets it without a forward
    d.handleSentinelPacket(udpTo(q('big.example', 0x78, 1232), 5001), 3);
    expect(forwards(d)).toEqual([]);
    expect(out(d).udp[0]?.answers).toHaveLength(4);
  });

  it('never writes a UDP answer larger than one tunnel packet, whatever the EDNS size (TC instead)', () => {
    const d = client();
    d.handleSentinelPacket(udpTo(q('huge.example', 0x40, 65000), 5000), 0);
    const query = forwards(d)[0]?.query ?? new Uint8Array(0);
    const huge = txtAnswer(query, 30); // 6.5 KB: an upstream that ignored the size, or a cached TCP answer
    d.handleUpstreamResponse(UPSTREAM, 53, huge, 1, 'udp');
    const packets: Uint8Array[] = [];
    for (let b = d.pollTunWrite(); b !== undefined; b = d.pollTunWrite()) packets.push(b);
    expect(packets).toHaveLength(1);
    expect(packets[0]?.byteLength).toBeLessThanOrEqual(1280);
    const p = IpPacket.parse(packets[0] ?? new Uint8Array(0));
    if (p instanceof Error) throw p;
    const m = dnsPacket.decode(Buffer.from(p.transportPayload()));
    expect([m.id, m.flag_tc, m.answers?.length]).toEqual([0x40, true, 0]);
  });

  it('an asker without EDNS gets a truncated answer (and asks over TCP itself)', () => {
    const d = client();
    d.handleSentinelPacket(udpTo(q('big.example', 0x10), 5000), 0);
    const query = forwards(d)[0]?.query ?? new Uint8Array(0);
    d.handleUpstreamResponse(UPSTREAM, 53, txtAnswer(query, 2, true), 1);
    expect(forwards(d).map((f) => f.transport)).toEqual(['tcp']);
    d.handleUpstreamResponse(UPSTREAM, 53, txtAnswer(query, 10), 2);
    const [a] = out(d).udp;
    expect(a?.id).toBe(0x10);
    expect(a?.flag_tc).toBe(true);
    expect(a?.answers ?? []).toHaveLength(0);
  });

  it('when the TCP retry gets no answer, the UDP asker gets the truncated answer; a TCP asker SERVFAIL', () => {
    const d = client();
    d.handleSentinelPacket(udpTo(q('big.example', 0x20, 1232), 5000), 0);
    const query = forwards(d)[0]?.query ?? new Uint8Array(0);
    const tc = txtAnswer(query, 1, true);
    d.handleUpstreamResponse(UPSTREAM, 53, tc, 1000);
    forwards(d);
    const decoder = askOverTcp(d, q('other.example', 0x21), 2000);
    forwards(d);
    d.handleTimeout(1000 + DNS_FORWARD_TIMEOUT_MS - 1);
    expect(out(d, decoder).udp).toEqual([]);
    d.handleTimeout(2000 + DNS_FORWARD_TIMEOUT_MS);
    const o = out(d, decoder);
    expect(o.udp.map((m) => [m.id, m.flag_tc])).toEqual([[0x20, true]]);
    expect(o.tcp.map((m) => [m.id, (m.flags ?? 0) & 0xf])).toEqual([[0x21, 2]]); // SERVFAIL
  });

  it('a failed TCP exchange answers at once: SERVFAIL to a TCP asker, the truncated answer to a UDP one', () => {
    const d = client();
    const decoder = askOverTcp(d, q('a.example', 0x51), 0);
    const [f] = forwards(d);
    const id = idOf(f?.query ?? new Uint8Array(0));
    d.handleUpstreamFailure('198.18.0.99', 53, id, 1); // another upstream: not ours
    expect(d.drops['upstreamFailureUnknown']).toBe(1);
    d.handleUpstreamFailure(UPSTREAM, 53, id, 2);
    expect(out(d, decoder).tcp.map((m) => [m.id, (m.flags ?? 0) & 0xf])).toEqual([[0x51, 2]]);
    d.handleUpstreamFailure(UPSTREAM, 53, id, 3); // once only
    expect(d.drops['upstreamFailureUnknown']).toBe(2);

    d.handleSentinelPacket(udpTo(q('big.example', 0x52, 1232), 5000), 10);
    const udpQuery = forwards(d)[0]?.query ?? new Uint8Array(0);
    d.handleUpstreamFailure(UPSTREAM, 53, idOf(udpQuery), 11); // a UDP forward has no TCP exchange to fail
    expect(d.drops['upstreamFailureUnknown']).toBe(3);
    d.handleUpstreamResponse(UPSTREAM, 53, txtAnswer(udpQuery, 1, true), 12, 'udp');
    forwards(d);
    d.handleUpstreamFailure(UPSTREAM, 53, idOf(udpQuery), 13);
    expect(out(d).udp.map((m) => [m.id, m.flag_tc])).toEqual([[0x52, true]]);
    // nothing left waiting: a late answer is unsolicited
    d.handleUpstreamResponse(UPSTREAM, 53, txtAnswer(udpQuery, 1), 14, 'tcp');
    expect(d.drops['upstreamUnsolicited']).toBe(1);
    expect(out(d).udp).toEqual([]);
  });

  it('a truncated answer over TCP is passed on (no loop), and a second truncated UDP answer is unsolicited', () => {
    const d = client();
    d.handleSentinelPacket(udpTo(q('big.example', 0x30, 1232), 5000), 0);
    const query = forwards(d)[0]?.query ?? new Uint8Array(0);
    d.handleUpstreamResponse(UPSTREAM, 53, txtAnswer(query, 0, true), 1, 'udp');
    d.handleUpstreamResponse(UPSTREAM, 53, txtAnswer(query, 0, true), 2, 'udp');
    expect(d.drops['upstreamWrongTransport']).toBe(1);
    expect(forwards(d)).toHaveLength(1);
    d.handleUpstreamResponse(UPSTREAM, 53, txtAnswer(query, 1, true), 3, 'tcp');
    expect(forwards(d)).toEqual([]);
    expect(out(d).udp.map((m) => m.id)).toEqual([0x30]);
    // and nothing is left waiting
    d.handleUpstreamResponse(UPSTREAM, 53, withId(txtAnswer(query, 1), idOf(query)), 4, 'tcp');
    expect(d.drops['upstreamUnsolicited']).toBe(1);
  });

  it('any upstream answer, either way, any EDNS size: no throw, every UDP packet fits the tunnel, every TCP asker hears back', () => {
    fc.assert(
      fc.property(
        fc.array(
          fc.record({
            tcpAsker: fc.boolean(),
            edns: fc.option(fc.integer({ min: 0, max: 65535 }), { nil: undefined }),
            records: fc.nat(40),
            tc: fc.boolean(),
            garbage: fc.option(fc.uint8Array({ maxLength: 64 }), { nil: undefined }),
            transport: fc.constantFrom<'udp' | 'tcp' | undefined>('udp', 'tcp', undefined),
            fail: fc.boolean(),
          }),
          { maxLength: 6 },
        ),
        (steps) => {
          const d = client();
          let now = 0;
          const tcpAskers: number[] = [];
          const decoder = new DnsTcpDecoder();
          const tcpIds: number[] = [];
          const collect = (): void => {
            const o = out(d, decoder);
            for (const p of o.tcpSegments) expect(p.bytes.byteLength).toBeLessThanOrEqual(1280);
            for (const m of o.tcp) tcpIds.push(m.id ?? -1);
          };
          for (const [i, st] of steps.entries()) {
            const id = 0x100 + i;
            if (st.tcpAsker) {
              // one asker at a time: each connection's answer is out before the next one opens
              askOverTcp(d, q(`n${String(i)}.example`, id, st.edns), now);
              tcpAskers.push(id);
            } else d.handleSentinelPacket(udpTo(q(`n${String(i)}.example`, id, st.edns), 6000 + i), now);
            for (const f of forwards(d)) {
              const reply = st.garbage ?? txtAnswer(f.query, st.records, st.tc);
              if (st.fail && f.transport === 'tcp') d.handleUpstreamFailure(UPSTREAM, 53, idOf(f.query), now);
              else d.handleUpstreamResponse(UPSTREAM, 53, reply, now, st.transport);
            }
            for (let b = d.pollTunWrite(); b !== undefined; b = d.pollTunWrite()) {
              expect(b.byteLength).toBeLessThanOrEqual(1280);
              const p = IpPacket.parse(b);
              if (p instanceof Error) throw p;
              if (p.isTcp()) for (const m of decoder.push(p.transportPayload())) tcpIds.push(dnsPacket.decode(Buffer.from(m)).id ?? -1);
            }
            now += 100;
          }
          d.handleTimeout(now + DNS_FORWARD_TIMEOUT_MS);
          collect();
          for (const id of tcpAskers) expect(tcpIds).toContain(id);
        },
      ),
      { numRuns: 300 },
    );
  });
});
