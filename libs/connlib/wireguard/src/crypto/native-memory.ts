// Raw addresses of JS byte buffers for koffi calls that take `uintptr_t` pointers (performance.md:
// numbers are the cheapest pointer arguments). koffi passes a TypedArray argument as a pointer to its
// backing store; `memcpy(p, p, 0)` returns that pointer. Backing stores of ArrayBuffers do not move
// (reading `.buffer` externalises an on-heap typed array first), so the address is cached per ArrayBuffer.
import koffi from 'koffi';

const libc = koffi.load('libc.so.6');
const addressOfView = libc.func('uintptr_t memcpy(void *dst, void *src, size_t n)') as (a: Uint8Array, b: Uint8Array, n: number) => number;

const addresses = new WeakMap<ArrayBufferLike, number>();

/**
 * The address of `buffer`'s first byte. It returns the number it cached, so a caller that adds the view's offset
 * itself (`bufferAddress(v.buffer) + v.byteOffset + i`) makes no new number to box even above 2^31.
 */
export function bufferAddress(buffer: ArrayBufferLike): number {
  let base = addresses.get(buffer);
  if (base === undefined) {
    const whole = new Uint8Array(buffer);
    base = addressOfView(whole, whole, 0);
    addresses.set(buffer, base);
  }
  return base;
}

// Node 20's V8 does not inline property reads of the typed-array getters `buffer` and `byteOffset`: each is a
// generic load IC and a builtin call (25-50 ns here; `buffer` is a C++ call). Calling the getter functions
// themselves is reduced by TurboFan (byteOffset inlined, ~8 ns; buffer ~17 ns). performance.md, ninth round.
const typedArrayPrototype = Object.getPrototypeOf(Uint8Array.prototype) as object;
// eslint-disable-next-line @typescript-eslint/unbound-method -- only ever called with .call(view)
const getBuffer = Object.getOwnPropertyDescriptor(typedArrayPrototype, 'buffer')?.get as (this: Uint8Array) => ArrayBufferLike;
// eslint-disable-next-line @typescript-eslint/unbound-method -- only ever called with .call(view)
const getByteOffset = Object.getOwnPropertyDescriptor(typedArrayPrototype, 'byteOffset')?.get as (this: Uint8Array) => number;

// The two buffers viewAddress was last asked about (sealing reads a TUN ring and writes a send batch).
let bufferA: ArrayBufferLike | undefined;
let bufferB: ArrayBufferLike | undefined;
let addressA = 0;
let addressB = 0;

/**
 * The address of `view`'s buffer's first byte. The last two buffers' addresses are kept (packets move between a few
 * buffers: a ring, a send batch), so this makes no allocation and looks nothing up in the common case. It returns
 * the number it keeps: above 2^31 that is a boxed number made once, where a sum made here would be a new one for
 * each call that V8 does not inline (16 B: it did not, in 2 of 20 runs of `aead-addresses.test.ts`). Hot callers add
 * `viewOffset` themselves.
 */
export function viewBase(view: Uint8Array): number {
  const buffer = getBuffer.call(view);
  if (buffer === bufferA) return addressA;
  if (buffer === bufferB) return addressB;
  bufferB = bufferA;
  addressB = addressA;
  addressA = bufferAddress(buffer);
  bufferA = buffer;
  return addressA;
}

/** `view`'s offset in its buffer (the getter called as a function: reduced by TurboFan). */
export function viewOffset(view: Uint8Array): number {
  return getByteOffset.call(view);
}

/** The address of `view`'s first byte (above 2^31, a new number per call: hot paths add viewBase and viewOffset). */
export function viewAddress(view: Uint8Array): number {
  return viewBase(view) + viewOffset(view);
}

/** Native memory owned by the caller: an address and a JS view of it. */
export interface NativeBlock {
  readonly address: number;
  readonly bytes: Uint8Array;
  free(): void;
}

export function allocNative(size: number): NativeBlock {
  const ptr: unknown = koffi.alloc('uint8_t', size);
  const bytes = new Uint8Array(koffi.view(ptr, size));
  bytes.fill(0);
  const address = Number(koffi.address(ptr));
  return {
    address,
    bytes,
    free(): void {
      bytes.fill(0);
      koffi.free(ptr);
    },
  };
}
