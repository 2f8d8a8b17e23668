// Address ranges shared with Firezone (DESIGN.md "Addresses"). Kept here as well as in @postern/model so
// that this sans-IO package stands on its own; the values must stay equal.
import { parseCidr, type IpNetwork } from './ip';
import { DnsError } from './errors';

export const IPV4_RESOURCES = '100.96.0.0/11';
export const IPV6_RESOURCES = 'fd00:2021:1111:8000::/107';
export const DNS_SENTINELS_V4 = '100.100.111.0/24';
export const DNS_SENTINELS_V6 = 'fd00:2021:1111:8000:100:100:111:0/120';
/** TTL of locally synthesised answers, seconds. */
export const DNS_TTL_SECS = 1;
/** Firefox's DoH canary: answering NXDOMAIN turns off its default DoH. */
export const DOH_CANARY_DOMAIN = 'use-application-dns.net';
/** Number of proxy IPs of each family per name. */
export const PROXY_IPS_PER_FAMILY = 4;

export function network(cidr: string): IpNetwork {
  const net = parseCidr(cidr);
  if (!net) throw new DnsError('INVALID_IP', `invalid network ${cidr}`);
  return net;
}
