// The transport AEADs of every key share two EVP contexts; a context is given a key only when the previous call
// used another one (openssl.ts SharedAeadContexts.load). Interleaved keys must each seal exactly what one-shot
// ChaCha20-Poly1305 with that key gives, and open only their own ciphertexts.
import { chacha20poly1305 } from '@noble/ciphers/chacha.js';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { cryptoBackend } from '../../src/crypto/openssl';

const nonceOf = (counter: number): Uint8Array => {
  const n = new Uint8Array(12);
  new DataView(n.buffer).setBigUint64(4, BigInt(counter), true);
  return n;
};

describe('transport AEADs of several keys, interleaved', () => {
  it('seal and open with the right key whatever the order of keys (property)', () => {
    const keys = [1, 2, 3].map((k) => new Uint8Array(32).map((_, i) => (i * 13 + k * 71) & 0xff));
    const aeads = keys.map((k) => cryptoBackend().aead(k));
    fc.assert(
      fc.property(fc.array(fc.tuple(fc.integer({ min: 0, max: 2 }), fc.integer({ min: 0, max: 2 }), fc.integer({ min: 0, max: 2 ** 32 }), fc.uint8Array({ maxLength: 300 })), { minLength: 1, maxLength: 20 }), (steps) => {
        for (const [sealer, opener, counter, plain] of steps) {
          const buf = new Uint8Array(plain.length + 16);
          buf.set(plain);
          aeads[sealer]?.seal(counter, buf, 0, plain.length);
          expect(Buffer.from(buf).equals(Buffer.from(chacha20poly1305(keys[sealer] as Uint8Array, nonceOf(counter)).encrypt(plain)))).toBe(true);
          const copy = buf.slice();
          expect(aeads[opener]?.open(counter, copy, 0, copy.length)).toBe(opener === sealer);
          if (opener === sealer) expect(Buffer.from(copy.subarray(0, plain.length)).equals(Buffer.from(plain))).toBe(true);
        }
      }),
      { numRuns: 200 },
    );
  });

  it('a disposed key is no longer used, and a new AEAD with another key seals with its own', () => {
    const k1 = new Uint8Array(32).fill(1);
    const k2 = new Uint8Array(32).fill(2);
    const a1 = cryptoBackend().aead(k1);
    const buf = new Uint8Array(48);
    a1.seal(5, buf, 0, 32);
    a1.dispose();
    expect(() => { a1.seal(6, buf, 0, 32); }).toThrow();
    const a2 = cryptoBackend().aead(k2);
    const plain = new Uint8Array(32).fill(9);
    const b = new Uint8Array(48);
    b.set(plain);
    a2.seal(7, b, 0, 32);
    expect(Buffer.from(b).equals(Buffer.from(chacha20poly1305(k2, nonceOf(7)).encrypt(plain)))).toBe(true);
    expect(a2.open(7, b, 0, 48)).toBe(true);
  });
});
