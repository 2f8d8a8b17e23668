// The TURN server (RFC 8656 over UDP, RFC 8489 BINDING), sans-IO: bytes + address + time in; transmits,
// events, forwarding verdicts and a timeout out. Firezone's rules: turn.md and the fixtures.
import {
  channelDataPayloadLength,
  channelNumberOf,
  classifyPacket,
  decodeMessage,
  encodeMessage,
  ERROR_REASONS,
  ErrorCode,
  getAttribute,
  isValidChannel,
  Method,
  TRANSPORT_UDP,
  transactionIdKey,
  verifyIntegrity,
  type Attribute,
  type DecodedMessage,
  type StunHeader,
} from '@postern/stun';
import { Allocation } from './allocation';
import { CredentialStore, NonceStore } from './auth';
import { resolveConfig, type ResolvedConfig, type TurnServerConfig } from './config';
import { PeerPolicy } from './peer-policy';
import type { AuthFailure, Endpoint, Forward, RelayMetrics, Rng, ServerEvent, Transmit } from './types';

const RESERVATION_LIFETIME_MS = 30_000;

interface Authenticated {
  readonly username: string;
  readonly key: Uint8Array;
  readonly exclusive: boolean;
}

type ErrorReply = { readonly error: number; readonly extra?: readonly Attribute[] };

export class TurnServer {
  private readonly cfg: ResolvedConfig;
  private readonly creds: CredentialStore;
  private readonly nonces: NonceStore;
  private readonly policy: PeerPolicy;
  private readonly byClient = new Map<string, Allocation>();
  private readonly byPort = new Map<number, Allocation>();
  private readonly byUsername = new Map<string, Allocation>();
  /** Allocations per client IP address (the quota of maxAllocationsPerIp). */
  private readonly perIp = new Map<string, number>();
  /** Ports held by an EVEN-PORT R-bit reservation: token hex -> {port, expiresAt}. */
  private readonly reservations = new Map<string, { port: number; expiresAt: number }>();
  private readonly reservedPorts = new Set<number>();
  private readonly transmits: Transmit[] = [];
  private readonly events: ServerEvent[] = [];
  private nextDeadline = Infinity;
  private readonly fwd: Forward;
  private m = {
    allocationsCreated: 0,
    allocationsFreed: 0,
    authFailures: 0,
    requests: 0,
    errorResponses: 0,
    packetsClientToPeer: 0,
    bytesClientToPeer: 0,
    packetsPeerToClient: 0,
    bytesPeerToClient: 0,
    packetsDropped: 0,
  };

  constructor(
    config: TurnServerConfig,
    private readonly rng: Rng,
  ) {
    this.cfg = resolveConfig(config);
    this.creds = new CredentialStore({
      realm: this.cfg.realm,
      stampSecret: this.cfg.stampSecret,
      staticUsers: this.cfg.staticUsers,
      restSecret: this.cfg.restSecret,
    });
    this.nonces = new NonceStore(rng, this.cfg.nonceUses);
    this.policy = new PeerPolicy({ allowed: this.cfg.allowedPeers, denied: this.cfg.deniedPeers });
    const none: Endpoint = { family: 4, address: '0.0.0.0', port: 0, key: '0.0.0.0:0' };
    this.fwd = { toPeer: false, dst: none, channel: 0, relayFamily: 4, relayPort: 0, start: 0, end: 0 };
  }

  /** Sets (or clears) the Firezone stamp secret: from the portal join. */
  setStampSecret(secret: string | undefined): void {
    this.creds.setStampSecret(secret);
  }

  get realm(): string {
    return this.cfg.realm;
  }

  // ---- inputs ------------------------------------------------------------------------------------------

  /**
   * A datagram on the listening socket. ChannelData from a client with a bound channel returns the Forward
   * verdict (send to the peer from the relayed socket); STUN messages queue transmits/events and return
   * undefined, as do dropped packets.
   */
  handleClientInput(packet: Uint8Array, from: Endpoint, now: number): Forward | undefined {
    if (from.port === 0) {
      this.m.packetsDropped++;
      return undefined;
    }
    const kind = classifyPacket(packet, this.cfg.lastChannel);
    if (kind === 'channel-data') return this.clientChannelData(packet, from, now);
    if (kind === 'stun') {
      this.clientStun(packet, from, now);
      return undefined;
    }
    this.m.packetsDropped++;
    return undefined;
  }

  /**
   * A datagram that `from` (a peer) sent to the relayed socket (`family`, `port`). With a live channel to that
   * peer the verdict says: frame `packet[start..end)` with `channel` and send to `dst` (the client). With only
   * a permission a DATA indication is queued instead. Otherwise dropped.
   */
  handlePeerInput(packet: Uint8Array, from: Endpoint, family: 4 | 6, port: number, now: number): Forward | undefined {
    const alloc = this.byPort.get(port);
    if (!alloc || alloc.expiresAt <= now || !alloc.hasFamily(family)) {
      this.m.packetsDropped++;
      return undefined;
    }
    const ch = alloc.channelsByPeer.get(from.key);
    if (ch && ch.expiresAt > now && packet.length <= 0xffff) {
      const f = this.fwd;
      f.toPeer = false;
      f.dst = alloc.client;
      f.channel = ch.number;
      f.relayFamily = family;
      f.relayPort = port;
      f.start = 0;
      f.end = packet.length;
      this.m.packetsPeerToClient++;
      this.m.bytesPeerToClient += packet.length;
      return f;
    }
    if (alloc.hasPermission(from.address, now)) {
      const attributes: Attribute[] = [
        { name: 'XOR-PEER-ADDRESS', address: from },
        { name: 'DATA', data: packet },
      ];
      const tid = new Uint8Array(12);
      this.rng.fill(tid);
      this.transmits.push({ source: { kind: 'main' }, dst: alloc.client, payload: encodeMessage({ method: Method.Data, cls: 'indication', transactionId: tid, attributes }) });
      this.m.packetsPeerToClient++;
      this.m.bytesPeerToClient += packet.length;
      return undefined;
    }
    this.m.packetsDropped++;
    return undefined;
  }

  /** The shell could not bind the relayed socket for `port`: the allocation is freed. */
  handlePortUnavailable(port: number): void {
    const alloc = this.byPort.get(port);
    if (alloc) this.free(alloc, 'port-unavailable');
  }

  /** Expires allocations, permissions, channels and reservations due at `now`. */
  handleTimeout(now: number): void {
    if (now < this.nextDeadline) return;
    let next = Infinity;
    for (const alloc of [...this.byClient.values()]) {
      if (alloc.expiresAt <= now) {
        this.free(alloc, 'expired');
        continue;
      }
      next = Math.min(next, alloc.sweep(now));
    }
    for (const [token, r] of this.reservations) {
      if (r.expiresAt <= now) {
        this.reservations.delete(token);
        this.reservedPorts.delete(r.port);
      } else next = Math.min(next, r.expiresAt);
    }
    this.nextDeadline = next;
  }

  // ---- outputs -----------------------------------------------------------------------------------------

  pollTransmit(): Transmit | undefined {
    return this.transmits.shift();
  }

  pollEvent(): ServerEvent | undefined {
    return this.events.shift();
  }

  /** When handleTimeout should next be called (ms), or undefined when nothing is pending. */
  pollTimeout(): number | undefined {
    return this.nextDeadline === Infinity ? undefined : this.nextDeadline;
  }

  metrics(now: number): RelayMetrics {
    let channels = 0;
    let permissions = 0;
    for (const a of this.byClient.values()) {
      channels += a.activeChannels(now);
      permissions += a.permissions.size;
    }
    return { ...this.m, allocations: this.byClient.size, channels, permissions };
  }

  // ---- data path ---------------------------------------------------------------------------------------

  private clientChannelData(packet: Uint8Array, from: Endpoint, now: number): Forward | undefined {
    const len = channelDataPayloadLength(packet, 0, packet.length, this.cfg.lastChannel);
    const alloc = len < 0 ? undefined : this.byClient.get(from.key);
    const ch = alloc?.channelsByNumber.get(channelNumberOf(packet));
    if (!alloc || !ch || ch.expiresAt <= now || alloc.expiresAt <= now) {
      this.m.packetsDropped++;
      return undefined;
    }
    const f = this.fwd;
    f.toPeer = true;
    f.dst = ch.peer;
    f.channel = ch.number;
    f.relayFamily = ch.peer.family;
    f.relayPort = alloc.port;
    f.start = 4;
    f.end = 4 + len;
    this.m.packetsClientToPeer++;
    this.m.bytesClientToPeer += len;
    return f;
  }

  // ---- STUN --------------------------------------------------------------------------------------------

  private clientStun(packet: Uint8Array, from: Endpoint, now: number): void {
    const r = decodeMessage(packet);
    if (!r.ok) {
      // A request whose attributes failed to decode gets 400 (Firezone: built from the decode error).
      const h = r.error.header;
      if (h?.cls === 'request') this.replyError(h, from, ErrorCode.BadRequest, undefined, []);
      else this.m.packetsDropped++;
      return;
    }
    const msg = r.message;
    if (msg.cls === 'indication') {
      if (msg.method === Method.Send) this.sendIndication(msg, from, now);
      return;
    }
    if (msg.cls !== 'request') {
      this.m.packetsDropped++;
      return;
    }
    this.m.requests++;
    if (msg.unknownRequired.length > 0) {
      this.replyError(msg, from, ErrorCode.UnknownAttribute, undefined, [{ name: 'UNKNOWN-ATTRIBUTES', types: msg.unknownRequired }]);
      return;
    }
    if (msg.method === Method.Binding) {
      this.reply(msg, from, 'success', [{ name: 'XOR-MAPPED-ADDRESS', address: from }], undefined);
      return;
    }
    if (msg.method !== Method.Allocate && msg.method !== Method.Refresh && msg.method !== Method.CreatePermission && msg.method !== Method.ChannelBind) {
      this.replyError(msg, from, ErrorCode.BadRequest, undefined, []);
      return;
    }
    const auth = this.authenticate(msg, from, now);
    if (!auth) return;
    let result: Attribute[] | ErrorReply | { response: Uint8Array };
    switch (msg.method) {
      case Method.Allocate:
        result = this.allocate(msg, from, auth, now);
        break;
      case Method.Refresh:
        result = this.refresh(msg, from, auth, now);
        break;
      case Method.CreatePermission:
        result = this.createPermission(msg, from, now);
        break;
      default:
        result = this.channelBind(msg, from, now);
        break;
    }
    if (Array.isArray(result)) {
      const bytes = this.reply(msg, from, 'success', result, auth.key);
      if (msg.method === Method.Allocate) {
        const alloc = this.byClient.get(from.key);
        if (alloc) alloc.lastAllocate = { tid: transactionIdKey(msg.transactionId), response: bytes };
      }
    } else if ('response' in result) {
      // Retransmitted ALLOCATE: the same answer again.
      this.transmits.push({ source: { kind: 'main' }, dst: from, payload: result.response });
    } else {
      this.replyError(msg, from, result.error, auth.key, result.extra ?? []);
    }
  }

  /** RFC 8489 §9.2.4 with Firezone's leniency (a missing NONCE is a 401 challenge, not 400). */
  private authenticate(msg: DecodedMessage, from: Endpoint, now: number): Authenticated | false {
    const username = getAttribute(msg, 'USERNAME')?.value;
    const realm = getAttribute(msg, 'REALM')?.value;
    const nonce = getAttribute(msg, 'NONCE')?.value;
    const challenge = (code: number, reason: AuthFailure): false => {
      this.authFailed(from, reason);
      this.replyError(msg, from, code, undefined, [
        { name: 'REALM', value: this.cfg.realm },
        { name: 'NONCE', value: this.nonces.issue(from.key) },
      ]);
      return false;
    };
    if (msg.integrityOffset < 0 && msg.integritySha256Offset < 0) return challenge(ErrorCode.Unauthorized, 'missing-credentials');
    if (username === undefined || realm === undefined || nonce === undefined) return challenge(ErrorCode.Unauthorized, 'missing-credentials');
    if (realm !== this.cfg.realm) return challenge(ErrorCode.Unauthorized, 'wrong-realm');
    const nowUnix = Math.floor((this.cfg.epochMs + now) / 1000);
    const cred = this.creds.lookup(username, nowUnix);
    if (typeof cred === 'string') return challenge(ErrorCode.Unauthorized, cred);
    const key = cred.keys.find((k) => verifyIntegrity(msg, k) === 'ok');
    if (!key) return challenge(ErrorCode.Unauthorized, 'bad-integrity');
    const check = this.nonces.use(from.key, nonce);
    if (check === 'unknown') return challenge(ErrorCode.Unauthorized, 'stale-nonce');
    if (check === 'stale') return challenge(ErrorCode.StaleNonce, 'stale-nonce');
    const exclusive = this.cfg.oneAllocationPerUsername === 'all' || (this.cfg.oneAllocationPerUsername === 'firezone' && cred.kind === 'firezone');
    return { username, key, exclusive };
  }

  private authFailed(client: Endpoint, reason: AuthFailure): void {
    this.m.authFailures++;
    this.events.push({ type: 'auth-failed', client, reason });
  }

  private allocate(msg: DecodedMessage, from: Endpoint, auth: Authenticated, now: number): Attribute[] | ErrorReply | { response: Uint8Array } {
    const existing = this.byClient.get(from.key);
    if (existing) {
      if (existing.lastAllocate?.tid === transactionIdKey(msg.transactionId)) return { response: existing.lastAllocate.response };
      return { error: ErrorCode.AllocationMismatch };
    }
    const transport = getAttribute(msg, 'REQUESTED-TRANSPORT');
    if (!transport) return { error: ErrorCode.BadRequest };
    if (transport.protocol !== TRANSPORT_UDP) return { error: ErrorCode.UnsupportedTransportProtocol };
    const requested = getAttribute(msg, 'REQUESTED-ADDRESS-FAMILY')?.family;
    const additional = getAttribute(msg, 'ADDITIONAL-ADDRESS-FAMILY')?.family;
    const evenPort = getAttribute(msg, 'EVEN-PORT');
    const token = getAttribute(msg, 'RESERVATION-TOKEN');
    if (requested !== undefined && additional !== undefined) return { error: ErrorCode.BadRequest };
    if (additional === 4) return { error: ErrorCode.BadRequest };
    if (token && (evenPort || requested !== undefined || additional !== undefined)) return { error: ErrorCode.BadRequest };
    const has4 = this.cfg.publicIp4 !== undefined;
    const has6 = this.cfg.publicIp6 !== undefined;
    let families: (4 | 6)[];
    if (additional === 6) {
      if (!has4) return { error: ErrorCode.AddressFamilyNotSupported };
      families = has6 ? [4, 6] : [4];
    } else {
      const want = requested ?? 4;
      if ((want === 4 && !has4) || (want === 6 && !has6)) return { error: ErrorCode.AddressFamilyNotSupported };
      families = [want];
    }
    if (this.byClient.size >= this.cfg.maxAllocations) return { error: ErrorCode.InsufficientCapacity };
    const replaced = auth.exclusive ? this.byUsername.get(auth.username) : undefined;
    const held = (this.perIp.get(from.address) ?? 0) - (replaced?.client.address === from.address ? 1 : 0);
    if (held >= this.cfg.maxAllocationsPerIp) return { error: ErrorCode.AllocationQuotaReached };
    let port: number | undefined;
    let newToken: Uint8Array | undefined;
    if (token) {
      const key = transactionIdKey(token.token);
      const r = this.reservations.get(key);
      if (!r || r.expiresAt <= now || this.byPort.has(r.port)) return { error: ErrorCode.InsufficientCapacity };
      this.reservations.delete(key);
      this.reservedPorts.delete(r.port);
      port = r.port;
    } else {
      port = this.pickPort(evenPort !== undefined, evenPort?.reserveNext ?? false);
      if (port === undefined) return { error: ErrorCode.InsufficientCapacity };
      if (evenPort?.reserveNext) {
        newToken = new Uint8Array(8);
        this.rng.fill(newToken);
        this.reservations.set(transactionIdKey(newToken), { port: port + 1, expiresAt: now + RESERVATION_LIFETIME_MS });
        this.reservedPorts.add(port + 1);
        this.nextDeadline = Math.min(this.nextDeadline, now + RESERVATION_LIFETIME_MS);
      }
    }
    if (auth.exclusive) {
      const old = this.byUsername.get(auth.username);
      if (old) this.free(old, 'replaced');
    }
    const lifetime = this.lifetime(msg);
    const alloc = new Allocation(from, auth.username, auth.exclusive, port, families, now + lifetime * 1000, auth.key);
    this.byClient.set(from.key, alloc);
    this.byPort.set(port, alloc);
    this.perIp.set(from.address, (this.perIp.get(from.address) ?? 0) + 1);
    if (auth.exclusive) this.byUsername.set(auth.username, alloc);
    this.nextDeadline = Math.min(this.nextDeadline, alloc.expiresAt);
    this.m.allocationsCreated++;
    this.events.push({ type: 'allocation-created', port, families, client: from, username: auth.username, lifetimeSecs: lifetime });
    const attrs: Attribute[] = [];
    for (const f of families) {
      const ip = f === 4 ? this.cfg.publicIp4 : this.cfg.publicIp6;
      if (ip !== undefined) attrs.push({ name: 'XOR-RELAYED-ADDRESS', address: { family: f, address: ip, port } });
    }
    attrs.push({ name: 'XOR-MAPPED-ADDRESS', address: from }, { name: 'LIFETIME', seconds: lifetime });
    if (newToken) attrs.push({ name: 'RESERVATION-TOKEN', token: newToken });
    return attrs;
  }

  /** RFC 8656 §7.2: max(default, min(requested, max)). */
  private lifetime(msg: DecodedMessage): number {
    const req = getAttribute(msg, 'LIFETIME')?.seconds;
    if (req === undefined) return this.cfg.defaultLifetimeSecs;
    return Math.max(this.cfg.defaultLifetimeSecs, Math.min(req, this.cfg.maxLifetimeSecs));
  }

  private pickPort(even: boolean, reserveNext: boolean): number | undefined {
    const lo = this.cfg.lowestPort;
    const span = this.cfg.highestPort - lo + 1;
    const free = (p: number): boolean => p <= this.cfg.highestPort && !this.byPort.has(p) && !this.reservedPorts.has(p);
    const ok = (p: number): boolean => free(p) && (!even || p % 2 === 0) && (!reserveNext || free(p + 1));
    const start = this.rng.nextU32() % span;
    for (let i = 0; i < span; i++) {
      const p = lo + ((start + i) % span);
      if (ok(p)) return p;
    }
    return undefined;
  }

  private refresh(msg: DecodedMessage, from: Endpoint, auth: Authenticated, now: number): Attribute[] | ErrorReply {
    const alloc = this.byClient.get(from.key);
    if (!alloc) return { error: ErrorCode.AllocationMismatch };
    const requested = getAttribute(msg, 'LIFETIME')?.seconds;
    alloc.key = auth.key;
    if (requested === 0) {
      this.free(alloc, 'deleted');
      return [{ name: 'LIFETIME', seconds: 0 }];
    }
    const lifetime = this.lifetime(msg);
    alloc.expiresAt = now + lifetime * 1000;
    return [{ name: 'LIFETIME', seconds: lifetime }];
  }

  private peerAddresses(msg: DecodedMessage): Endpoint[] {
    const out: Endpoint[] = [];
    for (const a of msg.attributes) {
      if (a.name !== 'XOR-PEER-ADDRESS') continue;
      const ad = a.address;
      out.push({ family: ad.family, address: ad.address, port: ad.port, key: ad.family === 6 ? `[${ad.address}]:${ad.port}` : `${ad.address}:${ad.port}` });
    }
    return out;
  }

  private checkPeer(alloc: Allocation, peer: Endpoint): ErrorReply | undefined {
    if (!alloc.hasFamily(peer.family)) return { error: ErrorCode.PeerAddressFamilyMismatch };
    if (!this.policy.isAllowed(peer.address)) return { error: ErrorCode.Forbidden };
    return undefined;
  }

  private createPermission(msg: DecodedMessage, from: Endpoint, now: number): Attribute[] | ErrorReply {
    const alloc = this.byClient.get(from.key);
    if (!alloc) return { error: ErrorCode.AllocationMismatch };
    const peers = this.peerAddresses(msg);
    if (peers.length === 0) return { error: ErrorCode.BadRequest };
    for (const p of peers) {
      const bad = this.checkPeer(alloc, p);
      if (bad) return bad;
    }
    const fresh = peers.filter((p) => !alloc.permissions.has(p.address)).length;
    if (alloc.permissions.size + fresh > this.cfg.maxPermissionsPerAllocation) return { error: ErrorCode.InsufficientCapacity };
    const exp = now + this.cfg.permissionLifetimeSecs * 1000;
    for (const p of peers) alloc.permissions.set(p.address, exp);
    this.nextDeadline = Math.min(this.nextDeadline, exp);
    return [];
  }

  private channelBind(msg: DecodedMessage, from: Endpoint, now: number): Attribute[] | ErrorReply {
    const alloc = this.byClient.get(from.key);
    if (!alloc) return { error: ErrorCode.AllocationMismatch };
    const number = getAttribute(msg, 'CHANNEL-NUMBER')?.channel;
    const peer = this.peerAddresses(msg)[0];
    if (number === undefined || peer === undefined || !isValidChannel(number, this.cfg.lastChannel)) return { error: ErrorCode.BadRequest };
    const bad = this.checkPeer(alloc, peer);
    if (bad) return bad;
    alloc.sweep(now);
    const byNum = alloc.channelsByNumber.get(number);
    const byPeer = alloc.channelsByPeer.get(peer.key);
    // One channel per peer, one peer per channel, including during the 300 s guard after expiry.
    if (byNum && byNum.peer.key !== peer.key) return { error: ErrorCode.BadRequest };
    if (byPeer && byPeer.number !== number) return { error: ErrorCode.BadRequest };
    const expiresAt = now + this.cfg.channelLifetimeSecs * 1000;
    const reservedUntil = expiresAt + this.cfg.channelReuseGuardSecs * 1000;
    if (byNum) {
      byNum.expiresAt = expiresAt;
      byNum.reservedUntil = reservedUntil;
    } else {
      if (alloc.channelsByNumber.size >= this.cfg.maxChannelsPerAllocation) return { error: ErrorCode.InsufficientCapacity };
      const ch = { number, peer, expiresAt, reservedUntil };
      alloc.channelsByNumber.set(number, ch);
      alloc.channelsByPeer.set(peer.key, ch);
      this.events.push({ type: 'channel-bound', port: alloc.port, channel: number, peer });
    }
    const permExp = now + this.cfg.permissionLifetimeSecs * 1000;
    alloc.permissions.set(peer.address, Math.max(permExp, alloc.permissions.get(peer.address) ?? 0));
    this.nextDeadline = Math.min(this.nextDeadline, permExp, expiresAt);
    return [];
  }

  private sendIndication(msg: DecodedMessage, from: Endpoint, now: number): void {
    const alloc = this.byClient.get(from.key);
    const peer = this.peerAddresses(msg)[0];
    const data = getAttribute(msg, 'DATA')?.data;
    if (!alloc || !peer || !data || alloc.expiresAt <= now || !alloc.hasFamily(peer.family) || !alloc.hasPermission(peer.address, now)) {
      this.m.packetsDropped++;
      return;
    }
    this.transmits.push({ source: { kind: 'relay', family: peer.family, port: alloc.port }, dst: peer, payload: data.slice() });
    this.m.packetsClientToPeer++;
    this.m.bytesClientToPeer += data.length;
  }

  private free(alloc: Allocation, reason: 'expired' | 'deleted' | 'replaced' | 'port-unavailable'): void {
    this.byClient.delete(alloc.client.key);
    const n = (this.perIp.get(alloc.client.address) ?? 1) - 1;
    if (n > 0) this.perIp.set(alloc.client.address, n);
    else this.perIp.delete(alloc.client.address);
    if (this.byPort.get(alloc.port) === alloc) this.byPort.delete(alloc.port);
    if (this.byUsername.get(alloc.username) === alloc) this.byUsername.delete(alloc.username);
    this.m.allocationsFreed++;
    this.events.push({ type: 'allocation-freed', port: alloc.port, families: alloc.families, client: alloc.client, reason });
  }

  // ---- responses ---------------------------------------------------------------------------------------

  private reply(req: StunHeader, to: Endpoint, cls: 'success' | 'error', attrs: readonly Attribute[], key: Uint8Array | undefined): Uint8Array {
    const attributes: Attribute[] = [{ name: 'SOFTWARE', value: this.cfg.software }, ...attrs];
    const payload = encodeMessage(
      { method: req.method, cls, transactionId: req.transactionId, attributes },
      key ? { integrity: key, fingerprint: true } : { fingerprint: true },
    );
    this.transmits.push({ source: { kind: 'main' }, dst: to, payload });
    return payload;
  }

  private replyError(req: StunHeader, to: Endpoint, code: number, key: Uint8Array | undefined, extra: readonly Attribute[]): void {
    this.m.errorResponses++;
    this.reply(req, to, 'error', [{ name: 'ERROR-CODE', code, reason: ERROR_REASONS[code] ?? 'Error' }, ...extra], key);
  }
}
