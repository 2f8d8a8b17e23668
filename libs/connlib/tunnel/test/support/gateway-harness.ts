// A GatewayState with one real client (a snownet client Node) connected to it over an in-memory link.
import { encodeKey, GatewayIngressSchema, type GatewayIngressWire, type GatewayResourceWire } from '@postern/model';
import { Node, parseNetAddr, type NetAddr } from '@postern/snownet';
import { GatewayState, type GatewayDnsHook } from '../../src/index';
import { CLIENT_V4, CLIENT_V6, GATEWAY_V4, GATEWAY_V6, parsed } from './packets';
import { key, seededRng } from './rng';

export const WALL = 1_700_000_000_000;
export const CLIENT_ADDR = addr('198.18.24.1:40000');
export const GATEWAY_ADDR = addr('198.18.24.2:52625');

export function addr(text: string): NetAddr {
  const a = parseNetAddr(text);
  if (a === undefined) throw new Error(text);
  return a;
}

export function gatewayMessage(wire: GatewayIngressWire) {
  return GatewayIngressSchema.parse(wire);
}

export class GatewayHarness {
  readonly gateway: GatewayState;
  readonly client: Node;
  private readonly psk: Uint8Array;
  private refs = 0;
  /** ICMP (and other) packets the client received from the gateway. */
  readonly toClient: Uint8Array[] = [];

  constructor(dns?: GatewayDnsHook) {
    const rng = seededRng(11);
    this.gateway = new GatewayState({ privateKey: key(rng), rng: seededRng(3), wallClockAtZero: WALL, ...(dns === undefined ? {} : { dns }) });
    this.client = new Node({ role: 'client', privateKey: key(rng), rng: seededRng(4), wallClockAtZero: WALL });
    this.psk = key(rng);
    this.gateway.handlePortalMessage(
      gatewayMessage({
        event: 'init',
        payload: {
          interface: { ipv4: GATEWAY_V4, ipv6: GATEWAY_V6 },
          config: { ipv4_masquerade_enabled: true, ipv6_masquerade_enabled: true },
          flow_logs: { api_url: 'http://localhost', upload_interval_secs: 0, upload_batch_size: 0 },
          relays: [],
        },
      }),
      0,
    );
  }

  authorize(resource: GatewayResourceWire, now: number, expiresAt?: number, clientId = 'client-1'): void {
    this.refs++;
    this.gateway.handlePortalMessage(
      gatewayMessage({
        event: 'create_authorization',
        payload: {
          ref: `ref-${String(this.refs)}`,
          resource,
          client: { id: clientId, public_key: encodeKey(this.client.publicKey), preshared_key: encodeKey(this.psk), ipv4: CLIENT_V4, ipv6: CLIENT_V6 },
          client_ice_credentials: { username: 'aaaa', password: 'bbbbbbbbbbbbbbbbbbbbbb' },
          gateway_ice_credentials: { username: 'cccc', password: 'dddddddddddddddddddddd' },
          ...(expiresAt === undefined ? {} : { expires_at: expiresAt }),
          flow_logs_ingest_token: 'token',
        },
      }),
      now,
    );
    while (this.gateway.pollPortalMessage() !== undefined);
    if (!this.client.hasConnection('gw')) {
      this.client.upsertConnection('gw', { publicKey: this.gateway.publicKey, presharedKey: this.psk, remote: GATEWAY_ADDR }, now);
      this.pump(now);
    }
  }

  /** Moves datagrams both ways until quiet; returns packets the gateway wrote to its TUN. */
  pump(now: number): Uint8Array[] {
    const tun: Uint8Array[] = [];
    for (let i = 0; i < 20; i++) {
      let moved = false;
      for (let t = this.client.pollTransmit(); t !== undefined; t = this.client.pollTransmit()) {
        moved = true;
        const out = this.gateway.handleNetworkDatagram(CLIENT_ADDR, t.payload, now);
        if (out !== undefined) tun.push(out.slice());
      }
      for (let t = this.gateway.pollTransmit(); t !== undefined; t = this.gateway.pollTransmit()) {
        moved = true;
        this.deliverToClient(t.payload, now);
      }
      if (!moved) break;
    }
    return tun;
  }

  private deliverToClient(datagram: Uint8Array, now: number): void {
    const r = this.client.decapsulate(GATEWAY_ADDR, datagram, now);
    if (r.kind === 'packet') this.toClient.push(r.packet.slice());
  }

  /** Client -> gateway: 'tun' when the gateway forwards it, 'icmp' when it answers with an ICMP error, 'drop' otherwise. */
  send(pkt: Uint8Array, now: number): 'tun' | 'icmp' | 'drop' {
    this.toClient.length = 0;
    const r = this.client.encapsulate('gw', pkt, now);
    if (r.kind !== 'transmit') throw new Error(`client could not send: ${r.reason}`);
    const out = this.gateway.handleNetworkDatagram(CLIENT_ADDR, r.transmit.payload.slice(), now);
    this.pump(now);
    if (out !== undefined) return 'tun';
    return this.toClient.some((p) => parsed(p).isIcmpError()) ? 'icmp' : 'drop';
  }

  /** Resource -> client through the gateway's TUN: true when it reaches the client. */
  inbound(pkt: Uint8Array, now: number): boolean {
    this.toClient.length = 0;
    const t = this.gateway.handleTunPacket(pkt, now);
    if (t === undefined) return false;
    this.deliverToClient(t.payload.slice(), now);
    return this.toClient.length === 1;
  }
}
