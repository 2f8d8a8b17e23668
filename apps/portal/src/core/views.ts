// What each side is told: init payloads, relay lists with per-device TURN credentials, output helpers.
import {
  CLIENT_TOPIC,
  GATEWAY_TOPIC,
  deriveTurnCredentials,
  encodeFrame,
  type ClientIngressWire,
  type ClientInterfaceWire,
  type GatewayIngressWire,
  type TurnRelay,
} from '@postern/model';
import { clientResource, visibleResources } from '../config/compile';
import type { ClientConn, Conn, GatewayConn, Output, State } from './state';
import { turnServerRelays } from './turn-servers';

export function send(state: State, connId: number, topic: string, event: string, payload: unknown): void {
  state.outbox.push({ kind: 'send', connId, text: encodeFrame({ topic, event, payload, ref: null }) });
}

/** Typed push to a client (the payload is checked against the model at compile time). */
export function toClient(state: State, conn: ClientConn, msg: ClientIngressWire): void {
  send(state, conn.connId, CLIENT_TOPIC, msg.event, msg.payload);
}

export function toGateway(state: State, conn: GatewayConn, msg: GatewayIngressWire): void {
  send(state, conn.connId, GATEWAY_TOPIC, msg.event, msg.payload);
}

export function log(state: State, level: 'debug' | 'info' | 'warn', msg: string, fields?: Record<string, unknown>): void {
  const out: Output = fields ? { kind: 'log', level, msg, fields } : { kind: 'log', level, msg };
  state.outbox.push(out);
}

export function clientInterface(state: State, conn: ClientConn): ClientInterfaceWire {
  const dns = state.cfg.dns;
  return {
    ipv4: conn.device.ipv4,
    ipv6: conn.device.ipv6,
    upstream_dns: dns.do53.map((ip) => ({ protocol: 'ip_port' as const, address: ip.includes(':') ? `[${ip}]:53` : `${ip}:53` })),
    upstream_do53: dns.do53.map((ip) => ({ ip })),
    upstream_doh: dns.doh.map((url) => ({ url })),
    search_domain: dns.searchDomain ?? null,
  };
}

export function flowLogs(state: State): { api_url: string; upload_interval_secs: number; upload_batch_size: number } {
  return { api_url: state.publicUrl, upload_interval_secs: 0, upload_batch_size: 0 };
}

/** Expiry (unix seconds) of TURN credentials issued now. */
export function turnExpiry(state: State, nowMs: number): number {
  return Math.floor(nowMs / 1000) + state.cfg.turnTtlSecs;
}

/**
 * TURN entries of every joined relay for one device (one per address family), then every configured external TURN
 * server (`turn_servers`), unless `only` names one postern-relay.
 */
export function relaysFor(state: State, devicePublicKey: string, nowMs: number, only?: string): TurnRelay[] {
  const expires = turnExpiry(state, nowMs);
  const out: TurnRelay[] = [];
  for (const [relayId, connId] of state.relays) {
    if (only !== undefined && relayId !== only) continue;
    const relay = state.conns.get(connId);
    if (relay?.role !== 'relay' || !relay.joined || relay.stampSecret === undefined) continue;
    const creds = deriveTurnCredentials(relay.stampSecret, devicePublicKey, expires);
    const addrs = [relay.ipv4 ? `${relay.ipv4}:${relay.port}` : undefined, relay.ipv6 ? `[${relay.ipv6}]:${relay.port}` : undefined];
    for (const addr of addrs) if (addr) out.push({ type: 'turn', id: relayId, addr, ...creds });
  }
  if (only === undefined) out.push(...turnServerRelays(state.cfg.turnServers, devicePublicKey, expires));
  return out;
}

export function sendClientInit(state: State, conn: ClientConn, nowMs: number): void {
  const user = state.cfg.users.get(conn.email);
  const resources = user ? visibleResources(state.cfg, user).map(clientResource) : [];
  conn.visible = new Map(resources.map((r) => [r.id, JSON.stringify(r)]));
  const iface = clientInterface(state, conn);
  conn.interfaceJson = JSON.stringify(iface);
  toClient(state, conn, {
    event: 'init',
    payload: { interface: iface, resources, relays: relaysFor(state, conn.publicKey, nowMs), flow_logs: flowLogs(state) },
  });
}

export function sendGatewayInit(state: State, conn: GatewayConn, nowMs: number): void {
  toGateway(state, conn, {
    event: 'init',
    payload: {
      interface: { ipv4: conn.device.ipv4, ipv6: conn.device.ipv6 },
      config: { ipv4_masquerade_enabled: true, ipv6_masquerade_enabled: true },
      flow_logs: flowLogs(state),
      relays: relaysFor(state, conn.publicKey, nowMs),
      account_slug: state.cfg.account.slug,
    },
  });
}

/** Every joined client and gateway. */
export function* joinedDevices(state: State): Generator<ClientConn | GatewayConn> {
  for (const c of state.conns.values()) if (c.joined && c.role !== 'relay') yield c;
}

export function relaysPresence(state: State, target: ClientConn | GatewayConn, disconnected: string[], connected: TurnRelay[]): void {
  const payload = { disconnected_ids: disconnected, connected };
  if (target.role === 'client') toClient(state, target, { event: 'relays_presence', payload });
  else toGateway(state, target, { event: 'relays_presence', payload });
}

export function isJoinedConn(c: Conn | undefined): c is Conn {
  return c !== undefined && c.joined;
}
