// The client's stub resolver (Firezone `resource_stub_resolver.rs`): answers queries to the sentinels for
// names of DNS resources with stable proxy IPs, forwards everything else to the upstream behind the
// sentinel (with a TTL-respecting cache), and keeps the proxy-IP <-> name table the ClientState routes by.
import type { Answer, DecodedPacket } from 'dns-packet';
import { DNS_TTL_SECS, DOH_CANARY_DOMAIN } from './addresses';
import { cacheKey, ResponseCache, type ResponseCacheOptions } from './cache';
import { formatIp, parseIp } from './ip';
import { buildResponse, decodeMessage, formErrFor, isStandardQuery, questionType, RCODE } from './message';
import { isSafeName, normalizeName, reverseDnsAddr } from './names';
import { DomainPattern, matchResources } from './pattern';
import { ProxyIpAllocator } from './proxy-ips';
import { describeUpstream, SentinelTable } from './sentinels';
import { stackHasV4, stackHasV6, type DnsResource, type DnsResourceRecord, type IpStack, type Upstream } from './types';

/** What to do with one query. */
export type StubAction =
  /** Send `response` back to the asker (same transport, swapped addresses). */
  | { readonly kind: 'respond'; readonly response: Uint8Array }
  /** Send `query` (unchanged bytes) to `upstream` outside the tunnel; pass its answer to `handleUpstreamResponse`. */
  | { readonly kind: 'forward'; readonly upstream: Upstream; readonly query: Uint8Array }
  /** SRV/TXT of a DNS resource: resolve at the resource's site (the gateway's in-tunnel DNS, port 53535). */
  | { readonly kind: 'forward-to-site'; readonly resourceId: string; readonly query: Uint8Array }
  /** Nothing to answer (not a DNS query, or a response). */
  | { readonly kind: 'drop' };

export type StubEvent =
  /** The set of resolved names / their proxy IPs / resources changed: update routes (full snapshot). */
  { readonly kind: 'records-changed'; readonly records: DnsResourceRecord[] };

export interface ProxyIpOwner {
  /** The name the proxy IP was handed out for (lower case, no trailing dot). */
  readonly name: string;
  /** The most specific resource currently matching `name` whose ip_stack includes the IP's family. */
  readonly resourceId: string;
  /** All such resources, most specific first. */
  readonly resourceIds: readonly string[];
}

/** How long a forwarded query waits for its answer before an answer is no longer accepted into the cache. */
export const FORWARD_TIMEOUT_MS = 10_000;
const MAX_PENDING_FORWARDS = 4096;
const CACHE_PRUNE_INTERVAL_MS = 60_000;

export interface StubResolverOptions {
  readonly sentinels?: SentinelTable;
  readonly searchDomain?: string;
  /** Records persisted from an earlier session: their proxy IPs are kept and never handed out again. */
  readonly records?: readonly DnsResourceRecord[];
  readonly cache?: ResponseCacheOptions;
}

interface Resource {
  readonly id: string;
  readonly pattern: DomainPattern;
  readonly ipStack: IpStack;
}

interface Assignment {
  readonly ips: readonly string[];
  /** `${pattern}\0${resourceId}` pairs the name was resolved for. */
  readonly resources: Set<string>;
}

const PAIR_SEP = '\u0000';

export class StubResolver {
  private readonly resources = new Map<string, Resource>();
  private readonly assignments = new Map<string, Assignment>();
  private readonly ipToName = new Map<string, string>();
  private readonly allocator = new ProxyIpAllocator();
  private readonly cache: ResponseCache;
  /** Forwarded queries awaiting an answer: match key -> (deadline, cache key). */
  private readonly pending = new Map<string, { readonly deadline: number; readonly cacheKey: string | undefined }>();
  /** Memo of `lookupProxyIp` (the packet path asks often); cleared whenever resources or records change. */
  private readonly ownerMemo = new Map<string, ProxyIpOwner | undefined>();
  private nextCachePrune = 0;
  /** Records changed since the last `pollEvent`; the snapshot is built lazily, once per drain. */
  private recordsDirty = false;
  private sentinels: SentinelTable;
  private searchDomain: string | undefined;

  constructor(options: StubResolverOptions = {}) {
    this.sentinels = options.sentinels ?? new SentinelTable([]);
    this.searchDomain = normalizeSearchDomain(options.searchDomain);
    this.cache = new ResponseCache(options.cache);
    for (const record of options.records ?? []) this.seed(record);
  }

  // ---- configuration -------------------------------------------------------------------------------

  setSentinels(table: SentinelTable): void {
    this.sentinels = table;
    this.cache.clear();
  }

  get sentinelTable(): SentinelTable {
    return this.sentinels;
  }

  setSearchDomain(domain: string | undefined): void {
    this.searchDomain = normalizeSearchDomain(domain);
  }

  /**
   * Adds or replaces (by id) a DNS resource. Returns false if its pattern is invalid (the resource is then
   * ignored, and an earlier one with the same id removed).
   */
  addResource(resource: DnsResource): boolean {
    const pattern = DomainPattern.tryParse(resource.address);
    const previous = this.resources.get(resource.id);
    this.resources.delete(resource.id);
    this.ownerMemo.clear();
    if (!pattern) return false;
    const next: Resource = { id: resource.id, pattern, ipStack: resource.ipStack };
    this.resources.set(resource.id, next);
    this.ownerMemo.clear();
    const isNew = previous?.pattern.source !== pattern.source || previous.ipStack !== resource.ipStack;
    const overlaps = [...this.assignments.keys()].some((d) => pattern.matches(d));
    if ((isNew || overlaps) && this.assignments.size > 0) this.emitRecordsChanged();
    return true;
  }

  removeResource(id: string): void {
    if (!this.resources.delete(id)) return;
    this.ownerMemo.clear();
    const suffix = `${PAIR_SEP}${id}`;
    for (const a of this.assignments.values()) {
      for (const pair of a.resources) {
        if (pair.endsWith(suffix)) {
          this.emitRecordsChanged();
          return;
        }
      }
    }
  }

  /** Replaces the whole set of DNS resources. */
  setResources(resources: readonly DnsResource[]): void {
    const ids = new Set(resources.map((r) => r.id));
    for (const id of [...this.resources.keys()]) if (!ids.has(id)) this.removeResource(id);
    for (const r of resources) this.addResource(r);
  }

  // ---- queries -------------------------------------------------------------------------------------

  /** Handles one DNS query (the UDP payload or one TCP-framed message) sent to `sentinel`. Never throws. */
  handleQuery(query: Uint8Array, sentinel: string, now: number): StubAction {
    const p = decodeMessage(query);
    if (!p) {
      const formErr = formErrFor(query);
      return formErr ? { kind: 'respond', response: formErr } : { kind: 'drop' };
    }
    if (p.flag_qr) return { kind: 'drop' };
    if (!isStandardQuery(p)) return this.respond(p, RCODE.NOTIMP);
    const question = p.questions?.[0];
    if (!question || p.questions?.length !== 1) return this.respond(p, RCODE.FORMERR);

    const name = normalizeName(question.name);
    const qtype = questionType(question);
    if (name === DOH_CANARY_DOMAIN) return this.respond(p, RCODE.NXDOMAIN);
    if ((question.class ?? 'IN') !== 'IN' || !isSafeName(name)) return this.forward(p, query, sentinel, now);

    let target = name;
    let matches = this.match(name);
    if (matches.length === 0 && this.searchDomain !== undefined && !name.includes('.')) {
      const fqdn = `${name}.${this.searchDomain}`;
      const viaSearch = this.match(fqdn);
      if (viaSearch.length > 0) {
        target = fqdn;
        matches = viaSearch;
      }
    }

    switch (qtype) {
      case 'A':
      case 'AAAA': {
        if (matches.length === 0) break;
        let ips: readonly string[];
        try {
          ips = this.getOrAssign(target, matches);
        } catch {
          // Proxy range exhausted (DnsError PROXY_IPS_EXHAUSTED): nothing sensible to hand out.
          return this.respond(p, RCODE.SERVFAIL);
        }
        const v4 = qtype === 'A';
        const allowed = matches.some((r) => (v4 ? stackHasV4(r.ipStack) : stackHasV6(r.ipStack)));
        const answers: Answer[] = [];
        if (target !== name) answers.push({ type: 'CNAME', name: question.name, ttl: DNS_TTL_SECS, class: 'IN', data: target });
        const owner = target === name ? question.name : target;
        if (allowed) {
          for (const ip of ips) {
            if (ip.includes(':') === v4) continue;
            answers.push({ type: v4 ? 'A' : 'AAAA', name: owner, ttl: DNS_TTL_SECS, class: 'IN', data: ip });
          }
        }
        return this.respond(p, RCODE.NOERROR, answers);
      }
      case 'SRV':
      case 'TXT': {
        const best = target === name ? matches[0] : undefined;
        if (best) return { kind: 'forward-to-site', resourceId: best.id, query };
        break;
      }
      case 'PTR': {
        const addr = reverseDnsAddr(name);
        const owner = addr ? this.ipToName.get(formatIp(addr)) : undefined;
        if (owner === undefined) break;
        return this.respond(p, RCODE.NOERROR, [{ type: 'PTR', name: question.name, ttl: DNS_TTL_SECS, class: 'IN', data: owner }]);
      }
      case 'HTTPS':
        // Answer empty so that the client falls back to A/AAAA and uses our proxy IPs.
        if (matches.length > 0) return this.respond(p, RCODE.NOERROR);
        break;
      default:
        break;
    }
    return this.forward(p, query, sentinel, now);
  }

  /**
   * An answer from `upstream`. Returns true if it answers a query forwarded within the last 10 s (same
   * upstream, id and question); only such answers are cached (no cache poisoning by unsolicited
   * datagrams). Relay `response` to the asker unchanged either way, or drop unmatched ones if you prefer.
   */
  handleUpstreamResponse(upstream: Upstream, response: Uint8Array, now: number): boolean {
    const p = decodeMessage(response);
    if (!p?.flag_qr) return false;
    const key = matchKey(describeUpstream(upstream), p);
    const pending = key === undefined ? undefined : this.pending.get(key);
    if (key === undefined || !pending || now >= pending.deadline) return false;
    this.pending.delete(key);
    if (pending.cacheKey !== undefined) this.cache.insertDecoded(pending.cacheKey, p, now);
    return true;
  }

  /** Forgets forwarded queries that got no answer in time; prunes the cache at most once a minute. */
  handleTimeout(now: number): void {
    // Insertion order is deadline order (`now` is monotonic).
    for (const [k, v] of this.pending) {
      if (now < v.deadline) break;
      this.pending.delete(k);
    }
    if (now >= this.nextCachePrune) {
      this.cache.handleTimeout(now);
      this.nextCachePrune = now + CACHE_PRUNE_INTERVAL_MS;
    }
  }

  /** When housekeeping is due (O(1)); nothing here is needed for correctness, only to bound memory. */
  pollTimeout(): number | undefined {
    let min: number | undefined = this.cache.size > 0 ? this.nextCachePrune : undefined;
    const oldest = this.pending.values().next();
    if (oldest.done !== true && (min === undefined || oldest.value.deadline < min)) min = oldest.value.deadline;
    return min;
  }

  /** At most one pending event: a full records snapshot, coalescing all changes since the last poll. */
  pollEvent(): StubEvent | undefined {
    if (!this.recordsDirty) return undefined;
    this.recordsDirty = false;
    return { kind: 'records-changed', records: this.records() };
  }

  // ---- lookups for the ClientState -----------------------------------------------------------------

  /** Who a proxy IP belongs to; undefined if it was never handed out or no current resource covers it. */
  lookupProxyIp(ip: string): ProxyIpOwner | undefined {
    if (this.ownerMemo.has(ip)) return this.ownerMemo.get(ip);
    const owner = this.findOwner(ip);
    if (this.ownerMemo.size >= 65536) this.ownerMemo.clear();
    this.ownerMemo.set(ip, owner);
    return owner;
  }

  private findOwner(ip: string): ProxyIpOwner | undefined {
    const parsed = parseIp(ip);
    if (!parsed) return undefined;
    const name = this.ipToName.get(formatIp(parsed));
    if (name === undefined) return undefined;
    const ids = this.match(name)
      .filter((r) => (parsed.family === 4 ? stackHasV4(r.ipStack) : stackHasV6(r.ipStack)))
      .map((r) => r.id);
    const first = ids[0];
    return first === undefined ? undefined : { name, resourceId: first, resourceIds: ids };
  }

  /** The 8 proxy IPs (4 v4 then 4 v6) assigned to `name`, or [] if none yet. */
  proxyIpsFor(name: string): readonly string[] {
    return this.assignments.get(normalizeName(name))?.ips ?? [];
  }

  /** Names, resources and all proxy IPs; resource pairs are only those still valid (same id and pattern). */
  records(): DnsResourceRecord[] {
    const out: DnsResourceRecord[] = [];
    for (const [domain, a] of this.assignments) {
      const resources: (readonly [string, string])[] = [];
      for (const pair of a.resources) {
        const [pattern = '', id = ''] = pair.split(PAIR_SEP);
        if (this.resources.get(id)?.pattern.source === pattern) resources.push([pattern, id]);
      }
      out.push({ domain, resources, ips: [...a.ips] });
    }
    return out;
  }

  /** (name, resource, proxy IPs of the resource's ip_stack) for every valid assignment: the routes to install. */
  resolvedResources(): { readonly domain: string; readonly resourceId: string; readonly ips: readonly string[] }[] {
    const out: { domain: string; resourceId: string; ips: string[] }[] = [];
    for (const record of this.records()) {
      for (const [, id] of record.resources) {
        const r = this.resources.get(id);
        if (!r) continue;
        const ips = record.ips.filter((ip) => (ip.includes(':') ? stackHasV6(r.ipStack) : stackHasV4(r.ipStack)));
        out.push({ domain: record.domain, resourceId: id, ips });
      }
    }
    return out;
  }

  // ---- internals -----------------------------------------------------------------------------------

  private match(name: string): Resource[] {
    return matchResources(this.resources.values(), name);
  }

  private getOrAssign(domain: string, matches: readonly Resource[]): readonly string[] {
    let changed = false;
    let a = this.assignments.get(domain);
    if (!a) {
      a = { ips: this.allocator.allocate(), resources: new Set() };
      this.assignments.set(domain, a);
      for (const ip of a.ips) this.ipToName.set(ip, domain);
      changed = true;
    }
    for (const r of matches) {
      const pair = `${r.pattern.source}${PAIR_SEP}${r.id}`;
      if (!a.resources.has(pair)) {
        a.resources.add(pair);
        changed = true;
      }
    }
    if (changed) this.emitRecordsChanged();
    return a.ips;
  }

  private seed(record: DnsResourceRecord): void {
    const domain = normalizeName(record.domain);
    const ips: string[] = [];
    for (const raw of record.ips) {
      const p = parseIp(raw);
      if (!p) continue;
      const ip = formatIp(p);
      ips.push(ip);
      this.ipToName.set(ip, domain);
      this.allocator.reserve(ip);
    }
    this.assignments.set(domain, {
      ips,
      resources: new Set(record.resources.map(([pattern, id]) => `${normalizeName(pattern)}${PAIR_SEP}${id}`)),
    });
  }

  private emitRecordsChanged(): void {
    this.recordsDirty = true;
    this.ownerMemo.clear();
  }

  private respond(query: DecodedPacket, rcode: number, answers: Answer[] = []): StubAction {
    const response = buildResponse(query, rcode, answers);
    return response ? { kind: 'respond', response } : { kind: 'drop' };
  }

  private forward(p: DecodedPacket, query: Uint8Array, sentinel: string, now: number): StubAction {
    const upstream = this.sentinels.upstreamFor(sentinel);
    if (!upstream) return this.respond(p, RCODE.SERVFAIL);
    const scope = describeUpstream(upstream);
    const cached = this.cache.lookup(scope, p, now);
    if (cached) return { kind: 'respond', response: cached };
    const key = matchKey(scope, p);
    if (key !== undefined) {
      this.pending.delete(key);
      this.pending.set(key, { deadline: now + FORWARD_TIMEOUT_MS, cacheKey: cacheKey(scope, p) });
      while (this.pending.size > MAX_PENDING_FORWARDS) {
        const oldest = this.pending.keys().next();
        if (oldest.done === true) break;
        this.pending.delete(oldest.value);
      }
    }
    return { kind: 'forward', upstream, query };
  }
}

/** Matches an answer to its forwarded query: upstream, id and the (case-folded) question. */
function matchKey(scope: string, p: DecodedPacket): string | undefined {
  const q = p.questions?.[0];
  if (!q || p.questions?.length !== 1) return undefined;
  return `${scope}\u0000${p.id ?? 0}\u0000${normalizeName(q.name)}\u0000${questionType(q)}\u0000${q.class ?? 'IN'}`;
}

function normalizeSearchDomain(d: string | undefined): string | undefined {
  if (d === undefined) return undefined;
  const n = normalizeName(d.startsWith('.') ? d.slice(1) : d);
  return n.length > 0 && isSafeName(n) ? n : undefined;
}
