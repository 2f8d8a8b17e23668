// The gateway's name-resolution queue (sans-IO): callers ask for a name, the IO shell polls "resolve this"
// requests (at most `maxConcurrent` in flight), runs the system resolver and reports results; a request
// without a result after `timeoutMs` fails. Concurrent asks for one name share one request; successful
// results are cached for `cacheTtlMs` (or the TTL the shell reports).

export interface ResolveQueueOptions {
  /** Requests in flight at once. Default 16. */
  readonly maxConcurrent?: number;
  /** Names waiting to be sent; further asks fail with 'overloaded'. Default 1024. */
  readonly maxPending?: number;
  /** Per-request timeout, ms. Default 10 000. */
  readonly timeoutMs?: number;
  /** How long a successful result is reused, ms, unless the result carries its own `ttlMs`. Default 30 000. */
  readonly cacheTtlMs?: number;
}

/** A request for the IO shell: resolve `name` (A and AAAA), then call `handleResult(requestId, ...)`. */
export interface ResolveRequest {
  readonly requestId: number;
  readonly name: string;
}

export type ResolveOutcome =
  | { readonly kind: 'ok'; readonly ips: readonly string[]; readonly ttlMs?: number }
  | { readonly kind: 'error'; readonly reason: string };

export type ResolveEvent =
  | { readonly kind: 'resolved'; readonly name: string; readonly ips: readonly string[]; readonly tickets: readonly number[] }
  | {
      readonly kind: 'failed';
      readonly name: string;
      readonly reason: 'timeout' | 'overloaded' | 'error';
      readonly detail?: string;
      readonly tickets: readonly number[];
    };

interface InFlight {
  readonly name: string;
  readonly deadline: number;
}

export class ResolveQueue {
  private readonly maxConcurrent: number;
  private readonly maxPending: number;
  private readonly timeoutMs: number;
  private readonly cacheTtlMs: number;
  private nextTicket = 1;
  private nextRequestId = 1;
  /** name -> tickets waiting for it (queued or in flight). */
  private readonly waiters = new Map<string, number[]>();
  private readonly queued: string[] = [];
  private readonly inFlight = new Map<number, InFlight>();
  private readonly cache = new Map<string, { ips: readonly string[]; expiresAt: number }>();
  private readonly events: ResolveEvent[] = [];

  constructor(options: ResolveQueueOptions = {}) {
    this.maxConcurrent = Math.max(1, options.maxConcurrent ?? 16);
    this.maxPending = Math.max(0, options.maxPending ?? 1024);
    this.timeoutMs = options.timeoutMs ?? 10_000;
    this.cacheTtlMs = options.cacheTtlMs ?? 30_000;
  }

  /** Asks for `name`; returns a ticket that the 'resolved'/'failed' event will list. */
  resolve(name: string, now: number): number {
    const ticket = this.nextTicket++;
    const key = name.toLowerCase().replace(/\.$/, '');
    const cached = this.cache.get(key);
    if (cached && now < cached.expiresAt) {
      this.events.push({ kind: 'resolved', name: key, ips: cached.ips, tickets: [ticket] });
      return ticket;
    }
    const waiting = this.waiters.get(key);
    if (waiting) {
      waiting.push(ticket);
      return ticket;
    }
    if (this.queued.length >= this.maxPending) {
      this.events.push({ kind: 'failed', name: key, reason: 'overloaded', tickets: [ticket] });
      return ticket;
    }
    this.waiters.set(key, [ticket]);
    this.queued.push(key);
    return ticket;
  }

  /** The next request to start, if one is queued and a slot is free. */
  pollRequest(now: number): ResolveRequest | undefined {
    if (this.inFlight.size >= this.maxConcurrent) return undefined;
    const name = this.queued.shift();
    if (name === undefined) return undefined;
    const requestId = this.nextRequestId++;
    this.inFlight.set(requestId, { name, deadline: now + this.timeoutMs });
    return { requestId, name };
  }

  /** The shell's answer to a request. Late answers (after the timeout) are ignored. */
  handleResult(requestId: number, outcome: ResolveOutcome, now: number): void {
    const req = this.inFlight.get(requestId);
    if (!req) return;
    this.inFlight.delete(requestId);
    const tickets = this.waiters.get(req.name) ?? [];
    this.waiters.delete(req.name);
    if (outcome.kind === 'ok') {
      const ttl = outcome.ttlMs ?? this.cacheTtlMs;
      if (ttl > 0) this.cache.set(req.name, { ips: outcome.ips, expiresAt: now + ttl });
      this.events.push({ kind: 'resolved', name: req.name, ips: outcome.ips, tickets });
    } else {
      this.events.push({ kind: 'failed', name: req.name, reason: 'error', detail: outcome.reason, tickets });
    }
  }

  /** Fails requests past their deadline; prunes the cache. */
  handleTimeout(now: number): void {
    for (const [id, req] of this.inFlight) {
      if (now < req.deadline) continue;
      this.inFlight.delete(id);
      const tickets = this.waiters.get(req.name) ?? [];
      this.waiters.delete(req.name);
      this.events.push({ kind: 'failed', name: req.name, reason: 'timeout', tickets });
    }
    for (const [name, c] of this.cache) if (now >= c.expiresAt) this.cache.delete(name);
  }

  /** The earliest deadline of a request in flight (cache pruning does not need a wake-up). */
  pollTimeout(): number | undefined {
    let min: number | undefined;
    for (const req of this.inFlight.values()) if (min === undefined || req.deadline < min) min = req.deadline;
    return min;
  }

  pollEvent(): ResolveEvent | undefined {
    return this.events.shift();
  }

  get inFlightCount(): number {
    return this.inFlight.size;
  }

  get queuedCount(): number {
    return this.queued.length;
  }
}
