// The transport AEAD passes packet memory by address when the address is a small integer and as views when it is
// not (openssl.ts EvpAead): both paths must give the same bytes. A 16 MiB SharedArrayBuffer is mapped by glibc on
// its own, far above 2^31; a small ArrayBuffer comes from the brk heap.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { cryptoBackend } from '../../src/crypto/openssl';
import { steadyAllocations } from '@postern/testing';

const TAG = 16;

describe('transport AEAD wherever the packet lives', () => {
  const aead = cryptoBackend().aead(new Uint8Array(32).map((_, i) => i * 7));
  const high = new Uint8Array(new SharedArrayBuffer(16 << 20));
  const low = new Uint8Array(4096);

  it('seals to the same bytes and opens them again in low and high memory, and refuses a flipped bit (property)', () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 0, maxLength: 1400 }), fc.integer({ min: 0, max: 2 ** 40 }), fc.integer({ min: 0, max: 100 }), fc.integer({ min: 0, max: 16 << 19 }), (plain, counter, offset, where) => {
        const a = low.subarray(0, offset + plain.length + TAG + 8);
        const b = high.subarray(where, where + offset + plain.length + TAG + 8);
        a.set(plain, offset);
        b.set(plain, offset);
        aead.seal(counter, a, offset, plain.length);
        aead.seal(counter, b, offset, plain.length);
        expect(Buffer.from(b.subarray(offset, offset + plain.length + TAG)).equals(Buffer.from(a.subarray(offset, offset + plain.length + TAG)))).toBe(true);
        expect(aead.open(counter, b, offset, plain.length + TAG)).toBe(true);
        expect(Buffer.from(b.subarray(offset, offset + plain.length)).equals(Buffer.from(plain))).toBe(true);
        aead.seal(counter, b, offset, plain.length);
        const flip = offset + ((counter + plain.length) % (plain.length + TAG));
        b[flip] = (b[flip] ?? 0) ^ 1;
        expect(aead.open(counter, b, offset, plain.length + TAG)).toBe(false);
      }),
      { numRuns: 300 },
    );
  });

  it('seals from another buffer to the same bytes as in place, wherever source and destination live (property)', () => {
    const lowSrc = new Uint8Array(4096);
    const highSrc = new Uint8Array(new SharedArrayBuffer(16 << 20));
    fc.assert(
      fc.property(
        fc.uint8Array({ minLength: 0, maxLength: 1400 }),
        fc.integer({ min: 0, max: 2 ** 40 }),
        fc.integer({ min: 0, max: 100 }),
        fc.integer({ min: 0, max: 100 }),
        fc.boolean(),
        fc.boolean(),
        (plain, counter, srcAt, dstAt, srcHigh, dstHigh) => {
          const expected = low.subarray(0, dstAt + plain.length + TAG);
          expected.set(plain, dstAt);
          aead.seal(counter, expected, dstAt, plain.length);
          // the source a view of exactly the packet (as a ring slot's packet is) or the packet inside a larger view
          const srcBase = (srcHigh ? highSrc.subarray(8 << 20) : lowSrc).subarray(0, srcAt + plain.length + 8);
          srcBase.set(plain, srcAt);
          const whole = srcAt % 2 === 0;
          const src = whole ? srcBase.subarray(srcAt, srcAt + plain.length) : srcBase;
          const dst = (dstHigh ? high.subarray(12 << 20) : new Uint8Array(2048)).subarray(0, dstAt + plain.length + TAG + 4);
          dst.fill(0xee);
          aead.sealFrom(counter, src, whole ? 0 : srcAt, dst, dstAt, plain.length);
          expect(Buffer.from(dst.subarray(dstAt, dstAt + plain.length + TAG)).equals(Buffer.from(expected.subarray(dstAt)))).toBe(true);
          // nothing outside the ciphertext and tag is written; the source is left as it was
          expect(dst.subarray(0, dstAt).every((b) => b === 0xee) && dst.subarray(dstAt + plain.length + TAG).every((b) => b === 0xee)).toBe(true);
          expect(Buffer.from(srcBase.subarray(srcAt, srcAt + plain.length)).equals(Buffer.from(plain))).toBe(true);
          expect(aead.open(counter, dst, dstAt, plain.length + TAG)).toBe(true);
        },
      ),
      { numRuns: 300 },
    );
  });

  it('allocates nothing per packet in high memory (no boxed addresses)', async () => {
    const views = Array.from({ length: 32 }, (_, i) => high.subarray(i * 1400, i * 1400 + 1300));
    const run = (n: number): void => {
      for (let i = 0; i < n; i++) {
        const v = views[i & 31] ?? high;
        aead.seal(i, v, 16, 1264);
        if (!aead.open(i, v, 16, 1280)) throw new Error('open failed');
      }
    };
    run(20_000);
    const report = await steadyAllocations(() => {
      run(50_000);
    }, 4 * 50_000);
    // by address, it was 64 B per seal + open here (4 boxed numbers per call)
    expect(report.bytes / 50_000, report.top.join('\n')).toBeLessThan(4);
  });

  it('allocates nothing per packet sealing from one high buffer into another', async () => {
    const ring = new Uint8Array(new SharedArrayBuffer(1 << 20));
    const packets = Array.from({ length: 32 }, (_, i) => ring.subarray(i * 2048, i * 2048 + 1280));
    const outs = Array.from({ length: 32 }, (_, i) => high.subarray(i * 1400, i * 1400 + 1340));
    const run = (n: number): void => {
      for (let i = 0; i < n; i++) {
        const out = outs[i & 31] ?? high;
        aead.sealFrom(i, packets[i & 31] ?? ring, 0, out, 16, 1280);
        if (!aead.open(i, out, 16, 1296)) throw new Error('open failed');
      }
    };
    run(20_000);
    const report = await steadyAllocations(() => {
      run(50_000);
    }, 4 * 50_000);
    expect(report.bytes / 50_000, report.top.join('\n')).toBeLessThan(4);
  });
});
