// The DNS-over-TCP upstream client (sans-IO), driven in memory: connection reuse, pipelining, framing split
// anywhere, timeouts, a server that closes, malformed and unsolicited answers, limits; fuzzed streams.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  DnsTcpDecoder,
  DnsTcpUpstreams,
  encodeTcpFrame,
  isTruncated,
  MAX_UDP_DNS_PAYLOAD,
  TCP_UPSTREAM_CONNECT_TIMEOUT_MS,
  TCP_UPSTREAM_IDLE_MS,
  TCP_UPSTREAM_MAX_CONNECTIONS,
  TCP_UPSTREAM_MAX_OUTSTANDING,
  TCP_UPSTREAM_QUERY_TIMEOUT_MS,
  udpPayloadLimit,
  type TcpUpstreamAction,
  type TcpUpstreamEvent,
} from '../../src/index';
import { answer, query } from '../support/dns';

function drain<T>(poll: () => T | undefined): T[] {
  const out: T[] = [];
  for (let x = poll(); x !== undefined; x = poll()) out.push(x);
  return out;
}

const actions = (u: DnsTcpUpstreams): TcpUpstreamAction[] => drain(() => u.pollAction());
const events = (u: DnsTcpUpstreams): TcpUpstreamEvent[] => drain(() => u.pollEvent());
const codes = (es: readonly TcpUpstreamEvent[]): string[] => es.map((e) => (e.kind === 'failed' ? `${e.error.code}:${String(e.id)}` : `answer:${String(e.message[1])}`));

function frame(m: Uint8Array): Uint8Array {
  const f = encodeTcpFrame(m);
  if (f === undefined) throw new Error('frame');
  return f;
}

/** What the server side reads from the writes of `acts` on connection `conn`. */
function written(acts: readonly TcpUpstreamAction[], conn: number): Uint8Array[] {
  const d = new DnsTcpDecoder();
  return acts.flatMap((a) => (a.kind === 'write' && a.conn === conn ? d.push(a.bytes) : []));
}

const EDNS = { extendedRcode: 0, ednsVersion: 0, flags: 0, flag_do: false, options: [] };
const A1 = query('a.example', 'A', 1);
const A2 = query('b.example', 'AAAA', 2);
const R1 = answer(A1, [{ type: 'A', name: 'a.example', ttl: 60, data: '192.0.2.1' }]);
const R2 = answer(A2, []);

describe('DnsTcpUpstreams', () => {
  it('connects once, queues until connected, pipelines, and matches answers by id in any order', () => {
    const u = new DnsTcpUpstreams();
    u.query('192.0.2.53', 53, A1, 0);
    u.query('192.0.2.53', 53, A2, 1);
    expect(actions(u)).toEqual([{ kind: 'connect', conn: 1, ip: '192.0.2.53', port: 53 }]);
    u.handleConnected(1, 5);
    const w = actions(u);
    expect(w).toHaveLength(1); // both queries in one write
    expect(written(w, 1)).toEqual([A1, A2]);
    // answers arrive reversed, split inside the length prefix and inside the message
    const stream = new Uint8Array([...frame(R2), ...frame(R1)]);
    u.handleData(1, stream.subarray(0, 1), 6);
    u.handleData(1, stream.subarray(1, 9), 6);
    u.handleData(1, stream.subarray(9), 7);
    expect(events(u)).toEqual([
      { kind: 'answer', ip: '192.0.2.53', port: 53, message: R2 },
      { kind: 'answer', ip: '192.0.2.53', port: 53, message: R1 },
    ]);
    // the connection is reused for the next query (no new connect)
    u.query('192.0.2.53', 53, A1, 8);
    expect(actions(u)).toEqual([{ kind: 'write', conn: 1, bytes: frame(A1) }]);
    // another upstream, another connection
    u.query('192.0.2.54', 5353, A1, 8);
    expect(actions(u)).toEqual([{ kind: 'connect', conn: 2, ip: '192.0.2.54', port: 5353 }]);
    expect(u.size).toBe(2);
  });

  it('closes an idle connection after TCP_UPSTREAM_IDLE_MS and opens a new one later', () => {
    const u = new DnsTcpUpstreams();
    u.query('192.0.2.53', 53, A1, 0);
    u.handleConnected(1, 0);
    u.handleData(1, frame(R1), 10);
    actions(u);
    expect(u.pollTimeout()).toBe(10 + TCP_UPSTREAM_IDLE_MS);
    u.handleTimeout(10 + TCP_UPSTREAM_IDLE_MS - 1);
    expect(actions(u)).toEqual([]);
    u.handleTimeout(10 + TCP_UPSTREAM_IDLE_MS);
    expect(actions(u)).toEqual([{ kind: 'close', conn: 1 }]);
    expect(u.size).toBe(0);
    expect(u.pollTimeout()).toBeUndefined();
    u.query('192.0.2.53', 53, A1, 20_000);
    expect(actions(u)).toEqual([{ kind: 'connect', conn: 2, ip: '192.0.2.53', port: 53 }]);
  });

  it('times out a connect and a query', () => {
    const u = new DnsTcpUpstreams();
    u.query('192.0.2.53', 53, A1, 0);
    actions(u);
    expect(u.pollTimeout()).toBe(TCP_UPSTREAM_CONNECT_TIMEOUT_MS);
    u.handleTimeout(TCP_UPSTREAM_CONNECT_TIMEOUT_MS);
    expect(actions(u)).toEqual([{ kind: 'close', conn: 1 }]);
    expect(codes(events(u))).toEqual(['TCP_UPSTREAM_TIMEOUT:undefined', 'TCP_UPSTREAM_TIMEOUT:1']);

    u.query('192.0.2.53', 53, A1, 100);
    u.handleConnected(2, 100);
    u.query('192.0.2.53', 53, A2, 200);
    actions(u);
    expect(u.pollTimeout()).toBe(100 + TCP_UPSTREAM_QUERY_TIMEOUT_MS);
    u.handleTimeout(100 + TCP_UPSTREAM_QUERY_TIMEOUT_MS);
    expect(codes(events(u))).toEqual(['TCP_UPSTREAM_TIMEOUT:1']);
    u.handleData(2, frame(R2), 300 + TCP_UPSTREAM_QUERY_TIMEOUT_MS - 300);
    expect(codes(events(u))).toEqual(['answer:2']);
    // a late answer to the timed-out query is unsolicited, and the connection stays
    u.handleData(2, frame(R1), 20_000);
    expect(codes(events(u))).toEqual(['TCP_UPSTREAM_UNSOLICITED:1']);
    expect(u.size).toBe(1);
  });

  it('sends unanswered queries again once when the server closes, then gives up', () => {
    const u = new DnsTcpUpstreams();
    u.query('192.0.2.53', 53, A1, 0);
    u.query('192.0.2.53', 53, A2, 0);
    u.handleConnected(1, 0);
    u.handleData(1, frame(R1), 1);
    actions(u);
    events(u);
    u.handleClosed(1, 2);
    const again = actions(u);
    expect(again).toEqual([{ kind: 'connect', conn: 2, ip: '192.0.2.53', port: 53 }]);
    u.handleConnected(2, 3);
    expect(written(actions(u), 2)).toEqual([A2]);
    u.handleClosed(2, 4, new Error('ECONNRESET'));
    expect(actions(u)).toEqual([]);
    const failed = events(u);
    expect(codes(failed)).toEqual(['TCP_UPSTREAM_CLOSED:2']);
    const f = failed[0];
    expect(f?.kind === 'failed' ? f.error.cause : undefined).toBeInstanceOf(Error);
    expect(u.size).toBe(0);
  });

  it('a connection that cannot be made fails its queries at once', () => {
    const u = new DnsTcpUpstreams();
    u.query('192.0.2.53', 53, A1, 0);
    actions(u);
    u.handleClosed(1, 1, new Error('ECONNREFUSED'));
    expect(actions(u)).toEqual([]);
    expect(codes(events(u))).toEqual(['TCP_UPSTREAM_CLOSED:1']);
  });

  it('a malformed answer closes the connection and fails its queries', () => {
    for (const bad of [new Uint8Array(5), A2 /* a query, QR=0 */]) {
      const u = new DnsTcpUpstreams();
      u.query('192.0.2.53', 53, A1, 0);
      u.handleConnected(1, 0);
      actions(u);
      u.handleData(1, new Uint8Array([...frame(bad), ...frame(R1)]), 1);
      expect(actions(u)).toEqual([{ kind: 'close', conn: 1 }]);
      expect(codes(events(u))).toEqual(['TCP_UPSTREAM_MALFORMED:undefined', 'TCP_UPSTREAM_MALFORMED:1']);
      u.handleData(1, frame(R1), 2); // bytes after our close are ignored
      expect(events(u)).toEqual([]);
    }
  });

  it('refuses queries it cannot frame and beyond its limits, with typed errors', () => {
    const u = new DnsTcpUpstreams();
    u.query('192.0.2.53', 53, new Uint8Array(3), 0);
    u.query('192.0.2.53', 53, new Uint8Array(70_000), 0);
    expect(codes(events(u))).toEqual(['TCP_UPSTREAM_BAD_QUERY:0', 'TCP_UPSTREAM_BAD_QUERY:0']);
    expect(actions(u)).toEqual([]);
    for (let i = 0; i < TCP_UPSTREAM_MAX_OUTSTANDING + 1; i++) u.query('192.0.2.53', 53, query('x.example', 'A', i), 0);
    expect(codes(events(u))).toEqual([`TCP_UPSTREAM_BUSY:${String(TCP_UPSTREAM_MAX_OUTSTANDING)}`]);
    for (let i = 0; i < TCP_UPSTREAM_MAX_CONNECTIONS; i++) u.query(`192.0.2.${String(100 + i)}`, 53, A1, 0);
    expect(u.size).toBe(TCP_UPSTREAM_MAX_CONNECTIONS);
    expect(codes(events(u))).toEqual(['TCP_UPSTREAM_BUSY:1']);
  });

  it('any byte stream from the server: never throws, answers only outstanding ids, at most once each', () => {
    fc.assert(
      fc.property(
        fc.array(fc.oneof(fc.uint8Array({ maxLength: 40 }), fc.constantFrom(frame(R1), frame(R2), frame(new Uint8Array(2)), new Uint8Array([0xff, 0xff]))), { maxLength: 20 }),
        fc.array(fc.nat(60_000), { maxLength: 5 }),
        (chunks, times) => {
          const u = new DnsTcpUpstreams();
          u.query('192.0.2.53', 53, A1, 0);
          u.query('192.0.2.53', 53, A2, 0);
          u.handleConnected(1, 0);
          let now = 0;
          for (const [i, c] of chunks.entries()) {
            u.handleData(1, c, now);
            if (times[i] !== undefined) {
              now = Math.max(now, times[i]);
              u.handleTimeout(now);
            }
          }
          const es = events(u);
          const answered = es.flatMap((e) => (e.kind === 'answer' ? [e.message[1]] : []));
          expect(new Set(answered).size).toBe(answered.length);
          for (const id of answered) expect([1, 2]).toContain(id);
          for (const e of es) if (e.kind === 'failed') expect(e.error.code).toMatch(/^TCP_UPSTREAM_/);
        },
      ),
      { numRuns: 1000 },
    );
  });
});

describe('UDP size helpers', () => {
  it('reads the EDNS payload size of a query (at least 512, at most what one tunnel packet carries), 512 without EDNS', () => {
    expect(udpPayloadLimit(query('a.example', 'A'))).toBe(512);
    expect(udpPayloadLimit(query('a.example', 'A', 1, { additionals: [{ type: 'OPT', name: '.', udpPayloadSize: 1000, ...EDNS }] }))).toBe(1000);
    expect(udpPayloadLimit(query('a.example', 'A', 1, { additionals: [{ type: 'OPT', name: '.', udpPayloadSize: 4096, ...EDNS }] }))).toBe(MAX_UDP_DNS_PAYLOAD);
    expect(udpPayloadLimit(query('a.example', 'A', 1, { additionals: [{ type: 'OPT', name: '.', udpPayloadSize: 4096, ...EDNS }] }), 65535)).toBe(4096);
    expect(udpPayloadLimit(query('a.example', 'A', 1, { additionals: [{ type: 'OPT', name: '.', udpPayloadSize: 100, ...EDNS }] }))).toBe(512);
    expect(udpPayloadLimit(new Uint8Array(4))).toBe(512);
  });

  it('reads the TC bit', () => {
    expect(isTruncated(R1)).toBe(false);
    const tc = R1.slice();
    tc[2] = (tc[2] ?? 0) | 0x02;
    expect(isTruncated(tc)).toBe(true);
    expect(isTruncated(new Uint8Array(3))).toBe(false);
  });
});
