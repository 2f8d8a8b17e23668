// The GSO send queue: datagrams to one destination with one size are appended in place into one pooled
// buffer; a batch is closed by a shorter datagram (GSO's "last segment may be shorter"), by a different size,
// by reaching the segment or byte limit, or by a flush. Batches leave in creation order through `transmit`,
// which (batched backend) turns each into one sendmmsg entry with a UDP_SEGMENT cmsg.
//
// Nothing is allocated per datagram or per flush in steady state: batch objects are recycled, the reserved
// views come from a ViewCache, the arrays handed to `transmit` are reused per batch count, and the open batch
// of a destination is found through a map that is overwritten, never cleared (Map#clear allocates).
import { BatchArrays, ViewCache, type BufferPool } from '@postern/bufferpool';
import { SocketError } from './errors';
import type { SendQueue, SocketAddr } from './types';

export interface Batch {
  readonly buf: Uint8Array;
  readonly dst: SocketAddr;
  /** Size of every segment but possibly the last. */
  segSize: number;
  count: number;
  /** Bytes used in `buf`. */
  len: number;
}

/**
 * Hands batches to the kernel. The array and the Batch objects are reused after the call returns (keep
 * `buf`, `dst`, ... in locals for anything asynchronous). Returns how many of `batches` (from the front) it took; it owns their
 * buffers from then on and must release them to the pool. Fewer than all means "socket busy, retry later".
 */
export type Transmit = (batches: readonly Batch[]) => number;

export interface GsoQueueOptions {
  readonly pool: BufferPool;
  /** Segments per batch (1 = no GSO). */
  readonly maxSegments: number;
  /** Bytes per batch (<= pool buffer size, <= 65507). */
  readonly maxBytes: number;
  readonly transmit: Transmit;
  /** Arranges one flush() later in this event-loop turn (setImmediate); called on the first append. */
  readonly schedule: () => void;
}

interface MutableBatch {
  buf: Uint8Array;
  dst: SocketAddr;
  segSize: number;
  count: number;
  len: number;
  /** Still taking datagrams (not closed by a shorter one, a limit, a flush). */
  open: boolean;
}

/** Destinations remembered in `openByKey` before it is emptied (bounds its memory). */
const MAX_OPEN_KEYS = 4096;

export class GsoQueue implements SendQueue {
  /** Batches in creation order: `queue[0 .. queueLen)`; entries past queueLen are stale. */
  private readonly queue: MutableBatch[] = [];
  private queueLen = 0;
  /** The last batch opened per destination key; valid while it is `open` and still has that key. */
  private readonly openByKey = new Map<string, MutableBatch>();
  /** Recycled batch objects. */
  private readonly spare: MutableBatch[] = [];
  private spareLen = 0;
  private readonly views = new ViewCache(4096);
  private readonly ready = new BatchArrays<MutableBatch>();
  private readonly readyItems: MutableBatch[] = [];
  private reservedBatch: MutableBatch | undefined;
  private reservedMax = 0;
  private scheduled = false;
  /** Arrange a flush on the first commit of a tick (off when the owner flushes itself). */
  private autoFlush = true;
  private queued = 0;

  constructor(private readonly o: GsoQueueOptions) {
    if (o.maxBytes > o.pool.bufferSize) throw new SocketError('INVALID_ARGUMENT', `maxBytes ${o.maxBytes} exceeds the pool's buffer size ${o.pool.bufferSize}`);
  }

  get pending(): number {
    return this.queued;
  }

  ownerFlushes(): void {
    this.autoFlush = false;
  }

  reserve(dst: SocketAddr, maxLen: number): Uint8Array {
    if (this.reservedBatch !== undefined) throw new SocketError('INVALID_ARGUMENT', 'reserve() while another reservation is open: commit() it first');
    if (maxLen > this.o.maxBytes) throw new SocketError('DATAGRAM_TOO_LARGE', `datagram of up to ${maxLen} bytes exceeds ${this.o.maxBytes}`);
    let batch = this.openBatchFor(dst);
    if (batch !== undefined && (batch.count >= this.o.maxSegments || batch.len + maxLen > this.o.maxBytes || maxLen > batch.buf.length - batch.len)) {
      batch.open = false;
      batch = undefined;
    }
    batch ??= this.openBatch(dst);
    this.reservedBatch = batch;
    this.reservedMax = maxLen;
    return this.views.view(batch.buf, batch.len, maxLen);
  }

  commit(len: number): void {
    let b = this.reservedBatch;
    if (b === undefined) throw new SocketError('INVALID_ARGUMENT', 'commit() without reserve()');
    this.reservedBatch = undefined;
    if (!Number.isInteger(len) || len < 0 || len > this.reservedMax) throw new SocketError('INVALID_ARGUMENT', `commit(${len}) outside [0, ${this.reservedMax}]`);
    if (len === 0) {
      if (b.count === 0) this.drop(b);
      return;
    }
    if (b.count > 0 && len > b.segSize) {
      // Larger than the batch's segments: it starts a batch of its own (moved; rare).
      b.open = false;
      const bytes = b.buf.slice(b.len, b.len + len);
      b = this.openBatch(b.dst);
      b.buf.set(bytes, b.len);
    }
    if (b.count === 0) b.segSize = len;
    b.len += len;
    b.count++;
    this.queued++;
    if (len < b.segSize || b.count >= this.o.maxSegments) b.open = false;
    if (!this.scheduled && this.autoFlush) {
      this.scheduled = true;
      this.o.schedule();
    }
  }

  push(dst: SocketAddr, data: Uint8Array): void {
    this.reserve(dst, data.length).set(data);
    this.commit(data.length);
  }

  flush(): number {
    this.scheduled = false;
    if (this.reservedBatch !== undefined) return 0; // a datagram is being written; the caller flushes after commit
    const items = this.readyItems;
    let n = 0;
    for (let i = 0; i < this.queueLen; i++) {
      const b = this.queue[i];
      if (b === undefined) continue;
      b.open = false;
      if (b.count > 0) items[n++] = b;
      else {
        this.o.pool.release(b.buf);
        this.recycle(b);
      }
    }
    if (n === 0) this.queueLen = 0;
    if (n === 0) return 0;
    const taken = this.o.transmit(this.ready.of(items, n));
    let sent = 0;
    // The taken batches' buffers now belong to transmit; recycle their objects, keep the rest in order.
    let kept = 0;
    for (let i = 0; i < n; i++) {
      const b = items[i];
      if (b === undefined) continue;
      if (i < taken) {
        sent += b.count;
        this.recycle(b);
      } else this.queue[kept++] = b;
    }
    this.queueLen = kept;
    this.queued -= sent;
    if (this.queueLen > 0) {
      this.scheduled = true;
      this.o.schedule();
    }
    return sent;
  }

  /** Releases everything queued without sending (close after a failed flush). */
  discard(): number {
    const n = this.queued;
    for (let i = 0; i < this.queueLen; i++) {
      const b = this.queue[i];
      if (b === undefined) continue;
      this.o.pool.release(b.buf);
      this.recycle(b);
    }
    this.queueLen = 0;
    this.queued = 0;
    return n;
  }

  private openBatchFor(dst: SocketAddr): MutableBatch | undefined {
    const b = this.openByKey.get(dst.key);
    return b !== undefined && b.open && b.dst.key === dst.key ? b : undefined;
  }

  private openBatch(dst: SocketAddr): MutableBatch {
    let buf = this.o.pool.tryAcquire();
    if (buf === undefined) {
      // Every pooled buffer is queued: send now to free some (bounded memory, nothing dropped).
      this.flush();
      buf = this.o.pool.acquire();
    }
    let batch = this.spareLen > 0 ? this.spare[--this.spareLen] : undefined;
    if (batch === undefined) batch = { buf, dst, segSize: 0, count: 0, len: 0, open: true };
    else {
      batch.buf = buf;
      batch.dst = dst;
      batch.segSize = 0;
      batch.count = 0;
      batch.len = 0;
      batch.open = true;
    }
    this.queue[this.queueLen++] = batch;
    if (this.openByKey.size >= MAX_OPEN_KEYS && !this.openByKey.has(dst.key)) this.openByKey.clear();
    this.openByKey.set(dst.key, batch);
    return batch;
  }

  /** Removes an empty batch (a cancelled first reservation) and gives its buffer back. */
  private drop(b: MutableBatch): void {
    let j = 0;
    for (let i = 0; i < this.queueLen; i++) {
      const x = this.queue[i];
      if (x !== undefined && x !== b) this.queue[j++] = x;
    }
    this.queueLen = j;
    this.o.pool.release(b.buf);
    this.recycle(b);
  }

  private recycle(b: MutableBatch): void {
    b.open = false;
    b.count = 0;
    b.len = 0;
    this.spare[this.spareLen++] = b;
  }
}
