// DNS over HTTPS to upstream resolvers (RFC 8484), sans-IO: the client side of the queries the stub resolver
// forwards to a portal-given DoH server. The IO shell turns `request` actions into HTTPS POSTs (one reused
// connection per server address) and feeds back what came (`handleResponse`) or that the exchange failed
// (`handleFailure`); answers and failures come out as events, each failure with a DohError code.
//
// Ids: a query goes out with id 0 (section 4.1, cache friendly) and its answer comes back with the query's id
// restored, so the caller matches it like any other answer. Requests are known by a token.
//
// Bootstrap: a URL with a host name needs its addresses, looked up without asking ourselves (`resolve` action:
// the caller asks the system's resolvers from a socket that bypasses the tunnel and answers with
// `handleResolved` / `handleResolveFailed`). Queries wait for the lookup (at most DOH_BOOTSTRAP_TIMEOUT_MS);
// addresses are kept for their TTL (clamped) and used past it while a new lookup runs; a failed lookup is
// not repeated within DOH_BOOTSTRAP_RETRY_MS (queries in between fail at once). A transport failure moves
// the server's next requests to its next address. Every query fails after DOH_QUERY_TIMEOUT_MS at the latest.
import * as dnsPacket from 'dns-packet';
import { checkDohResponse, DohError, encodeDohPostRequest, parseDohUrl, type DohHttpResponse, type DohPostRequest, type DohServer } from './doh';
import { decodeMessage, encodeMessage } from './message';

/** A DoH query fails (SERVFAIL to the asker) when its answer has not come within this. */
export const DOH_QUERY_TIMEOUT_MS = 5_000;
/** Looking up a DoH server's host name may take this long. */
export const DOH_BOOTSTRAP_TIMEOUT_MS = 3_000;
/** After a failed lookup, queries fail at once for this long before the next lookup. */
export const DOH_BOOTSTRAP_RETRY_MS = 1_000;
/** A looked-up address is kept for its TTL, at least this long ... */
export const DOH_ADDRESS_MIN_TTL_MS = 30_000;
/** ... and at most this long. */
export const DOH_ADDRESS_MAX_TTL_MS = 3_600_000;
/** Queries outstanding at once (all servers); more fail with DOH_BUSY. */
export const DOH_MAX_OUTSTANDING = 1024;

export type DohAction =
  /** Look up `host` (A and AAAA) outside the tunnel and without asking us. */
  | { readonly kind: 'resolve'; readonly host: string }
  /** POST `request` to `server` at `address`; give up after `timeoutMs`. */
  | { readonly kind: 'request'; readonly token: number; readonly server: DohServer; readonly address: string; readonly request: DohPostRequest; readonly timeoutMs: number };

export type DohEvent =
  /** The answer to a query, with the query's id. */
  | { readonly kind: 'answer'; readonly url: string; readonly message: Uint8Array }
  /** `id`: the query's id. */
  | { readonly kind: 'failed'; readonly url: string; readonly id: number; readonly error: DohError };

interface HostState {
  addresses: string[];
  /** Index of the address the next request goes to. */
  next: number;
  expiresAt: number;
  /** Deadline of the running lookup. */
  resolving: number | undefined;
  failedAt: number | undefined;
  readonly waiting: number[];
}

interface Outstanding {
  readonly url: string;
  readonly server: DohServer;
  readonly query: Uint8Array;
  readonly request: DohPostRequest;
  readonly deadline: number;
  address: string | undefined;
}

const idOf = (m: Uint8Array): number => ((m[0] ?? 0) << 8) | (m[1] ?? 0);

export class DohUpstreams {
  private readonly servers = new Map<string, DohServer | DohError>();
  private readonly hosts = new Map<string, HostState>();
  /** token -> query; insertion order is deadline order (one timeout for all). */
  private readonly outstanding = new Map<number, Outstanding>();
  private readonly actions: DohAction[] = [];
  private readonly events: DohEvent[] = [];
  private nextToken = 1;

  /** Queries waiting for an answer. */
  get size(): number {
    return this.outstanding.size;
  }

  /** Sends `message` (a DNS query with the id its answer should carry) to the DoH server at `url`. */
  query(url: string, message: Uint8Array, now: number): void {
    const error = this.tryQuery(url, message, now);
    if (error !== undefined) this.fail(url, idOf(message), error);
  }

  private tryQuery(url: string, message: Uint8Array, now: number): DohError | undefined {
    const server = this.server(url);
    if (server instanceof DohError) return server;
    const request = encodeDohPostRequest(message, server);
    if (request instanceof DohError) return request;
    if (this.outstanding.size >= DOH_MAX_OUTSTANDING) return new DohError('DOH_BUSY', `${String(DOH_MAX_OUTSTANDING)} DoH queries outstanding`);
    const token = this.nextToken++;
    const o: Outstanding = { url, server, query: message.slice(), request, deadline: now + DOH_QUERY_TIMEOUT_MS, address: undefined };
    if (server.literal !== undefined) {
      this.outstanding.set(token, o);
      this.send(token, o, server.literal, now);
      return undefined;
    }
    const h = this.host(server.host);
    if (now >= h.expiresAt && h.resolving === undefined) this.lookup(server.host, h, now);
    const address = h.addresses[h.next % Math.max(1, h.addresses.length)];
    // a lookup failed a moment ago and none runs: fail now rather than hammer the system's resolvers
    if (address === undefined && h.resolving === undefined) return new DohError('DOH_BOOTSTRAP', `cannot look up ${server.host} (failed ${String(Math.round(now - (h.failedAt ?? now)))} ms ago)`);
    this.outstanding.set(token, o);
    if (address !== undefined) this.send(token, o, address, now); // stale addresses serve while a lookup runs
    else h.waiting.push(token);
    return undefined;
  }

  /** Addresses of `host` (in the order to use them; `ttlSecs` from the answer). */
  handleResolved(host: string, addresses: readonly string[], ttlSecs: number | undefined, now: number): void {
    const h = this.hosts.get(host);
    if (h === undefined) return;
    if (addresses.length === 0) {
      this.handleResolveFailed(host, new DohError('DOH_BOOTSTRAP', `${host} has no A/AAAA records`), now);
      return;
    }
    h.resolving = undefined;
    h.failedAt = undefined;
    h.addresses = [...addresses];
    h.next = 0;
    h.expiresAt = now + Math.min(DOH_ADDRESS_MAX_TTL_MS, Math.max(DOH_ADDRESS_MIN_TTL_MS, (ttlSecs ?? 0) * 1000));
    for (const token of h.waiting.splice(0)) {
      const o = this.outstanding.get(token);
      const address = h.addresses[0];
      if (o !== undefined && address !== undefined) this.send(token, o, address, now);
    }
  }

  /** The lookup of `host` failed: its waiting queries fail (known addresses, if any, stay in use). */
  handleResolveFailed(host: string, error: DohError, now: number): void {
    const h = this.hosts.get(host);
    if (h?.resolving === undefined) return;
    h.resolving = undefined;
    h.failedAt = now;
    if (h.addresses.length > 0) h.expiresAt = now + DOH_BOOTSTRAP_RETRY_MS;
    for (const token of h.waiting.splice(0)) {
      const o = this.outstanding.get(token);
      if (o === undefined) continue;
      this.outstanding.delete(token);
      this.fail(o.url, idOf(o.query), error);
    }
  }

  /** The HTTP answer to request `token`; returns the error it was (also an event), undefined if fine or late. */
  handleResponse(token: number, response: DohHttpResponse, _now: number): DohError | undefined {
    const o = this.outstanding.get(token);
    if (o === undefined) return undefined;
    this.outstanding.delete(token);
    const answer = checkDohResponse(o.query, response);
    if (answer instanceof DohError) {
      this.fail(o.url, idOf(o.query), answer);
      return answer;
    }
    this.events.push({ kind: 'answer', url: o.url, message: answer });
    return undefined;
  }

  /** Request `token` got no answer (connect/TLS/stream error, timeout in the shell): it fails now. */
  handleFailure(token: number, error: DohError, _now: number): void {
    const o = this.outstanding.get(token);
    if (o === undefined) return;
    this.outstanding.delete(token);
    const h = this.hosts.get(o.server.host);
    if (h !== undefined && error.code === 'DOH_CONNECT' && h.addresses[h.next % Math.max(1, h.addresses.length)] === o.address) h.next = (h.next + 1) % h.addresses.length;
    this.fail(o.url, idOf(o.query), error);
  }

  handleTimeout(now: number): void {
    for (const [token, o] of this.outstanding) {
      if (now < o.deadline) break;
      this.outstanding.delete(token);
      this.fail(o.url, idOf(o.query), new DohError('DOH_TIMEOUT', `no answer from ${o.url}${o.address === undefined ? ' (still looking up its host)' : ` at ${o.address}`} within ${String(DOH_QUERY_TIMEOUT_MS)} ms`));
    }
    for (const [host, h] of this.hosts) {
      if (h.resolving !== undefined && now >= h.resolving) this.handleResolveFailed(host, new DohError('DOH_BOOTSTRAP', `no addresses for ${host} within ${String(DOH_BOOTSTRAP_TIMEOUT_MS)} ms`), now);
    }
  }

  pollTimeout(): number | undefined {
    let t = this.outstanding.values().next().value?.deadline;
    for (const h of this.hosts.values()) if (h.resolving !== undefined && (t === undefined || h.resolving < t)) t = h.resolving;
    return t;
  }

  pollAction(): DohAction | undefined {
    return this.actions.shift();
  }

  pollEvent(): DohEvent | undefined {
    return this.events.shift();
  }

  private server(url: string): DohServer | DohError {
    let s = this.servers.get(url);
    if (s === undefined) {
      if (this.servers.size >= 64) this.servers.clear(); // URLs come from the portal: a handful
      s = parseDohUrl(url);
      this.servers.set(url, s);
    }
    return s;
  }

  private host(name: string): HostState {
    let h = this.hosts.get(name);
    if (h === undefined) {
      h = { addresses: [], next: 0, expiresAt: Number.NEGATIVE_INFINITY, resolving: undefined, failedAt: undefined, waiting: [] };
      this.hosts.set(name, h);
    }
    return h;
  }

  private lookup(host: string, h: HostState, now: number): void {
    if (h.failedAt !== undefined && now < h.failedAt + DOH_BOOTSTRAP_RETRY_MS) return;
    h.resolving = now + DOH_BOOTSTRAP_TIMEOUT_MS;
    this.actions.push({ kind: 'resolve', host });
  }

  private send(token: number, o: Outstanding, address: string, now: number): void {
    o.address = address;
    this.actions.push({ kind: 'request', token, server: o.server, address, request: o.request, timeoutMs: Math.max(0, o.deadline - now) });
  }

  private fail(url: string, id: number, error: DohError): void {
    this.events.push({ kind: 'failed', url, id, error });
  }
}

/** A recursive query for `host`'s A or AAAA records (to look up a DoH server), id `id`. */
export function bootstrapQuery(host: string, type: 'A' | 'AAAA', id: number): Uint8Array | undefined {
  return encodeMessage({ id, type: 'query', flags: dnsPacket.RECURSION_DESIRED, questions: [{ type, name: host, class: 'IN' }] });
}

/** The A/AAAA addresses in an answer (any name: CNAME chains end there) and their smallest TTL; undefined if not an answer. */
export function bootstrapAddresses(answer: Uint8Array): { readonly addresses: string[]; readonly ttlSecs: number | undefined; readonly rcode: number } | undefined {
  const p = decodeMessage(answer);
  if (p?.flag_qr !== true) return undefined;
  const addresses: string[] = [];
  let ttl: number | undefined;
  for (const a of p.answers ?? []) {
    if ((a.type !== 'A' && a.type !== 'AAAA') || typeof a.data !== 'string') continue;
    addresses.push(a.data);
    ttl = Math.min(ttl ?? Number.POSITIVE_INFINITY, a.ttl ?? 0);
  }
  return { addresses, ttlSecs: ttl, rcode: (p.flags ?? 0) & 0xf };
}

