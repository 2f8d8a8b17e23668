// GatewayState (Firezone tunnel `GatewayState`): sans-IO. Datagrams from clients are decrypted, checked
// (anti-spoofing, resource, filters, expiry, destination class) and handed to the TUN; packets from the TUN
// go back only to a client whose resources they come from.
import { pathOf } from '../path';
import {
  buildDestinationUnreachable,
  decodeP2pControl,
  encodeP2pControl,
  ipEqualsAt,
  ipv4ToU32,
  isP2pControl,
  parseIp,
  type IpAddrBytes,
  type IpPacket,
} from '@postern/ip-packet';
import { decodeKey, type CreateAuthorization, type GatewayEgressMessage, type GatewayIngressMessage, type GatewayResource } from '@postern/model';
import { Node, relayInfosFromPortal, type NetAddr, type NodeEvent, type Transmit } from '@postern/snownet';
import { reusableView } from '../client/state';
import { FilterEngine } from '../filter';
import type { DropCounters, GatewayDnsHook, GatewayEvent, GatewayStateConfig } from '../types';
import { GatewayDns, type SiteQuery } from '../dns/gateway-dns';
import { SITE_DNS_PORT, type ResolveOutcome, type ResolveRequest } from '@postern/dns';
import { ClientOnGateway, toAuthorized } from './clients';

export class GatewayState {
  readonly publicKey: Uint8Array;
  private readonly node: Node;
  private readonly clients = new Map<string, ClientOnGateway>();
  private readonly byIpv4 = new Map<number, ClientOnGateway>();
  /** Keyed by the low 32 bits of the IPv6 address (no allocation per lookup); full compare after. */
  private readonly byIpv6 = new Map<number, ClientOnGateway[]>();
  private ipv4: IpAddrBytes | undefined;
  private ipv6: IpAddrBytes | undefined;
  private readonly transmits: Transmit[] = [];
  private readonly tunWrites: Uint8Array[] = [];
  private readonly portal: GatewayEgressMessage[] = [];
  private readonly events: GatewayEvent[] = [];
  private readonly view: IpPacket;
  private shuttingDown = false;
  readonly drops: DropCounters = {};
  /** DNS resources: name resolution and the proxy-IP NAT (`config.dns` replaces the NAT in tests). */
  readonly dns = new GatewayDns();
  private readonly dnsHook: GatewayDnsHook;

  constructor(private readonly config: GatewayStateConfig) {
    this.node = new Node({
      role: 'gateway',
      privateKey: config.privateKey,
      rng: config.rng,
      wallClockAtZero: config.wallClockAtZero,
      ...(config.idleTimeoutMs === undefined ? {} : { idleTimeout: config.idleTimeoutMs }),
      ...(config.handshakeTimeoutMs === undefined ? {} : { handshakeTimeout: config.handshakeTimeoutMs }),
      ...(config.persistentKeepaliveS === undefined ? {} : { persistentKeepalive: config.persistentKeepaliveS }),
    });
    this.publicKey = this.node.publicKey;
    this.view = reusableView();
    this.dnsHook = config.dns ?? this.dns;
  }

  // ------------------------------------------------------------------------------------ inputs

  /** One packet from the TUN (a resource answering): encrypted for its client, or dropped. */
  handleTunPacket(packet: Uint8Array, now: number, out?: Uint8Array): Transmit | undefined {
    const p = this.view;
    if (p.reset(packet) !== undefined) { this.drop('malformed'); return; }
    const client = this.clientByDestination(p);
    if (client === undefined) { this.drop('noClient'); return; }
    const fromGateway = this.isGatewayAddress(p, p.sourceOffset);
    if (!fromGateway) {
      const natted = this.dnsHook.translateInbound(client.id, p, now);
      if (!natted && !client.allowsInboundSource(p, now)) { this.drop('inboundNotAllowed'); return; }
    }
    const r = this.node.encapsulate(client.id, p.bytes, now, out);
    return r.kind === 'transmit' ? r.transmit : undefined;
  }

  /** One datagram from the network: the decrypted, checked packet for the TUN (a view of `datagram`). */
  handleNetworkDatagram(from: NetAddr, datagram: Uint8Array, now: number): Uint8Array | undefined {
    const r = this.node.decapsulate(from, datagram, now);
    let result: Uint8Array | undefined;
    if (r.kind === 'packet') result = this.outbound(r.peerId, r.packet, now);
    else if (r.kind === 'drop') this.drop(`net:${r.reason}`);
    this.drainNode(now);
    return result;
  }

  handlePortalMessage(msg: GatewayIngressMessage, now: number): void {
    switch (msg.event) {
      case 'init':
        this.ipv4 = parseIp(msg.payload.interface.ipv4);
        this.ipv6 = parseIp(msg.payload.interface.ipv6);
        this.node.setRelays(relayInfosFromPortal(msg.payload.relays), now);
        break;
      case 'relays_presence':
        this.node.updateRelays(msg.payload.disconnected_ids, relayInfosFromPortal(msg.payload.connected), now);
        break;
      case 'create_authorization':
        this.createAuthorization(msg.payload, now);
        break;
      case 'ice_candidates':
        for (const c of msg.payload.candidates) this.node.addRemoteCandidate(msg.payload.client_id, c, now);
        break;
      case 'invalidate_ice_candidates':
        for (const c of msg.payload.candidates) this.node.removeRemoteCandidate(msg.payload.client_id, c, now);
        break;
      case 'reject_access':
        this.clients.get(msg.payload.client_id)?.resources.delete(msg.payload.resource_id);
        this.dns.forgetResource(msg.payload.client_id, msg.payload.resource_id, now);
        break;
      case 'resource_updated':
        this.resourceUpdated(msg.payload);
        break;
      case 'access_authorization_expiry_updated': {
        const r = this.clients.get(msg.payload.client_id)?.resources.get(msg.payload.resource_id);
        if (r !== undefined) r.expiresAt = this.toMonotonic(msg.payload.expires_at);
        this.expire(now);
        break;
      }
      default:
        break;
    }
    this.drainNode(now);
  }

  handleTimeout(now: number): void {
    this.node.handleTimeout(now);
    this.expire(now);
    this.dns.handleTimeout(now);
    this.drainDns(now);
    this.drainNode(now);
  }

  /** A name the IO shell resolves with the system resolver, then reports with `handleResolveResult`. */
  pollResolveRequest(now: number): ResolveRequest | undefined {
    return this.dns.pollResolveRequest(now);
  }

  handleResolveResult(requestId: number, outcome: ResolveOutcome, now: number): void {
    this.dns.handleResolveResult(requestId, outcome, now);
    this.drainDns(now);
  }

  /** A SRV/TXT query (in-tunnel DNS on port 53535) the IO shell sends to the site's resolver. */
  pollSiteQuery(): SiteQuery | undefined {
    return this.dns.pollSiteQuery();
  }

  /** The resolver's answer to a site query (undefined: failed or timed out). */
  handleSiteAnswer(id: number, response: Uint8Array | undefined, query: Uint8Array, now: number): void {
    this.dns.handleSiteAnswer(id, response, query);
    this.drainDns(now);
  }

  /**
   * Graceful shutdown: a Goodbye to every client (they fail over at once) and no new connections. Send the
   * transmits (`pollTransmit`) before closing the sockets.
   */
  shutdown(now: number): void {
    this.shuttingDown = true;
    const goodbye = encodeP2pControl({ type: 'goodbye' });
    for (const id of [...this.node.peers()]) {
      if (this.node.isConnected(id, now)) {
        const r = this.node.encapsulate(id, goodbye, now);
        if (r.kind === 'transmit') this.transmits.push({ src: r.transmit.src, dst: r.transmit.dst, payload: r.transmit.payload.slice() });
      }
      this.node.removeConnection(id);
    }
    // Delete our TURN allocations (REFRESH lifetime 0) so relays free the ports at once.
    this.node.shutdown(now);
    this.drainNode(now);
  }

  setLocalAddresses(addrs: readonly NetAddr[], now: number): void {
    this.node.setLocalAddresses(addrs);
    this.drainNode(now);
  }

  // ------------------------------------------------------------------------------------ outputs

  pollTransmit(): Transmit | undefined {
    return this.transmits.shift() ?? this.node.pollTransmit();
  }

  pollTunWrite(): Uint8Array | undefined {
    return this.tunWrites.shift();
  }

  pollPortalMessage(): GatewayEgressMessage | undefined {
    return this.portal.shift();
  }

  pollEvent(): GatewayEvent | undefined {
    return this.events.shift();
  }

  pollTimeout(): number | undefined {
    let t = this.node.pollTimeout();
    const d = this.dns.pollTimeout();
    if (d !== undefined && (t === undefined || d < t)) t = d;
    for (const c of this.clients.values()) {
      const e = c.nextExpiry();
      if (e !== undefined && (t === undefined || e < t)) t = e;
    }
    return t;
  }

  /** Resource ids the client may currently reach (live authorisations). */
  authorizedResources(clientId: string, now: number): string[] {
    const c = this.clients.get(clientId);
    if (c === undefined) return [];
    return [...c.resources.values()].filter((r) => c.isLive(r, now)).map((r) => r.id);
  }

  // ------------------------------------------------------------------------------------ internals

  private drop(reason: string): undefined {
    this.drops[reason] = (this.drops[reason] ?? 0) + 1;
    return undefined;
  }

  private toMonotonic(expiresAt: number | null | undefined): number | undefined {
    return expiresAt === null || expiresAt === undefined ? undefined : expiresAt * 1000 - this.config.wallClockAtZero;
  }

  private createAuthorization(a: CreateAuthorization, now: number): void {
    if (this.shuttingDown) return;
    let client = this.clients.get(a.client.id);
    const ipv4 = parseIp(a.client.ipv4);
    const ipv6 = parseIp(a.client.ipv6);
    if (client === undefined) {
      client = new ClientOnGateway(a.client.id, ipv4, ipv6);
      this.clients.set(client.id, client);
    } else {
      this.unindex(client);
      client.ipv4 = ipv4;
      client.ipv6 = ipv6;
    }
    this.index(client);
    this.node.upsertConnection(
      a.client.id,
      {
        publicKey: decodeKey(a.client.public_key),
        presharedKey: decodeKey(a.client.preshared_key),
        localIceCredentials: a.gateway_ice_credentials,
        remoteIceCredentials: a.client_ice_credentials,
      },
      now,
    );
    client.resources.set(a.resource.id, toAuthorized(a.resource, this.toMonotonic(a.expires_at)));
    this.portal.push({ event: 'authorization_created', payload: { ref: a.ref } });
  }

  private resourceUpdated(r: GatewayResource): void {
    for (const c of this.clients.values()) {
      const existing = c.resources.get(r.id);
      if (existing === undefined) continue;
      const updated = toAuthorized(r, existing.expiresAt);
      c.resources.set(r.id, r.type === 'internet' ? { ...updated, engine: FilterEngine.PERMIT_ALL } : updated);
    }
  }

  private expire(now: number): void {
    for (const c of this.clients.values()) {
      for (const id of c.expire(now)) this.events.push({ type: 'accessExpired', clientId: c.id, resourceId: id });
    }
  }

  /** A packet from client `clientId`: control, anti-spoofing, destination class, filters, then the TUN. */
  private outbound(clientId: string, packet: Uint8Array, now: number): Uint8Array | undefined {
    const client = this.clients.get(clientId);
    const p = this.view;
    if (client === undefined || p.reset(packet) !== undefined) { this.drop('malformed'); return; }
    if (isP2pControl(p)) {
      this.control(client, p, now);
      return undefined;
    }
    if (!client.sourceIsClient(p)) { this.drop('spoofedSource'); return; }
    if (this.isGatewayAddress(p, p.destinationOffset)) {
      // The gateway host is not a resource: a client may ping the gateway's tunnel IP (diagnostics) and ask its
      // in-tunnel DNS (port 53535), nothing else. Firezone lets every packet to the TUN IP through
      // (gw_traffic_to_gateway_tun_ip); that would expose every service listening on the gateway host.
      if (p.icmpIdentifier !== undefined) return p.bytes;
      if (!p.isUdp() || p.destinationPort !== SITE_DNS_PORT) {
        this.reject(clientId, p, 'prohibited', now);
        this.drop('toGateway');
        return undefined;
      }
      this.dns.handleSiteQuery(clientId, p, liveDnsPatterns(client, now), now);
      this.drainDns(now);
      return undefined;
    }
    switch (client.checkOutbound(p, now, this.dnsHook)) {
      case 'allow':
        return p.bytes;
      case 'allowNat':
        if (this.dnsHook.translateOutbound(clientId, p, now)) return p.bytes;
        // e.g. an IPv6 proxy IP of a name that has only IPv4 addresses
        this.reject(clientId, p, 'network_unreachable', now);
        this.drop('natFailed');
        return undefined;
      case 'filtered':
        this.reject(clientId, p, 'prohibited', now);
        { this.drop('filtered'); return; }
      case 'forbiddenDestination':
        this.reject(clientId, p, 'network_unreachable', now);
        { this.drop('forbiddenDestination'); return; }
      case 'notAllowed':
        { this.drop('notAllowed'); return; }
    }
  }

  /** assigned_ips from a client: resolve the name if the client may use the resource, answer domain_status. */
  private control(client: ClientOnGateway, p: IpPacket, now: number): void {
    const ev = decodeP2pControl(p);
    if (ev instanceof Error || ev.type !== 'assigned_ips') return;
    const r = client.resources.get(ev.resource);
    const pattern = r?.type === 'dns' && client.isLive(r, now) ? r.address : undefined;
    this.dns.handleAssignedIps(client.id, ev.resource, ev.domain, ev.proxyIps, pattern, now);
    this.drainDns(now);
  }

  /** domain_status answers for clients, through the tunnel. */
  private drainDns(now: number): void {
    for (let c = this.dns.pollControl(); c !== undefined; c = this.dns.pollControl()) {
      if (!this.node.hasConnection(c.clientId)) continue;
      const r = this.node.encapsulate(c.clientId, c.packet, now);
      if (r.kind === 'transmit') this.transmits.push({ src: r.transmit.src, dst: r.transmit.dst, payload: r.transmit.payload.slice() });
    }
  }

  /** Answers a refused packet with an ICMP error, through the tunnel, to the client. */
  private reject(clientId: string, p: IpPacket, reason: 'prohibited' | 'network_unreachable', now: number): void {
    const answer = buildDestinationUnreachable(p, reason);
    if (answer === undefined) return;
    const r = this.node.encapsulate(clientId, answer, now);
    if (r.kind === 'transmit') this.transmits.push({ src: r.transmit.src, dst: r.transmit.dst, payload: r.transmit.payload.slice() });
  }

  private isGatewayAddress(p: IpPacket, offset: number): boolean {
    const ip = p.version === 4 ? this.ipv4 : this.ipv6;
    return ip !== undefined && ipEqualsAt(ip, p.bytes, offset);
  }

  private clientByDestination(p: IpPacket): ClientOnGateway | undefined {
    if (p.version === 4) return this.byIpv4.get(ipv4ToU32(p.bytes, p.destinationOffset));
    const list = this.byIpv6.get(ipv4ToU32(p.bytes, p.destinationOffset + 12));
    if (list === undefined) return undefined;
    for (const c of list) if (c.ipv6 !== undefined && ipEqualsAt(c.ipv6, p.bytes, p.destinationOffset)) return c;
    return undefined;
  }

  private index(c: ClientOnGateway): void {
    if (c.ipv4 !== undefined) this.byIpv4.set(ipv4ToU32(c.ipv4), c);
    if (c.ipv6 !== undefined) {
      const k = ipv4ToU32(c.ipv6, 12);
      this.byIpv6.set(k, [...(this.byIpv6.get(k) ?? []).filter((x) => x !== c), c]);
    }
  }

  private unindex(c: ClientOnGateway): void {
    if (c.ipv4 !== undefined && this.byIpv4.get(ipv4ToU32(c.ipv4)) === c) this.byIpv4.delete(ipv4ToU32(c.ipv4));
    if (c.ipv6 !== undefined) {
      const k = ipv4ToU32(c.ipv6, 12);
      const rest = (this.byIpv6.get(k) ?? []).filter((x) => x !== c);
      if (rest.length === 0) this.byIpv6.delete(k);
      else this.byIpv6.set(k, rest);
    }
  }

  private drainNode(now: number): void {
    for (let ev = this.node.pollEvent(); ev !== undefined; ev = this.node.pollEvent()) this.onNodeEvent(ev, now);
  }

  private onNodeEvent(ev: NodeEvent, _now: number): void {
    switch (ev.type) {
      case 'connected':
        this.events.push({ type: 'clientConnected', clientId: ev.peerId, ...pathOf(this.node.stats(ev.peerId)) });
        break;
      case 'failed': {
        // Firezone: a failed connection forgets the client; it asks the portal again
        const c = this.clients.get(ev.peerId);
        if (c !== undefined) {
          this.unindex(c);
          this.clients.delete(ev.peerId);
        }
        this.dns.forgetClient(ev.peerId);
        this.events.push({ type: 'clientDisconnected', clientId: ev.peerId, reason: ev.reason });
        break;
      }
      case 'closed':
        break;
      case 'newIceCandidate':
        this.portal.push({ event: 'broadcast_ice_candidates', payload: { client_ids: [ev.peerId], candidates: [ev.candidate] } });
        break;
      case 'invalidatedIceCandidate':
        this.portal.push({ event: 'broadcast_invalidated_ice_candidates', payload: { client_ids: [ev.peerId], candidates: [ev.candidate] } });
        break;
    }
  }
}

/**
 * The name patterns of a client's live DNS resources. Kept out of `outbound`: a closure there would make V8
 * allocate a context for `client` and `now` on every packet, whichever branch runs.
 */
function liveDnsPatterns(client: ClientOnGateway, now: number): string[] {
  const out: string[] = [];
  for (const r of client.resources.values()) if (r.type === 'dns' && r.address !== undefined && client.isLive(r, now)) out.push(r.address);
  return out;
}
