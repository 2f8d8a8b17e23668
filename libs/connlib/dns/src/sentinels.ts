// Sentinel DNS servers: the OS is pointed at 100.100.111.x / fd00:2021:1111:8000:100:100:111:x, one per real
// upstream, and the stub resolver forwards what it does not answer to the upstream behind the sentinel.
// Upstreams: the portal's Do53 servers if any, else its DoH servers, else the system's (Firezone
// `dns_config.rs`); sentinel addresses themselves are filtered out, duplicates dropped keeping order.
import { DNS_SENTINELS_V4, DNS_SENTINELS_V6, network } from './addresses';
import { formatIp, networkContains, parseIp, type ParsedIp } from './ip';
import type { Upstream } from './types';

export interface UpstreamConfig {
  /** Resolvers the OS had before we pointed it at the sentinels. */
  readonly system?: readonly string[];
  /** Portal-given plain DNS upstreams (IP addresses, port 53). */
  readonly upstreamDo53?: readonly string[];
  /** Portal-given DoH upstreams (https URLs). */
  readonly upstreamDoh?: readonly string[];
}

export interface SentinelEntry {
  readonly sentinel: string;
  readonly upstream: Upstream;
}

const V4_NET = network(DNS_SENTINELS_V4);
const V6_NET = network(DNS_SENTINELS_V6);
const MAX_SENTINELS_PER_FAMILY = 255;

export function isSentinelIp(ip: string): boolean {
  const p = parseIp(ip);
  return p !== undefined && (networkContains(V4_NET, p) || networkContains(V6_NET, p));
}

/** A human-readable label of an upstream, e.g. `Do53 1.1.1.1:53`, `Do53 [::1]:53`, `DoH https://...`. */
export function describeUpstream(u: Upstream): string {
  if (u.kind === 'doh') return `DoH ${u.url}`;
  return u.ip.includes(':') ? `Do53 [${u.ip}]:${u.port}` : `Do53 ${u.ip}:${u.port}`;
}

/** The sentinel <-> upstream table: immutable, built by `mapSentinels`. */
export class SentinelTable {
  readonly entries: readonly SentinelEntry[];
  private readonly bySentinel: ReadonlyMap<string, Upstream>;

  constructor(entries: readonly SentinelEntry[]) {
    this.entries = entries;
    this.bySentinel = new Map(entries.map((e) => [e.sentinel, e.upstream]));
  }

  /** The upstream behind a sentinel address (any spelling), or undefined if it is not one of ours. */
  upstreamFor(sentinel: string): Upstream | undefined {
    const p = parseIp(sentinel);
    return p ? this.bySentinel.get(formatIp(p)) : undefined;
  }

  sentinelFor(upstream: Upstream): string | undefined {
    const key = describeUpstream(upstream);
    return this.entries.find((e) => describeUpstream(e.upstream) === key)?.sentinel;
  }

  get sentinels(): string[] {
    return this.entries.map((e) => e.sentinel);
  }

  get upstreams(): Upstream[] {
    return this.entries.map((e) => e.upstream);
  }
}

function do53Upstreams(list: readonly string[]): Upstream[] {
  const seen = new Set<string>();
  const out: Upstream[] = [];
  for (const raw of list) {
    const p = parseIp(raw);
    if (!p || networkContains(V4_NET, p) || networkContains(V6_NET, p)) continue;
    const ip = formatIp(p);
    if (seen.has(ip)) continue;
    seen.add(ip);
    out.push({ kind: 'do53', ip, port: 53 });
  }
  return out;
}

function dohUpstreams(list: readonly string[]): Upstream[] {
  const seen = new Set<string>();
  const out: Upstream[] = [];
  for (const url of list) {
    if (seen.has(url)) continue;
    seen.add(url);
    out.push({ kind: 'doh', url });
  }
  return out;
}

/** The upstreams chosen from a configuration: portal Do53, else portal DoH, else system (filtered, deduped). */
export function effectiveUpstreams(config: UpstreamConfig): Upstream[] {
  const do53 = do53Upstreams(config.upstreamDo53 ?? []);
  if (do53.length > 0) return do53;
  const doh = dohUpstreams(config.upstreamDoh ?? []);
  if (doh.length > 0) return doh;
  return do53Upstreams(config.system ?? []);
}

/**
 * Maps each effective upstream to a sentinel: IPv4 upstreams (and DoH) get 100.100.111.1, .2, ...; IPv6
 * upstreams get fd00:2021:1111:8000:100:100:111:0, :1, ... (IPv4 skips the network address, IPv6 does
 * not, as Firezone's address provider does — from code). At most 255 per family; extra ones are dropped.
 */
export function mapSentinels(config: UpstreamConfig): SentinelTable {
  let nextV4 = V4_NET.base + 1n;
  let nextV6 = V6_NET.base;
  const entries: SentinelEntry[] = [];
  let v4Count = 0;
  let v6Count = 0;
  for (const upstream of effectiveUpstreams(config)) {
    const v6 = upstream.kind === 'do53' && upstream.ip.includes(':');
    let sentinel: ParsedIp;
    if (v6) {
      if (v6Count >= MAX_SENTINELS_PER_FAMILY) continue;
      sentinel = { family: 6, value: nextV6++ };
      v6Count++;
    } else {
      if (v4Count >= MAX_SENTINELS_PER_FAMILY - 1) continue;
      sentinel = { family: 4, value: nextV4++ };
      v4Count++;
    }
    entries.push({ sentinel: formatIp(sentinel), upstream });
  }
  return new SentinelTable(entries);
}
