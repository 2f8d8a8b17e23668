// The Linux TUN device: opened here (main thread), read and written by workers (tun.worker.mjs), one reader
// and one writer per queue, each connected to the main thread by a bounded SharedRing.
import { once } from 'node:events';
import { Worker } from 'node:worker_threads';
import type { Logger } from 'pino';
import { BatchArrays, RING_DONE, RING_ERRNO, SharedRing, ViewCache, changeOf, waitForChange, workerGcStats, workerGcStatsFromEnv } from '@postern/bufferpool';
import { TunError } from './errors';
import { flowQueue } from './flow';
import {
  EFD_CLOEXEC,
  EFD_NONBLOCK,
  IFF_MULTI_QUEUE,
  IFF_NO_PI,
  IFF_TUN,
  IFF_VNET_HDR,
  AF_INET,
  O_CLOEXEC,
  O_NONBLOCK,
  O_RDWR,
  SIOCGIFTXQLEN,
  SIOCSIFTXQLEN,
  SOCK_CLOEXEC,
  SOCK_DGRAM,
  TUNSETIFF,
  TUNSETOFFLOAD,
  TUN_F_CSUM,
  TUN_F_TSO4,
  TUN_F_TSO6,
  TUN_F_USO4,
  TUN_F_USO6,
  libc,
} from './libc';
import type { Tun, TunCloseReport, TunOptions, TunStats } from './types';

const BELL_RX = 0;
const BELL_TX = 1;
/** Ring control word the writer counts refused packets in (see tun.worker.mjs). */
const RING_TX_ERRORS = 8;
/** Control words the workers count offload work in (see tun.worker.mjs). */
const RING_RX_MALFORMED = 9;
const RING_SUPER = 10;
const RING_SUPER_SEGMENTS = 11;
type Offloads = 'off' | 'tso' | 'tso+uso';
const WAIT_SLICE_MS = 1000;
const READY: Promise<unknown> = Promise.resolve();

interface Queue {
  readonly fd: number;
  readonly rx: SharedRing;
  readonly tx: SharedRing;
  readonly reader: Worker;
  readonly writer: Worker;
  readonly readerExit: Promise<unknown>;
  readonly writerExit: Promise<unknown>;
  readonly started: Promise<unknown>;
  /** Slots handed out by the last recvMany, released on the next. */
  lent: number;
  /** One reused view per rx slot (entry = slot index): a packet's view is made again only when its length changes. */
  readonly rxViews: ViewCache;
}

function openQueueFd(name: string, flags: number): number {
  const c = libc();
  const fd = c.open('/dev/net/tun', O_RDWR | O_NONBLOCK | O_CLOEXEC, 0);
  if (fd < 0) {
    const e = c.errno();
    throw new TunError('OPEN_FAILED', `open /dev/net/tun: ${c.strerror(e)}`, { errno: e });
  }
  const ifr = new Uint8Array(40);
  ifr.set(new TextEncoder().encode(name));
  new DataView(ifr.buffer).setUint16(16, flags, true);
  if (c.ioctl(fd, TUNSETIFF, ifr) < 0) {
    const e = c.errno();
    c.close(fd);
    throw new TunError('IOCTL_FAILED', `TUNSETIFF ${name}: ${c.strerror(e)}`, { errno: e });
  }
  return fd;
}

/** Enables checksum offload and TSO4/6 (and USO4/6 where the kernel takes them) on a queue opened with IFF_VNET_HDR. */
function setOffloads(fd: number, name: string): Offloads {
  const c = libc();
  const tso = TUN_F_CSUM | TUN_F_TSO4 | TUN_F_TSO6;
  if (c.ioctlValue(fd, TUNSETOFFLOAD, tso | TUN_F_USO4 | TUN_F_USO6) === 0) return 'tso+uso';
  if (c.ioctlValue(fd, TUNSETOFFLOAD, tso) === 0) return 'tso';
  const e = c.errno();
  throw new TunError('IOCTL_FAILED', `TUNSETOFFLOAD ${name}: ${c.strerror(e)}`, { errno: e });
}

/**
 * Offloads when neither the option nor POSTERN_TUN_OFFLOADS says: on, because TCP through a TUN pair measured
 * ~4x faster with them (`npx nx run tun:bench`, offload.bench.ts); off where the kernel refuses TUNSETOFFLOAD.
 */
export const DEFAULT_OFFLOADS = true;

/** POSTERN_TUN_OFFLOADS as a boolean; undefined when unset (the default applies). */
export function offloadsFromEnv(value = process.env['POSTERN_TUN_OFFLOADS']): boolean | undefined {
  if (value === undefined || value === '') return undefined;
  if (value === '1' || value === 'true') return true;
  if (value === '0' || value === 'false') return false;
  throw new TunError('INVALID_ARGUMENT', `POSTERN_TUN_OFFLOADS must be 1, true, 0 or false (got ${value})`);
}

/**
 * The device's transmit queue when neither the option nor POSTERN_TUN_TXQUEUELEN says: packets the kernel holds
 * for the reader (TUN's ring per queue; the kernel's default is 500). Sent to the device faster than the reader
 * drains it (a sender's burst, the reader waiting for a CPU), the kernel drops what does not fit (tx_dropped):
 * that was where UDP through the client was lost just above its loss-free rate (tools/bench, counters per
 * probe). 4096 packets hold ~90 ms at 46 kpps; TCP does not fill it (TCP small queues).
 */
export const DEFAULT_TX_QUEUE_LENGTH = 4096;

/** POSTERN_TUN_TXQUEUELEN as a number of packets; undefined when unset (the default applies); 0 keeps the kernel's. */
export function txQueueLengthFromEnv(value = process.env['POSTERN_TUN_TXQUEUELEN']): number | undefined {
  if (value === undefined || value === '') return undefined;
  const n = Number(value);
  if (!validTxQueueLength(n)) throw new TunError('INVALID_ARGUMENT', `POSTERN_TUN_TXQUEUELEN must be an integer in [0, 65536] (got ${value})`);
  return n;
}

function validTxQueueLength(n: number): boolean {
  return Number.isInteger(n) && n >= 0 && n <= 65536;
}

/** SIOCSIFTXQLEN then SIOCGIFTXQLEN on a throwaway socket: the length the device has now. */
export function setTxQueueLength(name: string, length: number): number {
  const c = libc();
  const sock = c.socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (sock < 0) {
    const e = c.errno();
    throw new TunError('IOCTL_FAILED', `socket for SIOCSIFTXQLEN: ${c.strerror(e)}`, { errno: e });
  }
  try {
    const ifr = new Uint8Array(40);
    ifr.set(new TextEncoder().encode(name));
    const view = new DataView(ifr.buffer);
    view.setInt32(16, length, true);
    if (c.ioctl(sock, SIOCSIFTXQLEN, ifr) < 0) {
      const e = c.errno();
      throw new TunError('IOCTL_FAILED', `SIOCSIFTXQLEN ${name} ${String(length)}: ${c.strerror(e)}`, { errno: e });
    }
    view.setInt32(16, 0, true);
    if (c.ioctl(sock, SIOCGIFTXQLEN, ifr) < 0) {
      const e = c.errno();
      throw new TunError('IOCTL_FAILED', `SIOCGIFTXQLEN ${name}: ${c.strerror(e)}`, { errno: e });
    }
    return view.getInt32(16, true);
  } finally {
    c.close(sock);
  }
}

/** Opens `queues` fds of device `name` (with IFF_VNET_HDR and offloads when `offloads`); all or none. */
function openQueues(name: string, queues: number, multi: boolean, offloads: boolean): { fds: number[]; offloads: Offloads } {
  const flags = IFF_TUN | IFF_NO_PI | (multi ? IFF_MULTI_QUEUE : 0) | (offloads ? IFF_VNET_HDR : 0);
  const fds: number[] = [];
  let enabled: Offloads = 'off';
  try {
    for (let i = 0; i < queues; i++) {
      const fd = openQueueFd(name, flags);
      fds.push(fd);
      if (offloads) enabled = setOffloads(fd, name);
    }
  } catch (err) {
    for (const fd of fds) libc().close(fd);
    throw err;
  }
  return { fds, offloads: enabled };
}

function pow2(n: number): boolean {
  return Number.isInteger(n) && n >= 2 && (n & (n - 1)) === 0;
}

export async function openLinuxTun(options: TunOptions): Promise<Tun> {
  const tun = LinuxTun.open(options);
  if (options.waitForWorkers === false) return tun;
  try {
    await tun.started;
  } catch (err) {
    await tun.close();
    throw err;
  }
  return tun;
}

/** Resolves when the worker has set up (koffi loaded, ring mapped); rejects if it fails or exits first. */
function workerReady(w: Worker, role: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const onMessage = (m: unknown): void => {
      if (m === 'ready') done(undefined);
    };
    const onError = (err: Error): void => { done(new TunError('WORKER_FAILED', `TUN ${role} worker failed to start: ${err.message}`, { cause: err })); };
    const onExit = (code: number): void => { done(new TunError('WORKER_FAILED', `TUN ${role} worker exited during start (code ${code})`)); };
    const done = (err: TunError | undefined): void => {
      w.off('message', onMessage).off('error', onError).off('exit', onExit);
      if (err === undefined) resolve();
      else reject(err);
    };
    w.on('message', onMessage).on('error', onError).on('exit', onExit);
  });
}

class LinuxTun implements Tun {
  private readonly qs: Queue[];
  private readonly bell: Int32Array;
  private readonly logger: Logger | undefined;
  private closing: Promise<TunCloseReport> | undefined;
  private closedFlag = false;
  private rr = 0;
  private rxPackets = 0;
  private rxBytes = 0;
  private txPackets = 0;
  private txBytes = 0;
  private txTooLarge = 0;
  private readonly staged: number[];
  /** tryRecvMany's result arrays (one per batch size) and the scratch list they are filled from. */
  private readonly rxOut = new BatchArrays<Uint8Array>();
  private readonly rxItems: Uint8Array[] = [];
  /** A worker failed to start (it never set RING_DONE): receiving and sending fail with WORKER_FAILED. */
  private startError: TunError | undefined;
  readonly started: Promise<void>;

  private constructor(
    readonly name: string,
    readonly offloads: Offloads,
    private readonly stopFd: number,
    qs: Queue[],
    bell: Int32Array,
    private readonly readBatch: number,
    private readonly maxPacketSize: number,
    private readonly graceMs: number,
    logger: Logger | undefined,
    private readonly gcStats = false,
  ) {
    this.qs = qs;
    this.bell = bell;
    this.logger = logger;
    this.staged = qs.map(() => 0);
    this.started = Promise.all(qs.map((q) => q.started)).then(
      () => undefined,
      (err: unknown) => {
        this.startError = err instanceof TunError ? err : new TunError('WORKER_FAILED', `TUN ${name}: a worker failed to start`, { cause: err });
        // Wake whoever waits for packets or room: they see the failure.
        for (const i of [BELL_RX, BELL_TX]) {
          Atomics.add(this.bell, i, 1);
          Atomics.notify(this.bell, i);
        }
        throw this.startError;
      },
    );
    this.started.catch(() => undefined); // observed by openTun, or by recvMany/sendReady
  }

  get queues(): number {
    return this.qs.length;
  }

  static open(o: TunOptions): LinuxTun {
    const name = o.name ?? 'tun-postern';
    const queues = o.queues ?? 1;
    const maxPacketSize = o.maxPacketSize ?? 2048;
    const capacity = o.channelCapacity ?? 1024;
    const readBatch = o.readBatch ?? 64;
    const pollTimeoutMs = o.pollTimeoutMs ?? 100;
    if (name.length === 0 || new TextEncoder().encode(name).length > 15) throw new TunError('INVALID_ARGUMENT', `interface name must be 1-15 bytes: ${name}`);
    if (!Number.isInteger(queues) || queues < 1 || queues > 64) throw new TunError('INVALID_ARGUMENT', `queues must be in [1, 64] (got ${queues})`);
    if (!pow2(capacity)) throw new TunError('INVALID_ARGUMENT', `channelCapacity must be a power of two (got ${capacity})`);
    if (!Number.isInteger(maxPacketSize) || maxPacketSize < 576 || maxPacketSize > 65536) throw new TunError('INVALID_ARGUMENT', `maxPacketSize must be in [576, 65536] (got ${maxPacketSize})`);
    if (!Number.isInteger(readBatch) || readBatch < 1) throw new TunError('INVALID_ARGUMENT', `readBatch must be positive (got ${readBatch})`);
    const txLen = o.txQueueLength ?? txQueueLengthFromEnv();
    if (txLen !== undefined && !validTxQueueLength(txLen)) throw new TunError('INVALID_ARGUMENT', `txQueueLength must be an integer in [0, 65536] (got ${String(txLen)})`);
    const multi = o.multiQueue ?? queues > 1;
    const requested = o.offloads ?? offloadsFromEnv();
    const c = libc();
    const stopFd = c.eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (stopFd < 0) {
      const e = c.errno();
      throw new TunError('OPEN_FAILED', `eventfd: ${c.strerror(e)}`, { errno: e });
    }
    let opened: { fds: number[]; offloads: Offloads };
    try {
      try {
        opened = openQueues(name, queues, multi, requested ?? DEFAULT_OFFLOADS);
      } catch (err) {
        // Offloads by default only where the kernel has them: fall back quietly when nobody asked for them.
        if (requested !== undefined || !(err instanceof TunError) || err.code !== 'IOCTL_FAILED' || !err.message.startsWith('TUNSETOFFLOAD')) throw err;
        o.logger?.info({ err }, `TUN ${name}: offloads unavailable, continuing without`);
        opened = openQueues(name, queues, multi, false);
      }
    } catch (err) {
      c.close(stopFd);
      throw err;
    }
    const { fds, offloads } = opened;
    if (txLen !== 0) {
      try {
        const now = setTxQueueLength(name, txLen ?? DEFAULT_TX_QUEUE_LENGTH);
        o.logger?.debug({ name, txQueueLength: now }, 'TUN transmit queue set');
      } catch (err) {
        // Asked for: an error. The default: the device works with the kernel's queue (500), say so.
        if (txLen !== undefined) {
          for (const fd of fds) c.close(fd);
          c.close(stopFd);
          throw err;
        }
        o.logger?.warn({ err }, `TUN ${name}: transmit queue left at the kernel's length`);
      }
    }
    const wantOffloads = offloads !== 'off';
    const gcStats = o.gcStats ?? workerGcStatsFromEnv();
    const bellSab = new SharedArrayBuffer(8);
    const slotSize = Math.ceil(maxPacketSize / 64) * 64;
    const qs = fds.map((fd): Queue => {
      const rx = SharedRing.create({ slots: capacity, slotSize });
      const tx = SharedRing.create({ slots: capacity, slotSize });
      const start = (role: 'reader' | 'writer', ring: SharedRing): Worker => {
        const w = new Worker(new URL('./tun.worker.mjs', import.meta.url), {
          workerData: { role, fd, stopFd, ring: ring.sab, bell: bellSab, batch: readBatch, pollTimeoutMs, offloads: wantOffloads, uso: offloads === 'tso+uso', gcStats },
          name: `tun-${role}`,
        });
        w.on('error', (err) => o.logger?.error({ err }, `TUN ${role} worker failed: ${err.message}`));
        return w;
      };
      const reader = start('reader', rx);
      const writer = start('writer', tx);
      const started = Promise.all([workerReady(reader, 'reader'), workerReady(writer, 'writer')]);
      started.catch(() => undefined); // observed through LinuxTun.started
      return { fd, rx, tx, reader, writer, readerExit: once(reader, 'exit'), writerExit: once(writer, 'exit'), started, lent: 0, rxViews: new ViewCache(capacity) };
    });
    o.logger?.debug({ name, queues, multiQueue: multi, capacity, offloads }, 'TUN device opened');
    return new LinuxTun(name, offloads, stopFd, qs, new Int32Array(bellSab), readBatch, maxPacketSize, o.shutdownGraceMs ?? 10_000, o.logger, gcStats);
  }

  /** The array and the views are reused: valid until the next recvMany/tryRecvMany call. */
  tryRecvMany(max = 100): Uint8Array[] {
    const n = this.qs.length;
    for (let k = 0; k < n; k++) {
      const q = this.qs[k];
      if (q !== undefined && q.lent > 0) {
        q.rx.release(q.lent);
        q.lent = 0;
      }
    }
    const items = this.rxItems;
    if (this.closedFlag) return this.rxOut.of(items, 0);
    let count = 0;
    for (let k = 0; k < n && count < max; k++) {
      const q = this.qs[(this.rr + k) % n];
      if (q === undefined) continue;
      const rx = q.rx;
      const tail = rx.tail();
      const avail = Math.min((rx.head() - tail) | 0, max - count);
      for (let i = 0; i < avail; i++) {
        const seq = (tail + i) | 0;
        const len = rx.meta[rx.metaIndex(seq)] ?? 0;
        items[count++] = q.rxViews.viewAt(seq, rx.slot(seq), 0, len);
        this.rxBytes += len;
      }
      q.lent = avail;
    }
    this.rr = (this.rr + 1) % n;
    this.rxPackets += count;
    return this.rxOut.of(items, count);
  }

  readable(): Promise<unknown> {
    if (this.closing !== undefined || this.closedFlag) return Promise.reject(new TunError('CLOSED', `TUN ${this.name} is closed`));
    if (this.readersFailed()) return Promise.reject(this.workerError());
    const seen = Atomics.load(this.bell, BELL_RX);
    for (let k = 0; k < this.qs.length; k++) {
      const q = this.qs[k];
      if (q !== undefined && ((q.rx.head() - q.rx.tail()) | 0) > q.lent) return READY;
    }
    return changeOf(this.bell, BELL_RX, seen, WAIT_SLICE_MS) ?? READY;
  }

  async recvMany(max = 100): Promise<Uint8Array[]> {
    for (;;) {
      const seen = Atomics.load(this.bell, BELL_RX);
      const got = this.tryRecvMany(max);
      if (got.length > 0 || this.closedFlag) return got;
      if (this.readersFailed()) {
        // During close() the readers stop before the device is marked closed: that is the end, not a failure.
        if (this.closing !== undefined) return [];
        throw this.workerError();
      }
      await this.waitBell(BELL_RX, seen);
    }
  }

  send(batch: readonly Uint8Array[]): number {
    if (this.closing !== undefined) throw new TunError('CLOSED', `TUN ${this.name} is closed`);
    const n = this.qs.length;
    let taken = 0;
    for (let i = 0; i < batch.length; i++) {
      const p = batch[i];
      if (p === undefined) break;
      if (p.length > this.maxPacketSize) {
        // A packet the device could never take (a peer's oversized inner packet): dropped and counted, taken,
        // like a router drops what exceeds its link; never an error that stops the caller's loop.
        this.txTooLarge++;
        taken++;
        continue;
      }
      const qi = n === 1 ? 0 : flowQueue(p, n);
      const q = this.qs[qi];
      const off = this.staged[qi] ?? 0;
      if (q === undefined || !q.tx.stage(off, p)) break;
      this.staged[qi] = off + 1;
      taken++;
      this.txBytes += p.length;
    }
    for (let i = 0; i < n; i++) {
      const s = this.staged[i] ?? 0;
      if (s > 0) {
        this.qs[i]?.tx.publish(s);
        this.staged[i] = 0;
      }
    }
    this.txPackets += taken;
    return taken;
  }

  async sendReady(min = this.readBatch): Promise<void> {
    for (;;) {
      if (this.closing !== undefined) throw new TunError('CLOSED', `TUN ${this.name} is closed`);
      const seen = Atomics.load(this.bell, BELL_TX);
      if (this.txRoom(min)) return;
      if (this.writersFailed()) throw this.workerError();
      await this.waitBell(BELL_TX, seen);
    }
  }

  async sendAll(batch: readonly Uint8Array[]): Promise<void> {
    let rest = batch;
    for (;;) {
      const n = this.send(rest);
      if (n === rest.length) return;
      rest = rest.slice(n);
      await this.sendReady(1);
    }
  }

  stats(): TunStats {
    let stalls = 0;
    let queued = 0;
    for (const q of this.qs) {
      stalls += q.rx.stalls();
      queued += q.tx.used();
    }
    const sum = (ring: 'rx' | 'tx', word: number): number => this.qs.reduce((s, q) => s + Atomics.load(q[ring].control, word), 0);
    const base = {
      rxPackets: this.rxPackets,
      rxBytes: this.rxBytes,
      txPackets: this.txPackets,
      txBytes: this.txBytes,
      readerStalls: stalls,
      txQueued: queued,
      txErrors: sum('tx', RING_TX_ERRORS) + this.txTooLarge,
      txTooLarge: this.txTooLarge,
      ...(this.gcStats ? { workerGc: workerGcStats(this.qs.flatMap((q) => [q.rx, q.tx])) } : {}),
    };
    if (this.offloads === 'off') return base;
    return {
      ...base,
      rxMalformed: sum('rx', RING_RX_MALFORMED),
      rxSuperPackets: sum('rx', RING_SUPER),
      rxSuperSegments: sum('rx', RING_SUPER_SEGMENTS),
      txSuperPackets: sum('tx', RING_SUPER),
      txSuperSegments: sum('tx', RING_SUPER_SEGMENTS),
    };
  }

  close(): Promise<TunCloseReport> {
    this.closing ??= this.shutdown();
    return this.closing;
  }

  private async shutdown(): Promise<TunCloseReport> {
    const started = performance.now();
    const deadline = started + this.graceMs;
    const queuedAtClose = this.qs.reduce((s, q) => s + q.tx.used(), 0);
    // 1. Flush: writers drain what is queued, then exit (STOP = 1).
    for (const q of this.qs) q.tx.requestStop();
    const writersDone = await this.until(this.qs.map((q) => q.writerExit), deadline);
    // 2. Stop the readers: stop flag + eventfd wakes them out of poll(); also wake any waiting on a full ring.
    for (const q of this.qs) q.rx.requestStop();
    const one = new Uint8Array(8);
    one[0] = 1;
    libc().write(this.stopFd, one, 8);
    const readersDone = await this.until(this.qs.map((q) => q.readerExit), deadline);
    this.closedFlag = true;
    Atomics.add(this.bell, BELL_RX, 1);
    Atomics.notify(this.bell, BELL_RX);
    Atomics.add(this.bell, BELL_TX, 1);
    Atomics.notify(this.bell, BELL_TX);
    const unflushed = this.qs.reduce((s, q) => s + q.tx.used(), 0);
    let stuck = 0;
    if (!writersDone || !readersDone) {
      for (const q of this.qs) {
        for (const [w, ring] of [[q.reader, q.rx], [q.writer, q.tx]] as const) {
          if (Atomics.load(ring.control, RING_DONE) !== 0) continue;
          stuck++;
          // terminate() cannot interrupt a thread blocked in a native call; unref so it cannot hold the process.
          w.unref();
          w.terminate().catch((err: unknown) => this.logger?.debug({ err }, 'terminate failed'));
        }
      }
    }
    const c = libc();
    for (const q of this.qs) c.close(q.fd);
    c.close(this.stopFd);
    const report: TunCloseReport = { flushed: queuedAtClose - unflushed, unflushed, stuckWorkers: stuck, durationMs: performance.now() - started };
    if (stuck > 0 || unflushed > 0) {
      this.logger?.warn(report, `TUN ${this.name}: ${stuck} worker(s) did not exit within ${this.graceMs} ms, ${unflushed} packet(s) not flushed; continuing`);
    } else {
      this.logger?.debug(report, `TUN ${this.name} closed`);
    }
    return report;
  }

  /** True when all `exits` settled before `deadline` (one deadline for the whole shutdown). */
  private async until(exits: readonly Promise<unknown>[], deadline: number): Promise<boolean> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<false>((resolve) => {
      timer = setTimeout(() => { resolve(false); }, Math.max(0, deadline - performance.now()));
    });
    try {
      return await Promise.race([Promise.all(exits).then(() => true), timeout]);
    } finally {
      clearTimeout(timer);
    }
  }

  private waitBell(index: number, seen: number): Promise<void> {
    return waitForChange(this.bell, index, seen, WAIT_SLICE_MS);
  }

  /** Every outbound channel has room for `min` packets (or is empty when smaller). */
  private txRoom(min: number): boolean {
    for (let i = 0; i < this.qs.length; i++) {
      const q = this.qs[i];
      if (q !== undefined && q.tx.free() < Math.min(min, q.tx.slots)) return false;
    }
    return true;
  }

  private readersFailed(): boolean {
    return this.startError !== undefined || this.qs.every((q) => Atomics.load(q.rx.control, RING_DONE) !== 0);
  }

  private writersFailed(): boolean {
    return this.startError !== undefined || this.qs.some((q) => Atomics.load(q.tx.control, RING_DONE) !== 0);
  }

  private workerError(): TunError {
    if (this.startError !== undefined) return this.startError;
    const errnos = this.qs.map((q) => Atomics.load(q.rx.control, RING_ERRNO) || Atomics.load(q.tx.control, RING_ERRNO));
    const e = errnos.find((x) => x !== 0) ?? 0;
    return new TunError('WORKER_FAILED', `TUN ${this.name}: I/O worker stopped${e !== 0 ? `: ${libc().strerror(e)}` : ''}`, { errno: e });
  }
}

