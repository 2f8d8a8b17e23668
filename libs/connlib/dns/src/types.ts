// Plain data types of the package's public API (no classes, JSON-friendly).

/** Which address families a DNS resource answers with (portal `ip_stack`). */
export type IpStack = 'dual' | 'ipv4_only' | 'ipv6_only';

/** A DNS resource as the stub resolver needs it. `address` is the pattern (`**.corp.internal`). */
export interface DnsResource {
  readonly id: string;
  readonly address: string;
  readonly ipStack: IpStack;
}

/** A real DNS server that a sentinel stands for. */
export type Upstream =
  | { readonly kind: 'do53'; readonly ip: string; readonly port: number }
  | { readonly kind: 'doh'; readonly url: string };

/** One resolved DNS-resource name: its proxy IPs and the (pattern, resource id) pairs it was resolved for. */
export interface DnsResourceRecord {
  readonly domain: string;
  readonly resources: readonly (readonly [pattern: string, resourceId: string])[];
  readonly ips: readonly string[];
}

export function stackHasV4(s: IpStack): boolean {
  return s !== 'ipv6_only';
}

export function stackHasV6(s: IpStack): boolean {
  return s !== 'ipv4_only';
}
