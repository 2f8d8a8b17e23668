// A snownet Node (Firezone snownet `Node<T>`): one WireGuard connection per peer, found by receiver index
// or, for handshake initiations, by the initiator's static key. Sans-IO: datagrams and `now` in; transmits,
// events and the next timeout out. This first version reaches peers at their host candidates (or an explicit
// address); the ICE agent and TURN allocations slot in behind the same methods.
import {
  MESSAGE_HANDSHAKE_INITIATION,
  RateLimiter,
  StaticIdentity,
  keyToBase64,
  equalBytes,
  messageType,
  peerSlotOf,
  readInitiatorStaticKey,
  receiverIndexOf,
  type TunnResult,
} from '@postern/wireguard';
import type { NetAddr } from './addr';
import { formatHostCandidate, parseCandidate } from './candidate';
import { Connection } from './connection';
import { SnownetError } from './errors';
import type {
  ConnectionFailure,
  ConnectionParams,
  ConnectionStats,
  DecapsulateDrop,
  DecapsulateResult,
  EncapsulateDrop,
  EncapsulateResult,
  NodeConfig,
  NodeEvent,
  NodeRole,
  PeerId,
  Transmit,
  UpsertOutcome,
} from './types';

/** How often WireGuard timers run while connections exist (the Tunn wants at least every 250 ms). */
export const TIMER_INTERVAL_MS = 250;
const DEFAULT_IDLE_TIMEOUT = 15_000;
const DEFAULT_HANDSHAKE_TIMEOUT = 10_000;
const DEFAULT_KEEPALIVE_S = 5;
const SCRATCH_LEN = 2048;

interface MutableTransmit {
  src: NetAddr | undefined;
  dst: NetAddr;
  payload: Uint8Array;
}

export class Node {
  readonly role: NodeRole;
  readonly publicKey: Uint8Array;
  private readonly identity: StaticIdentity;
  private readonly limiter: RateLimiter;
  private readonly byPeer = new Map<PeerId, Connection>();
  private readonly bySlot = new Map<number, Connection>();
  private readonly byKey = new Map<string, Connection>();
  private readonly transmits: Transmit[] = [];
  private readonly events: NodeEvent[] = [];
  private localAddrs: NetAddr[] = [];
  private nextSlot = 1;
  private nextTimerAt: number | undefined;
  private scratch = new Uint8Array(SCRATCH_LEN);
  private readonly idleTimeout: number;
  private readonly handshakeTimeout: number;
  private readonly keepaliveS: number;
  // reused result objects (read before the next call)
  private readonly tx: MutableTransmit = { src: undefined, dst: { family: 4, address: '0.0.0.0', port: 0, key: '0.0.0.0:0' }, payload: new Uint8Array(0) };
  private readonly txResult: { kind: 'transmit'; transmit: Transmit } = { kind: 'transmit', transmit: this.tx };
  private readonly packetResult: { kind: 'packet'; peerId: PeerId; packet: Uint8Array } = { kind: 'packet', peerId: '', packet: new Uint8Array(0) };

  constructor(private readonly config: NodeConfig) {
    if (config.privateKey.length !== 32) throw new SnownetError('INVALID_KEY', 'private key must be 32 bytes');
    this.role = config.role;
    this.identity = new StaticIdentity(config.privateKey);
    this.publicKey = this.identity.publicKey;
    this.limiter = new RateLimiter(this.identity, config.rng);
    this.idleTimeout = config.idleTimeout ?? DEFAULT_IDLE_TIMEOUT;
    this.handshakeTimeout = config.handshakeTimeout ?? DEFAULT_HANDSHAKE_TIMEOUT;
    this.keepaliveS = config.persistentKeepalive ?? DEFAULT_KEEPALIVE_S;
  }

  // ------------------------------------------------------------------------------------ connections

  /**
   * Creates the connection to `peerId`, or updates it. Same public key and preshared key: kept as is
   * ('unchanged', credentials/remote refreshed). Different keys: the old one is dropped silently and a
   * new one made ('replaced'). A client starts the handshake as soon as the peer's address is known.
   */
  upsertConnection(peerId: PeerId, params: ConnectionParams, now: number): UpsertOutcome {
    if (params.publicKey.length !== 32 || params.presharedKey.length !== 32) {
      throw new SnownetError('INVALID_KEY', 'public key and preshared key must be 32 bytes');
    }
    const existing = this.byPeer.get(peerId);
    if (existing !== undefined && equalBytes(existing.params.publicKey, params.publicKey) && equalBytes(existing.params.presharedKey, params.presharedKey)) {
      existing.params = { ...params };
      if (params.remote !== undefined && existing.remote === undefined) this.setRemote(existing, params.remote, now);
      return 'unchanged';
    }
    if (existing !== undefined) this.forget(existing);
    const conn = new Connection(peerId, { ...params }, this.allocSlot(), this.deps(), now);
    this.byPeer.set(peerId, conn);
    this.bySlot.set(conn.slot, conn);
    this.byKey.set(keyToBase64(params.publicKey), conn);
    for (const addr of this.localAddrs) this.events.push({ type: 'newIceCandidate', peerId, candidate: formatHostCandidate(addr) });
    if (this.role === 'client' && conn.remote !== undefined) this.initiate(conn, now, true);
    this.scheduleTimer(now);
    return existing === undefined ? 'created' : 'replaced';
  }

  /** Adds a candidate the peer signalled (SDP string). Returns false if it cannot be used (yet). */
  addRemoteCandidate(peerId: PeerId, candidate: string, now: number): boolean {
    const conn = this.byPeer.get(peerId);
    const parsed = parseCandidate(candidate);
    if (conn === undefined || parsed === undefined) return false;
    if (!conn.remoteCandidates.some((c) => c.addr.key === parsed.addr.key)) conn.remoteCandidates.push(parsed);
    const best = conn.bestHostCandidate();
    if (best === undefined) return false;
    if (conn.remote === undefined) this.setRemote(conn, best.addr, now);
    return true;
  }

  /** The peer withdrew a candidate; if it was the address in use, the next best host candidate takes over. */
  removeRemoteCandidate(peerId: PeerId, candidate: string, now: number): void {
    const conn = this.byPeer.get(peerId);
    const parsed = parseCandidate(candidate);
    if (conn === undefined || parsed === undefined) return;
    const i = conn.remoteCandidates.findIndex((c) => c.addr.key === parsed.addr.key);
    if (i !== -1) conn.remoteCandidates.splice(i, 1);
    if (conn.remote?.key === parsed.addr.key) {
      conn.remote = undefined;
      const best = conn.bestHostCandidate();
      if (best !== undefined) this.setRemote(conn, best.addr, now);
    }
  }

  /** Our local socket addresses: each becomes a host candidate signalled to every peer (and later ones). */
  setLocalAddresses(addrs: readonly NetAddr[]): void {
    const added = addrs.filter((a) => !this.localAddrs.some((b) => b.key === a.key));
    const removed = this.localAddrs.filter((a) => !addrs.some((b) => b.key === a.key));
    this.localAddrs = [...addrs];
    for (const conn of this.byPeer.values()) {
      for (const a of added) this.events.push({ type: 'newIceCandidate', peerId: conn.peerId, candidate: formatHostCandidate(a) });
      for (const a of removed) this.events.push({ type: 'invalidatedIceCandidate', peerId: conn.peerId, candidate: formatHostCandidate(a) });
    }
  }

  /** Local candidates (SDP) currently offered to peers. */
  localCandidates(): string[] {
    return this.localAddrs.map((a) => formatHostCandidate(a));
  }

  /** Removes the connection and emits `closed`. */
  removeConnection(peerId: PeerId): boolean {
    const conn = this.byPeer.get(peerId);
    if (conn === undefined) return false;
    this.forget(conn);
    this.events.push({ type: 'closed', peerId });
    return true;
  }

  hasConnection(peerId: PeerId): boolean {
    return this.byPeer.has(peerId);
  }

  /** True once a WireGuard session with the peer can carry data. */
  isConnected(peerId: PeerId, now: number): boolean {
    return this.byPeer.get(peerId)?.tunn.isConnected(now) ?? false;
  }

  peers(): IterableIterator<PeerId> {
    return this.byPeer.keys();
  }

  remoteOf(peerId: PeerId): NetAddr | undefined {
    return this.byPeer.get(peerId)?.remote;
  }

  stats(peerId: PeerId): ConnectionStats | undefined {
    const c = this.byPeer.get(peerId);
    if (c === undefined) return undefined;
    const s = c.tunn.stats;
    return { peerId, remote: c.remote, connected: c.connected, txBytes: s.txBytes, rxBytes: s.rxBytes, handshakesCompleted: s.handshakesCompleted };
  }

  /**
   * Network change: every connection gets fresh WireGuard state (same keys) and the client handshakes
   * again; peers' candidates are kept. Queued transmits are dropped (they belong to old sockets).
   */
  reset(now: number): void {
    this.transmits.length = 0;
    for (const conn of this.byPeer.values()) {
      this.bySlot.delete(conn.slot);
      conn.renew(this.allocSlot(), now);
      this.bySlot.set(conn.slot, conn);
      if (this.role === 'client' && conn.remote !== undefined) this.initiate(conn, now, true);
    }
    this.scheduleTimer(now);
  }

  // ------------------------------------------------------------------------------------ data path

  /**
   * Encrypts an IP packet for `peerId`. The datagram is written into `out` (needs packet length + 48 bytes;
   * default a node-owned scratch buffer valid until the next call) and returned as a reused Transmit. Without
   * a session the packet is queued inside the connection and a handshake initiation may come back instead.
   */
  encapsulate(peerId: PeerId, packet: Uint8Array, now: number, out?: Uint8Array): EncapsulateResult {
    const conn = this.byPeer.get(peerId);
    if (conn === undefined) return drop('unknownPeer');
    const buf = out ?? this.scratchFor(packet.length);
    const r = conn.tunn.encapsulate(packet, buf, now);
    switch (r.kind) {
      case 'writeToNetwork': {
        if (!conn.connected) conn.connectingSince ??= now;
        const remote = conn.remote;
        if (remote === undefined) return drop('noRemote');
        this.scheduleTimer(now);
        return this.transmit(remote, r.buffer.subarray(r.offset, r.offset + r.length));
      }
      case 'done':
        if (!conn.connected) conn.connectingSince ??= now;
        return drop('queued');
      case 'error':
        return drop(r.reason);
      default:
        return drop('invalidPacket');
    }
  }

  /**
   * Decrypts a datagram from `from`. Data comes back as a view of `datagram` (decrypted in place); handshake
   * answers and packets released by a completed handshake wait in `pollTransmit`.
   */
  decapsulate(from: NetAddr, datagram: Uint8Array, now: number): DecapsulateResult {
    const type = messageType(datagram);
    if (type === 0) return ddrop('notWireGuard', undefined);
    let conn: Connection | undefined;
    if (type === MESSAGE_HANDSHAKE_INITIATION) {
      const key = readInitiatorStaticKey(datagram, this.identity, this.limiter);
      if (key === null) return ddrop('invalidMac1', undefined);
      conn = this.byKey.get(keyToBase64(key));
    } else {
      conn = this.bySlot.get(peerSlotOf(receiverIndexOf(datagram, type)));
    }
    if (conn === undefined) return ddrop('unknownPeer', undefined);
    const scratch = this.scratchFor(datagram.length);
    const r = conn.tunn.decapsulate(datagram, scratch, now);
    switch (r.kind) {
      case 'writeToTunnelV4':
      case 'writeToTunnelV6': {
        this.received(conn, from, now);
        const res = this.packetResult;
        res.peerId = conn.peerId;
        res.packet = r.buffer.subarray(r.offset, r.offset + r.length);
        return res;
      }
      case 'writeToNetwork':
        this.received(conn, from, now);
        this.queueResult(conn, r);
        this.flushQueued(conn, now);
        this.checkConnected(conn, now);
        return { kind: 'handled', peerId: conn.peerId };
      case 'done':
        this.received(conn, from, now);
        return { kind: 'handled', peerId: conn.peerId };
      case 'error':
        return ddrop(r.reason, conn.peerId);
    }
  }

  // ------------------------------------------------------------------------------------ time and output

  handleTimeout(now: number): void {
    if (this.nextTimerAt !== undefined && now < this.nextTimerAt) {
      this.checkDeadlines(now);
      return;
    }
    for (const conn of [...this.byPeer.values()]) {
      const r = conn.tunn.updateTimers(this.scratch, now);
      if (r.kind === 'error' && r.reason === 'connectionExpired') {
        this.fail(conn, 'wireguardExpired');
        continue;
      }
      this.queueResult(conn, r);
    }
    this.checkDeadlines(now);
    this.nextTimerAt = this.byPeer.size > 0 ? now + TIMER_INTERVAL_MS : undefined;
  }

  pollTimeout(): number | undefined {
    let t = this.nextTimerAt;
    for (const conn of this.byPeer.values()) {
      const d = this.deadlineOf(conn);
      if (d !== undefined && (t === undefined || d < t)) t = d;
    }
    return t;
  }

  pollTransmit(): Transmit | undefined {
    return this.transmits.shift();
  }

  pollEvent(): NodeEvent | undefined {
    return this.events.shift();
  }

  // ------------------------------------------------------------------------------------ internals

  private deps() {
    return { identity: this.identity, limiter: this.limiter, rng: this.config.rng, wallClockAtZero: this.config.wallClockAtZero };
  }

  private allocSlot(): number {
    for (;;) {
      const slot = this.nextSlot;
      this.nextSlot = this.nextSlot >= 0xff_ffff ? 1 : this.nextSlot + 1;
      if (!this.bySlot.has(slot)) return slot;
    }
  }

  private scratchFor(len: number): Uint8Array {
    if (this.scratch.length < len + 64) this.scratch = new Uint8Array(len + 64);
    return this.scratch;
  }

  private scheduleTimer(now: number): void {
    if (this.nextTimerAt === undefined || this.nextTimerAt > now + TIMER_INTERVAL_MS) this.nextTimerAt = now + TIMER_INTERVAL_MS;
  }

  private transmit(dst: NetAddr, payload: Uint8Array): EncapsulateResult {
    this.tx.src = undefined;
    this.tx.dst = dst;
    this.tx.payload = payload;
    return this.txResult;
  }

  private setRemote(conn: Connection, addr: NetAddr, now: number): void {
    conn.remote = addr;
    if (this.role === 'client') this.initiate(conn, now, true);
  }

  private initiate(conn: Connection, now: number, force: boolean): void {
    if (conn.tunn.isConnected(now)) return;
    conn.connectingSince ??= now;
    this.queueResult(conn, conn.tunn.formatHandshakeInitiation(this.scratch, now, force));
    this.scheduleTimer(now);
  }

  private queueResult(conn: Connection, r: TunnResult): void {
    if (r.kind !== 'writeToNetwork' || conn.remote === undefined) return;
    this.transmits.push({ src: undefined, dst: conn.remote, payload: r.buffer.slice(r.offset, r.offset + r.length) });
  }

  private flushQueued(conn: Connection, now: number): void {
    for (;;) {
      const r = conn.tunn.flushQueued(this.scratch, now);
      if (r.kind !== 'writeToNetwork') return;
      this.queueResult(conn, r);
    }
  }

  /** An authenticated datagram arrived: the peer's address follows it (WireGuard roaming). */
  private received(conn: Connection, from: NetAddr, now: number): void {
    conn.lastReceivedAt = now;
    if (conn.remote?.key !== from.key) conn.remote = from;
    this.checkConnected(conn, now);
  }

  private checkConnected(conn: Connection, now: number): void {
    if (conn.connected || !conn.tunn.isConnected(now)) return;
    conn.connected = true;
    conn.connectingSince = undefined;
    conn.tunn.setPersistentKeepalive(this.keepaliveS);
    this.events.push({ type: 'connected', peerId: conn.peerId });
    this.scheduleTimer(now);
  }

  private deadlineOf(conn: Connection): number | undefined {
    if (conn.connected) return conn.lastReceivedAt + this.idleTimeout;
    if (conn.connectingSince !== undefined) return conn.connectingSince + this.handshakeTimeout;
    return undefined;
  }

  private checkDeadlines(now: number): void {
    for (const conn of [...this.byPeer.values()]) {
      this.checkConnected(conn, now);
      const d = this.deadlineOf(conn);
      if (d !== undefined && now >= d) this.fail(conn, conn.connected ? 'idleTimeout' : 'handshakeTimeout');
    }
  }

  private fail(conn: Connection, reason: ConnectionFailure): void {
    this.forget(conn);
    this.events.push({ type: 'failed', peerId: conn.peerId, reason });
  }

  private forget(conn: Connection): void {
    this.byPeer.delete(conn.peerId);
    this.bySlot.delete(conn.slot);
    const key = keyToBase64(conn.params.publicKey);
    if (this.byKey.get(key) === conn) this.byKey.delete(key);
    conn.tunn.dispose();
    for (let i = this.transmits.length - 1; i >= 0; i--) {
      if (this.transmits[i]?.dst === conn.remote) this.transmits.splice(i, 1);
    }
  }
}

const DROPS = new Map<string, EncapsulateResult>();
function drop(reason: EncapsulateDrop): EncapsulateResult {
  let r = DROPS.get(reason);
  if (r === undefined) {
    r = { kind: 'drop', reason };
    DROPS.set(reason, r);
  }
  return r;
}

function ddrop(reason: DecapsulateDrop, peerId: PeerId | undefined): DecapsulateResult {
  return { kind: 'drop', reason, peerId };
}
