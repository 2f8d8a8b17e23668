// PortalCore: the sans-IO portal. The IO shell feeds it upgrades, frames, closes and ticks (with `now`
// in wall-clock ms) and drains `Output`s (frames to send, sockets to close, log lines).
import {
  CLIENT_TOPIC,
  GATEWAY_TOPIC,
  PHOENIX_TOPIC,
  RELAY_TOPIC,
  RelayJoinSchema,
  classifyFrame,
  parseClientEgress,
  parseFrame,
  parseGatewayEgress,
  replyFrame,
  type ParseResult,
  type PhoenixFrame,
  type Ref,
} from '@postern/model';
import type { CompiledConfig } from '../config/compile';
import { authenticate, type AuthResult, type ConnectQuery, type Identity } from './auth';
import { expirePending, failover, gatewayAuthorized, requestAuthorization } from './broker';
import { ensureDevice } from './ipam';
import { applyConfig } from './reload';
import { hashToken } from './secrets';
import { cryptoRng, randomBytesFrom, randomToken, type Rng } from './rng';
import type { Conn, Output, Role, State } from './state';
import type { Store } from './store';
import { joinedDevices, log, relaysFor, relaysPresence, send, sendClientInit, sendGatewayInit } from './views';

/** Firezone's portal closes sockets idle for ~37 s (clients heartbeat every 10 s). */
export const IDLE_TIMEOUT_MS = 37_000;
const TOPIC: Record<Role, string> = { client: CLIENT_TOPIC, gateway: GATEWAY_TOPIC, relay: RELAY_TOPIC };

export interface PortalCoreOptions {
  readonly config: CompiledConfig;
  readonly store: Store;
  readonly publicUrl: string;
  readonly rng?: Rng;
}

export interface PortalStats {
  readonly clients: number;
  readonly gateways: number;
  readonly relays: number;
  readonly authorizationsActive: number;
  readonly authorizationsPending: number;
  readonly authorizationsCreated: number;
  readonly authorizationsFailed: Readonly<Record<string, number>>;
  readonly framesRejected: number;
}

export class PortalCore {
  private readonly state: State;
  private nextConnId = 1;

  constructor(opts: PortalCoreOptions) {
    const rng = opts.rng ?? cryptoRng;
    this.state = {
      cfg: opts.config,
      store: opts.store,
      rng,
      ingestSecret: randomBytesFrom(rng, 32),
      publicUrl: opts.publicUrl,
      conns: new Map(),
      clients: new Map(),
      gateways: new Map(),
      relays: new Map(),
      pending: new Map(),
      active: new Map(),
      outbox: [],
      counters: { authorizationsCreated: 0, authorizationsFailed: {}, framesRejected: 0 },
    };
  }

  get config(): CompiledConfig {
    return this.state.cfg;
  }

  /** Checks a websocket upgrade. Never throws. */
  authenticate(role: Role, token: string | undefined, query: ConnectQuery, nowMs: number): AuthResult {
    return authenticate(this.state, role, token, query, nowMs);
  }

  /** Registers an accepted socket; returns its connection id. A device's older connection is closed. */
  open(identity: Identity, nowMs: number): number {
    const s = this.state;
    const connId = this.nextConnId++;
    const base = { connId, joined: false, lastSeenMs: nowMs, tokenHash: identity.tokenHash };
    let conn: Conn;
    if (identity.role === 'relay') {
      conn = { ...base, role: 'relay', relayId: identity.relayId, name: identity.name, ipv4: identity.ipv4, ipv6: identity.ipv6, port: identity.port, stampSecret: undefined };
      this.replace(s.relays, identity.relayId, connId);
    } else if (identity.role === 'gateway') {
      const device = ensureDevice(s.store, s.rng, 'gateway', identity.externalId);
      conn = { ...base, role: 'gateway', device, publicKey: identity.publicKey, name: identity.name, siteId: identity.siteId };
      this.replace(s.gateways, device.id, connId);
    } else {
      const device = ensureDevice(s.store, s.rng, 'client', identity.externalId);
      conn = {
        ...base,
        role: 'client',
        device,
        publicKey: identity.publicKey,
        name: identity.name,
        email: identity.email,
        tokenExpiresAtMs: identity.tokenExpiresAtMs,
        visible: new Map(),
        interfaceJson: '',
      };
      this.replace(s.clients, device.id, connId);
    }
    s.conns.set(connId, conn);
    log(s, 'info', `${conn.role} connected`, { conn_id: connId, name: identity.name });
    return connId;
  }

  private replace(index: Map<string, number>, key: string, connId: number): void {
    const old = index.get(key);
    index.set(key, connId);
    if (old !== undefined && this.state.conns.has(old)) {
      this.state.conns.delete(old);
      this.state.outbox.push({ kind: 'close', connId: old, code: 4000, reason: 'replaced by a newer connection' });
    }
  }

  /** One websocket text frame from a connection. Never throws on bad input. */
  receive(connId: number, text: string, nowMs: number): void {
    const s = this.state;
    const conn = s.conns.get(connId);
    if (!conn) return;
    conn.lastSeenMs = nowMs;
    const parsed = parseFrame(text);
    if (!parsed.ok) {
      s.counters.framesRejected++;
      log(s, 'debug', 'rejected a frame', { conn_id: connId, error: parsed.error });
      s.outbox.push({ kind: 'send', connId, text: replyFrame(PHOENIX_TOPIC, null, 'error', { reason: parsed.error }) });
      return;
    }
    this.dispatch(conn, parsed.frame, nowMs);
  }

  private reply(conn: Conn, frame: PhoenixFrame, status: 'ok' | 'error', response: unknown = {}): void {
    const ref: Ref = frame.ref ?? null;
    this.state.outbox.push({ kind: 'send', connId: conn.connId, text: replyFrame(frame.topic, ref, status, response) });
  }

  private dispatch(conn: Conn, frame: PhoenixFrame, nowMs: number): void {
    const s = this.state;
    const control = classifyFrame(frame);
    switch (control.kind) {
      case 'heartbeat':
        { this.reply(conn, frame, 'ok'); return; }
      case 'join':
        { this.join(conn, frame, nowMs); return; }
      case 'invalid':
        s.counters.framesRejected++;
        { this.reply(conn, frame, 'error', { reason: control.error }); return; }
      case 'reply-ok':
      case 'reply-error':
      case 'close':
      case 'error':
      case 'disconnect':
        return; // nothing a peer should send us; ignore
      case 'message':
        break;
    }
    if (!conn.joined || frame.topic !== TOPIC[conn.role]) { this.reply(conn, frame, 'error', { reason: 'unmatched topic' }); return; }
    if (conn.role === 'client') {
      const r = parseClientEgress(frame);
      if (!this.accepted(conn, frame, r)) return;
      const msg = r.msg;
      switch (msg.event) {
        case 'request_authorization':
          { requestAuthorization(s, conn, msg.payload, nowMs); return; }
        case 'new_gateway_ice_candidates':
        case 'invalidate_gateway_ice_candidates': {
          const gw = this.pairedGateway(conn.device.id, msg.payload.gateway_id);
          if (!gw) { log(s, 'debug', 'dropped candidates for a gateway without authorization', { client_id: conn.device.id }); return; }
          const event = msg.event === 'new_gateway_ice_candidates' ? 'ice_candidates' : 'invalidate_ice_candidates';
          send(s, gw, GATEWAY_TOPIC, event, { client_id: conn.device.id, candidates: msg.payload.candidates }); return;
        }
        case 'no_relays':
          { relaysPresence(s, conn, [], relaysFor(s, conn.publicKey, nowMs)); return; }
        case 'set_snownet_capabilities':
          return;
        case 'resolve_device_pool_domain':
          { send(s, conn.connId, CLIENT_TOPIC, 'device_pool_domain_resolution_failed', { ...msg.payload, reason: 'not_found' }); return; }
      }
    }
    if (conn.role === 'gateway') {
      const r = parseGatewayEgress(frame);
      if (!this.accepted(conn, frame, r)) return;
      const msg = r.msg;
      switch (msg.event) {
        case 'authorization_created':
          { gatewayAuthorized(s, conn, msg.payload.ref); return; }
        case 'broadcast_ice_candidates':
        case 'broadcast_invalidated_ice_candidates': {
          const event = msg.event === 'broadcast_ice_candidates' ? 'ice_candidates' : 'invalidate_ice_candidates';
          for (const clientId of msg.payload.client_ids) {
            const target = s.clients.get(clientId);
            if (target === undefined || !this.paired(clientId, conn.device.id)) continue;
            send(s, target, CLIENT_TOPIC, event, { gateway_id: conn.device.id, candidates: msg.payload.candidates });
          }
          return;
        }
        case 'no_relays':
          { relaysPresence(s, conn, [], relaysFor(s, conn.publicKey, nowMs)); return; }
        case 'set_snownet_capabilities':
          return;
      }
    }
    // relays send nothing after joining
    log(s, 'debug', 'ignored a relay message', { event: frame.event });
  }

  private accepted<M>(conn: Conn, frame: PhoenixFrame, r: ParseResult<M>): r is { kind: 'message'; msg: M; warnings: string[] } {
    if (r.kind === 'message') return true;
    if (r.kind === 'invalid') {
      this.state.counters.framesRejected++;
      this.reply(conn, frame, 'error', { reason: `invalid ${r.event}: ${r.error}` });
    }
    log(this.state, 'debug', `skipped ${frame.event}`, { kind: r.kind });
    return false;
  }

  /** Is there an authorization (pending or active) between this client and gateway? */
  private paired(clientId: string, gatewayId: string): boolean {
    for (const a of this.state.active.values()) if (a.clientId === clientId && a.gatewayId === gatewayId) return true;
    for (const p of this.state.pending.values()) if (p.clientId === clientId && p.gatewayId === gatewayId) return true;
    return false;
  }

  private pairedGateway(clientId: string, gatewayId: string): number | undefined {
    const connId = this.state.gateways.get(gatewayId);
    return connId !== undefined && this.paired(clientId, gatewayId) ? connId : undefined;
  }

  private join(conn: Conn, frame: PhoenixFrame, nowMs: number): void {
    const s = this.state;
    if (frame.topic !== TOPIC[conn.role]) { this.reply(conn, frame, 'error', { reason: 'unmatched topic' }); return; }
    if (conn.role === 'relay') {
      const join = RelayJoinSchema.safeParse(frame.payload);
      if (!join.success) { this.reply(conn, frame, 'error', { reason: 'invalid stamp_secret' }); return; }
      conn.stampSecret = join.data.stamp_secret;
      conn.joined = true;
      this.reply(conn, frame, 'ok');
      send(s, conn.connId, RELAY_TOPIC, 'init', {});
      for (const d of joinedDevices(s)) relaysPresence(s, d, [], relaysFor(s, d.publicKey, nowMs, conn.relayId));
      return;
    }
    conn.joined = true;
    this.reply(conn, frame, 'ok');
    if (conn.role === 'client') sendClientInit(s, conn, nowMs);
    else sendGatewayInit(s, conn, nowMs);
  }

  /** The socket closed (either side). */
  close(connId: number, nowMs: number): void {
    const s = this.state;
    const conn = s.conns.get(connId);
    if (!conn) return;
    s.conns.delete(connId);
    log(s, 'info', `${conn.role} disconnected`, { conn_id: connId });
    if (conn.role === 'client') {
      if (s.clients.get(conn.device.id) === connId) s.clients.delete(conn.device.id);
      for (const [ref, p] of s.pending) if (p.clientId === conn.device.id) s.pending.delete(ref);
    } else if (conn.role === 'gateway') {
      if (s.gateways.get(conn.device.id) !== connId) return;
      s.gateways.delete(conn.device.id);
      for (const p of [...s.pending.values()]) if (p.gatewayId === conn.device.id) failover(s, p, nowMs);
    } else {
      if (s.relays.get(conn.relayId) !== connId) return;
      s.relays.delete(conn.relayId);
      if (conn.joined) for (const d of joinedDevices(s)) relaysPresence(s, d, [conn.relayId], []);
    }
  }

  /** Timers: idle sockets, gateways that never acknowledged. Call about once a second. */
  tick(nowMs: number): void {
    for (const c of this.state.conns.values()) {
      if (nowMs - c.lastSeenMs > IDLE_TIMEOUT_MS) this.state.outbox.push({ kind: 'close', connId: c.connId, code: 1001, reason: 'idle' });
    }
    expirePending(this.state, nowMs);
  }

  /** Swaps in a new configuration and pushes what changed to the connected peers. */
  reconfigure(config: CompiledConfig, nowMs: number): void {
    applyConfig(this.state, config, nowMs);
  }

  /** Issues a device token for a signed-in user (stored hashed). */
  issueClientToken(email: string, nowMs: number): { token: string; expiresAtMs: number } {
    const token = randomToken(this.state.rng);
    const expiresAtMs = nowMs + this.state.cfg.clientTokenTtlMs;
    this.state.store.saveToken({ hash: hashToken(token), email: email.toLowerCase(), createdAtMs: nowMs, expiresAtMs });
    return { token, expiresAtMs };
  }

  drain(): Output[] {
    return this.state.outbox.splice(0);
  }

  stats(): PortalStats {
    let clients = 0;
    let gateways = 0;
    let relays = 0;
    for (const c of this.state.conns.values()) {
      if (!c.joined) continue;
      if (c.role === 'client') clients++;
      else if (c.role === 'gateway') gateways++;
      else relays++;
    }
    const k = this.state.counters;
    return {
      clients,
      gateways,
      relays,
      authorizationsActive: this.state.active.size,
      authorizationsPending: this.state.pending.size,
      authorizationsCreated: k.authorizationsCreated,
      authorizationsFailed: { ...k.authorizationsFailed },
      framesRejected: k.framesRejected,
    };
  }

  /** For tests: the ids of a connection's device. */
  deviceOf(connId: number): { id: string; ipv4: string; ipv6: string } | undefined {
    const c = this.state.conns.get(connId);
    return c && c.role !== 'relay' ? { id: c.device.id, ipv4: c.device.ipv4, ipv6: c.device.ipv6 } : undefined;
  }
}

