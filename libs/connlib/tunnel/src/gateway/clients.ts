// What a gateway knows of one client: its tunnel IPs and the resources it may reach, each with filters and
// an optional expiry (monotonic ms).
import { cidrContainsAt, parseCidr, type Cidr, type IpAddrBytes, type IpPacket } from '@postern/ip-packet';
import type { GatewayResource } from '@postern/model';
import { FilterEngine } from '../filter';
import { inRanges, isForbiddenInternetDestination, PEER_RANGES } from '../ranges';
import type { GatewayDnsHook } from '../types';

export interface AuthorizedResource {
  readonly id: string;
  readonly type: 'cidr' | 'dns' | 'internet';
  readonly cidr: Cidr | undefined;
  /** DNS resources: the address pattern (`**.corp.internal`) the names a client asks about must match. */
  readonly address?: string;
  engine: FilterEngine;
  expiresAt: number | undefined;
}

export function toAuthorized(r: GatewayResource, expiresAt: number | undefined): AuthorizedResource {
  switch (r.type) {
    case 'cidr':
      return { id: r.id, type: 'cidr', cidr: parseCidr(r.address), engine: FilterEngine.from(r.filters), expiresAt };
    case 'dns':
      return { id: r.id, type: 'dns', cidr: undefined, address: r.address, engine: FilterEngine.from(r.filters), expiresAt };
    case 'internet':
      return { id: r.id, type: 'internet', cidr: undefined, engine: FilterEngine.PERMIT_ALL, expiresAt };
  }
}

/** The outcome of checking a packet from a client against its resources. */
export type OutboundVerdict =
  | 'allow'
  /** Allowed through a DNS resource: the proxy destination must be NATed. */
  | 'allowNat'
  /** A resource covers the destination but its filters refuse the packet: ICMP prohibited. */
  | 'filtered'
  /** Only the Internet resource could carry it and the destination is private/reserved: ICMP network unreachable. */
  | 'forbiddenDestination'
  /** No resource covers the destination. */
  | 'notAllowed';

export class ClientOnGateway {
  readonly resources = new Map<string, AuthorizedResource>();

  constructor(
    readonly id: string,
    public ipv4: IpAddrBytes | undefined,
    public ipv6: IpAddrBytes | undefined,
  ) {}

  isLive(r: AuthorizedResource, now: number): boolean {
    return r.expiresAt === undefined || now < r.expiresAt;
  }

  /** Source anti-spoofing: the packet must come from the client's tunnel IP. */
  sourceIsClient(p: IpPacket): boolean {
    const ip = p.version === 4 ? this.ipv4 : this.ipv6;
    return ip !== undefined && p.sourceEquals(ip);
  }

  /** Allowed if ANY live resource covering the destination permits it (Firezone's per-resource filters). */
  checkOutbound(p: IpPacket, now: number, dns: GatewayDnsHook | undefined): OutboundVerdict {
    const family = p.version;
    const off = p.destinationOffset;
    let covered = false;
    let forbidden = false;
    let proxyIds: readonly string[] | undefined;
    for (const r of this.resources.values()) {
      if (!this.isLive(r, now)) continue;
      switch (r.type) {
        case 'cidr':
          if (r.cidr === undefined || !cidrContainsAt(r.cidr, p.bytes, off, family)) continue;
          break;
        case 'dns':
          proxyIds ??= dns?.resourcesForProxyIp(this.id, p) ?? [];
          if (!proxyIds.includes(r.id)) continue;
          if (r.engine.allows(p)) return 'allowNat';
          covered = true;
          continue;
        case 'internet':
          // never to private/reserved ranges, nor to proxy IPs (DNS resources keep their own filters)
          if (isForbiddenInternetDestination(p.bytes, off, family)) {
            forbidden = true;
            continue;
          }
          break;
      }
      covered = true;
      if (r.engine.allows(p)) return 'allow';
    }
    if (covered) return 'filtered';
    return forbidden ? 'forbiddenDestination' : 'notAllowed';
  }

  /** Inbound (resource -> client): the source must belong to one of the client's live resources. */
  allowsInboundSource(p: IpPacket, now: number): boolean {
    const family = p.version;
    const off = p.sourceOffset;
    for (const r of this.resources.values()) {
      if (!this.isLive(r, now)) continue;
      if (r.type === 'cidr' && r.cidr !== undefined && cidrContainsAt(r.cidr, p.bytes, off, family)) return true;
      if (r.type === 'internet' && !isForbiddenInternetDestination(p.bytes, off, family) && !inRanges(PEER_RANGES, p.bytes, off, family)) return true;
    }
    return false;
  }

  /** Removes expired resources; returns their ids. */
  expire(now: number): string[] {
    const gone: string[] = [];
    for (const r of this.resources.values()) if (!this.isLive(r, now)) gone.push(r.id);
    for (const id of gone) this.resources.delete(id);
    return gone;
  }

  nextExpiry(): number | undefined {
    let t: number | undefined;
    for (const r of this.resources.values()) if (r.expiresAt !== undefined && (t === undefined || r.expiresAt < t)) t = r.expiresAt;
    return t;
  }
}
