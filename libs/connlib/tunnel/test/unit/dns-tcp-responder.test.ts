// The in-tunnel DNS TCP responder (sans-IO): handshake, reassembly of framed queries across segments,
// several queries per connection, out-of-order data, FIN/RST, limits, and random segment streams (fuzz).
import fc from 'fast-check';
import { buildTcp, IpPacket, TcpFlags } from '@postern/ip-packet';
import { describe, expect, it } from 'vitest';
import { DnsTcpResponder, MAX_DNS_TCP_CONNECTIONS, DNS_TCP_IDLE_MS } from '../../src/dns/tcp-responder';
import { ip } from '../support/packets';
import { seededRng } from '../support/rng';

const CLIENT = ip('100.64.0.1');
const SENTINEL = ip('100.100.111.1');
const { SYN, ACK, FIN, RST, PSH } = TcpFlags;

interface Seg {
  readonly flags: number;
  readonly seq: number;
  readonly ack: number;
  readonly payload: Uint8Array;
  readonly sport: number;
  readonly dport: number;
}

function parse(b: Uint8Array): Seg {
  const p = IpPacket.parse(b);
  if (p instanceof Error) throw p;
  const v = new DataView(p.bytes.buffer, p.bytes.byteOffset + p.transportOffset);
  expect(p.checksumsValid()).toBe(true);
  return { flags: p.tcpFlags ?? 0, seq: v.getUint32(4), ack: v.getUint32(8), payload: p.transportPayload().slice(), sport: p.sourcePort ?? 0, dport: p.destinationPort ?? 0 };
}

function seg(flags: number, seq: number, ack = 0, payload?: Uint8Array, sport = 40000): IpPacket {
  const p = IpPacket.parse(buildTcp({ source: CLIENT, destination: SENTINEL, sourcePort: sport, destinationPort: 53, seq, ack, flags, ...(payload === undefined ? {} : { payload }) }));
  if (p instanceof Error) throw p;
  return p;
}

function frame(msg: Uint8Array): Uint8Array {
  const f = new Uint8Array(msg.length + 2);
  f[0] = msg.length >> 8;
  f[1] = msg.length & 0xff;
  f.set(msg, 2);
  return f;
}

function drain(r: DnsTcpResponder): Seg[] {
  const out: Seg[] = [];
  for (let b = r.pollPacket(); b !== undefined; b = r.pollPacket()) out.push(parse(b));
  return out;
}

/** Opens a connection; returns the responder's ISN + 1. */
function open(r: DnsTcpResponder, isn = 1000, sport = 40000): number {
  r.handlePacket(seg(SYN, isn, 0, undefined, sport), 0);
  const [synAck] = drain(r);
  expect(synAck?.flags).toBe(SYN | ACK);
  expect(synAck?.ack).toBe(isn + 1);
  expect(synAck?.sport).toBe(53);
  expect(synAck?.dport).toBe(sport);
  return ((synAck?.seq ?? 0) + 1) >>> 0;
}

describe('DNS TCP responder', () => {
  it('reassembles a query split over segments and answers it framed, then FIN after the client FIN', () => {
    const r = new DnsTcpResponder(seededRng(1));
    const ours = open(r);
    const q = frame(new Uint8Array(40).fill(7));
    expect(r.handlePacket(seg(ACK | PSH, 1001, ours, q.subarray(0, 1)), 1)).toEqual([]);
    const got = r.handlePacket(seg(ACK | PSH, 1002, ours, q.subarray(1)), 2);
    expect(got).toHaveLength(1);
    expect(got[0]?.query).toEqual(new Uint8Array(40).fill(7));
    expect(got[0]?.sentinel).toBe('100.100.111.1');
    expect(drain(r).map((s) => s.ack)).toEqual([1002, 1001 + q.length]);
    expect(r.respond(got[0]?.conn ?? '', new Uint8Array([1, 2, 3]), 3)).toBe(true);
    const [data] = drain(r);
    expect(data?.payload).toEqual(new Uint8Array([0, 3, 1, 2, 3]));
    expect(data?.seq).toBe(ours);
    r.handlePacket(seg(FIN | ACK, 1001 + q.length, ours + 5), 4);
    const [fin] = drain(r);
    expect(fin?.flags).toBe(FIN | ACK);
    expect(fin?.ack).toBe(1001 + q.length + 1);
    expect(r.size).toBe(1);
    r.handlePacket(seg(ACK, 1002 + q.length, ours + 6), 5);
    expect(r.size).toBe(0);
  });

  it('two queries in one segment; the FIN waits for both answers; long answers are segmented', () => {
    const r = new DnsTcpResponder(seededRng(2));
    const ours = open(r);
    const a = frame(new Uint8Array([1, 1]));
    const b = frame(new Uint8Array([2, 2, 2]));
    const both = new Uint8Array([...a, ...b]);
    const qs = r.handlePacket(seg(ACK | PSH | FIN, 1001, ours, both), 1);
    expect(qs.map((q) => [...q.query])).toEqual([[1, 1], [2, 2, 2]]);
    expect(drain(r).map((s) => s.flags)).toEqual([ACK]); // no FIN yet: answers are outstanding
    r.respond(qs[0]?.conn ?? '', new Uint8Array(3000).fill(9), 2);
    const long = drain(r);
    expect(long.length).toBeGreaterThan(2);
    expect(long.reduce((n, s) => n + s.payload.length, 0)).toBe(3002);
    for (let i = 1; i < long.length; i++) expect(long[i]?.seq).toBe(((long[i - 1]?.seq ?? 0) + (long[i - 1]?.payload.length ?? 0)) >>> 0);
    r.respond(qs[1]?.conn ?? '', new Uint8Array([5]), 3);
    const last = drain(r);
    expect(last.map((s) => s.flags)).toEqual([ACK | PSH, FIN | ACK]);
  });

  it('out-of-order data gets a duplicate ACK and is not taken; a retransmitted SYN gets the same SYN/ACK', () => {
    const r = new DnsTcpResponder(seededRng(3));
    const ours = open(r);
    expect(r.handlePacket(seg(ACK | PSH, 1500, ours, frame(new Uint8Array([1]))), 1)).toEqual([]);
    const [dup] = drain(r);
    expect(dup?.flags).toBe(ACK);
    expect(dup?.ack).toBe(1001);
    r.handlePacket(seg(SYN, 1000), 2);
    expect(drain(r)[0]?.seq).toBe(ours - 1);
    expect(r.drops['outOfOrder']).toBe(1);
  });

  it('RST for segments of unknown connections; RST from the client forgets it; idle connections expire', () => {
    const r = new DnsTcpResponder(seededRng(4));
    r.handlePacket(seg(ACK, 5, 77), 0);
    const [rst] = drain(r);
    expect(rst?.flags).toBe(RST);
    expect(rst?.seq).toBe(77);
    open(r);
    r.handlePacket(seg(RST, 1001), 1);
    expect(r.size).toBe(0);
    expect(drain(r)).toEqual([]);
    open(r, 1, 40001);
    expect(r.pollTimeout()).toBe(DNS_TCP_IDLE_MS);
    r.handleTimeout(DNS_TCP_IDLE_MS);
    expect(r.size).toBe(0);
    expect(r.respond('gone', new Uint8Array([1]), 0)).toBe(false);
  });

  it('refuses connections beyond the limit with RST', () => {
    const r = new DnsTcpResponder(seededRng(5));
    for (let i = 0; i < MAX_DNS_TCP_CONNECTIONS; i++) r.handlePacket(seg(SYN, i, 0, undefined, 10000 + i), 0);
    drain(r);
    r.handlePacket(seg(SYN, 1, 0, undefined, 9999), 0);
    expect(drain(r)[0]?.flags).toBe(RST | ACK);
    expect(r.size).toBe(MAX_DNS_TCP_CONNECTIONS);
  });

  it('random segment streams never throw, keep state bounded, and only emit valid TCP to the asker', () => {
    const segArb = fc.record({
      flags: fc.integer({ min: 0, max: 0x3f }),
      seq: fc.oneof(fc.integer({ min: 995, max: 1100 }), fc.nat({ max: 0xffffffff })),
      ack: fc.nat({ max: 0xffffffff }),
      payload: fc.uint8Array({ maxLength: 80 }),
      sport: fc.integer({ min: 40000, max: 40003 }),
    });
    fc.assert(
      fc.property(fc.array(segArb, { maxLength: 60 }), fc.boolean(), (segs, answer) => {
        const r = new DnsTcpResponder(seededRng(9));
        let now = 0;
        for (const s of segs) {
          const qs = r.handlePacket(seg(s.flags, s.seq, s.ack, s.payload, s.sport), now++);
          for (const q of qs) {
            expect(q.query.length).toBeLessThanOrEqual(0xffff);
            if (answer) r.respond(q.conn, q.query, now);
          }
          for (const out of drain(r)) {
            expect(out.sport).toBe(53);
            expect(out.dport).toBe(s.sport);
          }
          expect(r.size).toBeLessThanOrEqual(4);
        }
      }),
      { numRuns: Number(process.env['POSTERN_FUZZ_RUNS'] ?? 300) },
    );
  });
});
