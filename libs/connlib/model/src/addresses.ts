// Address ranges and size constants (DESIGN.md "Addresses"; Firezone's values, keep them).

export interface CidrRange {
  readonly address: string;
  readonly prefix: number;
  /** `address/prefix` */
  readonly cidr: string;
}

function range(address: string, prefix: number): CidrRange {
  return { address, prefix, cidr: `${address}/${prefix}` };
}

/** Tunnel IPs of clients and gateways. */
export const TUNNEL_IPV4_RANGE = range('100.64.0.0', 11);
export const TUNNEL_IPV6_RANGE = range('fd00:2021:1111::', 107);
/** Proxy IPs for DNS resources (4 v4 + 4 v6 per name). */
export const PROXY_IPV4_RANGE = range('100.96.0.0', 11);
export const PROXY_IPV6_RANGE = range('fd00:2021:1111:8000::', 107);
export const PROXY_IPS_PER_NAME = 4;
/** DNS sentinels (the OS resolver is pointed at these). */
export const DNS_SENTINEL_IPV4_RANGE = range('100.100.111.0', 24);
export const DNS_SENTINEL_IPV6_RANGE = range('fd00:2021:1111:8000:100:100:111:0', 120);
/** The gateway's in-tunnel DNS server listens on its tunnel IP at this port. */
export const GATEWAY_TUNNEL_DNS_PORT = 53535;

export const TUN_MTU = 1280;
export const WIREGUARD_OVERHEAD = 32;
export const TURN_CHANNEL_HEADER = 4;
/** TUN_MTU + WIREGUARD_OVERHEAD + TURN_CHANNEL_HEADER */
export const MAX_DATAGRAM = 1316;

/** Test underlay between network namespaces. */
export const TEST_UNDERLAY_RANGE = range('198.18.0.0', 15);

/** Phoenix channel paths on the portal. */
export const PORTAL_PATHS = {
  client: '/client/v2/websocket',
  gateway: '/gateway/v2/websocket',
  relay: '/relay/websocket',
} as const;
export type PortalRole = keyof typeof PORTAL_PATHS;

/** TURN realm (turn.md). */
export const TURN_REALM = 'firezone';
