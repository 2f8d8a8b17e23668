// DohUpstreams under random operation sequences (queries of any bytes to named and IP-literal servers, host
// lookups that succeed, fail or never come, HTTP responses of any status, type and bytes, shell failures, time
// jumps): it never throws, every query it takes ends exactly once (an answer with its id or a DOH_* /
// INVALID_DOH_URL failure), requests go only to addresses it was given, and nothing is left once time passed.
import fc from 'fast-check';
import { fuzzRuns } from '@postern/testing';
import { describe, expect, it } from 'vitest';
import { DOH_CONTENT_TYPE, DohError, DohUpstreams, type DohAction } from '../../src/index';
import { answer, query } from '../support/dns';

const URLS = ['https://doh.example/dns-query', 'https://198.18.20.2/q', 'https://[2001:db8::2]:8443/', 'http://bad.example/'];
const ADDRESSES = ['198.18.20.3', '198.18.20.4', '2001:db8::3'];

const op = fc.oneof(
  fc.record({ kind: fc.constant('query' as const), url: fc.nat(URLS.length - 1), id: fc.nat(0xffff), garbage: fc.option(fc.uint8Array({ maxLength: 20 }), { nil: undefined }) }),
  fc.record({ kind: fc.constant('resolved' as const), n: fc.nat(ADDRESSES.length), ttl: fc.option(fc.nat(100_000), { nil: undefined }) }),
  fc.record({ kind: fc.constant('resolveFailed' as const) }),
  fc.record({ kind: fc.constant('good' as const), pick: fc.nat(40) }),
  fc.record({ kind: fc.constant('response' as const), pick: fc.nat(40), status: fc.constantFrom(200, 500), type: fc.constantFrom(DOH_CONTENT_TYPE, 'text/html'), body: fc.uint8Array({ maxLength: 80 }), complete: fc.boolean() }),
  fc.record({ kind: fc.constant('failure' as const), pick: fc.nat(40), timeout: fc.boolean() }),
  fc.record({ kind: fc.constant('time' as const), ms: fc.nat(8_000) }),
);

/** The server's answer to a request body (undefined when the body is not a query dns-packet reads). */
function goodAnswer(body: Uint8Array): Uint8Array | undefined {
  try {
    return answer(body, [{ type: 'A', name: 'a.example', ttl: 1, data: '192.0.2.1' }]);
  } catch {
    return undefined; // garbage queries get garbage-shaped answers elsewhere
  }
}

describe('DohUpstreams fuzz', () => {
  it('random operation sequences keep every invariant', () => {
    fc.assert(
      fc.property(fc.array(op, { maxLength: 60 }), (ops) => {
        const d = new DohUpstreams();
        const requests: (DohAction & { kind: 'request' })[] = [];
        const given = new Set<string>(['198.18.20.2', '2001:db8::2']);
        let taken = 0;
        let ended = 0;
        let now = 0;
        const drain = (): void => {
          for (let a = d.pollAction(); a !== undefined; a = d.pollAction()) {
            if (a.kind === 'resolve') expect(a.host).toBe('doh.example');
            else {
              expect(given.has(a.address)).toBe(true);
              expect(a.timeoutMs).toBeGreaterThanOrEqual(0);
              expect(((a.request.body[0] ?? 1) << 8) | (a.request.body[1] ?? 1)).toBe(0);
              requests.push(a);
            }
          }
          for (let e = d.pollEvent(); e !== undefined; e = d.pollEvent()) {
            ended++;
            if (e.kind === 'failed') expect(e.error.code).toMatch(/^(DOH_|INVALID_DOH_URL)/);
          }
          expect(ended).toBeLessThanOrEqual(taken);
          const t = d.pollTimeout();
          if (t !== undefined) expect(Number.isFinite(t)).toBe(true);
        };
        for (const o of ops) {
          const r = 'pick' in o ? requests[o.pick % Math.max(1, requests.length)] : undefined;
          switch (o.kind) {
            case 'query':
              taken++;
              d.query(URLS[o.url] ?? '', o.garbage ?? query('a.example', 'A', o.id), now);
              break;
            case 'resolved': {
              const list = ADDRESSES.slice(0, o.n);
              for (const a of list) given.add(a);
              d.handleResolved('doh.example', list, o.ttl, now);
              break;
            }
            case 'resolveFailed':
              d.handleResolveFailed('doh.example', new DohError('DOH_BOOTSTRAP', 'fuzz'), now);
              break;
            case 'good': {
              const body = r === undefined ? undefined : goodAnswer(r.request.body);
              if (r !== undefined && body !== undefined) d.handleResponse(r.token, { status: 200, contentType: DOH_CONTENT_TYPE, contentLength: body.byteLength, body, complete: true }, now);
              break;
            }
            case 'response':
              if (r !== undefined) d.handleResponse(r.token, { status: o.status, contentType: o.type, contentLength: undefined, body: o.body, complete: o.complete }, now);
              break;
            case 'failure':
              if (r !== undefined) d.handleFailure(r.token, new DohError(o.timeout ? 'DOH_TIMEOUT' : 'DOH_CONNECT', 'fuzz'), now);
              break;
            case 'time':
              now += o.ms;
              d.handleTimeout(now);
              break;
          }
          drain();
        }
        for (let i = 0; i < 3; i++) {
          now += 60_000;
          d.handleTimeout(now);
          drain();
        }
        expect(d.size).toBe(0);
        expect(ended).toBe(taken);
        expect(d.pollTimeout()).toBeUndefined();
      }),
      { numRuns: fuzzRuns(3000) },
    );
  });
});
