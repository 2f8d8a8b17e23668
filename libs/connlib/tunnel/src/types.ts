// Public types of the tunnel states: configuration, events, and the DNS hooks (ClientDns / GatewayDns
// implement them; tests may pass their own).
import type { DnsResourceRecord } from '@postern/dns';
import type { IpPacket } from '@postern/ip-packet';
import type { Rng } from '@postern/wireguard';
import type { NetAddr, Transmit } from '@postern/snownet';
import type { PathInfo } from './path';

export type { DnsResourceRecord, NetAddr, Transmit, Rng };

export interface StateConfig {
  /** Our static X25519 private key (32 bytes); its public key is what we announce to the portal. */
  readonly privateKey: Uint8Array;
  readonly rng: Rng;
  /**
   * Wall-clock ms since the Unix epoch at `now = 0` (`Date.now() - performance.now()` in the IO shell):
   * converts the portal's `expires_at` and WireGuard timestamps. Sans-IO code never reads the clock.
   */
  readonly wallClockAtZero: number;
  /** snownet tuning (tests shorten them). */
  readonly idleTimeoutMs?: number;
  readonly handshakeTimeoutMs?: number;
  readonly persistentKeepaliveS?: number;
}

export interface ClientStateConfig extends StateConfig {
  /** Packets buffered per resource while its connection is being set up; default 128 (oldest dropped). */
  readonly maxBufferedPackets?: number;
  /** Start with the Internet resource active (`--activate-internet-resource`). */
  readonly internetResourceActive?: boolean;
  readonly dns?: ClientDnsHook;
  /**
   * DNS resource records of an earlier session in this process (the last `dnsRecordsChanged`): their names keep
   * their proxy IPs, so an application that resolved a name before a sign-out (or a new session) still reaches it.
   */
  readonly dnsRecords?: readonly DnsResourceRecord[];
}

export interface GatewayStateConfig extends StateConfig {
  readonly dns?: GatewayDnsHook;
}

/** What the client knows of a resource (for UIs and the model test). */
export interface ResourceView {
  readonly id: string;
  readonly type: 'cidr' | 'dns' | 'internet';
  readonly name: string;
  readonly address: string | undefined;
  readonly siteIds: readonly string[];
  /** `connected` once authorised through a connected gateway. */
  readonly status: 'unknown' | 'connecting' | 'connected';
}

/** Interface settings the IO shell applies (TUN addresses, routes, DNS). */
export interface TunConfig {
  readonly ipv4: string;
  readonly ipv6: string;
  /** Routes (CIDR strings) the TUN must carry: resources, peer ranges, proxy/sentinel ranges, default routes when the Internet resource is active. */
  readonly routes: readonly string[];
  /** The DNS servers the OS should use: our sentinels, one per real upstream (portal Do53, else the system's). */
  readonly upstreamDns: readonly string[];
  readonly searchDomain: string | undefined;
}

export type ClientEvent =
  | { readonly type: 'tunConfigChanged'; readonly config: TunConfig }
  | { readonly type: 'resourcesChanged'; readonly resources: readonly ResourceView[] }
  /** `path`: the ICE pair in use (`host`, `srflx` or `relay`; undefined without ICE); `via`: the pair, ours -> theirs; `relayId`: our relay. */
  | ({ readonly type: 'gatewayConnected'; readonly gatewayId: string } & PathInfo)
  | { readonly type: 'gatewayDisconnected'; readonly gatewayId: string; readonly reason: string }
  | { readonly type: 'authorizationFailed'; readonly resourceId: string; readonly reason: string }
  /** The names resolved to proxy IPs changed (a full snapshot): keep it to seed the next session (`dnsRecords`). */
  | { readonly type: 'dnsRecordsChanged'; readonly records: readonly DnsResourceRecord[] };

export type GatewayEvent =
  | ({ readonly type: 'clientConnected'; readonly clientId: string } & PathInfo)
  | { readonly type: 'clientDisconnected'; readonly clientId: string; readonly reason: string }
  | { readonly type: 'accessExpired'; readonly clientId: string; readonly resourceId: string };

/** Counters of what the states dropped and why (cheap, for metrics and tests). */
export type DropCounters = Record<string, number>;

/**
 * DNS on the client (ClientDns by default): queries to the sentinels go to the stub resolver; DNS
 * resources are reached through proxy IPs.
 */
export interface ClientDnsHook {
  /** A packet to a DNS sentinel IP: return an answer to write to the TUN, or undefined to drop it. */
  handleSentinelPacket(packet: IpPacket, now: number): Uint8Array | undefined;
  /** The DNS resource a proxy IP stands for, if any. */
  resourceForProxyIp(packet: IpPacket): string | undefined;
}

/** DNS on the gateway (GatewayDns by default): which of the client's DNS resources a proxy destination is, and the NAT. */
export interface GatewayDnsHook {
  /** Resource ids whose proxy IPs include the packet's destination (for this client). */
  resourcesForProxyIp(clientId: string, packet: IpPacket): readonly string[];
  /** Rewrite proxy destination -> real IP in place (NAT); false to drop. */
  translateOutbound(clientId: string, packet: IpPacket, now: number): boolean;
  /** Rewrite real source -> proxy IP in place for replies; false when the packet is no NAT reply. */
  translateInbound(clientId: string, packet: IpPacket, now: number): boolean;
}
