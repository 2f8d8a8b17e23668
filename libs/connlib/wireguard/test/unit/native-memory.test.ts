// viewAddress keeps the last two buffers' addresses and reads the typed-array getters through their functions:
// whatever the order of views over several buffers, it gives the address koffi sees for the view.
import fc from 'fast-check';
import koffi from 'koffi';
import { describe, expect, it } from 'vitest';
import { bufferAddress, viewAddress } from '../../src/crypto/native-memory';

const libc = koffi.load('libc.so.6');
const addressKoffiSees = libc.func('uintptr_t memcpy(void *dst, void *src, size_t n)') as (a: Uint8Array, b: Uint8Array, n: number) => number;

describe('viewAddress', () => {
  it('is the address of the view\'s first byte, views of three buffers interleaved (property)', () => {
    const buffers = [new ArrayBuffer(8192), new SharedArrayBuffer(8192), new ArrayBuffer(1 << 20)];
    fc.assert(
      fc.property(fc.array(fc.tuple(fc.integer({ min: 0, max: 2 }), fc.integer({ min: 0, max: 4096 }), fc.integer({ min: 1, max: 2048 })), { minLength: 1, maxLength: 40 }), (picks) => {
        for (const [which, offset, length] of picks) {
          const v = new Uint8Array(buffers[which] as ArrayBufferLike, offset, length);
          expect(viewAddress(v)).toBe(addressKoffiSees(v, v, 0));
          expect(viewAddress(v)).toBe(bufferAddress(v.buffer) + v.byteOffset);
        }
      }),
      { numRuns: 200 },
    );
  });

  it('gives a subarray the address of its first byte', () => {
    const whole = new Uint8Array(4096);
    const sub = whole.subarray(100, 200).subarray(10);
    expect(viewAddress(sub) - viewAddress(whole)).toBe(110);
  });
});
