// The relay's IO shell: UDP sockets (socket-factory), timers and the portal around the sans-IO TurnServer.
import { performance } from 'node:perf_hooks';
import type { Logger } from 'pino';
import { TurnServer, parseCidr, type Cidr, type Rng, type ServerEvent, type Transmit } from '@postern/relay-proto';
import { BufferPoolError } from '@postern/bufferpool';
import { bindUdp, SocketError, type SendQueue, type SocketAddr, type UdpBackend, type UdpSocket } from '@postern/socket-factory';
import { writeChannelDataHeader } from '@postern/stun';

export interface RelayOptions {
  readonly publicIp4: string | undefined;
  readonly publicIp6: string | undefined;
  readonly listenPort: number;
  readonly lowestPort: number;
  readonly highestPort: number;
  readonly realm: string;
  readonly users: ReadonlyMap<string, string>;
  readonly authSecret: string | undefined;
  readonly allowedPeers: readonly string[];
  readonly deniedPeers: readonly string[];
  readonly software: string;
  /** 0x7FFF (RFC 5766) or 0x4FFF (RFC 8656). */
  readonly lastChannel: number;
  /**
   * Backend of the listening socket (default auto = batched on Linux) and of the relayed sockets (default dgram).
   * `auto` for the relayed sockets: batched (recvmmsg in a worker thread, sendmmsg + GSO) for the first
   * `relayBatchedSockets` open at a time, node:dgram for the rest: a worker thread per socket does not scale
   * to thousands of allocations, but the batched path carries ~3x the traffic per CPU second.
   */
  readonly mainBackend?: 'auto' | UdpBackend;
  readonly relayBackend?: 'auto' | UdpBackend;
  /** With relayBackend `auto`: batched relayed sockets at a time (default 8). */
  readonly relayBatchedSockets?: number;
  readonly rng: Rng;
  readonly logger: Logger;
}

export class RelayError extends Error {
  override readonly name = 'RelayError';
  constructor(
    readonly code: 'BAD_CIDR' | 'BIND_FAILED',
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

function cidrs(list: readonly string[]): Cidr[] {
  return list.map((s) => {
    const c = parseCidr(s);
    if (!c) throw new RelayError('BAD_CIDR', `not a CIDR: ${s}`);
    return c;
  });
}

/**
 * Lets the event loop run its I/O and check phases. A batched socket's recvMany() resolves at once while data
 * is waiting, so a receive loop that only awaits it runs in microtasks forever under sustained load: the send
 * queues' setImmediate flushes and node:dgram's send callbacks (which return the buffers to the pool) never
 * ran, and the relay stopped relaying (every datagram dropped as "send queue full").
 */
function yieldToEventLoop(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

/** A send queue whose pool is exhausted (the socket cannot keep up) drops the datagram, as a full router queue does. */
function isQueueFull(err: unknown): boolean {
  return err instanceof BufferPoolError && err.code === 'EXHAUSTED';
}

/** Queues one datagram; false (dropped) when the socket's send buffers are all in use. Other errors throw. */
export function pushOrDrop(q: SendQueue, dst: SocketAddr, data: Uint8Array): boolean {
  try {
    q.push(dst, data);
    return true;
  } catch (err) {
    if (isQueueFull(err)) return false;
    throw err;
  }
}

/**
 * Queues `data[start..end)` (a ChannelData datagram's payload) without making a view of it: the whole datagram
 * is copied into the reserved buffer and the range moved to its front (`copyWithin`, a memmove of the payload).
 * A `subarray` per datagram was the relay's largest allocation; a view remembered per receive-ring slot
 * (`ViewCache.within`) still missed whenever a slot position changed size. False (dropped) when the socket's
 * send buffers are all in use. Other errors throw.
 */
export function pushRangeOrDrop(q: SendQueue, dst: SocketAddr, data: Uint8Array, start: number, end: number): boolean {
  if (start === 0 && end === data.length) return pushOrDrop(q, dst, data);
  let buf: Uint8Array;
  try {
    buf = q.reserve(dst, data.length);
  } catch (err) {
    if (isQueueFull(err)) return false;
    // the datagram with its header (and padding) is larger than a send buffer takes, the payload alone is not
    if (err instanceof SocketError && err.code === 'DATAGRAM_TOO_LARGE') return pushOrDrop(q, dst, data.subarray(start, end));
    throw err;
  }
  buf.set(data);
  buf.copyWithin(0, start, end);
  q.commit(end - start);
  return true;
}

/**
 * Queues ChannelData (4-byte header + payload) framed in place into the send batch, copying the payload once;
 * false (dropped) when the socket's send buffers are all in use. Other errors throw.
 */
export function pushChannelDataOrDrop(q: SendQueue, dst: SocketAddr, channel: number, payload: Uint8Array): boolean {
  let buf: Uint8Array;
  try {
    buf = q.reserve(dst, payload.length + 4);
  } catch (err) {
    if (isQueueFull(err)) return false;
    throw err;
  }
  writeChannelDataHeader(buf, 0, channel, payload.length);
  buf.set(payload, 4);
  q.commit(payload.length + 4);
  return true;
}

interface RelayedSockets {
  v4: UdpSocket | undefined;
  v6: UdpSocket | undefined;
  closed: boolean;
  /**
   * Client -> peer datagrams that arrived before the relayed socket was open (the ALLOCATE success goes out
   * while the socket is still binding: a batched socket starts a worker thread first), sent once it is.
   */
  early: { family: 4 | 6; dst: SocketAddr; data: Uint8Array }[];
}

/** Datagrams kept per allocation while its relayed socket opens. */
const MAX_EARLY = 256;

/** A running relay: call `close()` to stop. */
export class Relay {
  readonly server: TurnServer;
  private main: UdpSocket | undefined;
  private readonly relayed = new Map<number, RelayedSockets>();
  private timer: NodeJS.Timeout | undefined;
  private timerAt = Infinity;
  private running = true;
  private readonly loops: Promise<void>[] = [];
  private readonly log: Logger;
  /** Datagrams dropped because a send queue was full (the kernel did not take them fast enough). */
  sendQueueDrops = 0;
  private lastDropLog = -Infinity;
  /** Open relayed sockets on the batched backend (bounded by relayBatchedSockets with `auto`). */
  private batchedRelayed = 0;

  private constructor(private readonly o: RelayOptions) {
    this.log = o.logger;
    this.server = new TurnServer(
      {
        publicIp4: o.publicIp4,
        publicIp6: o.publicIp6,
        lowestPort: o.lowestPort,
        highestPort: o.highestPort,
        realm: o.realm,
        software: o.software,
        staticUsers: o.users.size > 0 ? o.users : undefined,
        restSecret: o.authSecret,
        epochMs: Date.now() - performance.now(),
        lastChannel: o.lastChannel,
        allowedPeers: cidrs(o.allowedPeers),
        deniedPeers: cidrs(o.deniedPeers),
      },
      o.rng,
    );
  }

  static async start(o: RelayOptions): Promise<Relay> {
    const r = new Relay(o);
    const dual = o.publicIp6 !== undefined;
    r.main = await bindUdp({
      address: dual ? '::' : '0.0.0.0',
      port: o.listenPort,
      portFallback: false,
      dualStack: dual,
      backend: o.mainBackend ?? 'auto',
      recvBufferSize: 8 << 20,
      sendBufferSize: 8 << 20,
      maxDatagramSize: 65535,
      logger: o.logger,
    });
    r.log.info(`listening on ${r.main.local.key} (${r.main.backend}${r.main.gso ? ', GSO' : ''}${r.main.gro ? ', GRO' : ''})`);
    r.loops.push(r.guard('listening socket', r.mainLoop(r.main)));
    return r;
  }

  get localPort(): number {
    return this.main?.local.port ?? 0;
  }

  setStampSecret(secret: string): void {
    this.server.setStampSecret(secret);
  }

  /** The backend of each open relayed socket (tests, /metrics). */
  relayedBackends(): UdpBackend[] {
    const out: UdpBackend[] = [];
    for (const rs of this.relayed.values()) for (const sock of [rs.v4, rs.v6]) if (sock) out.push(sock.backend);
    return out;
  }

  /** Socket statistics of the listening socket. */
  mainStats(): ReturnType<UdpSocket['stats']> | undefined {
    return this.main?.stats();
  }

  /** A receive loop that fails is logged once with its cause chain (the relay keeps running without it). */
  private async guard(what: string, loop: Promise<void>): Promise<void> {
    try {
      await loop;
    } catch (err) {
      this.log.error(`${what}: receive loop failed: ${err instanceof Error ? err.message : String(err)}`);
    }
  }

  private async mainLoop(sock: UdpSocket): Promise<void> {
    const server = this.server;
    while (this.running) {
      const batch = await sock.recvMany();
      if (batch.length === 0) break;
      const now = performance.now();
      for (const d of batch) {
        const f = server.handleClientInput(d.data, d.from, now);
        if (f === undefined) continue;
        const rs = this.relayed.get(f.relayPort);
        const out = f.relayFamily === 4 ? rs?.v4 : rs?.v6;
        if (out) {
          if (!pushRangeOrDrop(out.sendQueue, f.dst, d.data, f.start, f.end)) this.dropped(now);
        } else if (rs && !rs.closed) {
          if (rs.early.length < MAX_EARLY) rs.early.push({ family: f.relayFamily, dst: f.dst, data: d.data.slice(f.start, f.end) });
          else this.dropped(now);
        }
      }
      this.drain(now);
      await yieldToEventLoop();
    }
  }

  private async peerLoop(sock: UdpSocket, family: 4 | 6, port: number): Promise<void> {
    const server = this.server;
    const main = this.main;
    if (!main) return;
    const q = main.sendQueue;
    for (;;) {
      const batch = await sock.recvMany();
      if (batch.length === 0) break;
      const now = performance.now();
      for (const d of batch) {
        const f = server.handlePeerInput(d.data, d.from, family, port, now);
        if (f === undefined) continue;
        // the verdict covers the whole datagram (no view of it needed)
        const payload = f.start === 0 && f.end === d.data.length ? d.data : d.data.subarray(f.start, f.end);
        if (!pushChannelDataOrDrop(q, f.dst, f.channel, payload)) this.dropped(now);
      }
      this.drain(now);
      await yieldToEventLoop();
    }
  }

  private send(t: Transmit, now: number): void {
    const rs = t.source.kind === 'main' ? undefined : this.relayed.get(t.source.port);
    const sock = t.source.kind === 'main' ? this.main : t.source.family === 4 ? rs?.v4 : rs?.v6;
    if (sock && !pushOrDrop(sock.sendQueue, t.dst, t.payload)) this.dropped(now);
  }

  private dropped(now: number): void {
    this.sendQueueDrops++;
    if (now - this.lastDropLog >= 10_000) {
      this.lastDropLog = now;
      this.log.warn({ total: this.sendQueueDrops }, 'send queue full: dropping datagrams (the relay is overloaded)');
    }
  }

  private drain(now: number): void {
    for (let t = this.server.pollTransmit(); t; t = this.server.pollTransmit()) this.send(t, now);
    for (let e = this.server.pollEvent(); e; e = this.server.pollEvent()) this.onEvent(e);
    this.schedule(now);
  }

  private schedule(now: number): void {
    const at = this.server.pollTimeout();
    if (at === undefined || at >= this.timerAt || !this.running) return;
    if (this.timer) clearTimeout(this.timer);
    this.timerAt = at;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.timerAt = Infinity;
      const t = performance.now();
      this.server.handleTimeout(t);
      this.drain(t);
    }, Math.max(0, at - now + 1));
    this.timer.unref();
  }

  private onEvent(e: ServerEvent): void {
    switch (e.type) {
      case 'allocation-created':
        this.log.debug({ port: e.port, families: e.families }, 'allocation created');
        this.openRelayed(e.port, e.families);
        break;
      case 'allocation-freed':
        this.log.debug({ port: e.port, reason: e.reason }, 'allocation freed');
        this.closeRelayed(e.port);
        break;
      case 'channel-bound':
        this.log.trace({ port: e.port, channel: e.channel }, 'channel bound');
        break;
      case 'auth-failed':
        this.log.debug({ reason: e.reason }, 'authentication failed');
        break;
    }
  }

  private openRelayed(port: number, families: readonly (4 | 6)[]): void {
    const rs: RelayedSockets = { v4: undefined, v6: undefined, closed: false, early: [] };
    this.relayed.set(port, rs);
    const bindOne = async (family: 4 | 6): Promise<void> => {
      const wanted = this.relayedBackend();
      // a batched slot is held from here (binds run concurrently), released if we got dgram after all
      if (wanted !== 'dgram') this.batchedRelayed++;
      const sock = await bindUdp({
        address: family === 4 ? '0.0.0.0' : '::',
        port,
        portFallback: false,
        dualStack: false,
        backend: wanted,
        recvBufferSize: 4 << 20,
        sendBufferSize: 4 << 20,
        maxDatagramSize: 65535,
        logger: this.log,
      }).finally(() => {
        if (wanted !== 'dgram') this.batchedRelayed--; // counted again below once it is open and batched
      });
      if (sock.backend === 'batched') this.batchedRelayed++;
      if (rs.closed || !this.running) {
        await this.closeRelayedSocket(sock, port);
        return;
      }
      this.log.debug({ port, family, backend: sock.backend }, 'relayed socket open');
      if (family === 4) rs.v4 = sock;
      else rs.v6 = sock;
      const now = performance.now();
      for (const e of rs.early) if (e.family === family && !pushOrDrop(sock.sendQueue, e.dst, e.data)) this.dropped(now);
      rs.early = rs.early.filter((e) => e.family !== family);
      this.loops.push(this.guard(`relayed socket ${port}`, this.peerLoop(sock, family, port)));
    };
    for (const f of families) {
      bindOne(f).catch((err: unknown) => {
        this.log.warn(`cannot bind relayed port ${port} (IPv${f}): ${err instanceof Error ? err.message : String(err)}`);
        this.server.handlePortUnavailable(port);
        this.drain(performance.now());
      });
    }
  }

  private closeRelayed(port: number): void {
    const rs = this.relayed.get(port);
    if (!rs) return;
    this.relayed.delete(port);
    rs.closed = true;
    for (const s of [rs.v4, rs.v6]) if (s) void this.closeRelayedSocket(s, port);
  }

  /** The backend for the next relayed socket. */
  private relayedBackend(): UdpBackend | 'auto' {
    const b = this.o.relayBackend ?? 'dgram';
    if (b !== 'auto') return b;
    return this.batchedRelayed < (this.o.relayBatchedSockets ?? 8) ? 'auto' : 'dgram';
  }

  /** Closes a relayed socket (errors logged), giving back its batched slot. */
  private async closeRelayedSocket(s: UdpSocket, port: number): Promise<void> {
    if (s.backend === 'batched') this.batchedRelayed--;
    await s.close().catch((err: unknown) => {
      this.log.debug(`closing relayed socket ${port}: ${String(err)}`);
    });
  }

  async close(): Promise<void> {
    this.running = false;
    if (this.timer) clearTimeout(this.timer);
    for (const port of [...this.relayed.keys()]) this.closeRelayed(port);
    await this.main?.close();
    await Promise.allSettled(this.loops);
  }
}
