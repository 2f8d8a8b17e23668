// A snownet Node (Firezone snownet `Node<T>`): one WireGuard connection per peer, found by receiver index
// or, for handshake initiations, by the initiator's static key; an ICE agent per connection and a TURN
// allocation per relay. Sans-IO: datagrams and `now` in; transmits, events and the next timeout out.
//
// Datagrams are demultiplexed before WireGuard: from a relay's address -> that allocation (STUN answers,
// ChannelData / DATA indications unwrapped and handled as if they came from the peer); STUN BINDING requests
// and answers -> the ICE agent of the connection (by USERNAME / transaction id); the rest -> WireGuard.
// Connections given both ICE credentials (and no explicit `remote`) run ICE: WireGuard waits for a nominated
// pair and then travels only over it (ChannelData through our relay when the pair's local side is relayed).
// Without credentials a connection uses the peer's best host candidate (the first version's behaviour).
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
import { Method, decodeMessage, getAttribute, isStunMessage } from '@postern/stun';
import { ViewCache } from '@postern/bufferpool';
import type { NetAddr } from './addr';
import { Allocation, type AllocationEvent } from './allocation';
import { candidatePriority, formatCandidate, formatHostCandidate, parseCandidate } from './candidate';
import { Connection, type WgPath } from './connection';
import { SnownetError } from './errors';
import { IceAgent, QUIET_PROBE_MS, type LocalCandidate } from './ice';
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
  PathKind,
  PeerId,
  RelayInfo,
  RelayStats,
  Transmit,
  UpsertOutcome,
} from './types';

/** How often WireGuard timers run while connections exist (the Tunn wants at least every 250 ms). */
export const TIMER_INTERVAL_MS = 250;
const DEFAULT_IDLE_TIMEOUT = 15_000;
const DEFAULT_HANDSHAKE_TIMEOUT = 10_000;
const DEFAULT_KEEPALIVE_S = 5;
const SCRATCH_LEN = 2048;
/** An allocation that failed for lack of answers is tried again after this long. */
export const ALLOCATION_RETRY_MS = 60_000;
/** A connection counts as sending if it sent WireGuard data this recently (quiet-peer probe). */
const QUIET_SENDING_MS = 1_000;
/** Room for a ChannelData header in front of WireGuard output. */
const CD = 4;

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
  private lastNow = 0;
  private scratch = new Uint8Array(SCRATCH_LEN);
  private scratchTail = this.scratch.subarray(CD);
  private readonly idleTimeout: number;
  private readonly handshakeTimeout: number;
  private readonly keepaliveS: number;
  // ICE and relays
  private readonly tieBreaker: bigint;
  private readonly relays = new Map<string, RelayInfo>();
  private readonly allocations = new Map<string, Allocation>();
  private hostCandidates: LocalCandidate[] = [];
  /** Server-reflexive candidates, shared by the relays that saw the same mapping. */
  private readonly srflx = new Map<string, { readonly cand: LocalCandidate; readonly relays: Set<string> }>();
  private readonly relayCandidates = new Map<string, LocalCandidate>();
  /** Allocations were made or failed since the last `checkRelays`. */
  private relaysChanged = false;
  /** Relay server address key -> allocation (rebuilt after the set of allocations changed). */
  private byServer: Map<string, Allocation> | undefined;
  // reused result objects (read before the next call)
  private readonly tx: MutableTransmit = { src: undefined, dst: { family: 4, address: '0.0.0.0', port: 0, key: '0.0.0.0:0' }, payload: new Uint8Array(0) };
  private readonly txResult: { kind: 'transmit'; transmit: Transmit } = { kind: 'transmit', transmit: this.tx };
  private readonly packetResult: { kind: 'packet'; peerId: PeerId; packet: Uint8Array } = { kind: 'packet', peerId: '', packet: new Uint8Array(0) };
  /**
   * Views handed out by the data path (transmit payloads, decrypted packets): the same bytes of the same
   * buffer (ring slot, GSO batch, scratch) come back packet after packet, so no `subarray` per packet.
   */
  private readonly views = new ViewCache(8192);
  /**
   * The sealed ChannelData datagram inside a caller's `out` (header + WireGuard): a second child of `out`
   * beside the WireGuard tail that `views` keeps for it (`within` remembers one child per parent: both in
   * one cache replaced each other, two fresh views per relayed packet).
   */
  private readonly framedViews = new ViewCache(2);

  constructor(private readonly config: NodeConfig) {
    if (config.privateKey.length !== 32) throw new SnownetError('INVALID_KEY', 'private key must be 32 bytes');
    this.role = config.role;
    this.identity = new StaticIdentity(config.privateKey);
    this.publicKey = this.identity.publicKey;
    this.limiter = new RateLimiter(this.identity, config.rng);
    this.idleTimeout = config.idleTimeout ?? DEFAULT_IDLE_TIMEOUT;
    this.handshakeTimeout = config.handshakeTimeout ?? DEFAULT_HANDSHAKE_TIMEOUT;
    this.keepaliveS = config.persistentKeepalive ?? DEFAULT_KEEPALIVE_S;
    this.tieBreaker = (BigInt(config.rng.nextU32()) << 32n) | BigInt(config.rng.nextU32());
  }

  // ------------------------------------------------------------------------------------ connections

  /**
   * Creates the connection to `peerId`, or updates it. Same public key and preshared key: kept as is
   * ('unchanged', credentials/remote refreshed). Different keys: the old one is dropped silently and a
   * new one made ('replaced'). With both ICE credentials (and no `remote`) the connection runs ICE and a
   * client handshakes once a pair is nominated; otherwise a client starts as soon as the peer's address is known.
   */
  upsertConnection(peerId: PeerId, params: ConnectionParams, now: number): UpsertOutcome {
    this.lastNow = now;
    if (params.publicKey.length !== 32 || params.presharedKey.length !== 32) {
      throw new SnownetError('INVALID_KEY', 'public key and preshared key must be 32 bytes');
    }
    const existing = this.byPeer.get(peerId);
    if (existing !== undefined && equalBytes(existing.params.publicKey, params.publicKey) && equalBytes(existing.params.presharedKey, params.presharedKey)) {
      existing.params = { ...params };
      if (existing.ice === undefined && params.remote !== undefined && existing.remote === undefined) this.setRemote(existing, params.remote, now);
      return 'unchanged';
    }
    if (existing !== undefined) this.forget(existing);
    const conn = new Connection(peerId, { ...params }, this.allocSlot(), this.deps(), now);
    this.byPeer.set(peerId, conn);
    this.bySlot.set(conn.slot, conn);
    this.byKey.set(keyToBase64(params.publicKey), conn);
    const local = params.localIceCredentials;
    const remote = params.remoteIceCredentials;
    conn.relayId = this.sampleRelay(undefined);
    if (local !== undefined && remote !== undefined && params.remote === undefined) {
      conn.ice = new IceAgent(this.role === 'client', local, remote, this.tieBreaker, this.config.rng);
      for (const c of this.candidatesOf(conn)) conn.ice.addLocal(c, now);
    }
    for (const c of this.candidatesOf(conn)) this.events.push({ type: 'newIceCandidate', peerId, candidate: sdpOf(c) });
    if (this.role === 'client' && conn.ice === undefined && conn.remote !== undefined) this.initiate(conn, now, true);
    this.scheduleTimer(now);
    return existing === undefined ? 'created' : 'replaced';
  }

  /** Adds a candidate the peer signalled (SDP string). Returns false if it cannot be used (yet). */
  addRemoteCandidate(peerId: PeerId, candidate: string, now: number): boolean {
    this.lastNow = now;
    const conn = this.byPeer.get(peerId);
    const parsed = parseCandidate(candidate);
    if (conn === undefined || parsed === undefined) return false;
    if (!conn.remoteCandidates.some((c) => c.addr.key === parsed.addr.key)) conn.remoteCandidates.push(parsed);
    const ice = conn.ice;
    if (ice !== undefined) {
      ice.addRemote({ kind: parsed.type, addr: parsed.addr, priority: parsed.priority }, now);
      // The peer's checks to our relayed address need a permission for its IP.
      const a = conn.relayId === undefined ? undefined : this.allocations.get(conn.relayId);
      if (a !== undefined) {
        a.permit(parsed.addr, now);
        this.drainAllocation(a, now);
      }
      this.pumpAgent(conn, now);
      return true;
    }
    const best = conn.bestHostCandidate();
    if (best === undefined) return false;
    if (conn.remote === undefined) this.setRemote(conn, best.addr, now);
    return true;
  }

  /** The peer withdrew a candidate: its pairs go; if one was in use, ICE fails over (or the next host candidate takes over). */
  removeRemoteCandidate(peerId: PeerId, candidate: string, now: number): void {
    this.lastNow = now;
    const conn = this.byPeer.get(peerId);
    const parsed = parseCandidate(candidate);
    if (conn === undefined || parsed === undefined) return;
    const i = conn.remoteCandidates.findIndex((c) => c.addr.key === parsed.addr.key);
    if (i !== -1) conn.remoteCandidates.splice(i, 1);
    if (conn.ice !== undefined) {
      conn.ice.removeRemote(parsed.addr, now);
      this.pumpAgent(conn, now);
      return;
    }
    if (conn.remote?.key === parsed.addr.key) {
      conn.remote = undefined;
      const best = conn.bestHostCandidate();
      if (best !== undefined) this.setRemote(conn, best.addr, now);
    }
  }

  /** Our local socket addresses: each becomes a host candidate signalled to every peer (and later ones). */
  setLocalAddresses(addrs: readonly NetAddr[], now: number = this.lastNow): void {
    const added = addrs.filter((a) => !this.localAddrs.some((b) => b.key === a.key));
    const removed = this.localAddrs.filter((a) => !addrs.some((b) => b.key === a.key));
    this.localAddrs = [...addrs];
    this.hostCandidates = this.localAddrs.map((a) => ({ kind: 'host', addr: a, base: a, priority: candidatePriority('host'), relayId: undefined }));
    for (const conn of this.byPeer.values()) {
      for (const a of added) this.events.push({ type: 'newIceCandidate', peerId: conn.peerId, candidate: formatHostCandidate(a) });
      for (const a of removed) this.events.push({ type: 'invalidatedIceCandidate', peerId: conn.peerId, candidate: formatHostCandidate(a) });
      const ice = conn.ice;
      if (ice === undefined) continue;
      for (const a of removed) ice.removeLocal(a, 'host', now);
      for (const c of this.hostCandidates) if (added.some((a) => a.key === c.addr.key)) ice.addLocal(c, now);
      this.pumpAgent(conn, now);
    }
  }

  /** Local candidates (SDP) currently offered to peers: host, server-reflexive and relayed. */
  localCandidates(): string[] {
    return this.allLocalCandidates().map(sdpOf);
  }

  /**
   * The relays to use (the portal's `init.relays` and `relays_presence`): `removed` ids are deallocated and
   * their candidates invalidated (connections on them fail over); `added` ones are allocated (an existing id
   * with the same addresses only takes the new credentials).
   */
  updateRelays(removed: readonly string[], added: readonly RelayInfo[], now: number): void {
    this.lastNow = now;
    for (const id of removed) {
      this.relays.delete(id);
      const a = this.allocations.get(id);
      if (a === undefined) continue;
      this.allocations.delete(id);
      this.byServer = undefined;
      a.close(now);
      this.drainAllocation(a, now);
    }
    for (const info of added) {
      const old = this.relays.get(info.id);
      const existing = this.allocations.get(info.id);
      this.relays.set(info.id, info);
      if (existing !== undefined && old !== undefined && old.ipv4 === info.ipv4 && old.ipv6 === info.ipv6 && old.port === info.port && existing.state !== 'failed') {
        existing.updateCredentials(info);
        continue;
      }
      if (existing !== undefined) {
        this.allocations.delete(info.id);
        this.byServer = undefined;
        existing.close(now);
        this.drainAllocation(existing, now);
      }
      this.allocate(info, now);
    }
    this.checkRelays(now);
  }

  /** Replaces the whole relay set (the portal's `init.relays`): relays not in `relays` are removed. */
  setRelays(relays: readonly RelayInfo[], now: number): void {
    const removed = [...this.relays.keys()].filter((id) => !relays.some((r) => r.id === id));
    this.updateRelays(removed, relays, now);
  }

  /** Per-relay allocation state and counters. */
  relayStats(): RelayStats[] {
    return [...this.allocations.values()].map((a) => ({
      relayId: a.relayId,
      state: a.state,
      server: a.server,
      relayed: a.relayedAddresses(),
      mapped: a.mappedAddresses(),
      relayedTxBytes: a.relayedTxBytes,
      relayedRxBytes: a.relayedRxBytes,
      rttMs: a.rtt,
    }));
  }

  /** Removes the connection and emits `closed`. */
  removeConnection(peerId: PeerId): boolean {
    const conn = this.byPeer.get(peerId);
    if (conn === undefined) return false;
    this.forget(conn);
    this.events.push({ type: 'closed', peerId });
    return true;
  }

  /** Shutdown: every allocation is deleted on its relay (REFRESH lifetime 0 waits in `pollTransmit`). */
  shutdown(now: number): void {
    for (const a of this.allocations.values()) {
      a.close(now);
      this.drainAllocation(a, now);
    }
    this.allocations.clear();
    this.byServer = undefined;
    this.relays.clear();
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

  /** Where WireGuard datagrams to the peer go (for a pair through our relay: the relay's address). */
  remoteOf(peerId: PeerId): NetAddr | undefined {
    return this.byPeer.get(peerId)?.remote;
  }

  stats(peerId: PeerId): ConnectionStats | undefined {
    const c = this.byPeer.get(peerId);
    if (c === undefined) return undefined;
    const s = c.tunn.stats;
    const sel = c.ice?.selected;
    return {
      peerId,
      remote: c.remote,
      connected: c.connected,
      txBytes: s.txBytes,
      rxBytes: s.rxBytes,
      handshakesCompleted: s.handshakesCompleted,
      ice: c.ice !== undefined,
      path: this.pathKind(c),
      localCandidate: c.path === undefined ? undefined : `${c.path.local.kind} ${c.path.local.addr.key}`,
      remoteCandidate: sel !== undefined ? `${sel.remote.kind} ${sel.remote.addr.key}` : c.path?.addr.key,
      relayedTxBytes: c.relayedTxBytes,
      relayedRxBytes: c.relayedRxBytes,
      pathChanges: c.pathChanges,
      relayId: c.relayId,
      relayMigrations: c.relayMigrations,
    };
  }

  /**
   * Network change: every connection gets fresh WireGuard state (same keys) and ICE starts over; allocations
   * are made again (new 5-tuple); peers' candidates are kept. Queued transmits are dropped (old sockets).
   */
  reset(now: number): void {
    this.lastNow = now;
    this.transmits.length = 0;
    for (const a of this.allocations.values()) {
      a.close(now);
      this.drainAllocation(a, now);
    }
    this.allocations.clear();
    this.byServer = undefined;
    for (const conn of this.byPeer.values()) {
      this.bySlot.delete(conn.slot);
      conn.renew(this.allocSlot(), now);
      this.bySlot.set(conn.slot, conn);
      if (conn.ice !== undefined) {
        conn.ice.restart(now);
        conn.fallback = undefined;
        this.pumpAgent(conn, now);
      } else if (this.role === 'client' && conn.remote !== undefined) this.initiate(conn, now, true);
    }
    for (const info of this.relays.values()) this.allocate(info, now);
    this.scheduleTimer(now);
  }

  // ------------------------------------------------------------------------------------ data path

  /**
   * Encrypts an IP packet for `peerId`. The datagram is written into `out` (needs packet length + 52 bytes;
   * default a node-owned scratch buffer valid until the next call) and returned as a reused Transmit. Over a
   * pair through our relay WireGuard writes at `out[4..]` and the ChannelData header goes in front, no copy.
   * Without a session (or, with ICE, before a pair is nominated) the packet is queued inside the connection.
   */
  encapsulate(peerId: PeerId, packet: Uint8Array, now: number, out?: Uint8Array): EncapsulateResult {
    const conn = this.byPeer.get(peerId);
    if (conn === undefined) return drop('unknownPeer');
    const path = conn.path;
    if (conn.ice !== undefined && path?.local.kind === 'relay') return this.encapsulateRelayed(conn, path, packet, now, out);
    const buf = out ?? this.scratchFor(packet.length);
    const r = conn.tunn.encapsulate(packet, buf, now);
    switch (r.kind) {
      case 'writeToNetwork': {
        if (!conn.connected) conn.connectingSince ??= now;
        const remote = conn.ice === undefined ? conn.remote : path?.addr;
        if (remote === undefined) return drop('noRemote');
        if (path?.relayed === true) conn.relayedTxBytes += r.length;
        conn.lastSentAt = now;
        this.scheduleTimer(now);
        return this.transmit(remote, r.buffer === buf ? this.views.within(buf, r.offset, r.length) : this.views.view(r.buffer, r.offset, r.length));
      }
      default:
        return this.unsent(conn, r, now);
    }
  }

  /** Nothing to send right now: queued behind a handshake, or refused. */
  private unsent(conn: Connection, r: TunnResult, now: number): EncapsulateResult {
    if (r.kind === 'done') {
      if (!conn.connected) conn.connectingSince ??= now;
      return drop('queued');
    }
    return r.kind === 'error' ? drop(r.reason) : drop('invalidPacket');
  }

  private encapsulateRelayed(conn: Connection, path: WgPath, packet: Uint8Array, now: number, out: Uint8Array | undefined): EncapsulateResult {
    const alloc = path.local.relayId === undefined ? undefined : this.allocations.get(path.local.relayId);
    const server = alloc?.server;
    if (alloc === undefined || server === undefined) return drop('noRemote');
    let buf: Uint8Array;
    let tail: Uint8Array;
    if (out === undefined) {
      buf = this.scratchFor(packet.length + CD);
      tail = this.scratchTail;
    } else {
      buf = out;
      tail = this.views.within(out, CD, out.length - CD);
    }
    const r = conn.tunn.encapsulate(packet, tail, now);
    switch (r.kind) {
      case 'writeToNetwork': {
        if (!conn.connected) conn.connectingSince ??= now;
        if (r.buffer !== tail || !alloc.frame(path.addr, buf, r.offset, r.length, now)) {
          this.queueResult(conn, r, now);
          return drop('queued');
        }
        conn.relayedTxBytes += r.length;
        conn.lastSentAt = now;
        this.drainAllocation(alloc, now);
        this.scheduleTimer(now);
        return this.transmit(server, (out === undefined ? this.views : this.framedViews).within(buf, r.offset, CD + r.length));
      }
      default:
        return this.unsent(conn, r, now);
    }
  }

  /**
   * A datagram from `from`. Relay traffic is unwrapped first; STUN goes to the ICE agents; WireGuard data
   * comes back as a view of `datagram` (decrypted in place). Handshake answers, ICE answers and packets
   * released by a completed handshake wait in `pollTransmit`.
   */
  decapsulate(from: NetAddr, datagram: Uint8Array, now: number): DecapsulateResult {
    this.lastNow = now;
    const alloc = (this.byServer ??= this.indexServers()).get(from.key);
    if (alloc !== undefined) {
      const r = alloc.handleInput(from, datagram, now);
      this.drainAllocation(alloc, now);
      if (r.kind !== 'data') return HANDLED_NO_PEER;
      const local = this.relayCandidateOf(alloc, r.peer.family);
      if (local === undefined) return ddrop('unknownPeer', undefined);
      return this.fromPeer(local, r.peer, r.payload, now, true);
    }
    return this.fromPeer(this.hostCandidateFor(from.family), from, datagram, now, false);
  }

  private fromPeer(local: LocalCandidate, from: NetAddr, datagram: Uint8Array, now: number, viaRelay: boolean): DecapsulateResult {
    const type = messageType(datagram);
    if (type === 0) return isStunMessage(datagram) ? this.stunFromPeer(local, from, datagram, now) : ddrop('notWireGuard', undefined);
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
        this.received(conn, local, from, datagram.length, now, viaRelay);
        const res = this.packetResult;
        res.peerId = conn.peerId;
        // decrypted in place: a view inside the datagram's (itself reused) view
        res.packet = r.buffer === datagram ? this.views.within(datagram, r.offset, r.length) : this.views.view(r.buffer, r.offset, r.length);
        return res;
      }
      case 'writeToNetwork':
        this.received(conn, local, from, datagram.length, now, viaRelay);
        this.queueResult(conn, r, now);
        this.flushQueued(conn, now);
        this.checkConnected(conn, now);
        return { kind: 'handled', peerId: conn.peerId };
      case 'done':
        this.received(conn, local, from, datagram.length, now, viaRelay);
        return { kind: 'handled', peerId: conn.peerId };
      case 'error':
        return ddrop(r.reason, conn.peerId);
    }
  }

  /** ICE checks (by USERNAME) and answers (by transaction id); anything else is dropped, never thrown. */
  private stunFromPeer(local: LocalCandidate, from: NetAddr, datagram: Uint8Array, now: number): DecapsulateResult {
    const d = decodeMessage(datagram);
    if (!d.ok || d.message.method !== Method.Binding) return ddrop('unknownStun', undefined);
    const msg = d.message;
    if (msg.cls === 'request') {
      const username = getAttribute(msg, 'USERNAME')?.value;
      for (const conn of this.byPeer.values()) {
        if (conn.ice === undefined || conn.ice.expectedUsername !== username) continue;
        if (!conn.ice.handleRequest(msg, local, from, now)) return ddrop('unknownStun', conn.peerId);
        this.pumpAgent(conn, now);
        return { kind: 'handled', peerId: conn.peerId };
      }
      return ddrop('unknownStun', undefined);
    }
    if (msg.cls === 'success' || msg.cls === 'error') {
      for (const conn of this.byPeer.values()) {
        if (conn.ice?.handleResponse(msg, from, now) !== true) continue;
        this.pumpAgent(conn, now);
        return { kind: 'handled', peerId: conn.peerId };
      }
    }
    return ddrop('unknownStun', undefined);
  }

  // ------------------------------------------------------------------------------------ time and output

  handleTimeout(now: number): void {
    this.lastNow = now;
    if (this.nextTimerAt === undefined || now >= this.nextTimerAt) {
      for (const conn of [...this.byPeer.values()]) {
        const r = conn.tunn.updateTimers(this.scratch, now);
        if (r.kind === 'error' && r.reason === 'connectionExpired') {
          this.fail(conn, 'wireguardExpired');
          continue;
        }
        this.queueResult(conn, r, now);
      }
      this.nextTimerAt = this.byPeer.size > 0 ? now + TIMER_INTERVAL_MS : undefined;
    }
    for (const a of [...this.allocations.values()]) {
      a.handleTimeout(now);
      this.drainAllocation(a, now);
      const info = this.relays.get(a.relayId);
      if (a.state === 'failed' && a.failure === 'noResponse' && info !== undefined && now >= a.failedAt + ALLOCATION_RETRY_MS) {
        this.allocations.delete(a.relayId);
        this.byServer = undefined;
        this.allocate(info, now);
      }
    }
    if (this.relaysChanged) this.checkRelays(now);
    for (const conn of [...this.byPeer.values()]) {
      if (conn.ice === undefined) continue;
      if (now - conn.lastSentAt < QUIET_SENDING_MS && now - conn.lastReceivedAt >= QUIET_PROBE_MS) conn.ice.probeSelected(now);
      this.pumpAgent(conn, now);
    }
    this.checkDeadlines(now);
  }

  /**
   * Called every loop turn: `forEach` with callbacks made once, no iterator or closure per call, and the
   * minimum kept unboxed in a Float64Array (no heap number per connection).
   */
  pollTimeout(): number | undefined {
    const m = this.pollMin;
    m[0] = this.nextTimerAt ?? Infinity;
    this.byPeer.forEach(this.pollConnection);
    this.allocations.forEach(this.pollAllocation);
    const t = this.pollMin[0] ?? Infinity; // (m[0] is narrowed by the assignment above; the callbacks changed it)
    return t === Infinity ? undefined : t;
  }

  private readonly pollMin = new Float64Array(1);
  private readonly pollConnection = (conn: Connection): void => {
    const m = this.pollMin;
    const at = conn.connected ? conn.lastReceivedAt + this.idleTimeout : conn.connectingSince === undefined ? Infinity : conn.connectingSince + this.handshakeTimeout;
    if (at < (m[0] ?? Infinity)) m[0] = at;
    const ice = conn.ice?.pollTimeout();
    if (ice !== undefined && ice < (m[0] ?? Infinity)) m[0] = ice;
  };
  private readonly pollAllocation = (a: Allocation): void => {
    const m = this.pollMin;
    const at = a.pollTimeout();
    if (at !== undefined && at < (m[0] ?? Infinity)) m[0] = at;
    if (a.state === 'failed' && a.failure === 'noResponse' && a.failedAt + ALLOCATION_RETRY_MS < (m[0] ?? Infinity)) m[0] = a.failedAt + ALLOCATION_RETRY_MS;
  };

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
    if (this.scratch.length < len + 64) {
      this.scratch = new Uint8Array(len + 64);
      this.scratchTail = this.scratch.subarray(CD);
    }
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
    this.queueResult(conn, conn.tunn.formatHandshakeInitiation(this.scratch, now, force), now);
    this.scheduleTimer(now);
  }

  /** WireGuard output that waits in the queue (an owned copy), sent over the connection's path. */
  private queueResult(conn: Connection, r: TunnResult, now: number): void {
    if (r.kind !== 'writeToNetwork') return;
    const bytes = r.buffer.slice(r.offset, r.offset + r.length);
    if (conn.ice === undefined) {
      if (conn.remote !== undefined) this.transmits.push({ src: undefined, dst: conn.remote, payload: bytes });
      return;
    }
    const path = conn.path;
    if (path === undefined) return;
    if (path.relayed) conn.relayedTxBytes += bytes.length;
    this.sendFrom(path.local, path.addr, bytes, now);
  }

  /** Sends `payload` (owned) from a local candidate: directly from the host socket, or as ChannelData through our relay. */
  private sendFrom(local: LocalCandidate, dst: NetAddr, payload: Uint8Array, now: number): void {
    if (local.kind !== 'relay') {
      this.transmits.push({ src: undefined, dst, payload });
      return;
    }
    const alloc = local.relayId === undefined ? undefined : this.allocations.get(local.relayId);
    if (alloc === undefined) return;
    const t = alloc.wrap(dst, payload, now);
    this.drainAllocation(alloc, now); // a CHANNEL-BIND goes out before the first ChannelData
    if (t !== undefined) this.transmits.push({ src: undefined, dst: t.dst, payload: t.payload });
  }

  private flushQueued(conn: Connection, now: number): void {
    for (;;) {
      const r = conn.tunn.flushQueued(this.scratch, now);
      if (r.kind !== 'writeToNetwork') return;
      this.queueResult(conn, r, now);
    }
  }

  /** An authenticated WireGuard datagram arrived. Without ICE the peer's address follows it (roaming). */
  private received(conn: Connection, local: LocalCandidate, from: NetAddr, len: number, now: number, viaRelay: boolean): void {
    conn.lastReceivedAt = now;
    if (conn.ice === undefined) {
      if (conn.remote?.key !== from.key) conn.remote = from;
    } else {
      if (viaRelay || conn.path?.relayed === true) conn.relayedRxBytes += len;
      // Before nomination (or with a peer that runs no ICE) answer where WireGuard came from.
      if (conn.ice.selected === undefined && (conn.fallback?.addr.key !== from.key || conn.fallback.local !== local)) {
        conn.fallback = { local, addr: from, relayed: viaRelay };
        this.setPath(conn);
      }
    }
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

  // ------------------------------------------------------------------------------------ ICE and relays

  private allLocalCandidates(): LocalCandidate[] {
    return [...this.hostCandidates, ...[...this.srflx.values()].map((s) => s.cand), ...this.relayCandidates.values()];
  }

  /** The host candidate a datagram of this family arrived at (one socket per family). */
  private hostCandidateFor(family: 4 | 6): LocalCandidate {
    for (const c of this.hostCandidates) if (c.addr.family === family) return c;
    const any: NetAddr = family === 4 ? { family, address: '0.0.0.0', port: 0, key: '0.0.0.0:0' } : { family, address: '::', port: 0, key: '[::]:0' };
    return { kind: 'host', addr: any, base: any, priority: candidatePriority('host'), relayId: undefined };
  }

  private indexServers(): Map<string, Allocation> {
    const m = new Map<string, Allocation>();
    for (const a of this.allocations.values()) for (const s of a.servers) m.set(s.key, a);
    return m;
  }

  private relayCandidateOf(alloc: Allocation, family: 4 | 6): LocalCandidate | undefined {
    for (const c of this.relayCandidates.values()) if (c.relayId === alloc.relayId && c.addr.family === family) return c;
    return undefined;
  }

  private allocate(info: RelayInfo, now: number): void {
    const bases = new Map<4 | 6, NetAddr>();
    for (const a of this.localAddrs) if (!bases.has(a.family)) bases.set(a.family, a);
    const a = new Allocation(info, bases, this.config.rng, now, this.views);
    this.allocations.set(info.id, a);
    this.byServer = undefined;
    this.relaysChanged = true;
    this.drainAllocation(a, now);
  }

  /** Moves an allocation's requests into our queue and turns its events into candidates. */
  private drainAllocation(alloc: Allocation, now: number): void {
    for (let t = alloc.pollTransmit(); t !== undefined; t = alloc.pollTransmit()) this.transmits.push({ src: undefined, dst: t.dst, payload: t.payload });
    for (let ev = alloc.pollEvent(); ev !== undefined; ev = alloc.pollEvent()) this.onAllocationEvent(alloc, ev, now);
  }

  private onAllocationEvent(alloc: Allocation, ev: AllocationEvent, now: number): void {
    if (ev.type === 'failed') {
      this.relaysChanged = true;
      return;
    }
    const key = ev.addr.key;
    if (ev.type === 'newCandidate') {
      let cand: LocalCandidate;
      if (ev.kind === 'srflx') {
        const shared = this.srflx.get(key);
        if (shared !== undefined) {
          shared.relays.add(alloc.relayId);
          return;
        }
        cand = { kind: 'srflx', addr: ev.addr, base: ev.base, priority: candidatePriority('srflx'), relayId: undefined };
        this.srflx.set(key, { cand, relays: new Set([alloc.relayId]) });
      } else {
        cand = { kind: 'relay', addr: ev.addr, base: ev.base, priority: candidatePriority('relay'), relayId: alloc.relayId };
        this.relayCandidates.set(key, cand);
        for (const conn of this.byPeer.values()) if (conn.relayId === alloc.relayId) for (const r of conn.ice?.remotes ?? []) alloc.permit(r.addr, now);
      }
      this.candidateChanged(cand, true, now);
      return;
    }
    let cand: LocalCandidate | undefined;
    if (ev.kind === 'srflx') {
      const shared = this.srflx.get(key);
      if (shared === undefined || !shared.relays.delete(alloc.relayId) || shared.relays.size > 0) return;
      this.srflx.delete(key);
      cand = shared.cand;
    } else {
      cand = this.relayCandidates.get(key);
      if (cand?.relayId !== alloc.relayId) return;
      this.relayCandidates.delete(key);
    }
    this.candidateChanged(cand, false, now);
  }

  /**
   * A local candidate appeared or went away: every ICE agent learns it, every peer is told (a relayed one only
   * the connections that use its relay).
   */
  private candidateChanged(cand: LocalCandidate, added: boolean, now: number): void {
    const candidate = sdpOf(cand);
    for (const conn of [...this.byPeer.values()]) {
      if (cand.kind === 'relay' && conn.relayId !== cand.relayId) continue;
      this.events.push({ type: added ? 'newIceCandidate' : 'invalidatedIceCandidate', peerId: conn.peerId, candidate });
      const ice = conn.ice;
      if (ice === undefined) continue;
      if (added) ice.addLocal(cand, now);
      else ice.removeLocal(cand.addr, cand.kind, now);
      this.pumpAgent(conn, now);
    }
  }

  /** Runs the agent's due checks, sends what it produced and follows a change of the selected pair. */
  private pumpAgent(conn: Connection, now: number): void {
    const ice = conn.ice;
    if (ice === undefined) return;
    ice.handleTimeout(now);
    const lost = ice.takeFailedSelection();
    if (lost !== undefined && lost.local.kind === 'relay' && lost.local.relayId === conn.relayId && lost.local.relayId !== undefined) {
      // the pair through our relay stopped answering: the relay may be gone; the connection moves to another one
      this.migrate(conn, this.sampleRelay(lost.local.relayId), now);
      ice.handleTimeout(now);
    }
    for (let t = ice.pollTransmit(); t !== undefined; t = ice.pollTransmit()) this.sendFrom(t.local, t.dst, t.payload, now);
    // The client's WireGuard handshake goes right behind the nominating check on the same pair instead of one
    // round trip later (the gateway answers WireGuard where it came from until its agent selects the pair).
    const startedOn = conn.earlyPair;
    const early = this.role === 'client' ? ice.nominatingPair() : undefined;
    if (early !== startedOn) {
      conn.earlyPair = early;
      this.setPath(conn);
      if (early !== undefined) {
        this.initiate(conn, now, true);
        this.flushQueued(conn, now);
      }
    }
    if (!ice.takeSelectionChange()) return;
    if (ice.selected !== undefined) {
      conn.pathChanges++;
      conn.fallback = undefined;
    }
    this.setPath(conn);
    if (ice.selected !== undefined && this.role === 'client') {
      // a handshake already sent over this very pair while it was being nominated is not repeated
      this.initiate(conn, now, startedOn !== ice.selected);
      this.flushQueued(conn, now);
    }
  }

  /** The candidates a connection offers: host and server-reflexive ones, and the relayed ones of its relay. */
  private candidatesOf(conn: Connection): LocalCandidate[] {
    const relayed = [...this.relayCandidates.values()].filter((c) => c.relayId !== undefined && c.relayId === conn.relayId);
    return [...this.hostCandidates, ...[...this.srflx.values()].map((s) => s.cand), ...relayed];
  }

  /** A usable relay (allocation not failed or closed) at random, as Firezone samples one per connection. */
  private sampleRelay(exclude: string | undefined): string | undefined {
    const usable = [...this.allocations.values()].filter((a) => a.state !== 'failed' && a.state !== 'closed' && a.relayId !== exclude);
    if (usable.length === 0) return exclude !== undefined && this.relayUsable(exclude) ? exclude : undefined;
    return usable[this.config.rng.nextU32() % usable.length]?.relayId;
  }

  private relayUsable(id: string | undefined): boolean {
    const a = id === undefined ? undefined : this.allocations.get(id);
    return a !== undefined && a.state !== 'failed' && a.state !== 'closed';
  }

  /** Connections whose relay went away (removed, failed) or that have none yet take another one. */
  private checkRelays(now: number): void {
    this.relaysChanged = false;
    for (const conn of [...this.byPeer.values()]) {
      if (this.relayUsable(conn.relayId)) continue;
      const next = this.sampleRelay(conn.relayId);
      if (next !== conn.relayId) this.migrate(conn, next, now);
    }
  }

  /**
   * The connection uses relay `next` from now on: the old relay's candidates are withdrawn (agent and peer), the
   * new relay's are offered (now if allocated, else when its allocation succeeds) with permissions for the peer.
   */
  private migrate(conn: Connection, next: string | undefined, now: number): void {
    if (next === conn.relayId) return;
    const old = conn.relayId;
    conn.relayId = next;
    const ice = conn.ice;
    for (const c of this.relayCandidates.values()) {
      if (c.relayId === undefined) continue;
      if (c.relayId === old) {
        this.events.push({ type: 'invalidatedIceCandidate', peerId: conn.peerId, candidate: sdpOf(c) });
        ice?.removeLocal(c.addr, 'relay', now);
      } else if (c.relayId === next) {
        this.events.push({ type: 'newIceCandidate', peerId: conn.peerId, candidate: sdpOf(c) });
        ice?.addLocal(c, now);
      }
    }
    const a = next === undefined ? undefined : this.allocations.get(next);
    if (a !== undefined && ice !== undefined) {
      for (const r of ice.remotes) a.permit(r.addr, now);
      this.drainAllocation(a, now);
    }
    conn.relayMigrations++;
  }

  private setPath(conn: Connection): void {
    const sel = conn.ice?.selected ?? conn.earlyPair;
    const path: WgPath | undefined =
      sel === undefined ? conn.fallback : { local: sel.local, addr: sel.remote.addr, relayed: sel.local.kind === 'relay' || sel.remote.kind === 'relay' };
    conn.path = path;
    if (path === undefined) {
      conn.remote = undefined;
      return;
    }
    const relay = path.local.relayId === undefined ? undefined : this.allocations.get(path.local.relayId);
    conn.remote = path.local.kind === 'relay' ? (relay?.server ?? path.addr) : path.addr;
  }

  private pathKind(conn: Connection): PathKind | undefined {
    const path = conn.path;
    if (path === undefined) return undefined;
    if (path.relayed) return 'relay';
    const sel = conn.ice?.selected;
    const kind = sel !== undefined ? sel.remote.kind : conn.remoteCandidates.find((c) => c.addr.key === path.addr.key)?.type;
    if (kind === 'relay') return 'relay';
    return kind === 'host' ? 'host' : conn.ice === undefined ? 'host' : 'srflx';
  }
}

/** The SDP form of a local candidate. */
function sdpOf(c: LocalCandidate): string {
  return c.kind === 'host' ? formatHostCandidate(c.addr) : formatCandidate(c.kind, c.addr, c.base);
}

const HANDLED_NO_PEER: DecapsulateResult = { kind: 'handled', peerId: undefined };

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
