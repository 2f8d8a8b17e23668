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

const EMPTY_BUFFER = new ArrayBuffer(0);

// Reading a getter through the getter function is what TurboFan inlines (byteOffset: ~8 ns, against 25-50 ns
// for the property read `v.byteOffset`, a generic load IC and a builtin call).
// eslint-disable-next-line @typescript-eslint/unbound-method -- the getter is only ever called with .call(view)
const getByteOffset = Object.getOwnPropertyDescriptor(Object.getPrototypeOf(Uint8Array.prototype) as object, 'byteOffset')?.get as (
  this: Uint8Array,
) => number;

/**
 * What each entry covers is kept beside it (`owners`, `offsets`, `lengths`) and compared there, never read back
 * from the views: Node 20's V8 does not inline the typed-array getters `buffer`, `byteOffset` and `byteLength`
 * (performance.md, the ninth round: each read is a generic property load and a builtin call, 25-50 ns here,
 * `buffer` a C++ call; `length` and indexing are inlined). The parent's `buffer` and `byteOffset` are read once
 * per new parent (`view`): packet paths ask about the same parent many times in a row.
 */
export class ViewCache {
  private readonly table: (Uint8Array | undefined)[];
  /** Per entry: the backing buffer (`view`) or the parent view (`viewAt`) the entry's view was cut from. */
  private readonly owners: (ArrayBufferLike | Uint8Array | undefined)[];
  /** Per entry: absolute byte offset in the buffer (`view`) or start in the parent (`viewAt`). */
  private readonly offsets: Float64Array;
  private readonly lengths: Float64Array;
  /** Per pair of entries (a 2-way set for `view`): which way to replace next. */
  private readonly victim: Uint8Array;
  private readonly shift: number;
  private hitCount = 0;
  private missCount = 0;
  private children = new WeakMap<Uint8Array, Uint8Array>();
  /** The parent `view` was last asked about, with its buffer and byteOffset (read once per new parent). */
  private lastParent: Uint8Array | undefined;
  private lastBuffer: ArrayBufferLike = EMPTY_BUFFER;
  private lastOffset = 0;

  /** `entries`: table size, a power of two (a few times the distinct views in flight). */
  constructor(entries = 4096) {
    if (!Number.isInteger(entries) || entries < 1 || entries > 1 << 20 || (entries & (entries - 1)) !== 0) {
      throw new BufferPoolError('INVALID_ARGUMENT', `view cache entries must be a power of two in [1, 2^20] (got ${entries})`);
    }
    const size = Math.max(2, entries);
    this.table = new Array<Uint8Array | undefined>(size).fill(undefined);
    this.owners = new Array<ArrayBufferLike | Uint8Array | undefined>(size).fill(undefined);
    this.offsets = new Float64Array(size);
    this.lengths = new Float64Array(size);
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
    if (buf !== this.lastParent) {
      this.lastParent = buf;
      this.lastBuffer = buf.buffer;
      this.lastOffset = buf.byteOffset;
    }
    const buffer = this.lastBuffer;
    const abs = this.lastOffset + start;
    // Fibonacci hashing of (absolute offset, length); entries of other buffers just collide.
    const set = this.shift === 32 ? 0 : Math.imul(abs ^ Math.imul(len, 0x45d9f3b), 0x9e3779b1) >>> this.shift;
    const i = set * 2;
    if (this.owners[i] === buffer && this.offsets[i] === abs && this.lengths[i] === len) {
      this.victim[set] = 1;
      this.hitCount++;
      return this.table[i] as Uint8Array;
    }
    if (this.owners[i + 1] === buffer && this.offsets[i + 1] === abs && this.lengths[i + 1] === len) {
      this.victim[set] = 0;
      this.hitCount++;
      return this.table[i + 1] as Uint8Array;
    }
    this.missCount++;
    const fresh = buf.subarray(start, start + len);
    const way = this.victim[set] ?? 0;
    this.put(i + way, fresh, buffer, abs, len);
    this.victim[set] = way ^ 1;
    return fresh;
  }

  /**
   * Like `view`, but the caller picks the table entry (`index`, taken modulo the table size): for buffers with
   * a fixed layout, e.g. entry = ring slot x segments per slot + segment, so that views never evict each other.
   * An entry is reused for the same parent object (e.g. a ring slot's view) and the same start and length.
   */
  viewAt(index: number, buf: Uint8Array, offset: number, length: number): Uint8Array {
    const start = Math.max(0, Math.min(offset, buf.length));
    const len = Math.max(0, Math.min(length, buf.length - start));
    const i = index & (this.table.length - 1);
    if (this.owners[i] === buf && this.offsets[i] === start && this.lengths[i] === len) {
      this.hitCount++;
      return this.table[i] as Uint8Array;
    }
    this.missCount++;
    const fresh = buf.subarray(start, start + len);
    this.put(i, fresh, buf, start, len);
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
    // a child of this very parent object: same buffer; same bytes if same start and length
    if (c !== undefined && c.length === len && getByteOffset.call(c) === getByteOffset.call(parent) + start) {
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
    this.owners.fill(undefined);
    this.children = new WeakMap();
    this.lastParent = undefined;
    this.lastBuffer = EMPTY_BUFFER;
  }

  private put(i: number, view: Uint8Array, owner: ArrayBufferLike | Uint8Array, offset: number, length: number): void {
    this.table[i] = view;
    this.owners[i] = owner;
    this.offsets[i] = offset;
    this.lengths[i] = length;
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
