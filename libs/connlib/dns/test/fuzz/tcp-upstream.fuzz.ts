// DnsTcpUpstreams under random operation sequences (queries of any bytes, connects, closes, server bytes,
// time jumps): it never throws, acts only on connections it opened, answers only queries it sent (once),
// reports every failure with a TCP_UPSTREAM_* code, stays within its limits, and is empty once time has passed.
import fc from 'fast-check';
import { fuzzRuns } from '@postern/testing';
import { describe, expect, it } from 'vitest';
import { DnsTcpUpstreams, encodeTcpFrame, TCP_UPSTREAM_MAX_CONNECTIONS, type TcpUpstreamAction } from '../../src/index';
import { answer, query } from '../support/dns';

const UPSTREAMS = ['192.0.2.1', '192.0.2.2', '2001:db8::53'];

const op = fc.oneof(
  fc.record({ kind: fc.constant('query' as const), upstream: fc.nat(UPSTREAMS.length - 1), id: fc.nat(7), garbage: fc.option(fc.uint8Array({ maxLength: 30 }), { nil: undefined }) }),
  fc.record({ kind: fc.constant('connected' as const), conn: fc.nat(12) }),
  fc.record({ kind: fc.constant('answer' as const), conn: fc.nat(12), id: fc.nat(7), split: fc.nat(40) }),
  fc.record({ kind: fc.constant('bytes' as const), conn: fc.nat(12), bytes: fc.uint8Array({ maxLength: 40 }) }),
  fc.record({ kind: fc.constant('closed' as const), conn: fc.nat(12) }),
  fc.record({ kind: fc.constant('time' as const), ms: fc.nat(20_000) }),
);

describe('DnsTcpUpstreams fuzz', () => {
  it('random operation sequences keep every invariant', () => {
    fc.assert(
      fc.property(fc.array(op, { maxLength: 60 }), (ops) => {
        const u = new DnsTcpUpstreams();
        const opened = new Set<number>();
        const sent = new Map<string, number>(); // `${ip}|${id}` -> queries sent minus answers
        let now = 0;
        const drain = (): void => {
          for (let a: TcpUpstreamAction | undefined = u.pollAction(); a !== undefined; a = u.pollAction()) {
            if (a.kind === 'connect') opened.add(a.conn);
            else expect(opened.has(a.conn)).toBe(true);
          }
          for (let e = u.pollEvent(); e !== undefined; e = u.pollEvent()) {
            if (e.kind === 'failed') {
              expect(e.error.code).toMatch(/^TCP_UPSTREAM_/);
              continue;
            }
            const key = `${e.ip}|${String(((e.message[0] ?? 0) << 8) | (e.message[1] ?? 0))}`;
            const n = sent.get(key) ?? 0;
            expect(n).toBeGreaterThan(0);
            sent.set(key, n - 1);
          }
          expect(u.size).toBeLessThanOrEqual(TCP_UPSTREAM_MAX_CONNECTIONS);
          const t = u.pollTimeout();
          if (t !== undefined) expect(Number.isFinite(t)).toBe(true);
        };
        for (const o of ops) {
          switch (o.kind) {
            case 'query': {
              const ip = UPSTREAMS[o.upstream] ?? '192.0.2.1';
              const bytes = o.garbage ?? query('a.example', 'A', o.id);
              u.query(ip, 53, bytes, now);
              if (o.garbage === undefined) sent.set(`${ip}|${String(o.id)}`, 1); // a resend replaces the earlier one
              break;
            }
            case 'connected':
              u.handleConnected(o.conn, now);
              break;
            case 'answer': {
              const f = encodeTcpFrame(answer(query('a.example', 'A', o.id), []));
              if (f === undefined) throw new Error('frame');
              const at = Math.min(o.split, f.byteLength);
              u.handleData(o.conn, f.subarray(0, at), now);
              u.handleData(o.conn, f.subarray(at), now);
              break;
            }
            case 'bytes':
              u.handleData(o.conn, o.bytes, now);
              break;
            case 'closed':
              u.handleClosed(o.conn, now);
              break;
            case 'time':
              now += o.ms;
              u.handleTimeout(now);
              break;
          }
          drain();
        }
        // once every deadline has passed, nothing is left
        for (let i = 0; i < 4; i++) {
          now += 60_000;
          u.handleTimeout(now);
          drain();
        }
        expect(u.size).toBe(0);
        expect(u.pollTimeout()).toBeUndefined();
      }),
      { numRuns: fuzzRuns(3000) },
    );
  });
});
