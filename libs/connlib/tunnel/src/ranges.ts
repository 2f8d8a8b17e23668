// Address classes a gateway must not forward Internet-resource traffic to (private, loopback, link-local,
// CGNAT incl. Firezone's tunnel and proxy ranges, multicast, unspecified, ...), and the peer ranges.
import { cidrContainsAt, parseCidr, type Cidr } from '@postern/ip-packet';
import { PROXY_IPV4_RANGE, PROXY_IPV6_RANGE, TUNNEL_IPV4_RANGE, TUNNEL_IPV6_RANGE, DNS_SENTINEL_IPV4_RANGE, DNS_SENTINEL_IPV6_RANGE } from '@postern/model';

function cidrs(list: readonly string[]): Cidr[] {
  return list.flatMap((t) => {
    const c = parseCidr(t);
    return c === undefined ? [] : [c];
  });
}

const FORBIDDEN_V4 = cidrs([
  '0.0.0.0/8', // this network
  '10.0.0.0/8', // private
  '100.64.0.0/10', // CGNAT (holds tunnel and proxy IPs)
  '127.0.0.0/8', // loopback
  '169.254.0.0/16', // link-local
  '172.16.0.0/12', // private
  '192.168.0.0/16', // private
  '224.0.0.0/4', // multicast
  '240.0.0.0/4', // reserved + broadcast
]);
const FORBIDDEN_V6 = cidrs([
  '::/128', // unspecified
  '::1/128', // loopback
  '::ffff:0:0/96', // IPv4-mapped
  'fc00::/7', // unique local (holds tunnel and proxy IPs)
  'fe80::/10', // link-local
  'ff00::/8', // multicast
]);

/** True when an Internet resource must not carry a packet to this destination (ICMP network unreachable). */
export function isForbiddenInternetDestination(buf: Uint8Array, offset: number, family: 4 | 6): boolean {
  const list = family === 4 ? FORBIDDEN_V4 : FORBIDDEN_V6;
  for (const c of list) if (cidrContainsAt(c, buf, offset, family)) return true;
  return false;
}

function rangeCidr(r: { readonly cidr: string }): Cidr {
  const c = parseCidr(r.cidr);
  if (c === undefined) throw new TypeError(`bad built-in range ${r.cidr}`);
  return c;
}

/** Tunnel IPs of clients and gateways. */
export const PEER_RANGES: readonly Cidr[] = [rangeCidr(TUNNEL_IPV4_RANGE), rangeCidr(TUNNEL_IPV6_RANGE)];
/** DNS resource proxy IPs. */
export const PROXY_RANGES: readonly Cidr[] = [rangeCidr(PROXY_IPV4_RANGE), rangeCidr(PROXY_IPV6_RANGE)];
/** DNS sentinels. */
export const SENTINEL_RANGES: readonly Cidr[] = [rangeCidr(DNS_SENTINEL_IPV4_RANGE), rangeCidr(DNS_SENTINEL_IPV6_RANGE)];
/** The Internet resource's routes. */
export const DEFAULT_ROUTES: readonly Cidr[] = cidrs(['0.0.0.0/0', '::/0']);

export function inRanges(ranges: readonly Cidr[], buf: Uint8Array, offset: number, family: 4 | 6): boolean {
  for (const c of ranges) if (cidrContainsAt(c, buf, offset, family)) return true;
  return false;
}
