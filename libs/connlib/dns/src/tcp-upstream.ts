// DNS over TCP to upstream resolvers (RFC 7766), sans-IO: the client side of the connections the stub
// resolver opens for queries that arrived over TCP, and for UDP answers that came back truncated (TC=1).
//
// One connection per upstream (ip, port), reused for every query to it while it is open, queries pipelined
// (RFC 7766 section 6.2.1.1) and matched to answers by message id (answers may come in any order). The
// IO shell turns actions into socket calls (connect / write / close) and feeds back what happened
// (connected, data, closed); answers and failures come out as events, each failure with a DnsError code.
//
// Timeouts: connect (CONNECT_TIMEOUT_MS), per query (QUERY_TIMEOUT_MS), idle connections are closed by us
// (IDLE_MS, section 6.2.3). A connection the server closes with queries unanswered is opened again once
// for them (servers may close after any answer); a second loss fails them. A malformed frame (shorter than
// a header, or not a response) makes the stream unusable: the connection is closed and its queries fail.
import { DnsError, type DnsErrorCode } from './errors';
import { DnsTcpDecoder, encodeTcpFrame } from './tcp-framing';

export const TCP_UPSTREAM_CONNECT_TIMEOUT_MS = 5_000;
export const TCP_UPSTREAM_QUERY_TIMEOUT_MS = 10_000;
export const TCP_UPSTREAM_IDLE_MS = 10_000;
/** Queries outstanding at once per upstream; more fail with TCP_UPSTREAM_BUSY. */
export const TCP_UPSTREAM_MAX_OUTSTANDING = 128;
/** Upstreams with a connection at once; a query to one more fails with TCP_UPSTREAM_BUSY. */
export const TCP_UPSTREAM_MAX_CONNECTIONS = 16;

const HEADER_LEN = 12;

export type TcpUpstreamAction =
  | { readonly kind: 'connect'; readonly conn: number; readonly ip: string; readonly port: number }
  | { readonly kind: 'write'; readonly conn: number; readonly bytes: Uint8Array }
  | { readonly kind: 'close'; readonly conn: number };

export type TcpUpstreamEvent =
  | { readonly kind: 'answer'; readonly ip: string; readonly port: number; readonly message: Uint8Array }
  /** `id`: the query's message id (undefined when the error is about the connection, not one query). */
  | { readonly kind: 'failed'; readonly ip: string; readonly port: number; readonly id: number | undefined; readonly error: DnsError };

interface Outstanding {
  readonly frame: Uint8Array;
  readonly deadline: number;
  /** Already sent again on a new connection after the server closed one. */
  readonly retried: boolean;
}

interface Conn {
  readonly id: number;
  readonly ip: string;
  readonly port: number;
  readonly key: string;
  open: boolean;
  readonly openedAt: number;
  lastActivity: number;
  readonly decoder: DnsTcpDecoder;
  /** message id -> query, in sending order (Map keeps insertion order). */
  readonly outstanding: Map<number, Outstanding>;
}

const idOf = (m: Uint8Array): number => ((m[0] ?? 0) << 8) | (m[1] ?? 0);

export class DnsTcpUpstreams {
  private readonly conns = new Map<number, Conn>();
  private readonly byUpstream = new Map<string, Conn>();
  private readonly actions: TcpUpstreamAction[] = [];
  private readonly events: TcpUpstreamEvent[] = [];
  private nextConn = 1;

  /** Connections open or opening. */
  get size(): number {
    return this.conns.size;
  }

  /** Sends `message` (a DNS query, without length prefix) to `ip`:`port` over TCP. */
  query(ip: string, port: number, message: Uint8Array, now: number): void {
    const frame = message.byteLength >= HEADER_LEN ? encodeTcpFrame(message) : undefined;
    if (frame === undefined) {
      this.fail(ip, port, message.byteLength >= 2 ? idOf(message) : undefined, 'TCP_UPSTREAM_BAD_QUERY', `a query of ${String(message.byteLength)} bytes cannot go over TCP`);
      return;
    }
    const key = `${ip}|${String(port)}`;
    let c = this.byUpstream.get(key);
    if (c === undefined) {
      if (this.conns.size >= TCP_UPSTREAM_MAX_CONNECTIONS) {
        this.fail(ip, port, idOf(message), 'TCP_UPSTREAM_BUSY', `${String(TCP_UPSTREAM_MAX_CONNECTIONS)} upstream TCP connections already`);
        return;
      }
      c = this.connect(ip, port, now);
    } else if (c.outstanding.size >= TCP_UPSTREAM_MAX_OUTSTANDING && !c.outstanding.has(idOf(message))) {
      this.fail(ip, port, idOf(message), 'TCP_UPSTREAM_BUSY', `${String(TCP_UPSTREAM_MAX_OUTSTANDING)} queries outstanding on ${key}`);
      return;
    }
    const id = idOf(message);
    c.outstanding.delete(id); // a query sent again with the same id replaces the earlier one
    c.outstanding.set(id, { frame, deadline: now + TCP_UPSTREAM_QUERY_TIMEOUT_MS, retried: false });
    if (c.open) {
      c.lastActivity = now;
      this.actions.push({ kind: 'write', conn: c.id, bytes: frame });
    }
  }

  /** The connection `conn` is established: its queued queries go out (one write). */
  handleConnected(conn: number, now: number): void {
    const c = this.conns.get(conn);
    if (c === undefined || c.open) return;
    c.open = true;
    c.lastActivity = now;
    const frames = [...c.outstanding.values()].map((o) => o.frame);
    if (frames.length > 0) this.actions.push({ kind: 'write', conn, bytes: concat(frames) });
  }

  /** Bytes received on `conn`, in stream order, chunked any way. */
  handleData(conn: number, chunk: Uint8Array, now: number): void {
    const c = this.conns.get(conn);
    if (c === undefined) return;
    c.lastActivity = now;
    for (const m of c.decoder.push(chunk)) {
      if (m.byteLength < HEADER_LEN || ((m[2] ?? 0) & 0x80) === 0) {
        this.drop(c, 'TCP_UPSTREAM_MALFORMED', `a ${String(m.byteLength)}-byte message that is not a DNS response`);
        return;
      }
      const id = idOf(m);
      if (!c.outstanding.delete(id)) {
        this.fail(c.ip, c.port, id, 'TCP_UPSTREAM_UNSOLICITED', `an answer with id ${String(id)} that no query is waiting for`);
        continue;
      }
      this.events.push({ kind: 'answer', ip: c.ip, port: c.port, message: m });
    }
  }

  /** `conn` is gone (the server closed it, a reset, a connect error): unanswered queries get one more try. */
  handleClosed(conn: number, now: number, cause?: unknown): void {
    const c = this.conns.get(conn);
    if (c === undefined) return;
    this.forget(c);
    const again = [...c.outstanding].filter(([id, o]) => {
      if (!o.retried && c.open) return true;
      this.fail(c.ip, c.port, id, 'TCP_UPSTREAM_CLOSED', c.open ? 'the connection closed again before the answer' : 'cannot connect', cause);
      return false;
    });
    if (again.length === 0) return;
    const next = this.connect(c.ip, c.port, now);
    for (const [id, o] of again) next.outstanding.set(id, { ...o, retried: true });
  }

  handleTimeout(now: number): void {
    for (const c of [...this.conns.values()]) {
      if (!c.open) {
        if (now >= c.openedAt + TCP_UPSTREAM_CONNECT_TIMEOUT_MS) this.drop(c, 'TCP_UPSTREAM_TIMEOUT', 'connect timed out');
        continue;
      }
      for (const [id, o] of c.outstanding) {
        if (now < o.deadline) break; // sending order is deadline order
        c.outstanding.delete(id);
        this.fail(c.ip, c.port, id, 'TCP_UPSTREAM_TIMEOUT', 'no answer in time');
      }
      if (c.outstanding.size === 0 && now >= c.lastActivity + TCP_UPSTREAM_IDLE_MS) {
        this.forget(c);
        this.actions.push({ kind: 'close', conn: c.id });
      }
    }
  }

  pollTimeout(): number | undefined {
    let t: number | undefined;
    for (const c of this.conns.values()) {
      const first = c.outstanding.values().next();
      const due = !c.open
        ? c.openedAt + TCP_UPSTREAM_CONNECT_TIMEOUT_MS
        : first.done === true
          ? c.lastActivity + TCP_UPSTREAM_IDLE_MS
          : first.value.deadline;
      if (t === undefined || due < t) t = due;
    }
    return t;
  }

  pollAction(): TcpUpstreamAction | undefined {
    return this.actions.shift();
  }

  pollEvent(): TcpUpstreamEvent | undefined {
    return this.events.shift();
  }

  private connect(ip: string, port: number, now: number): Conn {
    const c: Conn = { id: this.nextConn++, ip, port, key: `${ip}|${String(port)}`, open: false, openedAt: now, lastActivity: now, decoder: new DnsTcpDecoder(), outstanding: new Map() };
    this.conns.set(c.id, c);
    this.byUpstream.set(c.key, c);
    this.actions.push({ kind: 'connect', conn: c.id, ip, port });
    return c;
  }

  private forget(c: Conn): void {
    this.conns.delete(c.id);
    if (this.byUpstream.get(c.key) === c) this.byUpstream.delete(c.key);
  }

  /** Closes `c` and fails its queries and the connection itself with `code`. */
  private drop(c: Conn, code: DnsErrorCode, message: string): void {
    this.forget(c);
    this.actions.push({ kind: 'close', conn: c.id });
    this.fail(c.ip, c.port, undefined, code, message);
    for (const id of c.outstanding.keys()) this.fail(c.ip, c.port, id, code, message);
  }

  private fail(ip: string, port: number, id: number | undefined, code: DnsErrorCode, message: string, cause?: unknown): void {
    const error = new DnsError(code, `DNS over TCP to ${ip}:${String(port)}: ${message}`, cause === undefined ? undefined : { cause });
    this.events.push({ kind: 'failed', ip, port, id, error });
  }
}

function concat(parts: readonly Uint8Array[]): Uint8Array {
  if (parts.length === 1 && parts[0] !== undefined) return parts[0];
  const out = new Uint8Array(parts.reduce((n, p) => n + p.byteLength, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.byteLength;
  }
  return out;
}
