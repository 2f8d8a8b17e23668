// Public types and constants of tun_device_manager.
import type { Logger } from 'pino';

/** SO_MARK put on Postern's own UDP sockets; the policy rules send marked packets around Postern's table. */
export const POSTERN_FWMARK = 0x7073_2021;
/** Postern's own routing table. */
export const POSTERN_ROUTE_TABLE = 0x2021_7073;
/** Priority of the `not fwmark POSTERN_FWMARK lookup POSTERN_ROUTE_TABLE` rule (before main at 32766). */
export const POSTERN_RULE_PRIORITY = 32_765;

/** An IP network in CIDR notation parts. */
export interface IpNetwork {
  readonly address: string;
  readonly prefix: number;
}

export interface TunDeviceManagerOptions {
  readonly tunName: string;
  /** Default 1280. */
  readonly mtu?: number;
  readonly logger?: Logger;
  /** Open the netlink socket inside this network namespace (path such as /run/netns/x); for tests. */
  readonly netnsPath?: string;
}

export interface SetIpsResult {
  /** False when the kernel has no IPv6 (EOPNOTSUPP and friends): the device runs IPv4-only. */
  readonly ipv6: boolean;
}
