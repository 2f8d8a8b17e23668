// DohUpstreams (sans-IO): requests to IP-literal and named servers, host lookups (waiting, reuse, stale use,
// failure and its retry delay), timeouts, address rotation after transport failures, bounded state.
import { describe, expect, it } from 'vitest';
import {
  bootstrapAddresses,
  bootstrapQuery,
  DOH_ADDRESS_MIN_TTL_MS,
  DOH_BOOTSTRAP_RETRY_MS,
  DOH_BOOTSTRAP_TIMEOUT_MS,
  DOH_CONTENT_TYPE,
  DOH_MAX_OUTSTANDING,
  DOH_QUERY_TIMEOUT_MS,
  DohError,
  DohUpstreams,
  type DohAction,
  type DohEvent,
} from '../../src/index';
import { answer, decode, query } from '../support/dns';

const NAMED = 'https://doh.example/dns-query';
const LITERAL = 'https://198.18.20.2/dns-query';

function drain(d: DohUpstreams): { actions: DohAction[]; events: DohEvent[] } {
  const actions: DohAction[] = [];
  const events: DohEvent[] = [];
  for (let a = d.pollAction(); a !== undefined; a = d.pollAction()) actions.push(a);
  for (let e = d.pollEvent(); e !== undefined; e = d.pollEvent()) events.push(e);
  return { actions, events };
}

function requests(actions: DohAction[]): (DohAction & { kind: 'request' })[] {
  return actions.filter((a): a is DohAction & { kind: 'request' } => a.kind === 'request');
}

/** The server's good answer to a request. */
function reply(d: DohUpstreams, r: DohAction & { kind: 'request' }, now: number): DohError | undefined {
  const body = answer(r.request.body, [{ type: 'A', name: 'a.example', ttl: 60, data: '192.0.2.7' }]);
  return d.handleResponse(r.token, { status: 200, contentType: DOH_CONTENT_TYPE, contentLength: body.byteLength, body, complete: true }, now);
}

function failedCodes(events: DohEvent[]): string[] {
  return events.map((e) => (e.kind === 'failed' ? e.error.code : 'answer'));
}

describe('DohUpstreams', () => {
  it('an IP-literal server needs no lookup; the answer carries the query id', () => {
    const d = new DohUpstreams();
    d.query(LITERAL, query('a.example', 'A', 0x4242), 0);
    const [r, ...rest] = requests(drain(d).actions);
    expect(rest).toEqual([]);
    if (r === undefined) throw new Error('no request');
    expect(r).toMatchObject({ address: '198.18.20.2', timeoutMs: DOH_QUERY_TIMEOUT_MS, server: { host: '198.18.20.2', port: 443, path: '/dns-query' } });
    expect(decode(r.request.body).id).toBe(0);
    expect(reply(d, r, 10)).toBeUndefined();
    const [e] = drain(d).events;
    if (e?.kind !== 'answer') throw new Error('no answer');
    expect(decode(e.message).id).toBe(0x4242);
    expect(d.size).toBe(0);
  });

  it('a named server: queries wait for one lookup, then go to its first address; later ones reuse it', () => {
    const d = new DohUpstreams();
    d.query(NAMED, query('a.example', 'A', 1), 0);
    d.query(NAMED, query('b.example', 'A', 2), 1);
    expect(drain(d).actions).toEqual([{ kind: 'resolve', host: 'doh.example' }]);
    d.handleResolved('doh.example', ['198.18.20.3', '198.18.20.4'], 600, 100);
    const sent = requests(drain(d).actions);
    expect(sent.map((r) => [r.address, r.timeoutMs])).toEqual([
      ['198.18.20.3', DOH_QUERY_TIMEOUT_MS - 100],
      ['198.18.20.3', DOH_QUERY_TIMEOUT_MS - 99], // each keeps its own deadline
    ]);
    d.query(NAMED, query('c.example', 'A', 3), 200);
    expect(drain(d).actions.map((a) => a.kind)).toEqual(['request']);
  });

  it('addresses past their TTL keep serving while a new lookup runs', () => {
    const d = new DohUpstreams();
    d.query(NAMED, query('a.example', 'A', 1), 0);
    drain(d);
    d.handleResolved('doh.example', ['198.18.20.3'], 1, 0); // TTL 1 s is raised to the minimum
    drain(d);
    d.query(NAMED, query('a.example', 'A', 2), DOH_ADDRESS_MIN_TTL_MS - 1);
    expect(drain(d).actions.map((a) => a.kind)).toEqual(['request']);
    d.query(NAMED, query('a.example', 'A', 3), DOH_ADDRESS_MIN_TTL_MS);
    expect(drain(d).actions.map((a) => (a.kind === 'request' ? a.address : a.kind))).toEqual(['resolve', '198.18.20.3']);
  });

  it('a failed lookup fails the waiting queries (DOH_BOOTSTRAP); within the retry delay queries fail at once, after it a new lookup', () => {
    const d = new DohUpstreams();
    d.query(NAMED, query('a.example', 'A', 1), 0);
    drain(d);
    d.handleResolveFailed('doh.example', new DohError('DOH_BOOTSTRAP', 'no addresses'), 10);
    expect(failedCodes(drain(d).events)).toEqual(['DOH_BOOTSTRAP']);
    d.query(NAMED, query('a.example', 'A', 2), 10 + DOH_BOOTSTRAP_RETRY_MS - 1);
    const soon = drain(d);
    expect(soon.actions).toEqual([]);
    expect(failedCodes(soon.events)).toEqual(['DOH_BOOTSTRAP']);
    d.query(NAMED, query('a.example', 'A', 3), 10 + DOH_BOOTSTRAP_RETRY_MS);
    expect(drain(d).actions).toEqual([{ kind: 'resolve', host: 'doh.example' }]);
    expect(d.size).toBe(1);
  });

  it('a lookup that never answers fails its queries after DOH_BOOTSTRAP_TIMEOUT_MS; an empty answer fails them too', () => {
    const d = new DohUpstreams();
    d.query(NAMED, query('a.example', 'A', 1), 0);
    drain(d);
    expect(d.pollTimeout()).toBe(DOH_BOOTSTRAP_TIMEOUT_MS);
    d.handleTimeout(DOH_BOOTSTRAP_TIMEOUT_MS);
    expect(failedCodes(drain(d).events)).toEqual(['DOH_BOOTSTRAP']);
    expect(d.size).toBe(0);
    d.query(NAMED, query('a.example', 'A', 2), DOH_BOOTSTRAP_TIMEOUT_MS + DOH_BOOTSTRAP_RETRY_MS);
    drain(d);
    d.handleResolved('doh.example', [], undefined, DOH_BOOTSTRAP_TIMEOUT_MS + DOH_BOOTSTRAP_RETRY_MS + 1);
    expect(failedCodes(drain(d).events)).toEqual(['DOH_BOOTSTRAP']);
  });

  it('a query without an answer fails with DOH_TIMEOUT at its deadline; a late answer is ignored', () => {
    const d = new DohUpstreams();
    d.query(LITERAL, query('a.example', 'A', 9), 0);
    const [r] = requests(drain(d).actions);
    if (r === undefined) throw new Error('no request');
    expect(d.pollTimeout()).toBe(DOH_QUERY_TIMEOUT_MS);
    d.handleTimeout(DOH_QUERY_TIMEOUT_MS - 1);
    expect(drain(d).events).toEqual([]);
    d.handleTimeout(DOH_QUERY_TIMEOUT_MS);
    const [e] = drain(d).events;
    expect(e?.kind === 'failed' ? [e.id, e.error.code] : e).toEqual([9, 'DOH_TIMEOUT']);
    expect(reply(d, r, DOH_QUERY_TIMEOUT_MS + 1)).toBeUndefined();
    expect(drain(d).events).toEqual([]);
    expect(d.pollTimeout()).toBeUndefined();
  });

  it('a connect failure moves the next requests to the next address', () => {
    const d = new DohUpstreams();
    d.query(NAMED, query('a.example', 'A', 1), 0);
    drain(d);
    d.handleResolved('doh.example', ['198.18.20.3', '198.18.20.4'], 600, 0);
    const [r] = requests(drain(d).actions);
    if (r === undefined) throw new Error('no request');
    d.handleFailure(r.token, new DohError('DOH_CONNECT', 'refused'), 1);
    expect(failedCodes(drain(d).events)).toEqual(['DOH_CONNECT']);
    d.query(NAMED, query('a.example', 'A', 2), 2);
    expect(requests(drain(d).actions).map((x) => x.address)).toEqual(['198.18.20.4']);
  });

  it('a bad answer is an error event with its code and the query id', () => {
    const d = new DohUpstreams();
    d.query(LITERAL, query('a.example', 'A', 0x77), 0);
    const [r] = requests(drain(d).actions);
    if (r === undefined) throw new Error('no request');
    const err = d.handleResponse(r.token, { status: 200, contentType: 'text/html', contentLength: 3, body: new Uint8Array(3), complete: true }, 1);
    expect(err?.code).toBe('DOH_CONTENT_TYPE');
    const [e] = drain(d).events;
    expect(e?.kind === 'failed' ? [e.id, e.error.code] : e).toEqual([0x77, 'DOH_CONTENT_TYPE']);
  });

  it('invalid URLs and queries fail at once; the number of outstanding queries is bounded', () => {
    const d = new DohUpstreams();
    d.query('http://doh.example/', query('a.example', 'A', 1), 0);
    d.query(LITERAL, new Uint8Array(5), 0);
    expect(failedCodes(drain(d).events)).toEqual(['INVALID_DOH_URL', 'DOH_BAD_QUERY']);
    for (let i = 0; i < DOH_MAX_OUTSTANDING + 1; i++) d.query(LITERAL, query('a.example', 'A', i & 0xffff), 0);
    const { actions, events } = drain(d);
    expect(actions).toHaveLength(DOH_MAX_OUTSTANDING);
    expect(failedCodes(events)).toEqual(['DOH_BUSY']);
  });
});

describe('host lookup messages', () => {
  it('asks recursively for A/AAAA and reads addresses (through CNAMEs) with the smallest TTL', () => {
    const q = bootstrapQuery('doh.example', 'A', 5);
    if (q === undefined) throw new Error('no query');
    expect(decode(q)).toMatchObject({ id: 5, flag_rd: true, questions: [{ name: 'doh.example', type: 'A' }] });
    const a = answer(q, [
      { type: 'CNAME', name: 'doh.example', ttl: 30, data: 'edge.example' },
      { type: 'A', name: 'edge.example', ttl: 300, data: '198.18.20.3' },
      { type: 'A', name: 'edge.example', ttl: 120, data: '198.18.20.4' },
    ]);
    expect(bootstrapAddresses(a)).toEqual({ addresses: ['198.18.20.3', '198.18.20.4'], ttlSecs: 120, rcode: 0 });
    expect(bootstrapAddresses(q)).toBeUndefined();
    expect(bootstrapAddresses(new Uint8Array(3))).toBeUndefined();
  });
});
