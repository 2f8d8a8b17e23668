// The transport AEAD without EVP (chacha-poly-direct.ts): ChaCha20 and Poly1305 as the node binary exports them,
// composed per RFC 8439 §2.8. Checked against an independent implementation (noble) and against EVP itself.
import { chacha20poly1305 } from '@noble/ciphers/chacha.js';
import fc from 'fast-check';
import { afterEach, describe, expect, it } from 'vitest';
import { createOpenSslBackend, cryptoBackend } from '../../src/crypto/openssl';

const nonceOf = (counter: number): Uint8Array => {
  const n = new Uint8Array(12);
  new DataView(n.buffer).setBigUint64(4, BigInt(counter), true);
  return n;
};

describe('the transport AEAD without EVP', () => {
  const saved = process.env['POSTERN_AEAD'];
  afterEach(() => {
    if (saved === undefined) delete process.env['POSTERN_AEAD'];
    else process.env['POSTERN_AEAD'] = saved;
  });

  it('is what Node 20 runs (the node binary exports the primitives and the self-test passes); POSTERN_AEAD=evp turns it off', () => {
    expect(cryptoBackend().name).toBe('openssl-direct');
    process.env['POSTERN_AEAD'] = 'evp';
    expect(createOpenSslBackend().name).toBe('openssl-evp');
  });

  it('seals what noble seals, in place and from another buffer, for any length, key and counter (property)', () => {
    const backend = cryptoBackend();
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 32, maxLength: 32 }), fc.integer({ min: 0, max: 2 ** 53 - 1 }), fc.uint8Array({ maxLength: 2100 }), fc.integer({ min: 0, max: 40 }), (key, counter, plain, at) => {
        const aead = backend.aead(key);
        const want = chacha20poly1305(key, nonceOf(counter)).encrypt(plain);
        const buf = new Uint8Array(at + plain.length + 16 + 7).fill(0xee);
        buf.set(plain, at);
        aead.seal(counter, buf, at, plain.length);
        expect(Buffer.from(buf.subarray(at, at + want.length)).equals(Buffer.from(want))).toBe(true);
        expect(buf.subarray(0, at).every((b) => b === 0xee) && buf.subarray(at + want.length).every((b) => b === 0xee)).toBe(true);
        const dst = new Uint8Array(at + want.length);
        aead.sealFrom(counter, plain, 0, dst, at, plain.length);
        expect(Buffer.from(dst.subarray(at)).equals(Buffer.from(want))).toBe(true);
        aead.dispose();
      }),
      { numRuns: 300 },
    );
  });

  it('opens what noble sealed, and leaves a datagram changed in any byte exactly as it came (property)', () => {
    const backend = cryptoBackend();
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 32, maxLength: 32 }), fc.integer({ min: 0, max: 2 ** 40 }), fc.uint8Array({ maxLength: 1500 }), fc.nat(), fc.integer({ min: 1, max: 255 }), (key, counter, plain, where, flip) => {
        const aead = backend.aead(key);
        const sealed = chacha20poly1305(key, nonceOf(counter)).encrypt(plain);
        const good = sealed.slice();
        expect(aead.open(counter, good, 0, good.length)).toBe(true);
        expect(Buffer.from(good.subarray(0, plain.length)).equals(Buffer.from(plain))).toBe(true);
        const bad = sealed.slice();
        const i = where % bad.length;
        bad[i] = (bad[i] ?? 0) ^ flip;
        const before = bad.slice();
        expect(aead.open(counter, bad, 0, bad.length)).toBe(false);
        expect(Buffer.from(bad).equals(Buffer.from(before))).toBe(true);
        // another counter (nonce) does not open it either
        const other = sealed.slice();
        expect(aead.open(counter + 1, other, 0, other.length)).toBe(false);
        aead.dispose();
      }),
      { numRuns: 300 },
    );
  });

  it('agrees with the EVP path packet by packet, keys interleaved', () => {
    const evp = createOpenSslBackend({ transport: 'evp' });
    const direct = createOpenSslBackend({ transport: 'auto' });
    expect([evp.name, direct.name]).toEqual(['openssl-evp', 'openssl-direct']);
    const keys = [3, 5].map((k) => new Uint8Array(32).map((_, i) => (i * k + 11) & 0xff));
    const pairs = keys.map((k) => [evp.aead(k), direct.aead(k)] as const);
    for (let n = 0; n < 2000; n++) {
      const [e, d] = pairs[n % 2] ?? [];
      const len = (n * 37) % 1300;
      const a = new Uint8Array(len + 16).map((_, i) => (i + n) & 0xff);
      const b = a.slice();
      e?.seal(n, a, 0, len);
      d?.seal(n, b, 0, len);
      expect(Buffer.from(a).equals(Buffer.from(b))).toBe(true);
      expect(d?.open(n, a, 0, len + 16)).toBe(true);
      expect(e?.open(n, b, 0, len + 16)).toBe(true);
      expect(Buffer.from(a).equals(Buffer.from(b))).toBe(true);
    }
  });

  it('refuses datagrams shorter than a tag, and a disposed AEAD', () => {
    const aead = cryptoBackend().aead(new Uint8Array(32).fill(9));
    expect(aead.open(0, new Uint8Array(15), 0, 15)).toBe(false);
    aead.dispose();
    expect(aead.open(0, new Uint8Array(16), 0, 16)).toBe(false);
    expect(() => { aead.seal(0, new Uint8Array(32), 0, 16); }).toThrow(/after dispose/);
  });
});
