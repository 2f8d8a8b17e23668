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
