// The Tunnel event loop (Firezone `Tunnel` / `Io`): drives a ClientState or GatewayState with TUN batches,
// UDP batches, its timer and portal messages. Thin: no protocol logic here, only moving bytes and time.
//
// Two pumps (TUN -> state -> UDP send queue, UDP -> state -> TUN) each take at most `batchSize` packets per
// turn; one turn runs both pumps and then the state's outputs, and turns follow each other through one
// setImmediate per event-loop iteration (up to TURNS_PER_TICK turns in it), so neither pump, nor timers, nor the websocket starve. While either
// pump has work, each turn polls both (reading a few shared counters); only when neither has, the loop waits
// for the device and the socket to become readable (a promise each, consuming nothing). Backpressure: when
// the TUN's outbound channels are full the UDP pump stops reading (the socket's receive ring fills and the
// kernel applies its own queue) until `sendReady`; UDP sends are queued and flushed once per turn (GSO batches).
//
// Steady state allocates nothing per packet and one Immediate per turn: the turn is a callback made once
// (setImmediate(this.step)), not async loops (a promise and a closure per turn); promises are made only when
// both pumps are idle; TUN batches go out in reused arrays; the send queue does not schedule its
// own flush (the turn flushes); the timer is re-armed only when the state's deadline moves earlier (it moves
// later with every received packet: the idle timeout).
import type { Logger } from 'pino';
import type { Tun } from '@postern/tun';
import type { SendQueue, SocketAddr, UdpSocket } from '@postern/socket-factory';
import type { NetAddr, Transmit } from '@postern/snownet';
import { BatchArrays } from '@postern/bufferpool';
import { viewBase, viewOffset } from '@postern/wireguard';
import type { DatagramIn } from '@postern/socket-factory';
import { DnsIo, isForwardingState, isResolvingState, isSiteDnsState, readSystemResolvers, type NameResolver } from './dns-io';

/** What the loop needs of a ClientState / GatewayState. */
export interface DrivenState<In, Out, Ev> {
  handleTunPacket(packet: Uint8Array, now: number, out?: Uint8Array): Transmit | undefined;
  handleNetworkDatagram(from: NetAddr, datagram: Uint8Array, now: number): Uint8Array | undefined;
  handlePortalMessage(msg: In, now: number): void;
  handleTimeout(now: number): void;
  pollTimeout(): number | undefined;
  pollTransmit(): Transmit | undefined;
  pollTunWrite(): Uint8Array | undefined;
  pollPortalMessage(): Out | undefined;
  pollEvent(): Ev | undefined;
}

/** The portal channel as the loop sees it (structurally a `@postern/phoenix-channel` PhoenixChannel). */
export interface PortalChannel<In> {
  onEvent(listener: (event: PortalChannelEvent<In>) => void): () => void;
  send(event: string, payload?: unknown): unknown;
}
export interface PortalChannelEvent<In> {
  readonly type: string;
  readonly message?: In;
}

export interface TunnelOptions<In, Out extends { readonly event: string; readonly payload?: unknown }, Ev> {
  readonly state: DrivenState<In, Out, Ev>;
  readonly tun: Tun;
  readonly socket: UdpSocket;
  readonly portal?: PortalChannel<In>;
  readonly logger: Logger;
  /** Events of the state (tunConfigChanged, clientConnected, ...), delivered after each turn. */
  readonly onEvent?: (event: Ev) => void;
  /** Packets each pump handles before yielding; default 64. */
  readonly batchSize?: number;
  /** Monotonic ms; default performance.now. */
  readonly now?: () => number;
  /** Gateway: how DNS resource names are resolved; default the system resolver (getaddrinfo). */
  readonly dnsResolver?: NameResolver;
  /** Client: the system's resolvers (upstreams when the portal gives none); default resolv.conf / systemd-resolved. */
  readonly systemResolvers?: () => Promise<string[]>;
  /** Client: SO_MARK of the socket forwarding DNS queries to upstreams; default POSTERN_FWMARK. */
  readonly dnsMark?: number;
}

export interface TunnelStats {
  tunPackets: number;
  udpDatagrams: number;
  tunWrites: number;
  udpSends: number;
  portalIn: number;
  portalOut: number;
  portalDropped: number;
  turns: number;
}

export class TunnelLoopError extends Error {
  override readonly name = 'TunnelLoopError';
  constructor(
    readonly code: 'TUN_FAILED' | 'SOCKET_FAILED' | 'STATE_FAILED',
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/** WireGuard data overhead (header 16 + tag 16) + padding to 16 (15) + a TURN ChannelData header (4), rounded. */
const SEAL_OVERHEAD = 64;
/** A handshake initiation (148 bytes) may come back instead of data while no session exists. */
const MIN_RESERVE = 256;
const EMPTY = new Uint8Array(0);
/**
 * Turns run back to back (while each finds work) before the loop yields to the event loop: fewer Immediates and
 * event-loop phases per packet when turns are small; at most ~4 x 2 x batchSize packets between two looks at
 * timers and sockets.
 */
const TURNS_PER_TICK = 4;
/** How often (ms) data-path turns look at the state's timers (a timer fires at most this late). */
const TIMER_CHECK_MS = 1;

export class Tunnel<In, Out extends { readonly event: string; readonly payload?: unknown }, Ev> {
  readonly stats: TunnelStats = { tunPackets: 0, udpDatagrams: 0, tunWrites: 0, udpSends: 0, portalIn: 0, portalOut: 0, portalDropped: 0, turns: 0 };
  private readonly state: DrivenState<In, Out, Ev>;
  private readonly tun: Tun;
  private readonly socket: UdpSocket;
  private readonly log: Logger;
  private readonly batch: number;
  private readonly now: () => number;
  private running = false;
  private stopping = false;
  private timer: NodeJS.Timeout | undefined;
  private timerAt: number | undefined;
  /**
   * TUN writes the device did not take yet (owned copies), in order. One array for the tunnel's life: swapping in
   * a fresh `[]` (another elements kind, so another map) made the optimized code that reads it deoptimize on
   * every swap (942 deopts of udpBatchIn in one 8 s upload through the gateway).
   */
  private readonly tunBacklog: Uint8Array[] = [];
  /** A one-packet batch for writeTun (always length 1: truncating an array frees its backing store). */
  private readonly one: Uint8Array[] = [EMPTY];
  /** Decrypted packets of the current UDP batch (views into the socket's receive ring), `tunCount` of them. */
  private readonly tunBatch: Uint8Array[] = [];
  private tunCount = 0;
  private readonly tunArrays = new BatchArrays<Uint8Array>();
  /** Where the last datagram went: the next one is sealed straight into that destination's GSO batch. */
  private lastDst: SocketAddr | undefined;
  private unsubscribe: (() => void) | undefined;
  /** A readable() wait is out for the TUN / the socket (at most one each). */
  private tunWaiting = false;
  private udpWaiting = false;
  /** The pump ended (its device or socket failed, or the loop stops): turns leave it alone. */
  private tunEnded = false;
  private udpEnded = false;
  /** The UDP pump waits for room in the TUN (backpressure). */
  private udpBlocked = false;
  /** When a turn last looked at the state's timers; a data-path turn skipped the look since. */
  private timersCheckedAt = Number.NEGATIVE_INFINITY;
  private timersStale = false;
  /** A turn is scheduled (setImmediate) and has not run yet. */
  private turnPending = false;
  // the callbacks, made once
  private readonly step = (): void => {
    this.turnPending = false;
    // Up to TURNS_PER_TICK turns back to back while there is work, then yield to the event loop.
    for (let i = 1; this.turn(); i++) {
      if (i === TURNS_PER_TICK) {
        this.scheduleTurn();
        return;
      }
    }
    if (this.stopping) return;
    if (this.timersStale) this.guard(this.noop); // a deadline an input moved earlier is armed before the loop idles
    this.waitReadable();
  };
  private readonly onTunReadable = (): void => {
    this.tunWaiting = false;
    this.scheduleTurn();
  };
  private readonly onTunError = (err: unknown): void => {
    this.tunWaiting = false;
    this.tunEnded = true;
    this.fail(new TunnelLoopError('TUN_FAILED', 'reading the TUN device failed', { cause: err }));
  };
  private readonly onUdpReadable = (): void => {
    this.udpWaiting = false;
    this.scheduleTurn();
  };
  private readonly onTunRoom = (): void => {
    this.udpBlocked = false;
    if (this.stopping) return;
    this.writeBacklog();
    this.scheduleTurn();
  };
  private readonly onUdpError = (err: unknown): void => {
    this.udpWaiting = false;
    this.udpBlocked = false;
    this.udpEnded = true;
    this.fail(new TunnelLoopError('SOCKET_FAILED', 'receiving from the UDP socket failed', { cause: err }));
  };
  private readonly onTimer = (): void => {
    this.timer = undefined;
    this.timerAt = undefined;
    this.guard(this.noop);
  };
  private readonly noop = (): void => undefined;
  private resolveDone: (err: Error | undefined) => void = () => undefined;
  private readonly dnsIo: DnsIo;
  /** Resolves when the loop stops: with the error that stopped it, or undefined after `stop()`. */
  readonly done: Promise<Error | undefined>;

  constructor(private readonly options: TunnelOptions<In, Out, Ev>) {
    this.state = options.state;
    this.tun = options.tun;
    this.socket = options.socket;
    this.log = options.logger.child({ module: 'tunnel' });
    this.batch = options.batchSize ?? 64;
    this.now = options.now ?? (() => performance.now());
    this.done = new Promise((resolve) => {
      this.resolveDone = resolve;
    });
    this.dnsIo = new DnsIo({
      logger: this.log,
      guard: (f) => {
        this.guard(f);
      },
      now: this.now,
      ...(options.dnsResolver === undefined ? {} : { resolver: options.dnsResolver }),
      ...(options.dnsMark === undefined ? {} : { mark: options.dnsMark }),
    });
  }

  /** DNS forwarding / resolution counters. */
  get dnsStats(): DnsIo['stats'] {
    return this.dnsIo.stats;
  }

  start(): void {
    if (this.running) return;
    this.running = true;
    this.unsubscribe = this.options.portal?.onEvent((e) => {
      if (e.type !== 'message' || e.message === undefined || this.stopping) return;
      this.stats.portalIn++;
      this.guard(() => {
        this.state.handlePortalMessage(e.message as In, this.now());
      });
    });
    this.socket.sendQueue.ownerFlushes?.();
    this.scheduleTurn();
    const state = this.state;
    if (isForwardingState(state)) {
      // Read before DNS control points the system at the sentinels (or from Postern's backup once it has).
      (this.options.systemResolvers ?? readSystemResolvers)().then(
        (servers) => {
          this.log.info({ servers }, 'system DNS resolvers');
          this.guard(() => {
            state.setSystemResolvers(servers);
          });
        },
        (err: unknown) => {
          this.log.warn({ err }, 'cannot read the system DNS resolvers');
        },
      );
    }
    this.afterTurn();
  }

  /** Runs `f` against the state, then drains its outputs (for the app: reset, setLocalAddresses, shutdown). */
  withState(f: (state: DrivenState<In, Out, Ev>, now: number) => void): void {
    this.guard(() => {
      f(this.state, this.now());
    });
  }

  /**
   * Clean shutdown: drains what the state has queued (e.g. the gateway's Goodbyes), flushes the UDP queue and
   * the TUN backlog, then closes the TUN and the socket within `graceMs`.
   */
  async stop(graceMs = 5_000): Promise<void> {
    if (this.stopping) return;
    this.stopping = true;
    this.unsubscribe?.();
    this.clearTimer();
    this.drain();
    this.socket.sendQueue.flush();
    const deadline = Date.now() + graceMs;
    const flushTun = (async () => {
      while (this.tunBacklog.length > 0 && Date.now() < deadline) {
        this.writeBacklog();
        if (this.tunBacklog.length > 0) await this.tun.sendReady(1);
      }
    })();
    await withTimeout(flushTun.catch(() => undefined), Math.max(0, deadline - Date.now()));
    const report = await this.tun.close();
    if (report.unflushed > 0 || report.stuckWorkers > 0) this.log.warn({ ...report }, 'TUN closed with packets left or stuck workers');
    await this.socket.close();
    await this.dnsIo.close();
    this.running = false;
    this.resolveDone(undefined);
  }

  // --- pumps ------------------------------------------------------------------------------------------------------

  /** Schedules the next turn (at most one pending). */
  private scheduleTurn(): void {
    if (this.turnPending || this.stopping) return;
    this.turnPending = true;
    setImmediate(this.step);
  }

  /** One turn: a batch from each pump that has one, then the state's outputs. True if there was a batch. */
  private turn(): boolean {
    if (this.stopping) return false;
    let worked = false;
    if (!this.tunEnded) worked = this.runTun();
    if (!this.udpEnded && !this.udpBlocked && this.runUdp()) worked = true;
    try {
      this.afterTurn(true);
    } catch (err) {
      this.fail(new TunnelLoopError('STATE_FAILED', 'the tunnel state failed', { cause: err }));
      return false;
    }
    return worked;
  }

  /** Both pumps idle: wait for either (at most one wait each is out; a wait that is out stays valid). */
  private waitReadable(): void {
    if (!this.tunEnded && !this.tunWaiting) {
      this.tunWaiting = true;
      this.tun.readable().then(this.onTunReadable, this.onTunError);
    }
    if (!this.udpEnded && !this.udpBlocked && !this.udpWaiting) {
      this.udpWaiting = true;
      this.socket.readable().then(this.onUdpReadable, this.onUdpError);
    }
  }

  /** The TUN pump's part of a turn: seals what the device has now. True if there was a batch. */
  private runTun(): boolean {
    let packets: Uint8Array[];
    try {
      packets = this.tun.tryRecvMany(this.batch);
    } catch (err) {
      this.onTunError(err);
      return false;
    }
    return packets.length > 0 && this.tunBatchIn(packets);
  }

  /** Seals a TUN batch into the send queue; false (and the loop failed) if the state threw. */
  private tunBatchIn(packets: Uint8Array[]): boolean {
    const q = this.socket.sendQueue;
    try {
      const now = this.now();
      for (let i = 0; i < packets.length; i++) {
        const p = packets[i];
        if (p !== undefined && this.sealInPlace(q, p, now)) this.stats.udpSends++;
      }
      this.stats.tunPackets += packets.length;
      return true;
    } catch (err) {
      this.onTunError(err);
      return false;
    }
  }

  /** The UDP pump's part of a turn: TUN backpressure first, then what the socket has now. True if there was a batch. */
  private runUdp(): boolean {
    if (this.tunBacklog.length > 0) {
      // Backpressure: the TUN is full; stop reading the socket until it has room.
      this.udpBlocked = true;
      this.tun.sendReady().then(this.onTunRoom, this.onUdpError);
      return false;
    }
    let datagrams: DatagramIn[];
    try {
      datagrams = this.socket.tryRecvMany(this.batch);
    } catch (err) {
      this.onUdpError(err);
      return false;
    }
    return datagrams.length > 0 && this.udpBatchIn(datagrams);
  }

  /** Opens a UDP batch and writes the packets to the TUN; false (and the loop failed) if the state threw. */
  private udpBatchIn(datagrams: DatagramIn[]): boolean {
    try {
      const now = this.now();
      const batch = this.tunBatch;
      for (let i = 0; i < datagrams.length; i++) {
        const d = datagrams[i];
        if (d === undefined) continue;
        const ip = this.state.handleNetworkDatagram(d.from, d.data, now);
        if (ip !== undefined) batch[this.tunCount++] = ip;
      }
      // one hand-off (ring publish + wake) per batch, not per packet; the views stay valid until the next recvMany
      this.writeTunBatch();
      this.stats.udpDatagrams += datagrams.length;
      return true;
    } catch (err) {
      this.onUdpError(err);
      return false;
    }
  }

  // --- outputs ----------------------------------------------------------------------------------------------------

  /** A packet for the TUN (a view valid only now): written at once, or copied to the backlog. */
  private writeTun(ip: Uint8Array): void {
    if (this.tunBacklog.length === 0) {
      this.one[0] = ip;
      const n = this.tun.send(this.one);
      this.one[0] = EMPTY;
      if (n === 1) {
        this.stats.tunWrites++;
        return;
      }
    }
    this.tunBacklog.push(ip.slice());
  }

  /** Writes the batch of views (valid only now) to the TUN: what it does not take is copied to the backlog. */
  private writeTunBatch(): void {
    const count = this.tunCount;
    if (count === 0) return;
    this.tunCount = 0;
    const batch = this.tunBatch;
    let n = 0;
    if (this.tunBacklog.length === 0) {
      n = this.tun.send(this.tunArrays.of(batch, count));
      this.stats.tunWrites += n;
    }
    for (let i = n; i < count; i++) this.tunBacklog.push((batch[i] ?? EMPTY).slice());
    // drop the references to ring slots (the array keeps its length: no reallocation next batch)
    for (let i = 0; i < count; i++) batch[i] = EMPTY;
  }

  /**
   * Routes and encrypts one TUN packet. The datagram is sealed directly into the send queue's batch for the
   * previous destination (no copy); when the state picks another destination (or none), the reservation is
   * cancelled and the datagram copied in. Returns true if a datagram was queued.
   */
  private sealInPlace(q: SendQueue, packet: Uint8Array, now: number): boolean {
    const dst = this.lastDst;
    if (dst === undefined) return this.sealAndCopy(q, packet, now);
    const out = q.reserve(dst, Math.max(packet.length + SEAL_OVERHEAD, MIN_RESERVE));
    let t: Transmit | undefined;
    try {
      t = this.state.handleTunPacket(packet, now, out);
    } catch (err) {
      q.commit(0);
      throw err;
    }
    if (t === undefined) {
      q.commit(0);
      return false;
    }
    const p = t.payload;
    if (t.dst.key === dst.key && p.length <= out.length && viewOffset(p) === viewOffset(out) && viewBase(p) === viewBase(out)) {
      q.commit(p.length);
      return true;
    }
    q.commit(0);
    q.push(t.dst, p);
    this.lastDst = t.dst;
    return true;
  }

  private sealAndCopy(q: SendQueue, packet: Uint8Array, now: number): boolean {
    const t = this.state.handleTunPacket(packet, now);
    if (t === undefined) return false;
    q.push(t.dst, t.payload);
    this.lastDst = t.dst;
    return true;
  }

  private writeBacklog(): void {
    const backlog = this.tunBacklog;
    if (backlog.length === 0) return;
    const n = this.tun.send(backlog);
    this.stats.tunWrites += n;
    if (n === backlog.length) backlog.length = 0;
    else if (n > 0) backlog.splice(0, n);
  }

  /**
   * Timers due, then every queue of the state: transmits, TUN writes, portal messages, events; flush UDP.
   * A data-path turn looks at the state's timers at most every TIMER_CHECK_MS (pollTimeout walks every
   * connection and relay allocation); the loop looks again before it goes idle.
   */
  private afterTurn(dataPath = false): void {
    this.stats.turns++;
    const now = this.now();
    const timers = !dataPath || now - this.timersCheckedAt >= TIMER_CHECK_MS;
    if (timers) {
      this.timersCheckedAt = now;
      this.timersStale = false;
      const due = this.state.pollTimeout();
      if (due !== undefined && due <= now) this.state.handleTimeout(now);
    } else this.timersStale = true;
    this.drain();
    if (this.socket.sendQueue.pending > 0) this.socket.sendQueue.flush();
    if (timers && !this.stopping) this.schedule();
  }

  private drain(): void {
    const q = this.socket.sendQueue;
    for (let t = this.state.pollTransmit(); t !== undefined; t = this.state.pollTransmit()) {
      q.push(t.dst, t.payload);
      this.stats.udpSends++;
    }
    for (let p = this.state.pollTunWrite(); p !== undefined; p = this.state.pollTunWrite()) {
      if (this.stopping && this.tunBacklog.length === 0) this.writeTun(p);
      else if (this.stopping) this.tunBacklog.push(p);
      else this.writeTun(p);
    }
    const portal = this.options.portal;
    for (let m = this.state.pollPortalMessage(); m !== undefined; m = this.state.pollPortalMessage()) {
      if (portal === undefined) continue;
      const r = portal.send(m.event, m.payload);
      if (r instanceof Error) {
        this.stats.portalDropped++;
        this.log.debug({ event: m.event, code: (r as Error & { code?: string }).code }, 'portal message not sent (not connected)');
      } else this.stats.portalOut++;
    }
    this.drainDns();
    const onEvent = this.options.onEvent;
    for (let e = this.state.pollEvent(); e !== undefined; e = this.state.pollEvent()) onEvent?.(e);
  }

  private drainDns(): void {
    const state = this.state;
    if (isForwardingState(state)) for (let f = state.pollDnsForward(); f !== undefined; f = state.pollDnsForward()) this.dnsIo.forward(state, f);
    if (isResolvingState(state)) {
      const now = this.now();
      for (let r = state.pollResolveRequest(now); r !== undefined; r = state.pollResolveRequest(now)) this.dnsIo.resolve(state, r);
    }
    if (isSiteDnsState(state)) for (let q = state.pollSiteQuery(); q !== undefined; q = state.pollSiteQuery()) this.dnsIo.siteQuery(state, q);
  }

  /**
   * Arms the timer for the state's next deadline. A timer that fires no later than that stays (it may fire
   * early: the turn then finds nothing due and re-arms), so the timer is not replaced every turn while the
   * deadline creeps forward with each packet.
   */
  private schedule(): void {
    const at = this.state.pollTimeout();
    if (this.timer !== undefined && this.timerAt !== undefined && at !== undefined && this.timerAt <= at) return;
    this.clearTimer();
    if (at === undefined) return;
    this.timerAt = at;
    this.timer = setTimeout(this.onTimer, Math.max(0, Math.ceil(at - this.now())));
  }

  private clearTimer(): void {
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
    this.timerAt = undefined;
  }

  /** Runs an input against the state and then the usual turn; a throw stops the loop (a bug, not a packet). */
  private guard(f: () => void): void {
    if (this.stopping) return;
    try {
      f();
      this.afterTurn();
    } catch (err) {
      this.fail(new TunnelLoopError('STATE_FAILED', 'the tunnel state failed', { cause: err }));
    }
  }

  private fail(err: TunnelLoopError): void {
    if (this.stopping) return;
    this.log.error({ code: err.code }, errorChain(err));
    this.resolveDone(err);
  }
}

async function withTimeout(p: Promise<unknown>, ms: number): Promise<void> {
  let t: NodeJS.Timeout | undefined;
  await Promise.race([p, new Promise<void>((resolve) => (t = setTimeout(resolve, ms)))]);
  if (t !== undefined) clearTimeout(t);
}

function errorChain(error: unknown): string {
  const parts: string[] = [];
  let e: unknown = error;
  for (let i = 0; i < 8 && e !== undefined && e !== null; i++) {
    parts.push(e instanceof Error ? e.message : typeof e === 'string' ? e : JSON.stringify(e));
    e = e instanceof Error ? e.cause : undefined;
  }
  return parts.join(': ');
}
