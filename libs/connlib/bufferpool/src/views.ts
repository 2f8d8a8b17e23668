// Reused views: a packet path that hands out `Uint8Array`s of packets sitting in long-lived buffers (ring
// slots, pooled send buffers, scratch) would allocate one `subarray` per packet. In steady state the same
// (buffer, offset, length) triples come back again and again (ring slots are reused in turn, TCP segments
// have one size), so a small direct-mapped table of views made earlier answers almost every request without
// allocating. A miss makes a new view and replaces the entry (never grows).
//
// The view returned is shared: whoever asks for the same bytes later gets the same object. It is only valid
// as long as the bytes it covers are (e.g. "until the next recvMany"), exactly like a fresh subarray would be.
import { BufferPoolError } from './errors';

export interface ViewCacheStats {
  readonly hits: number;
  readonly misses: number;
}

export class ViewCache {
  private readonly table: (Uint8Array | undefined)[];
  /** Per pair of entries (a 2-way set for `view`): which way to replace next. */
  private readonly victim: Uint8Array;
  private readonly shift: number;
  private hitCount = 0;
  private missCount = 0;
  private children = new WeakMap<Uint8Array, Uint8Array>();

  /** `entries`: table size, a power of two (a few times the distinct views in flight). */
  constructor(entries = 4096) {
    if (!Number.isInteger(entries) || entries < 1 || entries > 1 << 20 || (entries & (entries - 1)) !== 0) {
      throw new BufferPoolError('INVALID_ARGUMENT', `view cache entries must be a power of two in [1, 2^20] (got ${entries})`);
    }
    const size = Math.max(2, entries);
    this.table = new Array<Uint8Array | undefined>(size).fill(undefined);
    this.victim = new Uint8Array(size / 2);
    this.shift = 32 - Math.log2(size / 2);
  }

  /**
   * `buf.subarray(offset, offset + length)`, reused when the same bytes of the same backing buffer were asked
   * for before. `offset` and `length` are clamped to `buf` like subarray does. Two-way set associative: two
   * hot views that hash alike do not evict each other on every call.
   */
  view(buf: Uint8Array, offset: number, length: number): Uint8Array {
    const start = Math.max(0, Math.min(offset, buf.length));
    const len = Math.max(0, Math.min(length, buf.length - start));
    const abs = buf.byteOffset + start;
    // Fibonacci hashing of (absolute offset, length); entries of other buffers just collide.
    const set = this.shift === 32 ? 0 : Math.imul(abs ^ Math.imul(len, 0x45d9f3b), 0x9e3779b1) >>> this.shift;
    const i = set * 2;
    const a = this.table[i];
    if (a !== undefined && a.byteOffset === abs && a.length === len && a.buffer === buf.buffer) {
      this.victim[set] = 1;
      this.hitCount++;
      return a;
    }
    const b = this.table[i + 1];
    if (b !== undefined && b.byteOffset === abs && b.length === len && b.buffer === buf.buffer) {
      this.victim[set] = 0;
      this.hitCount++;
      return b;
    }
    this.missCount++;
    const fresh = buf.subarray(start, start + len);
    const way = this.victim[set] ?? 0;
    this.table[i + way] = fresh;
    this.victim[set] = way ^ 1;
    return fresh;
  }

  /**
   * Like `view`, but the caller picks the table entry (`index`, taken modulo the table size): for buffers with
   * a fixed layout, e.g. entry = ring slot x segments per slot + segment, so that views never evict each other.
   */
  viewAt(index: number, buf: Uint8Array, offset: number, length: number): Uint8Array {
    const start = Math.max(0, Math.min(offset, buf.length));
    const len = Math.max(0, Math.min(length, buf.length - start));
    const i = index & (this.table.length - 1);
    const v = this.table[i];
    if (v !== undefined && v.byteOffset === buf.byteOffset + start && v.length === len && v.buffer === buf.buffer) {
      this.hitCount++;
      return v;
    }
    this.missCount++;
    const fresh = buf.subarray(start, start + len);
    this.table[i] = fresh;
    return fresh;
  }

  /**
   * `parent.subarray(offset, offset + length)`, reused when the same bytes of the same `parent` object were asked
   * for last time: one remembered child per parent (a WeakMap entry, gone with the parent). For views derived
   * from views that are themselves reused (a packet inside a cached datagram view, a datagram inside a reserved
   * send buffer): exact however many distinct parents there are, where `view`'s table would thrash.
   */
  within(parent: Uint8Array, offset: number, length: number): Uint8Array {
    const start = Math.max(0, Math.min(offset, parent.length));
    const len = Math.max(0, Math.min(length, parent.length - start));
    const c = this.children.get(parent);
    if (c !== undefined && c.byteOffset === parent.byteOffset + start && c.length === len && c.buffer === parent.buffer) {
      this.hitCount++;
      return c;
    }
    this.missCount++;
    const fresh = parent.subarray(start, start + len);
    this.children.set(parent, fresh);
    return fresh;
  }

  stats(): ViewCacheStats {
    return { hits: this.hitCount, misses: this.missCount };
  }

  /** Forgets every view (e.g. when the buffers they point into are freed). */
  clear(): void {
    this.table.fill(undefined);
    this.children = new WeakMap();
  }
}

/**
 * Result arrays for batch APIs ("valid until the next call") without one array per batch: one array per batch
 * size, made the first time that size is seen and refilled after. (Truncating and regrowing one array is not
 * free in V8: the backing store is trimmed and reallocated.) Sizes above `maxCached` get a fresh array.
 */
export class BatchArrays<T> {
  private readonly bySize: (T[] | undefined)[] = [];

  constructor(private readonly maxCached = 1024) {}

  /**
   * `n` entries of `items` (from index 0) in an array of exactly `n`, reused for the next batch of this size.
   * `items` is the caller's own growable scratch list.
   */
  of(items: readonly T[], n: number): T[] {
    let a = n <= this.maxCached ? this.bySize[n] : undefined;
    if (a === undefined) {
      a = items.slice(0, n);
      if (n <= this.maxCached) this.bySize[n] = a;
      return a;
    }
    for (let i = 0; i < n; i++) a[i] = items[i] as T;
    return a;
  }
}
