// Sequential proxy-IP allocation for DNS resource names: 4 IPv4 from 100.96.0.0/11 (starting at .1) and
// 4 IPv6 from fd00:2021:1111:8000::/107 (starting at ::), never reused within a session.
import { IPV4_RESOURCES, IPV6_RESOURCES, PROXY_IPS_PER_FAMILY, network } from './addresses';
import { DnsError } from './errors';
import { formatIp, networkContains, networkSize, parseIp, type IpNetwork } from './ip';

const V4_NET = network(IPV4_RESOURCES);
const V6_NET = network(IPV6_RESOURCES);

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

  take(n: number): string[] {
    if (this.next + BigInt(n) > this.end) {
      throw new DnsError('PROXY_IPS_EXHAUSTED', `proxy IP range of IPv${this.net.family} exhausted`);
    }
    const out: string[] = [];
    for (let i = 0; i < n; i++) out.push(formatIp({ family: this.net.family, value: this.next++ }));
    return out;
  }

  /** Moves past `ip` so that it is never handed out again (re-seeding from persisted records). */
  skipPast(value: bigint): void {
    if (value >= this.next) this.next = value + 1n;
  }
}

export class ProxyIpAllocator {
  private readonly v4 = new Range(V4_NET, V4_NET.base + 1n);
  private readonly v6 = new Range(V6_NET, V6_NET.base);

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
