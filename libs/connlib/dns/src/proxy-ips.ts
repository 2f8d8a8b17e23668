// Sequential proxy-IP allocation for DNS resource names: 4 IPv4 from 100.96.0.0/11 (starting at .1) and
// 4 IPv6 from fd00:2021:1111:8000::/107 (starting at ::), never reused within a session. The sentinel
// ranges are skipped (100.100.111.0/24 lies inside 100.96.0.0/11), as Firezone's IpProvider excludes them.
import { DNS_SENTINELS_V4, DNS_SENTINELS_V6, IPV4_RESOURCES, IPV6_RESOURCES, PROXY_IPS_PER_FAMILY, network } from './addresses';
import { DnsError } from './errors';
import { formatIp, networkContains, networkSize, parseIp, type IpNetwork } from './ip';

const V4_NET = network(IPV4_RESOURCES);
const V6_NET = network(IPV6_RESOURCES);
const EXCLUDED: readonly IpNetwork[] = [network(DNS_SENTINELS_V4), network(DNS_SENTINELS_V6)];

export function isProxyIp(ip: string): boolean {
  const p = parseIp(ip);
  return p !== undefined && (networkContains(V4_NET, p) || networkContains(V6_NET, p));
}

class Range {
  private next: bigint;
  private readonly end: bigint;

  constructor(
    private readonly net: IpNetwork,
    first: bigint,
  ) {
    this.next = first;
    this.end = net.base + networkSize(net) - (net.family === 4 ? 1n : 0n); // v4: skip broadcast
  }

  /** Throws DnsError('PROXY_IPS_EXHAUSTED'); what it took before is lost (the range is all but used up). */
  take(n: number): string[] {
    const out: string[] = [];
    while (out.length < n) {
      const value = this.next++;
      if (value >= this.end) {
        throw new DnsError('PROXY_IPS_EXHAUSTED', `proxy IP range of IPv${this.net.family} exhausted`);
      }
      const ip = { family: this.net.family, value };
      const excluded = EXCLUDED.find((e) => networkContains(e, ip));
      if (excluded) {
        this.next = excluded.base + networkSize(excluded);
        continue;
      }
      out.push(formatIp(ip));
    }
    return out;
  }

  /** Moves past `ip` so that it is never handed out again (re-seeding from persisted records). */
  skipPast(value: bigint): void {
    if (value >= this.next) this.next = value + 1n;
  }
}

export class ProxyIpAllocator {
  private readonly v4: Range;
  private readonly v6: Range;

  /** `firstV4`/`firstV6` only for tests that need to start near a boundary. */
  constructor(firstV4?: string, firstV6?: string) {
    this.v4 = new Range(V4_NET, valueIn(V4_NET, firstV4) ?? V4_NET.base + 1n);
    this.v6 = new Range(V6_NET, valueIn(V6_NET, firstV6) ?? V6_NET.base);
  }

  /** The next 4 IPv4 and 4 IPv6 proxy IPs (v4 first). Throws DnsError('PROXY_IPS_EXHAUSTED'). */
  allocate(): string[] {
    const v4 = this.v4.take(PROXY_IPS_PER_FAMILY);
    const v6 = this.v6.take(PROXY_IPS_PER_FAMILY);
    return [...v4, ...v6];
  }

  reserve(ip: string): void {
    const p = parseIp(ip);
    if (!p) return;
    if (networkContains(V4_NET, p)) this.v4.skipPast(p.value);
    else if (networkContains(V6_NET, p)) this.v6.skipPast(p.value);
  }
}

function valueIn(net: IpNetwork, ip: string | undefined): bigint | undefined {
  const p = ip === undefined ? undefined : parseIp(ip);
  return p && networkContains(net, p) ? p.value : undefined;
}
