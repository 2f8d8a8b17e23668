// ClientState (Firezone tunnel `ClientState`): sans-IO. Packets from the TUN are routed to a resource,
// checked against its filters, authorised through the portal (buffered meanwhile) and encrypted for the
// gateway that serves it; datagrams from gateways are decrypted, checked and handed to the TUN.
import { pathOf } from '../path';
import {
  buildDestinationUnreachable,
  buildUdp,
  cidrContainsAt,
  decodeP2pControl,
  ipEqualsAt,
  isP2pControl,
  parseIp,
  IpPacket,
  type IpAddrBytes,
} from '@postern/ip-packet';
import { decodeKey, type AuthorizationCreated, type ClientEgressMessage, type ClientIngressMessage, type ClientInterface } from '@postern/model';
import { Node, relayInfosFromPortal, type NetAddr, type NodeEvent, type Transmit } from '@postern/snownet';
import { FilterEngine } from '../filter';
import { inRanges, PEER_RANGES, PROXY_RANGES, SENTINEL_RANGES } from '../ranges';
import type { ClientDnsHook, ClientEvent, ClientStateConfig, DropCounters, ResourceView, TunConfig } from '../types';
import { ClientDns, type DnsForward, type DnsTransport } from '../dns/client-dns';
import { SITE_DNS_PORT, type DohError, type DohHttpResponse } from '@postern/dns';
import { ClientResources, needsNewAuthorization, toResource, type Resource } from './resources';

/** request_authorization is re-sent at most this often while traffic for the resource continues. */
export const REQUEST_AUTHORIZATION_INTERVAL_MS = 2_000;
const DEFAULT_MAX_BUFFERED = 128;

interface Gateway {
  readonly id: string;
  readonly siteId: string;
  readonly ipv4: IpAddrBytes | undefined;
  readonly ipv6: IpAddrBytes | undefined;
}

interface Authorization {
  readonly resourceId: string;
  readonly gatewayId: string;
}

interface Pending {
  lastSentAt: number;
  readonly packets: Uint8Array[];
}

export class ClientState {
  readonly publicKey: Uint8Array;
  private readonly node: Node;
  private readonly resources: ClientResources;
  private readonly gateways = new Map<string, Gateway>();
  private readonly authorizations = new Map<string, Authorization>();
  private readonly pending = new Map<string, Pending>();
  private readonly pendingCandidates = new Map<string, string[]>();
  private readonly connectedGateways = new Set<string>();
  private iface: ClientInterface | undefined;
  private ipv4: IpAddrBytes | undefined;
  private ipv6: IpAddrBytes | undefined;
  private readonly transmits: Transmit[] = [];
  private readonly tunWrites: Uint8Array[] = [];
  private readonly portal: ClientEgressMessage[] = [];
  private readonly events: ClientEvent[] = [];
  private readonly maxBuffered: number;
  private readonly view: IpPacket;
  readonly drops: DropCounters = {};
  /** DNS: sentinels, stub resolver, proxy-IP NAT set-up (`config.dns` replaces the sentinel/proxy lookups in tests). */
  readonly dns: ClientDns;
  private readonly dnsHook: ClientDnsHook;

  constructor(private readonly config: ClientStateConfig) {
    this.node = new Node({
      role: 'client',
      privateKey: config.privateKey,
      rng: config.rng,
      wallClockAtZero: config.wallClockAtZero,
      ...(config.idleTimeoutMs === undefined ? {} : { idleTimeout: config.idleTimeoutMs }),
      ...(config.handshakeTimeoutMs === undefined ? {} : { handshakeTimeout: config.handshakeTimeoutMs }),
      ...(config.persistentKeepaliveS === undefined ? {} : { persistentKeepalive: config.persistentKeepaliveS }),
    });
    this.publicKey = this.node.publicKey;
    this.dns = new ClientDns(config.rng, config.dnsRecords);
    this.dnsHook = config.dns ?? this.dns;
    this.dns.setSiteRouter((resourceId) => {
      const auth = this.authorizations.get(resourceId);
      const gw = auth === undefined ? undefined : this.gateways.get(auth.gatewayId);
      if (gw === undefined || !this.node.hasConnection(gw.id)) return undefined;
      if (gw.ipv4 !== undefined && this.ipv4 !== undefined) return { gatewayId: gw.id, source: this.ipv4, destination: gw.ipv4 };
      if (gw.ipv6 !== undefined && this.ipv6 !== undefined) return { gatewayId: gw.id, source: this.ipv6, destination: gw.ipv6 };
      return undefined;
    });
    this.resources = new ClientResources(config.internetResourceActive ?? false, this.dnsHook);
    this.maxBuffered = config.maxBufferedPackets ?? DEFAULT_MAX_BUFFERED;
    this.view = reusableView();
  }

  // ------------------------------------------------------------------------------------ inputs

  /**
   * One packet read from the TUN. Returns the encrypted datagram when it can leave at once (written into
   * `out` when given, else a buffer valid until the next call); everything else (ICMP answers, requests,
   * handshakes) waits in the poll queues.
   */
  handleTunPacket(packet: Uint8Array, now: number, out?: Uint8Array): Transmit | undefined {
    const p = this.view;
    if (p.reset(packet) !== undefined) { this.drop('malformed'); return; }
    const family = p.version;
    const off = p.destinationOffset;
    if (inRanges(SENTINEL_RANGES, p.bytes, off, family)) {
      const answer = this.dnsHook.handleSentinelPacket(p, now);
      if (answer !== undefined) this.tunWrites.push(answer);
      for (let q = this.dns.pollSiteQuery(); q !== undefined; q = this.dns.pollSiteQuery()) this.transmitTo(q.gatewayId, q.packet, now);
      return undefined;
    }
    if (inRanges(PEER_RANGES, p.bytes, off, family)) {
      const gw = this.gatewayByTunnelIp(p.bytes, off, family);
      if (gw === undefined || !this.node.hasConnection(gw.id)) { this.drop('noPeer'); return; }
      return this.send(gw.id, packet, now, out);
    }
    const resource = this.resources.route(p);
    if (resource === undefined) { this.drop('noRoute'); return; }
    if (!resource.engine.allows(p)) {
      this.icmp(p, 'prohibited');
      this.drop('filtered'); return;
    }
    const auth = this.authorizations.get(resource.id);
    if (auth === undefined || !this.node.hasConnection(auth.gatewayId)) {
      this.buffer(resource, packet, now);
      return undefined;
    }
    if (resource.type === 'dns' && !this.natReady(auth.gatewayId, resource.id, p, now)) return undefined;
    return this.send(auth.gatewayId, packet, now, out);
  }

  /** One datagram from the network. Returns the decrypted IP packet for the TUN (a view of `datagram`). */
  handleNetworkDatagram(from: NetAddr, datagram: Uint8Array, now: number): Uint8Array | undefined {
    const r = this.node.decapsulate(from, datagram, now);
    let result: Uint8Array | undefined;
    if (r.kind === 'packet') result = this.inbound(r.peerId, r.packet, now);
    else if (r.kind === 'drop') this.drop(`net:${r.reason}`);
    this.drainNode(now);
    return result;
  }

  handlePortalMessage(msg: ClientIngressMessage, now: number): void {
    switch (msg.event) {
      case 'init':
        this.setInterface(msg.payload.interface);
        this.replaceResources(msg.payload.resources.flatMap((r) => toResource(r) ?? []));
        this.node.setRelays(relayInfosFromPortal(msg.payload.relays), now);
        break;
      case 'relays_presence':
        this.node.updateRelays(msg.payload.disconnected_ids, relayInfosFromPortal(msg.payload.connected), now);
        break;
      case 'config_changed':
        this.setInterface(msg.payload.interface);
        break;
      case 'resource_created_or_updated': {
        const r = toResource(msg.payload);
        if (r !== undefined) this.upsertResource(r);
        break;
      }
      case 'resource_deleted':
        this.removeResource(msg.payload);
        break;
      case 'resource_filters_updated': {
        const r = this.resources.get(msg.payload.id);
        if (r !== undefined) this.resources.upsert({ ...r, filters: msg.payload.filters, engine: FilterEngine.from(msg.payload.filters) });
        break;
      }
      case 'authorization_created':
        this.authorizationCreated(msg.payload, now);
        break;
      case 'authorization_creation_failed':
        this.pending.delete(msg.payload.resource_id);
        this.events.push({ type: 'authorizationFailed', resourceId: msg.payload.resource_id, reason: msg.payload.reason });
        break;
      case 'reject_access':
        this.dns.forgetResource(msg.payload.resource_id);
        this.authorizations.delete(msg.payload.resource_id);
        this.pending.delete(msg.payload.resource_id);
        this.resourcesChanged();
        break;
      case 'gateway_ice_candidates':
        for (const c of msg.payload.candidates) this.addCandidate(msg.payload.gateway_id, c, now);
        break;
      case 'invalidate_gateway_ice_candidates':
        for (const c of msg.payload.candidates) this.node.removeRemoteCandidate(msg.payload.gateway_id, c, now);
        break;
      default:
        // relays (NAT traversal), client-to-client and device pools are later work
        break;
    }
    this.drainNode(now);
  }

  handleTimeout(now: number): void {
    this.node.handleTimeout(now);
    this.dns.handleTimeout(now);
    this.drainNode(now);
  }

  /** Network change: fresh connections (new handshakes), same authorisations. */
  reset(now: number): void {
    this.node.reset(now);
    this.connectedGateways.clear();
    for (const p of this.pending.values()) p.lastSentAt = Number.NEGATIVE_INFINITY;
    this.drainNode(now);
  }

  setInternetResourceActive(active: boolean): void {
    if (this.resources.internetActive === active) return;
    this.resources.internetActive = active;
    this.tunConfigChanged();
  }

  /** Local socket addresses: signalled to gateways as host candidates. */
  setLocalAddresses(addrs: readonly NetAddr[], now: number): void {
    this.node.setLocalAddresses(addrs);
    this.drainNode(now);
  }

  // ------------------------------------------------------------------------------------ outputs

  pollTransmit(): Transmit | undefined {
    return this.transmits.shift() ?? this.node.pollTransmit();
  }

  pollTunWrite(): Uint8Array | undefined {
    return this.tunWrites.shift() ?? this.dns.pollTunWrite();
  }

  /** A DNS query the IO shell sends to a real upstream from a socket that bypasses the tunnel. */
  pollDnsForward(): DnsForward | undefined {
    return this.dns.pollForward();
  }

  /** An upstream's answer to a forwarded query (the answer for the asker is queued for the TUN). */
  /** An upstream's answer; `transport` is how it came (an answer on the other transport than its query is dropped). */
  handleDnsUpstreamResponse(fromIp: string, fromPort: number, data: Uint8Array, now: number, transport?: DnsTransport): void {
    this.dns.handleUpstreamResponse(fromIp, fromPort, data, now, transport);
  }

  /** A forwarded query that will get no answer (TCP connection refused, closed or timed out): the asker hears now. */
  handleDnsUpstreamFailure(fromIp: string, fromPort: number, id: number, now: number): void {
    this.dns.handleUpstreamFailure(fromIp, fromPort, id, now);
  }

  /** The HTTP answer to DoH request `token` (a DnsForward with transport `https`); returns the error it was, if one. */
  handleDnsDohResponse(token: number, response: DohHttpResponse, now: number): DohError | undefined {
    return this.dns.handleDohResponse(token, response, now);
  }

  /** DoH request `token` failed in the IO shell: its asker gets SERVFAIL. */
  handleDnsDohFailure(token: number, error: DohError, now: number): void {
    this.dns.handleDohFailure(token, error, now);
  }

  /** The system's resolvers (read by the IO shell before DNS control rewrites them): upstreams when the portal gives none. */
  setSystemResolvers(servers: readonly string[]): void {
    if (this.dns.setUpstreams(undefined, servers)) this.tunConfigChanged();
  }

  pollPortalMessage(): ClientEgressMessage | undefined {
    return this.portal.shift();
  }

  pollEvent(): ClientEvent | undefined {
    for (let e = this.dns.stub.pollEvent(); e !== undefined; e = this.dns.stub.pollEvent()) this.events.push({ type: 'dnsRecordsChanged', records: e.records });
    return this.events.shift();
  }

  pollTimeout(): number | undefined {
    const a = this.node.pollTimeout();
    const b = this.dns.pollTimeout();
    return a === undefined ? b : b === undefined ? a : Math.min(a, b);
  }

  resourceViews(): ResourceView[] {
    return this.resources.views((r) => this.statusOf(r));
  }

  /** The gateway a resource is authorised through, if any. */
  gatewayFor(resourceId: string): string | undefined {
    return this.authorizations.get(resourceId)?.gatewayId;
  }

  // ------------------------------------------------------------------------------------ internals

  private drop(reason: string): undefined {
    this.drops[reason] = (this.drops[reason] ?? 0) + 1;
    return undefined;
  }

  private icmp(p: IpPacket, reason: 'prohibited' | 'network_unreachable'): void {
    const answer = buildDestinationUnreachable(p, reason);
    if (answer !== undefined) this.tunWrites.push(answer);
  }

  private send(gatewayId: string, packet: Uint8Array, now: number, out: Uint8Array | undefined): Transmit | undefined {
    const r = this.node.encapsulate(gatewayId, packet, now, out);
    return r.kind === 'transmit' ? r.transmit : undefined;
  }

  private buffer(resource: Resource, packet: Uint8Array, now: number): void {
    let p = this.pending.get(resource.id);
    if (p === undefined) {
      p = { lastSentAt: Number.NEGATIVE_INFINITY, packets: [] };
      this.pending.set(resource.id, p);
    }
    if (p.packets.length >= this.maxBuffered) {
      p.packets.shift();
      this.drop('bufferFull');
    }
    p.packets.push(packet.slice());
    if (now - p.lastSentAt >= REQUEST_AUTHORIZATION_INTERVAL_MS) {
      p.lastSentAt = now;
      this.portal.push({
        event: 'request_authorization',
        payload: { resource_id: resource.id, connected_gateway_ids: [...this.connectedGateways] },
      });
    }
  }

  private authorizationCreated(a: AuthorizationCreated, now: number): void {
    const resource = this.resources.get(a.resource_id);
    if (resource === undefined) return; // deleted meanwhile
    this.gateways.set(a.gateway_id, { id: a.gateway_id, siteId: a.site_id, ipv4: parseIp(a.gateway_ipv4), ipv6: parseIp(a.gateway_ipv6) });
    this.node.upsertConnection(
      a.gateway_id,
      {
        publicKey: decodeKey(a.gateway_public_key),
        presharedKey: decodeKey(a.preshared_key),
        localIceCredentials: a.client_ice_credentials,
        remoteIceCredentials: a.gateway_ice_credentials,
      },
      now,
    );
    for (const c of this.pendingCandidates.get(a.gateway_id) ?? []) this.node.addRemoteCandidate(a.gateway_id, c, now);
    this.pendingCandidates.delete(a.gateway_id);
    this.authorizations.set(a.resource_id, { resourceId: a.resource_id, gatewayId: a.gateway_id });
    const pending = this.pending.get(a.resource_id);
    this.pending.delete(a.resource_id);
    // Flushed in order: the connection queues them until its handshake completes.
    for (const packet of pending?.packets ?? []) {
      if (resource.type === 'dns' && !this.natReadyBytes(a.gateway_id, resource.id, packet, now)) continue;
      const r = this.node.encapsulate(a.gateway_id, packet, now);
      if (r.kind === 'transmit') this.transmits.push(copyTransmit(r.transmit));
    }
    this.resourcesChanged();
  }

  /** DNS resource traffic waits until the gateway has set up the NAT for the name (assigned_ips -> Active). */
  private natReady(gatewayId: string, resourceId: string, p: IpPacket, now: number): boolean {
    const g = this.dns.gate(gatewayId, resourceId, p, now);
    if (g.kind === 'send') {
      if (g.control !== undefined) this.transmitTo(gatewayId, g.control, now);
      return true;
    }
    if (g.kind === 'unreachable') {
      this.icmp(p, 'network_unreachable');
      this.drop('dnsInactive');
    } else if (g.control !== undefined) this.transmitTo(gatewayId, g.control, now);
    return false;
  }

  private natReadyBytes(gatewayId: string, resourceId: string, packet: Uint8Array, now: number): boolean {
    const p = IpPacket.parse(packet);
    return !(p instanceof Error) && this.natReady(gatewayId, resourceId, p, now);
  }

  private transmitTo(gatewayId: string, packet: Uint8Array, now: number): void {
    const r = this.node.encapsulate(gatewayId, packet, now);
    if (r.kind === 'transmit') this.transmits.push(copyTransmit(r.transmit));
  }

  private syncDnsResources(): void {
    const list = [...this.resources.all()].flatMap((r) => (r.type === 'dns' && r.address !== undefined ? [{ id: r.id, address: r.address, ipStack: r.ipStack }] : []));
    this.dns.setResources(list);
  }

  private addCandidate(gatewayId: string, candidate: string, now: number): void {
    if (this.node.hasConnection(gatewayId)) {
      this.node.addRemoteCandidate(gatewayId, candidate, now);
      return;
    }
    const list = this.pendingCandidates.get(gatewayId) ?? [];
    if (list.length < 32) list.push(candidate);
    this.pendingCandidates.set(gatewayId, list);
  }

  /** A packet from gateway `gatewayId`: control messages, anti-spoofing, then the TUN. */
  private inbound(gatewayId: string, packet: Uint8Array, now: number): Uint8Array | undefined {
    const p = this.view;
    if (p.reset(packet) !== undefined) { this.drop('malformedInbound'); return; }
    if (isP2pControl(p)) {
      const ev = decodeP2pControl(p);
      if (!(ev instanceof Error) && ev.type === 'goodbye') this.gatewayGone(gatewayId, 'goodbye', now);
      if (!(ev instanceof Error) && ev.type === 'domain_status') {
        for (const held of this.dns.handleDomainStatus(gatewayId, ev.resource, ev.domain, ev.status, now)) this.transmitTo(gatewayId, held, now);
      }
      return undefined;
    }
    if (!this.isOurAddress(p) || !this.allowedSource(gatewayId, p)) { this.drop('spoofedInbound'); return; }
    if (p.isUdp() && p.sourcePort === SITE_DNS_PORT && p.destinationPort === SITE_DNS_PORT && this.gatewayByTunnelIp(p.bytes, p.sourceOffset, p.version)?.id === gatewayId) {
      this.dns.handleSiteResponse(gatewayId, p.transportPayload(), now);
      return undefined;
    }
    return p.bytes;
  }

  private isOurAddress(p: IpPacket): boolean {
    const ours = p.version === 4 ? this.ipv4 : this.ipv6;
    return ours !== undefined && ipEqualsAt(ours, p.bytes, p.destinationOffset);
  }

  /** Sources a gateway may send from: its tunnel IP and the resources authorised through it. */
  private allowedSource(gatewayId: string, p: IpPacket): boolean {
    const family = p.version;
    const off = p.sourceOffset;
    const gw = this.gateways.get(gatewayId);
    const gwIp = family === 4 ? gw?.ipv4 : gw?.ipv6;
    if (gwIp !== undefined && ipEqualsAt(gwIp, p.bytes, off)) return true;
    for (const auth of this.authorizations.values()) {
      if (auth.gatewayId !== gatewayId) continue;
      const r = this.resources.get(auth.resourceId);
      if (r === undefined) continue;
      if (r.cidr !== undefined && cidrContainsAt(r.cidr, p.bytes, off, family)) return true;
      if (r.type === 'dns' && inRanges(PROXY_RANGES, p.bytes, off, family)) return true;
      if (r.type === 'internet' && r === this.resources.activeInternet() && !inRanges(PEER_RANGES, p.bytes, off, family)) return true;
    }
    return false;
  }

  private gatewayByTunnelIp(buf: Uint8Array, off: number, family: 4 | 6): Gateway | undefined {
    for (const gw of this.gateways.values()) {
      const ip = family === 4 ? gw.ipv4 : gw.ipv6;
      if (ip !== undefined && ipEqualsAt(ip, buf, off)) return gw;
    }
    return undefined;
  }

  private drainNode(now: number): void {
    for (let ev = this.node.pollEvent(); ev !== undefined; ev = this.node.pollEvent()) this.onNodeEvent(ev, now);
  }

  private onNodeEvent(ev: NodeEvent, now: number): void {
    switch (ev.type) {
      case 'connected':
        this.connectedGateways.add(ev.peerId);
        this.events.push({ type: 'gatewayConnected', gatewayId: ev.peerId, ...pathOf(this.node.stats(ev.peerId)) });
        this.resourcesChanged();
        break;
      case 'failed':
        this.gatewayGone(ev.peerId, ev.reason, now);
        break;
      case 'closed':
        break;
      case 'newIceCandidate':
        this.portal.push({ event: 'new_gateway_ice_candidates', payload: { gateway_id: ev.peerId, candidates: [ev.candidate] } });
        break;
      case 'invalidatedIceCandidate':
        this.portal.push({ event: 'invalidate_gateway_ice_candidates', payload: { gateway_id: ev.peerId, candidates: [ev.candidate] } });
        break;
    }
  }

  /** The gateway left (Goodbye) or its connection failed: forget it; the next packets ask the portal again (failover). */
  private gatewayGone(gatewayId: string, reason: string, _now: number): void {
    this.node.removeConnection(gatewayId);
    this.gateways.delete(gatewayId);
    this.connectedGateways.delete(gatewayId);
    this.pendingCandidates.delete(gatewayId);
    for (const [id, auth] of this.authorizations) if (auth.gatewayId === gatewayId) this.authorizations.delete(id);
    this.dns.forgetGateway(gatewayId);
    this.events.push({ type: 'gatewayDisconnected', gatewayId, reason });
    this.resourcesChanged();
  }

  private setInterface(iface: ClientInterface): void {
    this.iface = iface;
    this.ipv4 = parseIp(iface.ipv4);
    this.ipv6 = parseIp(iface.ipv6);
    this.dns.setUpstreams(
      iface.upstream_do53.map((u) => u.ip),
      undefined,
      iface.upstream_doh.map((u) => u.url),
    );
    this.dns.setSearchDomain(iface.search_domain ?? undefined);
    this.tunConfigChanged();
  }

  private replaceResources(list: Resource[]): void {
    const keep = new Set(list.map((r) => r.id));
    for (const r of [...this.resources.all()]) if (!keep.has(r.id)) this.forgetResource(r.id);
    for (const r of list) this.upsertResource(r, false);
    this.tunConfigChanged();
    this.resourcesChanged();
  }

  private upsertResource(r: Resource, notify = true): void {
    const prev = this.resources.upsert(r);
    if (prev !== undefined && needsNewAuthorization(prev, r)) {
      this.authorizations.delete(r.id);
      this.pending.delete(r.id);
      this.dns.forgetResource(r.id);
    }
    if (r.type === 'dns' || prev?.type === 'dns') this.syncDnsResources();
    if (notify) {
      this.tunConfigChanged();
      this.resourcesChanged();
    }
  }

  private removeResource(id: string): void {
    if (!this.forgetResource(id)) return;
    this.tunConfigChanged();
    this.resourcesChanged();
  }

  private forgetResource(id: string): boolean {
    this.authorizations.delete(id);
    this.pending.delete(id);
    this.dns.forgetResource(id);
    const gone = this.resources.remove(id);
    if (gone?.type === 'dns') this.syncDnsResources();
    return gone !== undefined;
  }

  private statusOf(r: Resource): ResourceView['status'] {
    const auth = this.authorizations.get(r.id);
    if (auth !== undefined) return this.connectedGateways.has(auth.gatewayId) ? 'connected' : 'connecting';
    return this.pending.has(r.id) ? 'connecting' : 'unknown';
  }

  private tunConfigChanged(): void {
    const iface = this.iface;
    if (iface === undefined) return;
    const config: TunConfig = {
      ipv4: iface.ipv4,
      ipv6: iface.ipv6,
      routes: this.resources.tunRoutes(),
      // The OS asks the sentinels; the stub resolver answers or forwards to the upstream behind each.
      upstreamDns: this.dns.sentinelIps,
      searchDomain: iface.search_domain ?? undefined,
    };
    this.events.push({ type: 'tunConfigChanged', config });
  }

  private resourcesChanged(): void {
    this.events.push({ type: 'resourcesChanged', resources: this.resourceViews() });
  }
}

function copyTransmit(t: Transmit): Transmit {
  return { src: t.src, dst: t.dst, payload: t.payload.slice() };
}

/** A reusable IpPacket view (re-pointed with `reset` for each packet). */
export function reusableView(): IpPacket {
  const seed = IpPacket.parse(buildUdp({ source: new Uint8Array(4), destination: new Uint8Array(4), sourcePort: 1, destinationPort: 1 }));
  if (seed instanceof Error) throw seed;
  return seed;
}
