// Fixed-size packet buffers carved out of large slabs. acquire() hands out a Uint8Array view of one slot,
// release() gives it back; nothing is allocated per packet once the slabs exist. The pool grows one slab at a
// time up to `maxBuffers`, then acquire() fails with EXHAUSTED (a bounded pool: callers apply backpressure).
import { BufferPoolError } from './errors';

export interface BufferPoolOptions {
  /** Bytes per buffer (e.g. 65536 for a GSO batch, 2048 for one packet). */
  readonly bufferSize: number;
  /** Buffers per slab (one allocation); default 64. */
  readonly slabBuffers?: number;
  /** Upper bound on buffers in existence; default 16 slabs. */
  readonly maxBuffers?: number;
  /** Back slabs with SharedArrayBuffer so they can be handed to workers; default false. */
  readonly shared?: boolean;
}

export interface BufferPoolStats {
  readonly bufferSize: number;
  /** Buffers allocated so far (slabs x slabBuffers). */
  readonly allocated: number;
  readonly free: number;
  readonly inUse: number;
  /** Highest `inUse` seen. */
  readonly highWater: number;
  readonly acquires: number;
  readonly releases: number;
  /** acquire() calls that failed because `maxBuffers` were in use. */
  readonly exhausted: number;
}

interface Slab {
  readonly bytes: Uint8Array;
  readonly base: number; // index of its first buffer
}

export class BufferPool {
  readonly bufferSize: number;
  readonly slabBuffers: number;
  readonly maxBuffers: number;
  private readonly shared: boolean;
  private readonly slabs: Slab[] = [];
  private readonly slabByBuffer = new Map<ArrayBufferLike, Slab>();
  private readonly views: Uint8Array[] = [];
  private readonly freeList: number[] = [];
  private readonly inUseFlags: Uint8Array;
  private acquires = 0;
  private releases = 0;
  private exhaustedCount = 0;
  private highWater = 0;

  constructor(options: BufferPoolOptions) {
    const { bufferSize } = options;
    const slabBuffers = options.slabBuffers ?? 64;
    const maxBuffers = options.maxBuffers ?? slabBuffers * 16;
    if (!Number.isInteger(bufferSize) || bufferSize <= 0) throw new BufferPoolError('INVALID_ARGUMENT', `bufferSize must be a positive integer (got ${bufferSize})`);
    if (!Number.isInteger(slabBuffers) || slabBuffers <= 0) throw new BufferPoolError('INVALID_ARGUMENT', `slabBuffers must be a positive integer (got ${slabBuffers})`);
    if (!Number.isInteger(maxBuffers) || maxBuffers < 1) throw new BufferPoolError('INVALID_ARGUMENT', `maxBuffers must be a positive integer (got ${maxBuffers})`);
    this.bufferSize = bufferSize;
    this.slabBuffers = slabBuffers;
    this.maxBuffers = maxBuffers;
    this.shared = options.shared ?? false;
    this.inUseFlags = new Uint8Array(maxBuffers);
  }

  /** A buffer of exactly `bufferSize` bytes (contents undefined). Throws EXHAUSTED when `maxBuffers` are in use. */
  acquire(): Uint8Array {
    const buf = this.tryAcquire();
    if (buf === undefined) {
      throw new BufferPoolError('EXHAUSTED', `buffer pool exhausted: ${this.maxBuffers} buffers of ${this.bufferSize} bytes in use`);
    }
    return buf;
  }

  /** Like acquire() but returns undefined instead of throwing when exhausted. */
  tryAcquire(): Uint8Array | undefined {
    let index = this.freeList.pop();
    if (index === undefined) {
      if (!this.grow()) {
        this.exhaustedCount++;
        return undefined;
      }
      index = this.freeList.pop();
      if (index === undefined) return undefined;
    }
    this.inUseFlags[index] = 1;
    this.acquires++;
    const inUse = this.acquires - this.releases;
    if (inUse > this.highWater) this.highWater = inUse;
    return this.views[index];
  }

  /** Returns a buffer obtained from acquire() (or any subarray starting at its first byte). */
  release(buf: Uint8Array): void {
    const slab = this.slabByBuffer.get(buf.buffer);
    const offset = buf.byteOffset - (slab?.bytes.byteOffset ?? 0);
    if (slab === undefined || offset % this.bufferSize !== 0) {
      throw new BufferPoolError('FOREIGN_BUFFER', 'release() of a buffer that does not belong to this pool');
    }
    const index = slab.base + offset / this.bufferSize;
    if (this.inUseFlags[index] !== 1) throw new BufferPoolError('DOUBLE_RELEASE', `buffer ${index} released twice`);
    this.inUseFlags[index] = 0;
    this.releases++;
    this.freeList.push(index);
  }

  stats(): BufferPoolStats {
    const allocated = this.views.length;
    const inUse = this.acquires - this.releases;
    return {
      bufferSize: this.bufferSize,
      allocated,
      free: allocated - inUse,
      inUse,
      highWater: this.highWater,
      acquires: this.acquires,
      releases: this.releases,
      exhausted: this.exhaustedCount,
    };
  }

  private grow(): boolean {
    const have = this.views.length;
    const count = Math.min(this.slabBuffers, this.maxBuffers - have);
    if (count <= 0) return false;
    const backing = this.shared ? new SharedArrayBuffer(count * this.bufferSize) : new ArrayBuffer(count * this.bufferSize);
    const bytes = new Uint8Array(backing);
    const slab: Slab = { bytes, base: have };
    this.slabs.push(slab);
    this.slabByBuffer.set(backing, slab);
    for (let i = 0; i < count; i++) {
      this.views.push(bytes.subarray(i * this.bufferSize, (i + 1) * this.bufferSize));
    }
    // Hand out low indices first (pop from the end).
    for (let i = have + count - 1; i >= have; i--) this.freeList.push(i);
    return true;
  }
}
