// A single-producer single-consumer ring of fixed-size packet slots in one SharedArrayBuffer: the bounded
// channel between the main thread and an I/O worker. The producer fills slots and publishes them in batches
// (one Atomics.store + notify per batch, never per packet); the consumer reads them in place and releases
// them. When the ring is full the producer must stop (backpressure): nothing is dropped, nothing grows.
//
// The layout is shared with the worker entry points (`*.worker.mjs` in tun and socket-factory), which
// re-implement the few lines they need (a worker is plain .mjs and cannot import this .ts file). Keep them in step.
//
//   bytes [0, 64)                         control, Int32 words (see RING_* below)
//   bytes [64, 64 + slots * 64)           per-slot metadata, RING_META_INTS Int32 words per slot
//   bytes [.., + slots * slotSize)        slot data
import { BufferPoolError } from './errors';

// Atomics.waitAsync is in Node 20 but not in the ES2023 lib the workspace compiles against.
type WaitAsyncResult = { async: false; value: string } | { async: true; value: Promise<string> };
interface AtomicsWithWaitAsync {
  waitAsync(array: Int32Array, index: number, value: number, timeoutMs: number): WaitAsyncResult;
}
function hasWaitAsync(a: object): a is AtomicsWithWaitAsync {
  return typeof Reflect.get(a, 'waitAsync') === 'function';
}
if (!hasWaitAsync(Atomics)) throw new Error('Atomics.waitAsync is required (Node >= 16)');
const atomics: AtomicsWithWaitAsync = Atomics;

/**
 * Resolves when `array[index]` no longer holds `value` (after an Atomics.notify), or after `timeoutMs`.
 * The main thread's way to wait for a worker without blocking the event loop (Atomics.waitAsync).
 */
export async function waitForChange(array: Int32Array, index: number, value: number, timeoutMs: number): Promise<void> {
  const r = atomics.waitAsync(array, index, value, timeoutMs);
  if (r.async) await r.value;
}

/**
 * The same wait without an async function (no promise of its own, no continuation): the promise of the wait, or
 * undefined when `array[index]` already differs from `value`.
 */
export function changeOf(array: Int32Array, index: number, value: number, timeoutMs: number): Promise<unknown> | undefined {
  const r = atomics.waitAsync(array, index, value, timeoutMs);
  return r.async ? r.value : undefined;
}

/** Count of slots published by the producer (wraps as int32). */
export const RING_HEAD = 0;
/** Count of slots released by the consumer (wraps as int32). */
export const RING_TAIL = 1;
/** Set by the consumer side to ask the producer to stop; producers check it at least once per poll timeout. */
export const RING_STOP = 2;
/** Set by the producer when it has exited its loop. */
export const RING_DONE = 3;
/** Times the producer found the ring full and had to wait (backpressure events). */
export const RING_STALLS = 4;
export const RING_SLOTS = 5;
export const RING_SLOT_SIZE = 6;
/** Set by the producer to a non-zero errno when it stopped because of an error. */
export const RING_ERRNO = 7;
/**
 * Worker GC statistics (written by a worker started with `gcStats` when it exits, from node:v8's GCProfiler):
 * collections, total and longest pause in microseconds.
 */
export const RING_GC_COUNT = 12;
export const RING_GC_MICROS = 13;
export const RING_GC_MAX_MICROS = 14;
export const RING_CONTROL_BYTES = 64;
/** Int32 words of metadata per slot: [0] length, [1] aux (e.g. GRO segment size), [2..9] socket address. */
export const RING_META_INTS = 16;

export interface SharedRingOptions {
  /** Number of slots, a power of two. */
  readonly slots: number;
  /** Bytes per slot (the largest packet/datagram it can hold), a multiple of 8. */
  readonly slotSize: number;
}

/** Garbage collections of a worker isolate (see RING_GC_*). */
export interface WorkerGcStats {
  readonly count: number;
  readonly micros: number;
  readonly maxMicros: number;
}

/** Sums the GC words of rings whose workers have exited (a running worker has not written them yet). */
export function workerGcStats(rings: readonly SharedRing[]): WorkerGcStats {
  let count = 0;
  let micros = 0;
  let maxMicros = 0;
  for (const r of rings) {
    count += Atomics.load(r.control, RING_GC_COUNT);
    micros += Atomics.load(r.control, RING_GC_MICROS);
    maxMicros = Math.max(maxMicros, Atomics.load(r.control, RING_GC_MAX_MICROS));
  }
  return { count, micros, maxMicros };
}

/** POSTERN_WORKER_GC_STATS=1: I/O workers record their garbage collections (reported by stats() after close). */
export function workerGcStatsFromEnv(value = process.env['POSTERN_WORKER_GC_STATS']): boolean {
  return value === '1' || value === 'true';
}

export class SharedRing {
  readonly sab: SharedArrayBuffer;
  readonly slots: number;
  readonly slotSize: number;
  readonly control: Int32Array;
  /** RING_META_INTS words per slot. */
  readonly meta: Int32Array;
  readonly data: Uint8Array;
  private readonly mask: number;
  private readonly views: Uint8Array[];

  private constructor(sab: SharedArrayBuffer) {
    this.sab = sab;
    this.control = new Int32Array(sab, 0, RING_CONTROL_BYTES / 4);
    this.slots = this.control[RING_SLOTS] ?? 0;
    this.slotSize = this.control[RING_SLOT_SIZE] ?? 0;
    this.mask = this.slots - 1;
    this.meta = new Int32Array(sab, RING_CONTROL_BYTES, this.slots * RING_META_INTS);
    const dataOffset = RING_CONTROL_BYTES + this.slots * RING_META_INTS * 4;
    this.data = new Uint8Array(sab, dataOffset, this.slots * this.slotSize);
    this.views = [];
    for (let i = 0; i < this.slots; i++) this.views.push(this.data.subarray(i * this.slotSize, (i + 1) * this.slotSize));
  }

  static create(options: SharedRingOptions): SharedRing {
    const { slots, slotSize } = options;
    if (!Number.isInteger(slots) || slots < 2 || (slots & (slots - 1)) !== 0 || slots > 1 << 20) {
      throw new BufferPoolError('INVALID_ARGUMENT', `ring slots must be a power of two in [2, 2^20] (got ${slots})`);
    }
    if (!Number.isInteger(slotSize) || slotSize < 8 || slotSize % 8 !== 0) {
      throw new BufferPoolError('INVALID_ARGUMENT', `ring slotSize must be a positive multiple of 8 (got ${slotSize})`);
    }
    const sab = new SharedArrayBuffer(RING_CONTROL_BYTES + slots * (RING_META_INTS * 4 + slotSize));
    const control = new Int32Array(sab, 0, RING_CONTROL_BYTES / 4);
    control[RING_SLOTS] = slots;
    control[RING_SLOT_SIZE] = slotSize;
    return new SharedRing(sab);
  }

  /** Views a ring made by `create` (e.g. in another thread). */
  static attach(sab: SharedArrayBuffer): SharedRing {
    return new SharedRing(sab);
  }

  /** The full-size view of slot `seq` (any sequence number; taken modulo the ring size). */
  slot(seq: number): Uint8Array {
    const v = this.views[seq & this.mask];
    if (v === undefined) throw new BufferPoolError('INVALID_ARGUMENT', `no slot ${seq}`);
    return v;
  }

  /** Index of slot `seq`'s first metadata word in `meta`. */
  metaIndex(seq: number): number {
    return (seq & this.mask) * RING_META_INTS;
  }

  head(): number {
    return Atomics.load(this.control, RING_HEAD);
  }

  tail(): number {
    return Atomics.load(this.control, RING_TAIL);
  }

  /** Slots published and not yet released. */
  used(): number {
    return (this.head() - this.tail()) | 0;
  }

  /** Slots the producer may fill now. */
  free(): number {
    return this.slots - this.used();
  }

  // --- producer side -------------------------------------------------------------------------------

  /** Writes one packet into the next free slot without publishing it; returns false when full. */
  stage(offset: number, packet: Uint8Array, aux = 0): boolean {
    const seq = (this.head() + offset) | 0;
    if (((seq - this.tail()) | 0) >= this.slots) return false;
    if (packet.length > this.slotSize) {
      throw new BufferPoolError('INVALID_ARGUMENT', `packet of ${packet.length} bytes exceeds the ring slot size ${this.slotSize}`);
    }
    this.slot(seq).set(packet);
    const m = this.metaIndex(seq);
    this.meta[m] = packet.length;
    this.meta[m + 1] = aux;
    return true;
  }

  /** Publishes `n` staged slots and wakes a waiting consumer. */
  publish(n: number): void {
    if (n <= 0) return;
    Atomics.add(this.control, RING_HEAD, n);
    Atomics.notify(this.control, RING_HEAD);
  }

  // --- consumer side -------------------------------------------------------------------------------

  /** Releases `n` slots (oldest first) and wakes a waiting producer. */
  release(n: number): void {
    if (n <= 0) return;
    Atomics.add(this.control, RING_TAIL, n);
    Atomics.notify(this.control, RING_TAIL);
  }

  /** Resolves when `head` moves away from `seenHead`, or after `timeoutMs`. Never blocks the thread. */
  async waitHeadChange(seenHead: number, timeoutMs: number): Promise<void> {
    const r = atomics.waitAsync(this.control, RING_HEAD, seenHead, timeoutMs);
    if (r.async) await r.value;
  }

  /** Resolves when `tail` moves away from `seenTail`, or after `timeoutMs`. */
  async waitTailChange(seenTail: number, timeoutMs: number): Promise<void> {
    const r = atomics.waitAsync(this.control, RING_TAIL, seenTail, timeoutMs);
    if (r.async) await r.value;
  }

  /** Asks the producer (worker) to stop and wakes it wherever it waits on this ring. */
  requestStop(): void {
    Atomics.store(this.control, RING_STOP, 1);
    Atomics.notify(this.control, RING_HEAD);
    Atomics.notify(this.control, RING_TAIL);
  }

  stopRequested(): boolean {
    return Atomics.load(this.control, RING_STOP) !== 0;
  }

  stalls(): number {
    return Atomics.load(this.control, RING_STALLS);
  }
}
