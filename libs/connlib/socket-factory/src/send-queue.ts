// The GSO send queue: datagrams to one destination with one size are appended in place into one pooled
// buffer; a batch is closed by a shorter datagram (GSO's "last segment may be shorter"), by a different size,
// by reaching the segment or byte limit, or by a flush. Batches leave in creation order through `transmit`,
// which (batched backend) turns each into one sendmmsg entry with a UDP_SEGMENT cmsg.
import type { BufferPool } from '@postern/bufferpool';
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
 * Hands batches to the kernel. Returns how many of `batches` (from the front) it took; it owns their
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

export class GsoQueue implements SendQueue {
  private readonly queue: Batch[] = [];
  private readonly open = new Map<string, Batch>();
  private reserved: { batch: Batch; maxLen: number } | undefined;
  private scheduled = false;
  private queued = 0;

  constructor(private readonly o: GsoQueueOptions) {
    if (o.maxBytes > o.pool.bufferSize) throw new SocketError('INVALID_ARGUMENT', `maxBytes ${o.maxBytes} exceeds the pool's buffer size ${o.pool.bufferSize}`);
  }

  get pending(): number {
    return this.queued;
  }

  reserve(dst: SocketAddr, maxLen: number): Uint8Array {
    if (this.reserved !== undefined) throw new SocketError('INVALID_ARGUMENT', 'reserve() while another reservation is open: commit() it first');
    if (maxLen > this.o.maxBytes) throw new SocketError('DATAGRAM_TOO_LARGE', `datagram of up to ${maxLen} bytes exceeds ${this.o.maxBytes}`);
    let batch = this.open.get(dst.key);
    if (batch !== undefined && (batch.count >= this.o.maxSegments || batch.len + maxLen > this.o.maxBytes || maxLen > batch.buf.length - batch.len)) {
      this.open.delete(dst.key);
      batch = undefined;
    }
    batch ??= this.openBatch(dst);
    this.reserved = { batch, maxLen };
    return batch.buf.subarray(batch.len, batch.len + maxLen);
  }

  commit(len: number): void {
    const r = this.reserved;
    if (r === undefined) throw new SocketError('INVALID_ARGUMENT', 'commit() without reserve()');
    this.reserved = undefined;
    if (!Number.isInteger(len) || len < 0 || len > r.maxLen) throw new SocketError('INVALID_ARGUMENT', `commit(${len}) outside [0, ${r.maxLen}]`);
    let b = r.batch;
    if (len === 0) {
      if (b.count === 0) this.drop(b);
      return;
    }
    if (b.count > 0 && len > b.segSize) {
      // Larger than the batch's segments: it starts a batch of its own (moved; rare).
      this.open.delete(b.dst.key);
      const bytes = b.buf.slice(b.len, b.len + len);
      b = this.openBatch(b.dst);
      b.buf.set(bytes, b.len);
    }
    if (b.count === 0) b.segSize = len;
    b.len += len;
    b.count++;
    this.queued++;
    if (len < b.segSize || b.count >= this.o.maxSegments) this.open.delete(b.dst.key);
    if (!this.scheduled) {
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
    if (this.reserved !== undefined) return 0; // a datagram is being written; the caller flushes after commit
    this.open.clear();
    const ready = this.queue.filter((b) => b.count > 0);
    if (ready.length === 0) return 0;
    const taken = this.o.transmit(ready);
    let sent = 0;
    for (let i = 0; i < taken; i++) sent += ready[i]?.count ?? 0;
    this.queue.splice(0, this.queue.length, ...ready.slice(taken));
    this.queued -= sent;
    if (this.queue.length > 0) {
      this.scheduled = true;
      this.o.schedule();
    }
    return sent;
  }

  /** Releases everything queued without sending (close after a failed flush). */
  discard(): number {
    const n = this.queued;
    for (const b of this.queue) this.o.pool.release(b.buf);
    this.queue.length = 0;
    this.open.clear();
    this.queued = 0;
    return n;
  }

  private openBatch(dst: SocketAddr): Batch {
    let buf = this.o.pool.tryAcquire();
    if (buf === undefined) {
      // Every pooled buffer is queued: send now to free some (bounded memory, nothing dropped).
      this.flush();
      buf = this.o.pool.acquire();
    }
    const batch: Batch = { buf, dst, segSize: 0, count: 0, len: 0 };
    this.queue.push(batch);
    this.open.set(dst.key, batch);
    return batch;
  }

  private drop(b: Batch): void {
    const i = this.queue.indexOf(b);
    if (i >= 0) this.queue.splice(i, 1);
    this.open.delete(b.dst.key);
    this.o.pool.release(b.buf);
  }
}
