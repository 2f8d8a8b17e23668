// One WireGuard peer, sans-IO, in the style of boringtun's `Tunn`: bytes and `now` in, a TunnResult out.
// Data packets are sealed and opened in place with no allocation; handshakes, cookies and timers follow
// the whitepaper (§5, §6). Never throws on input: bad datagrams come back as `{ kind: 'error', reason }`.
import {
  DATA_HEADER_LEN,
  DATA_OVERHEAD,
  HANDSHAKE_INITIATION_LEN,
  HANDSHAKE_INITIATION_MIN_INTERVAL,
  HANDSHAKE_RESPONSE_LEN,
  KEEPALIVE_TIMEOUT,
  KEY_ZEROING_TIME,
  MAX_QUEUED_PACKETS,
  MESSAGE_COOKIE_REPLY,
  MESSAGE_HANDSHAKE_INITIATION,
  MESSAGE_HANDSHAKE_RESPONSE,
  MESSAGE_TRANSPORT_DATA,
  PADDING_MULTIPLE,
  REJECT_AFTER_TIME,
  REKEY_AFTER_MESSAGES,
  REKEY_AFTER_TIME,
  REKEY_ATTEMPT_TIME,
  REKEY_TIMEOUT,
  REKEY_TIMEOUT_JITTER_MAX,
} from './constants';
import { CookieJar } from './cookie';
import { viewBase, viewOffset } from './crypto/native-memory';
import { importPrivateKey } from './crypto/x25519';
import { WireGuardError } from './errors';
import { equalBytes } from './keys';
import { DATA_COUNTER_OFFSET, DATA_RECEIVER_OFFSET, Initiation, messageType, readU32, receiverIndexOf, writeHeader, writeU32 } from './messages';
import {
  PeerKeys,
  consumeInitiationStatic,
  consumeInitiationTimestamp,
  consumeResponse,
  createInitiation,
  createResponse,
  type InitiatorHandshake,
} from './noise/handshake';
import { RateLimiter } from './rate-limiter';
import { ResultSlots, type DropReason, type TunnResult } from './result';
import { newStats, validateConfig, type TunnConfig, type TunnStats } from './tunn-config';
import { Session } from './session';
import { SessionSet } from './session-set';
import { tai64n, tai64nAfter } from './tai64n';
import { Timers } from './timers';

export class Tunn {
  private readonly peer: PeerKeys;
  private readonly cookies: CookieJar;
  private readonly limiter: RateLimiter;
  private readonly results = new ResultSlots();
  private readonly timers = new Timers();
  private readonly wallClockAtZero: number;
  private persistentKeepaliveMs: number;
  private readonly sessions = new SessionSet();
  private handshake: InitiatorHandshake | null = null;
  private lastTimestamp: Uint8Array | null = null;
  private lastInitiationConsumedAt = Number.NEGATIVE_INFINITY;
  private indexCounter: number;
  private queue: Uint8Array[] = [];
  private expiredReported = false;
  readonly stats: TunnStats;

  constructor(private readonly config: TunnConfig) {
    validateConfig(config);
    this.peer = new PeerKeys(config.identity, config.peerPublicKey, config.presharedKey);
    this.cookies = new CookieJar(config.identity.backend, this.peer);
    this.limiter = config.rateLimiter ?? new RateLimiter(config.identity, config.rng);
    this.wallClockAtZero = config.wallClockAtZero ?? Date.now();
    this.persistentKeepaliveMs = (config.persistentKeepalive ?? 0) * 1000;
    this.indexCounter = config.rng.nextU32() & 0xff;
    this.stats = newStats();
  }

  get peerPublicKey(): Uint8Array {
    return this.peer.publicKey;
  }

  setPersistentKeepalive(seconds: number): void {
    this.persistentKeepaliveMs = seconds * 1000;
  }

  setPresharedKey(key: Uint8Array): void {
    if (key.length !== 32) throw new WireGuardError('INVALID_KEY', 'preshared key must be 32 bytes');
    this.peer.presharedKey = Uint8Array.from(key);
  }

  /** True when a current session can carry data now. */
  isConnected(now: number): boolean {
    const c = this.sessions.current;
    return c !== null && !c.expired(now);
  }

  /**
   * Whether handshake state is held: a pending initiation (ephemeral key, chaining key) or the MAC1 a cookie
   * reply could answer. A connected, idle Tunn holds none.
   */
  get holdsHandshakeState(): boolean {
    return this.handshake !== null || this.cookies.awaitingReply;
  }

  /** True if `receiverIndex` belongs to this Tunn (a live session or the pending handshake). */
  ownsIndex(receiverIndex: number): boolean {
    return this.sessions.byIndex(receiverIndex) !== null || this.handshake?.localIndex === receiverIndex;
  }

  private drop(reason: DropReason): TunnResult {
    this.stats.drops[reason]++;
    return this.results.error(reason);
  }

  private newLocalIndex(): number {
    for (;;) {
      this.indexCounter = (this.indexCounter + 1) & 0xff;
      const idx = ((this.config.index << 8) | this.indexCounter) >>> 0;
      if (!this.ownsIndex(idx)) return idx;
    }
  }

  // ---------------------------------------------------------------------------------------- sending

  /**
   * Encrypts an IP packet for the peer into `out` as a transport data message at `out[0]`: header (16),
   * padded ciphertext, tag (16). For no copy, read the packet into `out` at offset 16 and pass that view
   * (`out.subarray(16, 16 + len)`); `out` needs `32 + roundUp16(len)` bytes. To prepend a TURN ChannelData
   * header, pass `out` as a view 4 bytes into your buffer. Without a session the packet is queued and a
   * handshake initiation is returned instead.
   */
  encapsulate(packet: Uint8Array, out: Uint8Array, now: number): TunnResult {
    const session = this.sessions.current;
    if (session === null || session.expired(now)) {
      this.enqueue(packet);
      return this.formatHandshakeInitiation(out, now, false);
    }
    return this.sealInto(session, packet, out, now);
  }

  private sealInto(session: Session, packet: Uint8Array, out: Uint8Array, now: number): TunnResult {
    const len = packet.length;
    const padded = (len + PADDING_MULTIPLE - 1) & ~(PADDING_MULTIPLE - 1);
    const total = DATA_OVERHEAD + padded;
    if (out.length < total) return this.drop('bufferTooSmall');
    // where the bytes are, by address (the typed-array getters `buffer`/`byteOffset` are slow calls in Node 20)
    const from = viewBase(packet) + viewOffset(packet);
    const to = viewBase(out) + viewOffset(out);
    // apart from the datagram (another buffer, e.g. a TUN ring slot): the cipher reads it where it is, no copy
    const direct = padded === len && (from + len <= to || from >= to + total);
    // otherwise it is copied to out[16] first, before the header is written (it may overlap the header)
    if (!direct && from !== to + DATA_HEADER_LEN) out.set(packet, DATA_HEADER_LEN);
    writeHeader(out, MESSAGE_TRANSPORT_DATA);
    writeU32(out, DATA_RECEIVER_OFFSET, session.peerIndex);
    const counter = session.sendCounter;
    const lo = counter >>> 0;
    writeU32(out, DATA_COUNTER_OFFSET, lo);
    writeU32(out, DATA_COUNTER_OFFSET + 4, (counter - lo) / 0x1_0000_0000);
    if (direct) session.sealFrom(packet, out, DATA_HEADER_LEN);
    else {
      // at most 15 bytes: a loop (TypedArray.prototype.fill is a C++ builtin call, ~40 ns against ~7 here)
      for (let i = DATA_HEADER_LEN + len; i < DATA_HEADER_LEN + padded; i++) out[i] = 0;
      session.seal(out, DATA_HEADER_LEN, padded);
    }
    const t = this.timers;
    t.anyAuthenticatedPacketSent(now);
    if (len > 0) t.dataSent(now);
    // §6.2: the initiator of the current session rekeys after REKEY_AFTER_TIME or REKEY_AFTER_MESSAGES
    if (session.sendCounter >= REKEY_AFTER_MESSAGES || (session.isInitiator && now - session.createdAt >= REKEY_AFTER_TIME)) {
      t.wantHandshake = true;
    }
    this.stats.txBytes += total;
    this.stats.txPackets++;
    return this.results.toNetwork(out, 0, total);
  }

  private enqueue(packet: Uint8Array): void {
    if (packet.length === 0) return;
    if (this.queue.length >= MAX_QUEUED_PACKETS) this.queue.shift();
    this.queue.push(packet.slice());
  }

  /** After a handshake completes: encrypts the next queued packet into `out`; call until `done`. */
  flushQueued(out: Uint8Array, now: number): TunnResult {
    const session = this.sessions.current;
    if (session === null || session.expired(now)) return this.results.done;
    const packet = this.queue.shift();
    if (packet === undefined) return this.results.done;
    return this.sealInto(session, packet, out, now);
  }

  /**
   * Writes a handshake initiation into `out` (>= 148 bytes). Unless `force`, does nothing while one sent
   * less than REKEY_TIMEOUT ago is pending.
   */
  formatHandshakeInitiation(out: Uint8Array, now: number, force: boolean): TunnResult {
    if (!force && this.handshake !== null && now - this.timers.lastInitiationAt < REKEY_TIMEOUT) return this.results.done;
    if (out.length < HANDSHAKE_INITIATION_LEN) return this.drop('bufferTooSmall');
    const msg = out.subarray(0, HANDSHAKE_INITIATION_LEN);
    const ephemeral = this.newEphemeral();
    const hs = createInitiation(this.peer, this.newLocalIndex(), ephemeral, tai64n(this.wallClockAtZero + now), msg);
    if (hs === null) return this.drop('invalidPacket');
    this.cookies.stamp(msg, now);
    this.handshake = hs;
    this.timers.initiationSent(now, this.config.rng.nextU32() % (REKEY_TIMEOUT_JITTER_MAX + 1));
    this.timers.anyAuthenticatedPacketSent(now);
    this.expiredReported = false;
    return this.results.toNetwork(out, 0, HANDSHAKE_INITIATION_LEN);
  }

  private newEphemeral() {
    const raw = new Uint8Array(32);
    this.config.rng.fill(raw);
    return importPrivateKey(raw);
  }

  private keepalive(out: Uint8Array, now: number): TunnResult {
    const session = this.sessions.current;
    if (session === null || session.expired(now)) return this.results.done;
    return this.sealInto(session, EMPTY, out, now);
  }

  // -------------------------------------------------------------------------------------- receiving

  /**
   * Processes a datagram from the peer. Transport data is decrypted in place: the IP packet is returned
   * as a view of `datagram` (`writeToTunnelV4|V6`). Handshake answers and keepalives are written into
   * `out` (>= 148 bytes). `src` (the sender's IP and port bytes) binds cookies when the node is under
   * load. After any call, `flushQueued` may have packets waiting to go out.
   */
  decapsulate(datagram: Uint8Array, out: Uint8Array, now: number, src?: Uint8Array): TunnResult {
    if (datagram.length < 4) return this.drop('truncated');
    const type = messageType(datagram);
    if (type === 0) {
      const t = datagram[0] ?? 0;
      if (t < 1 || t > 4 || datagram[1] !== 0 || datagram[2] !== 0 || datagram[3] !== 0) return this.drop('wrongType');
      return this.drop(t === MESSAGE_TRANSPORT_DATA ? 'truncated' : 'wrongSize');
    }
    switch (type) {
      case MESSAGE_TRANSPORT_DATA:
        return this.receiveData(datagram, now);
      case MESSAGE_HANDSHAKE_INITIATION:
        return this.receiveInitiation(datagram, out, now, src);
      case MESSAGE_HANDSHAKE_RESPONSE:
        return this.receiveResponse(datagram, out, now, src);
      case MESSAGE_COOKIE_REPLY:
        return this.receiveCookieReply(datagram, now);
      default:
        return this.drop('wrongType');
    }
  }

  private receiveData(datagram: Uint8Array, now: number): TunnResult {
    const session = this.sessions.byIndex(receiverIndexOf(datagram, MESSAGE_TRANSPORT_DATA));
    if (session === null) return this.drop('unknownReceiverIndex');
    const hi = readU32(datagram, DATA_COUNTER_OFFSET + 4);
    if (hi >= 0x20_0000) return this.drop('counterTooLarge');
    const counter = hi * 0x1_0000_0000 + readU32(datagram, DATA_COUNTER_OFFSET);
    if (now - session.createdAt >= REJECT_AFTER_TIME) return this.drop('sessionExpired');
    if (!session.replay.check(counter)) return this.drop('replayedCounter');
    const sealedLen = datagram.length - DATA_HEADER_LEN;
    if (!session.open(counter, datagram, DATA_HEADER_LEN, sealedLen)) return this.drop('decryptionFailed');
    session.replay.accept(counter);
    if (session === this.sessions.next) {
      // key confirmation (§5.4.6): the peer's handshake won; our own pending attempt is moot
      this.sessions.confirmNext();
      this.handshake = null;
      this.cookies.handshakeDone();
      this.timers.handshakeComplete(now);
    }
    const t = this.timers;
    t.anyAuthenticatedPacketReceived(now);
    this.stats.rxBytes += datagram.length;
    this.stats.rxPackets++;
    // §6.2: an initiator whose session nears REJECT_AFTER_TIME rekeys on receive
    if (session === this.sessions.current && session.isInitiator && now - session.createdAt >= REJECT_AFTER_TIME - KEEPALIVE_TIMEOUT - REKEY_TIMEOUT) {
      t.wantHandshake = true;
    }
    const plainLen = sealedLen - DATA_OVERHEAD + DATA_HEADER_LEN;
    if (plainLen === 0) return this.results.done; // keepalive
    t.dataReceived(now);
    const version = (datagram[DATA_HEADER_LEN] ?? 0) >> 4;
    if (version === 4 && plainLen >= 20) {
      const ipLen = ((datagram[DATA_HEADER_LEN + 2] ?? 0) << 8) | (datagram[DATA_HEADER_LEN + 3] ?? 0);
      if (ipLen >= 20 && ipLen <= plainLen) return this.results.toTunnel('writeToTunnelV4', datagram, DATA_HEADER_LEN, ipLen);
    } else if (version === 6 && plainLen >= 40) {
      const ipLen = (((datagram[DATA_HEADER_LEN + 4] ?? 0) << 8) | (datagram[DATA_HEADER_LEN + 5] ?? 0)) + 40;
      if (ipLen <= plainLen) return this.results.toTunnel('writeToTunnelV6', datagram, DATA_HEADER_LEN, ipLen);
    }
    return this.drop('invalidPacket');
  }

  private checkHandshakeMacs(msg: Uint8Array, out: Uint8Array, now: number, src: Uint8Array | undefined, senderIndex: number): TunnResult | null {
    switch (this.limiter.verify(msg, src, now)) {
      case 'accept':
        return null;
      case 'invalidMac1':
        return this.drop('invalidMac1');
      case 'invalidMac2':
        return this.drop('invalidMac2');
      case 'underLoad':
        return this.drop('underLoad');
      case 'sendCookie': {
        if (src === undefined || out.length < 64) return this.drop('underLoad');
        const len = this.limiter.checker.writeReply(msg, senderIndex, src, out, now);
        this.stats.drops.underLoad++;
        return this.results.toNetwork(out, 0, len);
      }
    }
  }

  private receiveInitiation(msg: Uint8Array, out: Uint8Array, now: number, src: Uint8Array | undefined): TunnResult {
    const checked = this.checkHandshakeMacs(msg, out, now, src, readU32(msg, Initiation.sender));
    if (checked !== null) return checked;
    if (out.length < HANDSHAKE_RESPONSE_LEN) return this.drop('bufferTooSmall');
    const consumed = consumeInitiationStatic(this.config.identity, msg);
    if (consumed === null) return this.drop('decryptionFailed');
    if (!equalBytes(consumed.initiatorStatic, this.peer.publicKey)) return this.drop('wrongPeer');
    const timestamp = consumeInitiationTimestamp(this.peer, consumed, msg);
    if (timestamp === null) return this.drop('decryptionFailed');
    if (this.lastTimestamp !== null && !tai64nAfter(timestamp, this.lastTimestamp)) return this.drop('replayedTimestamp');
    if (now - this.lastInitiationConsumedAt < HANDSHAKE_INITIATION_MIN_INTERVAL) return this.drop('handshakeRateLimited');
    const localIndex = this.newLocalIndex();
    const msgOut = out.subarray(0, HANDSHAKE_RESPONSE_LEN);
    const keys = createResponse(this.peer, consumed, localIndex, this.newEphemeral(), msgOut);
    if (keys === null) return this.drop('decryptionFailed');
    this.lastTimestamp = timestamp;
    this.lastInitiationConsumedAt = now;
    this.cookies.stamp(msgOut, now);
    const session = new Session(this.config.identity.backend, localIndex, consumed.senderIndex, keys.send, keys.receive, false, now);
    this.sessions.installResponded(session);
    this.completed(now);
    this.timers.anyAuthenticatedPacketReceived(now);
    this.timers.anyAuthenticatedPacketSent(now);
    return this.results.toNetwork(out, 0, HANDSHAKE_RESPONSE_LEN);
  }

  private receiveResponse(msg: Uint8Array, out: Uint8Array, now: number, src: Uint8Array | undefined): TunnResult {
    const hs = this.handshake;
    if (hs === null || receiverIndexOf(msg, MESSAGE_HANDSHAKE_RESPONSE) !== hs.localIndex) return this.drop('unknownReceiverIndex');
    const checked = this.checkHandshakeMacs(msg, out, now, src, readU32(msg, 4));
    if (checked !== null) return checked;
    const keys = consumeResponse(this.peer, hs, msg);
    if (keys === null) return this.drop('decryptionFailed');
    this.handshake = null;
    this.cookies.handshakeDone();
    const session = new Session(this.config.identity.backend, hs.localIndex, keys.peerIndex, keys.send, keys.receive, true, now);
    this.sessions.installInitiated(session);
    this.completed(now);
    this.timers.handshakeComplete(now);
    this.timers.anyAuthenticatedPacketReceived(now);
    // key confirmation for the responder: the first queued packet, else a keepalive
    const first = this.flushQueued(out, now);
    return first.kind === 'done' ? this.keepalive(out, now) : first;
  }

  private completed(now: number): void {
    this.timers.sessionEstablishedAt = now;
    this.stats.handshakesCompleted++;
    this.stats.lastHandshakeAt = now;
  }

  private receiveCookieReply(msg: Uint8Array, now: number): TunnResult {
    const hs = this.handshake;
    if (hs === null || receiverIndexOf(msg, MESSAGE_COOKIE_REPLY) !== hs.localIndex) return this.drop('unknownReceiverIndex');
    if (!this.cookies.consumeReply(msg, now)) return this.drop('invalidCookie');
    return this.results.done;
  }

  // ----------------------------------------------------------------------------------------- timers

  /**
   * Runs the timers (§6): call at least every 250 ms (and whenever `nextTimerAt` passes). Returns at most
   * one thing to send; `connectionExpired` once when a handshake attempt series gave up.
   */
  updateTimers(out: Uint8Array, now: number): TunnResult {
    const t = this.timers;
    if (t.sessionEstablishedAt !== undefined && now - t.sessionEstablishedAt >= KEY_ZEROING_TIME) {
      this.zeroAll();
      return this.results.done;
    }
    this.sessions.expire(now);
    if (t.handshakeStartedAt !== undefined) {
      if (now - t.handshakeStartedAt >= REKEY_ATTEMPT_TIME) {
        this.handshake = null;
        this.queue = [];
        t.handshakeAbandoned();
        if (!this.expiredReported) {
          this.expiredReported = true;
          return this.drop('connectionExpired');
        }
        return this.results.done;
      }
      if (t.retransmitAt !== undefined && now >= t.retransmitAt) return this.formatHandshakeInitiation(out, now, true);
    } else if (t.wantHandshake || (t.newHandshakeDueAt !== undefined && now >= t.newHandshakeDueAt)) {
      t.newHandshakeDueAt = undefined;
      return this.formatHandshakeInitiation(out, now, false);
    }
    if (t.keepaliveDueAt !== undefined && now >= t.keepaliveDueAt) {
      t.keepaliveDueAt = undefined;
      return this.keepalive(out, now);
    }
    // persistent keepalive counts from the last packet *sent* (boringtun): it exists to refresh NAT mappings
    if (this.persistentKeepaliveMs > 0 && now - t.lastSent >= this.persistentKeepaliveMs) {
      if (this.sessions.current !== null && !this.sessions.current.expired(now)) return this.keepalive(out, now);
      if (t.handshakeStartedAt === undefined) return this.formatHandshakeInitiation(out, now, false);
    }
    return this.results.done;
  }

  /** §6.3 (after 3 x REJECT_AFTER_TIME without a new session): forget every key. */
  private zeroAll(): void {
    this.sessions.clear();
    this.handshake?.state.zero();
    this.handshake = null;
    this.cookies.zero();
    this.queue = [];
    this.timers.sessionEstablishedAt = undefined;
    this.timers.handshakeAbandoned();
    this.timers.keepaliveDueAt = undefined;
  }

  /** Frees native memory of all sessions; the Tunn must not be used afterwards. */
  dispose(): void {
    this.zeroAll();
  }
}

const EMPTY = new Uint8Array(0);
