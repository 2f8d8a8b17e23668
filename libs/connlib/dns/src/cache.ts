// A sans-IO cache of forwarded answers, keyed by upstream, name, type, class and the DNSSEC bits; entries
// live for the smallest TTL in the answer (RFC 1035 section 3.2.1; negative answers: RFC 2308 section 5,
// min(SOA TTL, SOA MINIMUM)). Served copies get the asker's id and question and TTLs reduced by the age.
import type { Answer, DecodedPacket, Question } from 'dns-packet';
import { decodeMessage, encodeMessage, questionType, rcodeOf, RCODE } from './message';
import { normalizeName } from './names';

export interface ResponseCacheOptions {
  /** Most entries kept; the oldest inserted is evicted first. Default 4096. */
  readonly maxEntries?: number;
  /** Upper bound on how long anything is cached, seconds. Default 3600. */
  readonly maxTtlSecs?: number;
}

interface Entry {
  readonly response: DecodedPacket;
  readonly storedAt: number;
  readonly expiresAt: number;
}

const DNSSEC_OK = 0x8000;

function dnssecOk(p: DecodedPacket): boolean {
  for (const a of p.additionals ?? []) if (a.type === 'OPT' && (a.flags & DNSSEC_OK) !== 0) return true;
  return false;
}

/** The cache key of a single-question message, from the asker's point of view. */
export function cacheKey(scope: string, p: DecodedPacket): string | undefined {
  const q: Question | undefined = p.questions?.[0];
  if (!q || p.questions?.length !== 1) return undefined;
  return `${scope}\u0000${normalizeName(q.name)}\u0000${questionType(q)}\u0000${q.class ?? 'IN'}\u0000${dnssecOk(p) ? 1 : 0}${p.flag_cd ? 1 : 0}`;
}

function ttlOf(r: Answer): number | undefined {
  return r.type === 'OPT' ? undefined : (r.ttl ?? 0);
}

/** Seconds the response may be cached for; undefined = do not cache. */
export function cacheableTtl(p: DecodedPacket): number | undefined {
  if (p.flag_tc) return undefined;
  const rcode = rcodeOf(p);
  if (rcode !== RCODE.NOERROR && rcode !== RCODE.NXDOMAIN) return undefined;
  const answers = p.answers ?? [];
  if (answers.length > 0 && rcode === RCODE.NOERROR) {
    let min = Infinity;
    for (const r of [...answers, ...(p.authorities ?? [])]) {
      const t = ttlOf(r);
      if (t !== undefined) min = Math.min(min, t);
    }
    return Number.isFinite(min) && min > 0 ? min : undefined;
  }
  for (const r of p.authorities ?? []) {
    if (r.type === 'SOA') {
      const t = Math.min(r.ttl ?? 0, r.data.minimum ?? 0);
      return t > 0 ? t : undefined;
    }
  }
  return undefined;
}

function aged(records: Answer[] | undefined, elapsedSecs: number): Answer[] {
  return (records ?? []).map((r) => (r.type === 'OPT' ? r : { ...r, ttl: Math.max(0, (r.ttl ?? 0) - elapsedSecs) }));
}

export class ResponseCache {
  private readonly entries = new Map<string, Entry>();
  private readonly maxEntries: number;
  private readonly maxTtlSecs: number;

  constructor(options: ResponseCacheOptions = {}) {
    this.maxEntries = options.maxEntries ?? 4096;
    this.maxTtlSecs = options.maxTtlSecs ?? 3600;
  }

  get size(): number {
    return this.entries.size;
  }

  /** Stores a response from `scope` (the upstream) under its own key; returns whether it was cacheable. */
  insert(scope: string, response: Uint8Array, now: number): boolean {
    const p = decodeMessage(response);
    if (!p?.flag_qr) return false;
    const key = cacheKey(scope, p);
    return key !== undefined && this.insertDecoded(key, p, now);
  }

  /**
   * Stores a decoded response under `key` (the cache key of the query it answers, so that a server that
   * drops the OPT record still caches under what the asker will ask again).
   */
  insertDecoded(key: string, p: DecodedPacket, now: number): boolean {
    const ttl = cacheableTtl(p);
    if (ttl === undefined || this.maxEntries <= 0) return false;
    // Only cache what we can re-encode (dns-packet round trip).
    if (encodeMessage(p) === undefined) return false;
    this.entries.delete(key);
    this.entries.set(key, { response: p, storedAt: now, expiresAt: now + Math.min(ttl, this.maxTtlSecs) * 1000 });
    while (this.entries.size > this.maxEntries) {
      const oldest = this.entries.keys().next();
      if (oldest.done === true) break;
      this.entries.delete(oldest.value);
    }
    return true;
  }

  /** A cached answer to `query` (decoded), re-encoded for the asker, or undefined. */
  lookup(scope: string, query: DecodedPacket, now: number): Uint8Array | undefined {
    const key = cacheKey(scope, query);
    if (key === undefined) return undefined;
    const e = this.entries.get(key);
    if (!e) return undefined;
    if (now >= e.expiresAt) {
      this.entries.delete(key);
      return undefined;
    }
    const elapsed = Math.max(0, Math.floor((now - e.storedAt) / 1000));
    return encodeMessage({
      ...e.response,
      id: query.id ?? 0,
      type: 'response',
      questions: query.questions ?? [],
      answers: aged(e.response.answers, elapsed),
      authorities: aged(e.response.authorities, elapsed),
      additionals: aged(e.response.additionals, elapsed),
    });
  }

  /** Drops expired entries. */
  handleTimeout(now: number): void {
    for (const [k, e] of this.entries) if (now >= e.expiresAt) this.entries.delete(k);
  }

  /** When the next entry expires, or undefined if empty. */
  pollTimeout(): number | undefined {
    let min: number | undefined;
    for (const e of this.entries.values()) if (min === undefined || e.expiresAt < min) min = e.expiresAt;
    return min;
  }

  clear(): void {
    this.entries.clear();
  }
}
