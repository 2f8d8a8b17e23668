// The client's resources (from the portal) and the routing they imply: CIDR resources by longest prefix,
// DNS resources through proxy IPs (DNS hook), the Internet resource last and only when activated.
import { formatCidr, parseCidr, type Cidr, type IpPacket } from '@postern/ip-packet';
import type { ClientResource, Filters } from '@postern/model';
import { FilterEngine } from '../filter';
import { DEFAULT_ROUTES, PEER_RANGES, PROXY_RANGES, SENTINEL_RANGES } from '../ranges';
import { RouteTable } from '../routing';
import type { ClientDnsHook, ResourceView } from '../types';

export interface Resource {
  readonly id: string;
  readonly type: 'cidr' | 'dns' | 'internet';
  readonly name: string;
  readonly address: string | undefined;
  readonly cidr: Cidr | undefined;
  readonly siteIds: readonly string[];
  filters: Filters;
  engine: FilterEngine;
  /** DNS resources: the address families their proxy IPs are handed out for. */
  readonly ipStack: 'dual' | 'ipv4_only' | 'ipv6_only';
}

/** Resource types the client routes; device pools are for client-to-client (not built yet). */
export function toResource(r: ClientResource): Resource | undefined {
  switch (r.type) {
    case 'cidr': {
      const cidr = parseCidr(r.address);
      if (cidr === undefined) return undefined;
      return { id: r.id, type: 'cidr', name: r.name, address: r.address, cidr, siteIds: r.sites.map((s) => s.id), filters: r.filters, engine: FilterEngine.from(r.filters), ipStack: 'dual' };
    }
    case 'dns':
      return { id: r.id, type: 'dns', name: r.name, address: r.address, cidr: undefined, siteIds: r.sites.map((s) => s.id), filters: r.filters, engine: FilterEngine.from(r.filters), ipStack: r.ip_stack };
    case 'internet':
      return { id: r.id, type: 'internet', name: r.name, address: undefined, cidr: undefined, siteIds: r.sites.map((s) => s.id), filters: [], engine: FilterEngine.PERMIT_ALL, ipStack: 'dual' };
    default:
      return undefined;
  }
}

/** Whether a change of the resource invalidates its authorisation (address or sites differ). */
export function needsNewAuthorization(a: Resource, b: Resource): boolean {
  return a.type !== b.type || a.address !== b.address || a.ipStack !== b.ipStack || a.siteIds.length !== b.siteIds.length || a.siteIds.some((s, i) => b.siteIds[i] !== s);
}

export class ClientResources {
  private readonly byId = new Map<string, Resource>();
  private readonly table = new RouteTable<Resource>();
  private internet: Resource | undefined;
  internetActive: boolean;

  constructor(internetActive: boolean, private readonly dns: ClientDnsHook | undefined) {
    this.internetActive = internetActive;
  }

  get(id: string): Resource | undefined {
    return this.byId.get(id);
  }

  all(): IterableIterator<Resource> {
    return this.byId.values();
  }

  /** Adds or replaces; returns the previous version. */
  upsert(r: Resource): Resource | undefined {
    const prev = this.byId.get(r.id);
    this.byId.set(r.id, r);
    this.rebuild();
    return prev;
  }

  remove(id: string): Resource | undefined {
    const prev = this.byId.get(id);
    if (prev === undefined) return undefined;
    this.byId.delete(id);
    this.rebuild();
    return prev;
  }

  private rebuild(): void {
    const routes: { cidr: Cidr; value: Resource }[] = [];
    this.internet = undefined;
    for (const r of this.byId.values()) {
      if (r.cidr !== undefined) routes.push({ cidr: r.cidr, value: r });
      // Several Internet resources: the one with the highest id wins (deterministic).
      if (r.type === 'internet' && (this.internet === undefined || r.id > this.internet.id)) this.internet = r;
    }
    // Overlapping CIDR resources of equal prefix: the highest id wins (Firezone's tie rule).
    routes.sort((a, b) => (a.value.id < b.value.id ? 1 : a.value.id > b.value.id ? -1 : 0));
    this.table.replace(routes);
  }

  /** The resource a packet to `packet.destination` belongs to: DNS proxy IP, longest CIDR prefix, then the Internet resource. */
  route(packet: IpPacket): Resource | undefined {
    const family = packet.version;
    const off = packet.destinationOffset;
    if (this.dns !== undefined) {
      const id = this.dns.resourceForProxyIp(packet);
      if (id !== undefined) return this.byId.get(id);
    }
    const hit = this.table.lookupAt(packet.bytes, off, family);
    if (hit !== undefined) return hit.value;
    return this.internetActive ? this.internet : undefined;
  }

  /** Internet resource currently routed (active). */
  activeInternet(): Resource | undefined {
    return this.internetActive ? this.internet : undefined;
  }

  /** Routes for the TUN: resources, peer, proxy and sentinel ranges, default routes when the Internet resource is active. */
  tunRoutes(): string[] {
    const set = new Set<string>();
    for (const c of [...PEER_RANGES, ...PROXY_RANGES, ...SENTINEL_RANGES]) set.add(formatCidr(c));
    for (const r of this.table.routes()) set.add(formatCidr(r.cidr));
    if (this.activeInternet() !== undefined) for (const c of DEFAULT_ROUTES) set.add(formatCidr(c));
    return [...set];
  }

  views(status: (r: Resource) => ResourceView['status']): ResourceView[] {
    return [...this.byId.values()].map((r) => ({ id: r.id, type: r.type, name: r.name, address: r.address, siteIds: r.siteIds, status: status(r) }));
  }
}
