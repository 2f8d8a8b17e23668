// TurnServer configuration with Firezone's defaults (turn.md).
import { parseIp } from '@postern/stun';
import { RelayProtoError } from './errors';
import type { Cidr } from './peer-policy';

export interface TurnServerConfig {
  /** Public IPv4 address put into XOR-RELAYED-ADDRESS; at least one of the two. */
  readonly publicIp4?: string | undefined;
  readonly publicIp6?: string | undefined;
  /** Relayed port range (inclusive); default 49152-65535. */
  readonly lowestPort?: number;
  readonly highestPort?: number;
  /** Default `firezone`. */
  readonly realm?: string;
  /** SOFTWARE attribute of responses; default `postern-relay`. */
  readonly software?: string;
  /** Firezone stamp secret (hex string, used as text); may be set later with setStampSecret. */
  readonly stampSecret?: string | undefined;
  /** Static long-term users name -> password (coturn `--user`). */
  readonly staticUsers?: ReadonlyMap<string, string> | undefined;
  /** coturn REST shared secret (`--use-auth-secret --static-auth-secret`). */
  readonly restSecret?: string | undefined;
  /** Unix time in ms at `now = 0` (so that username expiries can be checked); default 0. */
  readonly epochMs?: number;
  /** Allocation lifetime: default 600 s, max 3600 s. */
  readonly defaultLifetimeSecs?: number;
  readonly maxLifetimeSecs?: number;
  /** Channel binding lifetime 600 s; its number/peer stay reserved 300 s after expiry. */
  readonly channelLifetimeSecs?: number;
  readonly channelReuseGuardSecs?: number;
  /** Permission lifetime 300 s. */
  readonly permissionLifetimeSecs?: number;
  /** Requests a nonce serves before it is stale; default 10000 (Firezone). */
  readonly nonceUses?: number;
  /** Per-allocation limits. */
  readonly maxPermissionsPerAllocation?: number;
  readonly maxChannelsPerAllocation?: number;
  /** Total allocations; default the size of the port range. */
  readonly maxAllocations?: number;
  /**
   * Allocations one client IP address may hold at once (486 Allocation Quota Reached beyond), so that one host
   * cannot take the whole port range from the others. Default: three quarters of maxAllocations (at least 1), so
   * a quarter always stays for other hosts while many clients behind one NAT still fit.
   */
  readonly maxAllocationsPerIp?: number;
  /**
   * One allocation per username, a new one replacing the old (roaming): `firezone` (default) applies it to
   * Firezone-credential usernames only, since coturn-style static users share a name between many clients.
   */
  readonly oneAllocationPerUsername?: 'firezone' | 'all' | 'none';
  /**
   * Highest channel number accepted: 0x4FFF (RFC 8656, Firezone; default) or 0x7FFF (RFC 5766, which coturn's
   * turnutils_uclient still uses).
   */
  readonly lastChannel?: number;
  /** Peers allowed even if special (e.g. loopback for tests), and extra denied ranges. */
  readonly allowedPeers?: readonly Cidr[];
  readonly deniedPeers?: readonly Cidr[];
}

export type ResolvedConfig = Required<Omit<TurnServerConfig, 'publicIp4' | 'publicIp6' | 'stampSecret' | 'staticUsers' | 'restSecret'>> &
  Pick<TurnServerConfig, 'publicIp4' | 'publicIp6' | 'stampSecret' | 'staticUsers' | 'restSecret'>;

export function resolveConfig(c: TurnServerConfig): ResolvedConfig {
  if (c.publicIp4 === undefined && c.publicIp6 === undefined) throw new RelayProtoError('BAD_CONFIG', 'need a public IPv4 or IPv6 address');
  if (c.publicIp4 !== undefined && parseIp(c.publicIp4)?.family !== 4) throw new RelayProtoError('BAD_CONFIG', `not an IPv4 address: ${c.publicIp4}`);
  if (c.publicIp6 !== undefined && parseIp(c.publicIp6)?.family !== 6) throw new RelayProtoError('BAD_CONFIG', `not an IPv6 address: ${c.publicIp6}`);
  const lowestPort = c.lowestPort ?? 49152;
  const highestPort = c.highestPort ?? 65535;
  if (!Number.isInteger(lowestPort) || !Number.isInteger(highestPort) || lowestPort < 1 || highestPort > 65535 || lowestPort > highestPort) {
    throw new RelayProtoError('BAD_CONFIG', `bad port range ${lowestPort}-${highestPort}`);
  }
  const maxAllocations = c.maxAllocations ?? highestPort - lowestPort + 1;
  if (c.maxAllocationsPerIp !== undefined && (!Number.isInteger(c.maxAllocationsPerIp) || c.maxAllocationsPerIp < 1)) {
    throw new RelayProtoError('BAD_CONFIG', `bad maxAllocationsPerIp ${c.maxAllocationsPerIp}`);
  }
  return {
    publicIp4: c.publicIp4,
    publicIp6: c.publicIp6,
    lowestPort,
    highestPort,
    realm: c.realm ?? 'firezone',
    software: c.software ?? 'postern-relay',
    stampSecret: c.stampSecret,
    staticUsers: c.staticUsers,
    restSecret: c.restSecret,
    epochMs: c.epochMs ?? 0,
    defaultLifetimeSecs: c.defaultLifetimeSecs ?? 600,
    maxLifetimeSecs: c.maxLifetimeSecs ?? 3600,
    channelLifetimeSecs: c.channelLifetimeSecs ?? 600,
    channelReuseGuardSecs: c.channelReuseGuardSecs ?? 300,
    permissionLifetimeSecs: c.permissionLifetimeSecs ?? 300,
    nonceUses: c.nonceUses ?? 10_000,
    maxPermissionsPerAllocation: c.maxPermissionsPerAllocation ?? 1024,
    maxChannelsPerAllocation: c.maxChannelsPerAllocation ?? 4096,
    maxAllocations,
    maxAllocationsPerIp: c.maxAllocationsPerIp ?? Math.max(1, maxAllocations - Math.floor(maxAllocations / 4)),
    oneAllocationPerUsername: c.oneAllocationPerUsername ?? 'firezone',
    lastChannel: c.lastChannel ?? 0x4fff,
    allowedPeers: c.allowedPeers ?? [],
    deniedPeers: c.deniedPeers ?? [],
  };
}
