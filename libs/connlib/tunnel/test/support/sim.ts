// An in-memory world: one ClientState, gateways (GatewayState) in sites, a minimal fake portal that
// authorises by policy and relays candidates, a simulated UDP network and a fake clock. Resource hosts behind
// the gateways echo UDP back (source and destination swapped), so replies travel the whole way back.
import { buildUdp, IpProtocol, parseIpPacket } from '@postern/ip-packet';
import {
  ClientIngressSchema,
  encodeKey,
  GatewayIngressSchema,
  type ClientEgressMessage,
  type ClientIngressWire,
  type ClientResourceWire,
  type GatewayEgressMessage,
  type GatewayIngressWire,
  type GatewayResourceWire,
} from '@postern/model';
import { ClientState, GatewayState, type ClientEvent, type DnsResourceRecord, type GatewayEvent, type NetAddr, type Transmit } from '../../src/index';
import { addr, WALL } from './gateway-harness';
import { CLIENT_V4, CLIENT_V6 } from './packets';
import { key, seededRng } from './rng';

export interface SimGateway {
  readonly id: string;
  readonly siteId: string;
  readonly addr: NetAddr;
  readonly state: GatewayState;
  readonly ipv4: string;
  alive: boolean;
  readonly tun: Uint8Array[];
  readonly events: GatewayEvent[];
}

interface PendingAuth {
  readonly resourceId: string;
  readonly gatewayId: string;
}

export class Sim {
  now = 0;
  readonly client: ClientState;
  clientAddr = addr('198.18.24.1:40000');
  private roams = 0;
  readonly gateways = new Map<string, SimGateway>();
  /** Packets written to the client's TUN (replies, ICMP errors). */
  readonly clientTun: Uint8Array[] = [];
  readonly clientEvents: ClientEvent[] = [];
  readonly requests: { at: number; resourceId: string }[] = [];
  /** Portal policy: resources the client may access. */
  readonly allowed = new Set<string>();
  /** Seconds of access granted per authorisation (undefined: no expiry). */
  accessSeconds: number | undefined;
  /** When false, the portal ignores request_authorization (to watch the client's throttling). */
  answering = true;
  private readonly resources = new Map<string, ClientResourceWire>();
  private readonly psks = new Map<string, string>();
  private readonly pendingAuths = new Map<string, PendingAuth>();
  private refs = 0;
  private readonly rng = seededRng(99);

  constructor(opts: { idleTimeoutMs?: number; maxBufferedPackets?: number; dnsRecords?: readonly DnsResourceRecord[] } = {}) {
    const timeouts = opts.idleTimeoutMs === undefined ? {} : { idleTimeoutMs: opts.idleTimeoutMs };
    const buffering = opts.maxBufferedPackets === undefined ? {} : { maxBufferedPackets: opts.maxBufferedPackets };
    const records = opts.dnsRecords === undefined ? {} : { dnsRecords: opts.dnsRecords };
    this.client = new ClientState({ privateKey: key(this.rng), rng: seededRng(5), wallClockAtZero: WALL, ...timeouts, ...buffering, ...records });
    this.client.setLocalAddresses([this.clientAddr], 0);
    this.timeouts = timeouts;
  }
  private readonly timeouts: { idleTimeoutMs?: number };

  addGateway(id: string, siteId: string, index: number): SimGateway {
    const state = new GatewayState({ privateKey: key(this.rng), rng: seededRng(100 + index), wallClockAtZero: WALL, ...this.timeouts });
    const gw: SimGateway = { id, siteId, addr: addr(`198.18.25.${String(index)}:52625`), state, ipv4: `100.64.1.${String(index)}`, alive: true, tun: [], events: [] };
    this.gateways.set(id, gw);
    this.toGateway(gw, {
      event: 'init',
      payload: {
        interface: { ipv4: gw.ipv4, ipv6: `fd00:2021:1111::1:${String(index)}` },
        config: { ipv4_masquerade_enabled: true, ipv6_masquerade_enabled: true },
        flow_logs: { api_url: 'http://localhost', upload_interval_secs: 0, upload_batch_size: 0 },
      },
    });
    state.setLocalAddresses([gw.addr], this.now);
    return gw;
  }

  init(resources: ClientResourceWire[]): void {
    for (const r of resources) this.resources.set(r.id, r);
    this.toClient({
      event: 'init',
      payload: {
        interface: { ipv4: CLIENT_V4, ipv6: CLIENT_V6 },
        resources,
        relays: [],
        flow_logs: { api_url: 'http://localhost', upload_interval_secs: 0, upload_batch_size: 0 },
      },
    });
  }

  /** Like the portal: the client gets the new resource, gateways that serve it get `resource_updated`. */
  upsertResource(r: ClientResourceWire): void {
    this.resources.set(r.id, r);
    this.toClient({ event: 'resource_created_or_updated', payload: r });
    for (const gw of this.gateways.values()) this.toGateway(gw, { event: 'resource_updated', payload: toGatewayResource(r) });
  }

  /** Like the portal: `resource_deleted` to the client, `reject_access` to the gateways. */
  deleteResource(id: string): void {
    this.resources.delete(id);
    this.toClient({ event: 'resource_deleted', payload: id });
    for (const gw of this.gateways.values()) this.toGateway(gw, { event: 'reject_access', payload: { client_id: 'client-1', resource_id: id } });
  }

  /** The portal revokes access: reject_access to the client and to the gateway serving it. */
  rejectAccess(resourceId: string): void {
    this.allowed.delete(resourceId);
    this.toClient({ event: 'reject_access', payload: { client_id: 'client-1', resource_id: resourceId } });
    for (const gw of this.gateways.values()) this.toGateway(gw, { event: 'reject_access', payload: { client_id: 'client-1', resource_id: resourceId } });
  }

  toClient(wire: ClientIngressWire): void {
    this.client.handlePortalMessage(ClientIngressSchema.parse(wire), this.now);
  }

  toGateway(gw: SimGateway, wire: GatewayIngressWire): void {
    if (gw.alive) gw.state.handlePortalMessage(GatewayIngressSchema.parse(wire), this.now);
  }

  /** The app sends a packet into the client's TUN. */
  send(packet: Uint8Array): void {
    const t = this.client.handleTunPacket(packet, this.now);
    if (t !== undefined) this.deliver(this.clientAddr, copy(t));
    this.settle();
  }

  /** Advances the fake clock by `ms`, running every timer that falls due. */
  advance(ms: number): void {
    const end = this.now + ms;
    while (this.now < end) {
      let next = end;
      for (const t of [this.client.pollTimeout(), ...[...this.gateways.values()].filter((g) => g.alive).map((g) => g.state.pollTimeout())]) {
        if (t !== undefined && t < next) next = Math.max(t, this.now);
      }
      this.now = next === this.now ? this.now + 1 : next;
      this.client.handleTimeout(this.now);
      for (const gw of this.gateways.values()) if (gw.alive) gw.state.handleTimeout(this.now);
      this.settle();
    }
  }

  /** The client moves to another network: new address, new socket, `reset`. */
  roam(): void {
    this.roams++;
    this.clientAddr = addr(`198.18.26.${String(this.roams % 250)}:${String(40000 + this.roams)}`);
    this.client.setLocalAddresses([this.clientAddr], this.now);
    this.client.reset(this.now);
    this.settle();
  }

  /** Graceful gateway shutdown (Goodbye), or a crash (`graceful: false`: it just vanishes). */
  stopGateway(id: string, graceful: boolean): void {
    const gw = this.gateways.get(id);
    if (gw === undefined) return;
    if (graceful) {
      gw.state.shutdown(this.now);
      this.settle();
    }
    gw.alive = false;
  }

  /** Runs every queue until nothing moves. */
  settle(): void {
    for (let i = 0; i < 100; i++) {
      let moved = false;
      for (let t = this.client.pollTransmit(); t !== undefined; t = this.client.pollTransmit()) {
        moved = true;
        this.deliver(this.clientAddr, t);
      }
      for (let p = this.client.pollTunWrite(); p !== undefined; p = this.client.pollTunWrite()) {
        moved = true;
        this.clientTun.push(p);
      }
      for (let m = this.client.pollPortalMessage(); m !== undefined; m = this.client.pollPortalMessage()) {
        moved = true;
        this.fromClient(m);
      }
      for (let e = this.client.pollEvent(); e !== undefined; e = this.client.pollEvent()) this.clientEvents.push(e);
      for (const gw of this.gateways.values()) {
        if (!gw.alive) continue;
        for (let t = gw.state.pollTransmit(); t !== undefined; t = gw.state.pollTransmit()) {
          moved = true;
          this.deliver(gw.addr, t);
        }
        for (let p = gw.state.pollTunWrite(); p !== undefined; p = gw.state.pollTunWrite()) {
          moved = true;
          this.resourceHost(gw, p);
        }
        for (let m = gw.state.pollPortalMessage(); m !== undefined; m = gw.state.pollPortalMessage()) {
          moved = true;
          this.fromGateway(gw, m);
        }
        for (let e = gw.state.pollEvent(); e !== undefined; e = gw.state.pollEvent()) gw.events.push(e);
      }
      if (!moved) return;
    }
    throw new Error('simulation did not settle');
  }

  private deliver(from: NetAddr, t: Transmit): void {
    if (t.dst.key === this.clientAddr.key) {
      const out = this.client.handleNetworkDatagram(from, t.payload, this.now);
      if (out !== undefined) this.clientTun.push(out.slice());
      return;
    }
    for (const gw of this.gateways.values()) {
      if (gw.addr.key !== t.dst.key || !gw.alive) continue;
      const out = gw.state.handleNetworkDatagram(from, t.payload, this.now);
      if (out !== undefined) this.resourceHost(gw, out.slice());
    }
  }

  /** The resource network behind a gateway: records the packet and echoes UDP back. */
  private resourceHost(gw: SimGateway, packet: Uint8Array): void {
    gw.tun.push(packet);
    const p = parseIpPacket(packet);
    if (p instanceof Error || p.protocol !== IpProtocol.UDP || p.version !== 4) return;
    const reply = buildUdp({
      source: p.destination(),
      destination: p.source(),
      sourcePort: p.destinationPort ?? 0,
      destinationPort: p.sourcePort ?? 0,
      payload: p.transportPayload(),
    });
    const t = gw.state.handleTunPacket(reply, this.now);
    if (t !== undefined) this.deliver(gw.addr, copy(t));
  }

  // ------------------------------------------------------------------------------ fake portal

  private fromClient(m: ClientEgressMessage): void {
    switch (m.event) {
      case 'request_authorization': {
        const resourceId = m.payload.resource_id;
        this.requests.push({ at: this.now, resourceId });
        if (!this.answering) return;
        const resource = this.resources.get(resourceId);
        if (resource === undefined || !this.allowed.has(resourceId)) {
          this.toClient({ event: 'authorization_creation_failed', payload: { resource_id: resourceId, reason: 'forbidden' } });
          return;
        }
        const sites = 'sites' in resource && resource.sites !== undefined ? resource.sites.map((s) => s.id) : [];
        const candidates = [...this.gateways.values()].filter((g) => g.alive && sites.includes(g.siteId));
        const gw = candidates.find((g) => m.payload.connected_gateway_ids.includes(g.id)) ?? candidates[0];
        if (gw === undefined) {
          this.toClient({ event: 'authorization_creation_failed', payload: { resource_id: resourceId, reason: 'offline' } });
          return;
        }
        this.refs++;
        const ref = `ref-${String(this.refs)}`;
        this.pendingAuths.set(ref, { resourceId, gatewayId: gw.id });
        this.toGateway(gw, {
          event: 'create_authorization',
          payload: {
            ref,
            resource: toGatewayResource(resource),
            client: { id: 'client-1', public_key: encodeKey(this.client.publicKey), preshared_key: this.pskFor(gw.id), ipv4: CLIENT_V4, ipv6: CLIENT_V6 },
            client_ice_credentials: { username: 'aaaa', password: 'bbbbbbbbbbbbbbbbbbbbbb' },
            gateway_ice_credentials: { username: 'cccc', password: 'dddddddddddddddddddddd' },
            ...(this.accessSeconds === undefined ? {} : { expires_at: Math.floor((WALL + this.now) / 1000) + this.accessSeconds }),
            flow_logs_ingest_token: 'token',
          },
        });
        return;
      }
      case 'new_gateway_ice_candidates': {
        const gw = this.gateways.get(m.payload.gateway_id);
        if (gw !== undefined) this.toGateway(gw, { event: 'ice_candidates', payload: { client_id: 'client-1', candidates: m.payload.candidates } });
        return;
      }
      default:
        return;
    }
  }

  private fromGateway(gw: SimGateway, m: GatewayEgressMessage): void {
    switch (m.event) {
      case 'authorization_created': {
        const pending = this.pendingAuths.get(m.payload.ref);
        if (pending === undefined) return;
        this.pendingAuths.delete(m.payload.ref);
        this.toClient({
          event: 'authorization_created',
          payload: {
            resource_id: pending.resourceId,
            gateway_id: gw.id,
            site_id: gw.siteId,
            gateway_public_key: encodeKey(gw.state.publicKey),
            gateway_ipv4: gw.ipv4,
            gateway_ipv6: 'fd00:2021:1111::1:1',
            preshared_key: this.pskFor(gw.id),
            client_ice_credentials: { username: 'aaaa', password: 'bbbbbbbbbbbbbbbbbbbbbb' },
            gateway_ice_credentials: { username: 'cccc', password: 'dddddddddddddddddddddd' },
            flow_logs_ingest_token: 'token',
          },
        });
        return;
      }
      case 'broadcast_ice_candidates':
        this.toClient({ event: 'gateway_ice_candidates', payload: { gateway_id: gw.id, candidates: m.payload.candidates } });
        return;
      default:
        return;
    }
  }

  pskFor(gatewayId: string): string {
    let k = this.psks.get(gatewayId);
    if (k === undefined) {
      k = encodeKey(key(this.rng));
      this.psks.set(gatewayId, k);
    }
    return k;
  }

  /** Packets that reached resources behind any gateway, as `dst:port` strings with the payload's first byte. */
  delivered(): string[] {
    return [...this.gateways.values()].flatMap((g) => g.tun.map((p) => describe(p)));
  }
}

function toGatewayResource(r: ClientResourceWire): GatewayResourceWire {
  switch (r.type) {
    case 'cidr':
      return { type: 'cidr', id: r.id, address: r.address, filters: r.filters ?? [] };
    case 'dns':
      return { type: 'dns', id: r.id, address: r.address, filters: r.filters ?? [] };
    case 'internet':
      return { type: 'internet', id: r.id };
    default:
      throw new Error('unsupported resource in the sim');
  }
}

function copy(t: Transmit): Transmit {
  return { src: t.src, dst: t.dst, payload: t.payload.slice() };
}

export function describe(packet: Uint8Array): string {
  const p = parseIpPacket(packet);
  if (p instanceof Error) return 'garbage';
  const payload = p.protocol === IpProtocol.UDP ? p.transportPayload() : new Uint8Array(0);
  return `${p.destinationText()}:${String(p.destinationPort ?? '')}#${String(payload[0] ?? '')}`;
}
