// The gateway's DNS-resource NAT (sans-IO), built on @postern/dns: a client announces the proxy IPs it
// assigned to a name (assigned_ips), the gateway resolves the name itself (ResolveQueue; the IO shell runs
// the system resolver), maps each proxy IP to a real IP of the same family and answers domain_status. Then
// packets to proxy IPs are rewritten to the real IP through a symmetric NAT per client, keyed by protocol,
// port / ICMP echo id and IP, so that two names on one real IP stay separately authorised.
import { encodeP2pControl, IpProtocol, parseIp as parseIpBytes, TcpFlags, type IpPacket, type NatStatus } from '@postern/ip-packet';
import {
  DomainPattern,
  handleSiteQuery,
  mapProxyIps,
  NatTable,
  normalizeIp,
  ResolveQueue,
  SITE_DNS_PORT,
  type NatProtocol,
  type ResolveOutcome,
  type ResolveRequest,
} from '@postern/dns';
import { buildUdp } from '@postern/ip-packet';
import { PROXY_RANGES, inRanges } from '../ranges';
import type { GatewayDnsHook } from '../types';

/** Name resolution on the gateway: 10 s per name, 16 at once. */
export const GATEWAY_RESOLVE_TIMEOUT_MS = 10_000;
export const GATEWAY_RESOLVE_CONCURRENCY = 16;
/** Proxy-IP mappings kept per client (each name has at most 8). */
const MAX_PROXY_IPS_PER_CLIENT = 65_536;

interface ProxyTarget {
  /** Undefined for a proxy IP of a family the name has no address of (no NAT64): ICMP unreachable. */
  readonly real: string | undefined;
  readonly resourceIds: Set<string>;
}

interface ClientNat {
  readonly proxies: Map<string, ProxyTarget>;
  readonly table: NatTable;
}

interface Waiting {
  readonly clientId: string;
  readonly resourceId: string;
  readonly domain: string;
  readonly proxyIps: readonly string[];
}

/** A SRV/TXT query for the IO shell to send to the site's resolver; answer with `handleSiteAnswer(id, ...)`. */
export interface SiteQuery {
  readonly id: number;
  readonly query: Uint8Array;
}

interface SitePending {
  readonly clientId: string;
  readonly client: Uint8Array;
  readonly clientPort: number;
  readonly gateway: Uint8Array;
  readonly deadline: number;
}

/** How long a site query waits for the resolver. */
export const SITE_QUERY_TIMEOUT_MS = 10_000;
const MAX_SITE_PENDING = 1024;

/** A packet for a client: domain_status control packets and in-tunnel DNS answers. */
export interface ControlOut {
  readonly clientId: string;
  readonly packet: Uint8Array;
}

export class GatewayDns implements GatewayDnsHook {
  private readonly clients = new Map<string, ClientNat>();
  private readonly queue = new ResolveQueue({ maxConcurrent: GATEWAY_RESOLVE_CONCURRENCY, timeoutMs: GATEWAY_RESOLVE_TIMEOUT_MS });
  private readonly waiting = new Map<number, Waiting>();
  private readonly out: ControlOut[] = [];
  private readonly siteOut: SiteQuery[] = [];
  private readonly sitePending = new Map<number, SitePending>();
  private nextSiteId = 1;
  readonly drops: Record<string, number> = {};

  /**
   * A UDP packet from client `clientId` to the gateway's DNS port (53535): SRV/TXT of names of the DNS
   * resources in `patterns` (the client's live ones) go to the site's resolver; the rest is refused.
   */
  handleSiteQuery(clientId: string, p: IpPacket, patterns: readonly string[], now: number): void {
    const replyTo = { clientId, client: p.source(), clientPort: p.sourcePort ?? 0, gateway: p.destination() };
    const action = handleSiteQuery(p.transportPayload(), patterns);
    if (action.kind === 'drop') return;
    if (action.kind === 'respond') {
      this.siteReply(replyTo, action.response);
      return;
    }
    if (this.sitePending.size >= MAX_SITE_PENDING) {
      this.drop('siteQueriesFull');
      return;
    }
    const id = this.nextSiteId++;
    this.sitePending.set(id, { ...replyTo, deadline: now + SITE_QUERY_TIMEOUT_MS });
    this.siteOut.push({ id, query: action.query.slice() });
  }

  pollSiteQuery(): SiteQuery | undefined {
    return this.siteOut.shift();
  }

  /** The site resolver's answer (unchanged bytes), or undefined when it failed: SERVFAIL goes back. */
  handleSiteAnswer(id: number, response: Uint8Array | undefined, query: Uint8Array): void {
    const pending = this.sitePending.get(id);
    if (pending === undefined) return;
    this.sitePending.delete(id);
    this.siteReply(pending, response ?? servfailFor(query));
  }

  private siteReply(to: Omit<SitePending, 'deadline'>, response: Uint8Array): void {
    const packet = buildUdp({ source: to.gateway, destination: to.client, sourcePort: SITE_DNS_PORT, destinationPort: to.clientPort, payload: response });
    this.out.push({ clientId: to.clientId, packet });
  }

  /**
   * assigned_ips from a client for `domain` of resource `resourceId`. `pattern` is the resource's address if
   * the client is authorised for it (else undefined: Inactive at once).
   */
  handleAssignedIps(clientId: string, resourceId: string, domain: string, proxyIps: readonly string[], pattern: string | undefined, now: number): void {
    const name = domain.toLowerCase().replace(/\.$/, '');
    const valid = proxyIps.filter((ip) => isProxyIp(ip));
    if (pattern === undefined || DomainPattern.tryParse(pattern)?.matches(name) !== true || valid.length === 0) {
      this.drop('assignedIpsRefused');
      this.status(clientId, resourceId, domain, 'Inactive');
      return;
    }
    const ticket = this.queue.resolve(name, now);
    this.waiting.set(ticket, { clientId, resourceId, domain, proxyIps: valid });
    this.processEvents();
  }

  pollResolveRequest(now: number): ResolveRequest | undefined {
    return this.queue.pollRequest(now);
  }

  handleResolveResult(requestId: number, outcome: ResolveOutcome, now: number): void {
    this.queue.handleResult(requestId, outcome, now);
    this.processEvents();
  }

  /** domain_status packets for clients. */
  pollControl(): ControlOut | undefined {
    return this.out.shift();
  }

  /** The client is gone: its NAT with it. */
  forgetClient(clientId: string): void {
    this.clients.delete(clientId);
  }

  /** The client lost access to a resource: its proxy IPs no longer lead anywhere. */
  forgetResource(clientId: string, resourceId: string, now: number): void {
    const c = this.clients.get(clientId);
    if (c === undefined) return;
    const gone: string[] = [];
    for (const [ip, t] of c.proxies) {
      t.resourceIds.delete(resourceId);
      if (t.resourceIds.size === 0) gone.push(ip);
    }
    for (const ip of gone) c.proxies.delete(ip);
    c.table.removeProxyIps(gone, now);
  }

  // ---- GatewayDnsHook -------------------------------------------------------------------------------

  resourcesForProxyIp(clientId: string, p: IpPacket): readonly string[] {
    const t = this.clients.get(clientId)?.proxies.get(canonical(p.destinationText()));
    return t === undefined ? [] : [...t.resourceIds];
  }

  translateOutbound(clientId: string, p: IpPacket, now: number): boolean {
    const c = this.clients.get(clientId);
    const proxy = canonical(p.destinationText());
    const target = c?.proxies.get(proxy);
    const key = natKey(p, 'outbound');
    if (c === undefined || target?.real === undefined || key === undefined) return false;
    const r = c.table.translateOutbound({ protocol: key.protocol, port: key.port, ip: proxy }, target.real, now, tcpSignals(p));
    if (r.kind !== 'ok') {
      this.drop(`nat:${r.kind}`);
      return false;
    }
    // an existing flow keeps the address it started with, even after the name moved
    const real = parseIpBytes(r.outside.ip);
    if (real?.length !== p.addressLength) return false;
    p.setDestination(real);
    if (r.outside.port !== key.port) setNatPort(p, key.protocol, 'source', r.outside.port);
    return true;
  }

  translateInbound(clientId: string, p: IpPacket, now: number): boolean {
    const c = this.clients.get(clientId);
    if (c === undefined || c.table.size === 0) return false;
    if (p.isIcmpError()) return this.translateIcmpError(c, p, now);
    const key = natKey(p, 'inbound');
    if (key === undefined) return false;
    const r = c.table.translateInbound({ protocol: key.protocol, port: key.port, ip: p.sourceText() }, now, tcpSignals(p));
    if (r.kind !== 'ok') return false;
    const proxy = parseIpBytes(r.inside.ip);
    if (proxy?.length !== p.addressLength) return false;
    p.setSource(proxy);
    if (r.inside.port !== key.port) setNatPort(p, key.protocol, 'destination', r.inside.port);
    return true;
  }

  /**
   * An ICMP error about a NATed packet (e.g. port unreachable from the real host): the quoted packet gets its
   * proxy destination and inside port back, and the error comes from the proxy IP, so the client accepts it.
   */
  private translateIcmpError(c: ClientNat, p: IpPacket, now: number): boolean {
    const quote = p.icmpErrorQuote();
    if (quote instanceof Error) return false;
    const key = natKey(quote, 'outbound');
    if (key === undefined) return false;
    const r = c.table.translateInbound({ protocol: key.protocol, port: key.port, ip: quote.destinationText() }, now);
    if (r.kind !== 'ok') return false;
    const proxy = parseIpBytes(r.inside.ip);
    if (proxy?.length !== p.addressLength) return false;
    quote.setDestination(proxy);
    if (r.inside.port !== key.port) setNatPort(quote, key.protocol, 'source', r.inside.port);
    p.setSource(proxy);
    p.updateChecksums();
    return true;
  }

  // ---- time ----------------------------------------------------------------------------------------

  handleTimeout(now: number): void {
    this.queue.handleTimeout(now);
    for (const [id, q] of this.sitePending) if (now >= q.deadline) this.sitePending.delete(id);
    for (const c of this.clients.values()) {
      const due = c.table.pollTimeout();
      if (due !== undefined && due <= now) c.table.handleTimeout(now);
    }
    this.processEvents();
  }

  pollTimeout(): number | undefined {
    let t = this.queue.pollTimeout();
    const site = this.sitePending.values().next();
    if (site.done !== true && (t === undefined || site.value.deadline < t)) t = site.value.deadline;
    for (const c of this.clients.values()) {
      const d = c.table.pollTimeout();
      if (d !== undefined && (t === undefined || d < t)) t = d;
    }
    return t;
  }

  /** Live NAT mappings of a client (tests, diagnostics). */
  natEntries(clientId: string): ReturnType<NatTable['entries']> {
    return this.clients.get(clientId)?.table.entries() ?? [];
  }

  // ---- internals -----------------------------------------------------------------------------------

  private processEvents(): void {
    for (let ev = this.queue.pollEvent(); ev !== undefined; ev = this.queue.pollEvent()) {
      for (const ticket of ev.tickets) {
        const w = this.waiting.get(ticket);
        if (w === undefined) continue;
        this.waiting.delete(ticket);
        if (ev.kind === 'failed') {
          this.drop(`resolve:${ev.reason}`);
          this.status(w.clientId, w.resourceId, w.domain, 'Inactive');
          continue;
        }
        const mapping = mapProxyIps(w.proxyIps, ev.ips);
        if (mapping.size === 0) {
          this.status(w.clientId, w.resourceId, w.domain, 'Inactive');
          continue;
        }
        const c = this.client(w.clientId);
        for (const proxy of w.proxyIps.map(canonical)) {
          const real = mapping.get(proxy);
          if (c.proxies.size >= MAX_PROXY_IPS_PER_CLIENT && !c.proxies.has(proxy)) break;
          const prev = c.proxies.get(proxy);
          if (prev !== undefined && prev.real === real) prev.resourceIds.add(w.resourceId);
          else c.proxies.set(proxy, { real, resourceIds: new Set([w.resourceId]) });
        }
        this.status(w.clientId, w.resourceId, w.domain, 'Active');
      }
    }
  }

  private client(id: string): ClientNat {
    let c = this.clients.get(id);
    if (c === undefined) {
      c = { proxies: new Map(), table: new NatTable() };
      this.clients.set(id, c);
    }
    return c;
  }

  private status(clientId: string, resource: string, domain: string, status: NatStatus): void {
    this.out.push({ clientId, packet: encodeP2pControl({ type: 'domain_status', resource, domain, status }) });
  }

  private drop(reason: string): void {
    this.drops[reason] = (this.drops[reason] ?? 0) + 1;
  }
}

/** SERVFAIL with the query's id and question. */
function servfailFor(query: Uint8Array): Uint8Array {
  const b = query.slice();
  if (b.length < 12) return b;
  b[2] = 0x80 | ((b[2] ?? 0) & 0x01); // QR, RD kept
  b[3] = 0x80 | 2; // RA, SERVFAIL
  b.fill(0, 6, 12); // no answer, authority, additional records
  return b;
}

function canonical(ip: string): string {
  return normalizeIp(ip) ?? ip;
}

function isProxyIp(ip: string): boolean {
  const b = parseIpBytes(ip);
  return b !== undefined && inRanges(PROXY_RANGES, b, 0, b.length === 4 ? 4 : 6);
}

const ECHO_REQUEST = new Set([8, 128]);
const ECHO_REPLY = new Set([0, 129]);

/** The NAT key of a packet: TCP/UDP source port (outbound) or destination port (inbound), ICMP echo id. */
function natKey(p: IpPacket, dir: 'outbound' | 'inbound'): { protocol: NatProtocol; port: number } | undefined {
  if (!p.hasTransport || p.isFragment) return undefined;
  if (p.isTcp() || p.isUdp()) {
    const port = dir === 'outbound' ? p.sourcePort : p.destinationPort;
    return port === undefined ? undefined : { protocol: p.isTcp() ? 'tcp' : 'udp', port };
  }
  if (p.isIcmp()) {
    const type = p.icmpType ?? -1;
    if (!(dir === 'outbound' ? ECHO_REQUEST : ECHO_REPLY).has(type)) return undefined;
    const id = p.icmpIdentifier;
    return id === undefined ? undefined : { protocol: 'icmp', port: id };
  }
  return undefined;
}

function setNatPort(p: IpPacket, protocol: NatProtocol, which: 'source' | 'destination', port: number): void {
  if (protocol === 'icmp') p.setIcmpIdentifier(port);
  else if (which === 'source') p.setSourcePort(port);
  else p.setDestinationPort(port);
}

function tcpSignals(p: IpPacket): { fin: boolean; rst: boolean } {
  if (p.protocol !== IpProtocol.TCP) return { fin: false, rst: false };
  const f = p.tcpFlags ?? 0;
  return { fin: (f & TcpFlags.FIN) !== 0, rst: (f & TcpFlags.RST) !== 0 };
}

