// The batched Linux backend: a non-blocking UDP socket through koffi. Send: the GsoQueue's batches leave in
// one sendmmsg per flush, each batch one entry with a UDP_SEGMENT cmsg (GSO). Receive: a worker runs
// recvmmsg (+ UDP_GRO) into a shared ring; the main thread splits super-datagrams into segment views.
import { once } from 'node:events';
import { Worker } from 'node:worker_threads';
import type { Logger } from 'pino';
import { BatchArrays, BufferPool, RING_DONE, RING_ERRNO, SharedRing, ViewCache, changeOf, waitForChange, workerGcStats } from '@postern/bufferpool';
import { parseSocketAddr } from './addr';
import { SocketError } from './errors';
import {
  EADDRINUSE,
  EAGAIN,
  EFD_CLOEXEC,
  EFD_NONBLOCK,
  EINTR,
  IPPROTO_IPV6,
  IPV6_V6ONLY,
  SOCK_CLOEXEC,
  SOCK_DGRAM,
  SOCK_NONBLOCK,
  SOL_SOCKET,
  SOL_UDP,
  SO_MARK,
  SO_RCVBUF,
  SO_RCVBUFFORCE,
  SO_SNDBUF,
  SO_SNDBUFFORCE,
  UDP_GRO,
  UDP_SEGMENT,
  socketLibc,
} from './libc';
import { GsoQueue, type Batch } from './send-queue';
import { AF_INET, AF_INET6, SockaddrCache, readSockaddr, writeSockaddr } from './sockaddr';
import type { DatagramIn, SocketAddr, UdpSocket, UdpStats } from './types';

const MMSG = 64;
const IOV = 16;
const NAME = 32; // sockaddr_in6 (28) rounded up
const CMSG = 24; // CMSG_SPACE(sizeof(u16))
const SEND_VEC = 128;
const GSO_MAX_BYTES = 65000;
const WAIT_SLICE_MS = 1000;
const READY: Promise<unknown> = Promise.resolve();
/** GRO segments per super-datagram that get a fixed view entry (the kernel coalesces at most 64). */
const SEGS_PER_SLOT = 64;

interface MutableDatagramIn {
  from: SocketAddr;
  data: Uint8Array;
}

/** A u64 (< 2^53) little-endian without a BigInt (one heap object per call). */
function setU64(dv: DataView, off: number, v: number): void {
  dv.setUint32(off, v >>> 0, true);
  dv.setUint32(off + 4, Math.floor(v / 0x1_0000_0000), true);
}

export interface BatchedOptions {
  readonly address: string;
  readonly port: number;
  readonly portFallback: boolean;
  readonly dualStack: boolean;
  readonly gso: boolean;
  readonly gro: boolean;
  readonly maxSegments: number;
  readonly mark: number | undefined;
  readonly sendBufferSize: number | undefined;
  readonly recvBufferSize: number | undefined;
  readonly maxDatagramSize: number;
  readonly recvCapacity: number;
  readonly gcStats: boolean;
  readonly pool: BufferPool | undefined;
  readonly logger: Logger | undefined;
}

function fail(code: 'SOCKET_FAILED' | 'BIND_FAILED' | 'SETSOCKOPT_FAILED', what: string): SocketError {
  const c = socketLibc();
  const e = c.errno();
  return new SocketError(code, `${what}: ${c.strerror(e)}`, { errno: e });
}

export async function openBatched(o: BatchedOptions): Promise<BatchedSocket> {
  const c = socketLibc();
  const v6 = o.dualStack || parseSocketAddr(o.address, 0).family === 6;
  const fd = c.socket(v6 ? AF_INET6 : AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) throw fail('SOCKET_FAILED', 'socket');
  const stopFd = c.eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  try {
    if (stopFd < 0) throw fail('SOCKET_FAILED', 'eventfd');
    if (v6 && c.setsockoptInt(fd, IPPROTO_IPV6, IPV6_V6ONLY, o.dualStack ? 0 : 1) < 0) throw fail('SETSOCKOPT_FAILED', 'IPV6_V6ONLY');
    if (o.mark !== undefined && c.setsockoptInt(fd, SOL_SOCKET, SO_MARK, o.mark) < 0) throw fail('SETSOCKOPT_FAILED', `SO_MARK ${o.mark}`);
    if (o.sendBufferSize !== undefined && c.setsockoptInt(fd, SOL_SOCKET, SO_SNDBUFFORCE, o.sendBufferSize) < 0) {
      if (c.setsockoptInt(fd, SOL_SOCKET, SO_SNDBUF, o.sendBufferSize) < 0) throw fail('SETSOCKOPT_FAILED', 'SO_SNDBUF');
    }
    if (o.recvBufferSize !== undefined && c.setsockoptInt(fd, SOL_SOCKET, SO_RCVBUFFORCE, o.recvBufferSize) < 0) {
      if (c.setsockoptInt(fd, SOL_SOCKET, SO_RCVBUF, o.recvBufferSize) < 0) throw fail('SETSOCKOPT_FAILED', 'SO_RCVBUF');
    }
    const gro = o.gro && c.setsockoptInt(fd, SOL_UDP, UDP_GRO, 1) === 0;
    const gso = o.gso && c.getsockoptInt(fd, SOL_UDP, UDP_SEGMENT) !== undefined;
    const addr = new Uint8Array(NAME);
    const bindTo = (port: number): number => writeSockaddr(addr, 0, parseSocketAddr(o.address, port), v6);
    if (c.bind(fd, addr, bindTo(o.port)) < 0) {
      const e = c.errno();
      if (!(e === EADDRINUSE && o.portFallback && o.port !== 0)) throw fail('BIND_FAILED', `bind ${o.address} port ${o.port}`);
      o.logger?.info(`UDP port ${o.port} is in use; binding an ephemeral port`);
      if (c.bind(fd, addr, bindTo(0)) < 0) throw fail('BIND_FAILED', `bind ${o.address} (ephemeral)`);
    }
    const lenBuf = new Uint8Array(4);
    new DataView(lenBuf.buffer).setUint32(0, NAME, true);
    if (c.getsockname(fd, addr, lenBuf) < 0) throw fail('SOCKET_FAILED', 'getsockname');
    const local = readSockaddr(addr, 0);
    const sock = new BatchedSocket(fd, stopFd, v6, o, local, gso, gro);
    await sock.started;
    return sock;
  } catch (err) {
    c.close(fd);
    if (stopFd >= 0) c.close(stopFd);
    throw err;
  }
}

export class BatchedSocket implements UdpSocket {
  readonly backend = 'batched';
  readonly sendQueue: GsoQueue;
  readonly started: Promise<void>;
  private readonly pool: BufferPool;
  private readonly ring: SharedRing;
  private readonly bell = new Int32Array(new SharedArrayBuffer(4));
  private readonly worker: Worker;
  private readonly workerExit: Promise<unknown>;
  private readonly cache = new SockaddrCache();
  private readonly logger: Logger | undefined;
  private readonly vec: Uint8Array;
  private readonly vecView: DataView;
  private readonly vecAddr: number;
  private lent = 0;
  private readonly gcStats: boolean;
  /** tryRecvMany's result: the array, its entries and their views are reused (valid until the next call). */
  private readonly rxOut = new BatchArrays<DatagramIn>();
  private readonly rxEntries: MutableDatagramIn[] = [];
  private readonly rxViews: ViewCache;
  private readonly metaBytes: Uint8Array;
  /** Encoded sockaddr per destination (sendmmsg msg_name), made once per SocketAddr object. */
  private readonly names = new WeakMap<SocketAddr, Uint8Array>();
  private readonly addrs = new WeakMap<Uint8Array, number>();
  private closing: Promise<void> | undefined;
  private closed = false;
  private rx = { datagrams: 0, bytes: 0, batches: 0 };
  private tx = { datagrams: 0, bytes: 0, batches: 0, errors: 0 };

  constructor(
    private readonly fd: number,
    private readonly stopFd: number,
    private readonly v6: boolean,
    o: BatchedOptions,
    readonly local: SocketAddr,
    readonly gso: boolean,
    readonly gro: boolean,
  ) {
    this.logger = o.logger;
    this.gcStats = o.gcStats;
    this.pool = o.pool ?? new BufferPool({ bufferSize: 65536, slabBuffers: 16, maxBuffers: 256 });
    const maxSegments = gso ? o.maxSegments : 1;
    this.sendQueue = new GsoQueue({
      pool: this.pool,
      maxSegments,
      maxBytes: Math.min(GSO_MAX_BYTES, this.pool.bufferSize),
      transmit: (batches) => this.transmit(batches),
      schedule: () => setImmediate(() => this.sendQueue.flush()),
    });
    // sendmmsg vector: SEND_VEC x (mmsghdr, iovec, sockaddr, cmsg), in one off-heap buffer with a fixed address.
    this.vec = new Uint8Array(SEND_VEC * (MMSG + IOV + NAME + CMSG));
    this.vecView = new DataView(this.vec.buffer);
    this.vecAddr = socketLibc().addressOf(this.vec);
    const slotSize = gro ? 65536 : Math.ceil(o.maxDatagramSize / 64) * 64;
    this.ring = SharedRing.create({ slots: o.recvCapacity, slotSize });
    this.metaBytes = new Uint8Array(this.ring.sab, 64);
    this.rxViews = new ViewCache(o.recvCapacity * (gro ? SEGS_PER_SLOT : 1));
    this.worker = new Worker(new URL('./udp-recv.worker.mjs', import.meta.url), {
      workerData: { fd, stopFd, ring: this.ring.sab, bell: this.bell.buffer, pollTimeoutMs: 100, gcStats: o.gcStats },
      name: 'udp-recv',
    });
    this.workerExit = once(this.worker, 'exit');
    this.started = new Promise((resolve, reject) => {
      this.worker.once('message', () => { resolve(); });
      this.worker.once('error', (err) => { reject(new SocketError('WORKER_FAILED', `UDP receive worker failed: ${err.message}`, { cause: err })); });
    });
    this.worker.on('error', (err) => this.logger?.error({ err }, `UDP receive worker failed: ${err.message}`));
  }

  get dualStack(): boolean {
    return this.v6;
  }

  addr(address: string, port?: number): SocketAddr {
    return parseSocketAddr(address, port);
  }

  /** The array, its entries and the views are reused: valid until the next recvMany/tryRecvMany call. */
  tryRecvMany(max = 1024): DatagramIn[] {
    if (this.lent > 0) {
      this.ring.release(this.lent);
      this.lent = 0;
    }
    if (this.closed) return this.rxOut.of(this.rxEntries, 0);
    const ring = this.ring;
    const tail = ring.tail();
    const avail = (ring.head() - tail) | 0;
    const segViews = ring.slotSize >= 65536 ? SEGS_PER_SLOT : 1;
    let used = 0;
    let count = 0;
    while (used < avail && count < max) {
      const seq = (tail + used) | 0;
      const m = ring.metaIndex(seq);
      const len = ring.meta[m] ?? 0;
      const seg = (ring.meta[m + 1] ?? 0) || len;
      const from = this.cache.get(ring.meta, m + 2, this.metaBytes, (m + 2) * 4);
      const slot = ring.slot(seq);
      const base = (seq & (ring.slots - 1)) * segViews;
      for (let off = 0, k = 0; off < len; off += seg, k++) {
        const n = Math.min(seg, len - off);
        const data = k < segViews ? this.rxViews.viewAt(base + k, slot, off, n) : slot.subarray(off, off + n);
        let e = this.rxEntries[count];
        if (e === undefined) {
          e = { from, data };
          this.rxEntries.push(e);
        } else {
          e.from = from;
          e.data = data;
        }
        count++;
      }
      this.rx.bytes += len;
      used++;
    }
    this.lent = used;
    this.rx.batches += used;
    this.rx.datagrams += count;
    return this.rxOut.of(this.rxEntries, count);
  }

  readable(): Promise<unknown> {
    if (this.closed || this.ring.stopRequested()) return Promise.reject(new SocketError('CLOSED', `socket ${this.local.key} is closed`));
    const seen = Atomics.load(this.bell, 0);
    if (((this.ring.head() - this.ring.tail()) | 0) > this.lent) return READY;
    if (Atomics.load(this.ring.control, RING_DONE) !== 0) {
      const e = Atomics.load(this.ring.control, RING_ERRNO);
      return Promise.reject(new SocketError('RECV_FAILED', `recvmmsg: ${socketLibc().strerror(e)}`, { errno: e }));
    }
    return changeOf(this.bell, 0, seen, WAIT_SLICE_MS) ?? READY;
  }

  async recvMany(max = 1024): Promise<DatagramIn[]> {
    for (;;) {
      const seen = Atomics.load(this.bell, 0);
      const got = this.tryRecvMany(max);
      // closing: the worker stops (DONE) before `closed` is set; that is the end, not a failure
      if (got.length > 0 || this.closed || this.ring.stopRequested()) return got;
      if (Atomics.load(this.ring.control, RING_DONE) !== 0) {
        const e = Atomics.load(this.ring.control, RING_ERRNO);
        throw new SocketError('RECV_FAILED', `recvmmsg: ${socketLibc().strerror(e)}`, { errno: e });
      }
      await waitForChange(this.bell, 0, seen, WAIT_SLICE_MS);
    }
  }

  stats(): UdpStats {
    return {
      rxDatagrams: this.rx.datagrams,
      rxBytes: this.rx.bytes,
      rxBatches: this.rx.batches,
      txDatagrams: this.tx.datagrams,
      txBytes: this.tx.bytes,
      txBatches: this.tx.batches,
      txErrors: this.tx.errors,
      rxStalls: this.ring.stalls(),
      ...(this.gcStats ? { workerGc: workerGcStats([this.ring]) } : {}),
    };
  }

  close(): Promise<void> {
    this.closing ??= this.shutdown();
    return this.closing;
  }

  private async shutdown(): Promise<void> {
    const c = socketLibc();
    // Flush what is queued (a few tries if the socket buffer is full), then stop the receiver.
    for (let i = 0; i < 100 && this.sendQueue.pending > 0; i++) {
      this.sendQueue.flush();
      if (this.sendQueue.pending > 0) await new Promise((r) => setTimeout(r, 1));
    }
    const dropped = this.sendQueue.discard();
    if (dropped > 0) this.logger?.warn(`UDP socket ${this.local.key}: ${dropped} queued datagram(s) not sent at close`);
    this.ring.requestStop();
    const one = new Uint8Array(8);
    one[0] = 1;
    c.write(this.stopFd, one, 8);
    let timer: NodeJS.Timeout | undefined;
    const exited = await Promise.race([
      this.workerExit.then(() => true),
      new Promise<false>((r) => {
        timer = setTimeout(() => { r(false); }, 10_000);
      }),
    ]);
    clearTimeout(timer);
    if (!exited) {
      this.logger?.warn(`UDP socket ${this.local.key}: receive worker did not exit within 10 s; continuing`);
      this.worker.unref();
    }
    this.closed = true;
    Atomics.add(this.bell, 0, 1);
    Atomics.notify(this.bell, 0);
    c.close(this.fd);
    c.close(this.stopFd);
  }

  /** One sendmmsg per SEND_VEC batches; a failing entry is counted and skipped; EAGAIN leaves the rest queued. */
  private transmit(batches: readonly Batch[]): number {
    const c = socketLibc();
    const dv = this.vecView;
    const base = this.vecAddr;
    const iovOff = SEND_VEC * MMSG;
    const nameOff = iovOff + SEND_VEC * IOV;
    const cmsgOff = nameOff + SEND_VEC * NAME;
    let done = 0;
    while (done < batches.length) {
      const n = Math.min(SEND_VEC, batches.length - done);
      for (let i = 0; i < n; i++) {
        const b = batches[done + i];
        if (b === undefined) break;
        const m = i * MMSG;
        const name = this.sockaddrOf(b.dst);
        this.vec.set(name, nameOff + i * NAME);
        setU64(dv, m, base + nameOff + i * NAME);
        dv.setUint32(m + 8, name.length, true); // 0 for an unreachable family: the kernel rejects the entry (counted below)
        setU64(dv, m + 16, base + iovOff + i * IOV);
        setU64(dv, m + 24, 1);
        setU64(dv, iovOff + i * IOV, this.addressOf(b.buf));
        setU64(dv, iovOff + i * IOV + 8, b.len);
        if (b.count > 1) {
          const cm = cmsgOff + i * CMSG;
          setU64(dv, cm, 18); // CMSG_LEN(2)
          dv.setInt32(cm + 8, SOL_UDP, true);
          dv.setInt32(cm + 12, UDP_SEGMENT, true);
          dv.setUint16(cm + 16, b.segSize, true);
          setU64(dv, m + 32, base + cm);
          setU64(dv, m + 40, CMSG);
        } else {
          setU64(dv, m + 32, 0);
          setU64(dv, m + 40, 0);
        }
        dv.setInt32(m + 48, 0, true);
      }
      let sentHere = 0;
      while (sentHere < n) {
        const r = c.sendmmsg(this.fd, base + (sentHere * MMSG), n - sentHere, 0);
        if (r > 0) {
          for (let i = 0; i < r; i++) this.account(batches[done + sentHere + i], true);
          sentHere += r;
          continue;
        }
        const e = c.errno();
        if (e === EINTR) continue;
        if (e === EAGAIN) return done + sentHere; // socket buffer full: the rest stays queued
        // This entry failed (unreachable, EMSGSIZE, ...): count it, drop it, go on with the next.
        this.logger?.debug(`UDP send to ${batches[done + sentHere]?.dst.key ?? '?'} failed: ${c.strerror(e)}`);
        this.account(batches[done + sentHere], false);
        sentHere++;
      }
      done += n;
    }
    return done;
  }

  /** A pooled buffer's address, asked of libc once per buffer (pool buffers are long-lived, off-heap). */
  private addressOf(buf: Uint8Array): number {
    let a = this.addrs.get(buf);
    if (a === undefined) {
      a = socketLibc().addressOf(buf);
      this.addrs.set(buf, a);
    }
    return a;
  }

  /** The destination as this socket's sockaddr, encoded once per SocketAddr object (empty: wrong family). */
  private sockaddrOf(dst: SocketAddr): Uint8Array {
    let name = this.names.get(dst);
    if (name === undefined) {
      const buf = new Uint8Array(NAME);
      let len = 0;
      try {
        len = writeSockaddr(buf, 0, dst, this.v6);
      } catch (err) {
        this.logger?.debug({ err }, `UDP destination ${dst.key} not reachable from this socket`);
      }
      name = buf.subarray(0, len);
      this.names.set(dst, name);
    }
    return name;
  }

  private account(b: Batch | undefined, ok: boolean): void {
    if (b === undefined) return;
    if (ok) {
      this.tx.datagrams += b.count;
      this.tx.bytes += b.len;
      this.tx.batches++;
    } else {
      this.tx.errors += b.count;
    }
    this.pool.release(b.buf);
  }
}

