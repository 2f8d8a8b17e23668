// RFC test vectors against the crypto backend the protocol uses (whatever `cryptoBackend()` returns).
import { chacha20poly1305 } from '@noble/ciphers/chacha.js';
import { blake2s } from '@noble/hashes/blake2.js';
import { createHmac, randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { cryptoBackend, publicKeyFromPrivate } from '../../src/index';
import { dh, importPrivateKey, importPublicKey } from '../../src/crypto/x25519';

const hex = (s: string): Uint8Array => new Uint8Array(Buffer.from(s.replace(/[\s:]/g, ''), 'hex'));
const toHex = (b: Uint8Array): string => Buffer.from(b).toString('hex');
const backend = cryptoBackend();

const SUNSCREEN = new TextEncoder().encode(
  "Ladies and Gentlemen of the class of '99: If I could offer you only one tip for the future, sunscreen would be it.",
);
const KEY_80_9F = hex('808182838485868788898a8b8c8d8e8f909192939495969798999a9b9c9d9e9f');
const AAD = hex('50515253c0c1c2c3c4c5c6c7');

describe('RFC 7748 X25519', () => {
  it('computes the §5.2 scalar multiplication vector', () => {
    const k = importPrivateKey(hex('a546e36bf0527c9d3b16154b82465edd62144c0ac1fc5a18506a2244ba449ac4'));
    const u = importPublicKey(hex('e6db6867583030db3594c1a424b15f7c726624ec26b3353b10a903a6d0ab1c4c'));
    expect(toHex(dh(k, u) ?? new Uint8Array())).toBe('c3da55379de9c6908e94ea4df28d084f32eccf03491c71f754b4075577a28552');
  });

  it('derives the §6.1 public keys and shared secret', () => {
    const alice = hex('77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a');
    const bob = hex('5dab087e624a8a4b79e17f8b83800ee66f3bb1292618b6fd1c2f8b27ff88e0eb');
    expect(toHex(publicKeyFromPrivate(alice))).toBe('8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a');
    expect(toHex(publicKeyFromPrivate(bob))).toBe('de9edb7d7b7dc1b4d35b61c2ece435373f8343c85b78674dadfc7e146f882b4f');
    const shared = dh(importPrivateKey(alice), importPublicKey(publicKeyFromPrivate(bob)));
    expect(toHex(shared ?? new Uint8Array())).toBe('4a5d9d5ba4ce2de1728e3bf480350f25e07e21c947d19e3376f09b3c1e161742');
  });

  it('refuses a low-order public key (all-zero shared secret)', () => {
    const k = importPrivateKey(randomBytes(32));
    expect(dh(k, importPublicKey(new Uint8Array(32)))).toBeNull();
  });
});

describe('RFC 8439 ChaCha20-Poly1305', () => {
  const nonce = hex('070000004041424344454647');
  const expected =
    'd31a8d34648e60db7b86afbc53ef7ec2a4aded51296e08fea9e2b5a736ee62d63dbea45e8ca9671282fafb69da92728b1a71de0a9e060b2905d6a5b67ecd3b3692ddbd7f2d778b8c9803aee328091b58fab324e4fad675945585808b4831d7bc3ff4def08e4b7a9de576d26586cec64b6116' +
    '1ae10b594f09e26a7e902ecbd0600691';

  it('seals the §2.8.2 vector', () => {
    expect(toHex(backend.seal(KEY_80_9F, nonce, AAD, SUNSCREEN))).toBe(expected);
  });

  it('opens the §2.8.2 vector and rejects a flipped tag bit', () => {
    const sealed = hex(expected);
    expect(Buffer.from(backend.open(KEY_80_9F, nonce, AAD, sealed) ?? []).toString()).toBe(Buffer.from(SUNSCREEN).toString());
    sealed[sealed.length - 1] = (sealed[sealed.length - 1] ?? 0) ^ 1;
    expect(backend.open(KEY_80_9F, nonce, AAD, sealed)).toBeNull();
  });

  it('opens the Appendix A.5 vector', () => {
    const key = hex('1c9240a5eb55d38af333888604f6b5f0473917c1402b80099dca5cbc207075c0');
    const ct = hex(
      '64a0861575861af460f062c79be643bd5e805cfd345cf389f108670ac76c8cb24c6cfc18755d43eea09ee94e382d26b0bdb7b73c321b0100d4f03b7f355894cf332f830e710b97ce98c8a84abd0b948114ad176e008d33bd60f982b1ff37c8559797a06ef4f0ef61c186324e2b3506383606907b6a7c02b0f9f6157b53c867e4b9166c767b804d46a59b5216cde7a4e99040c5a40433225ee282a1b0a06c523eaf4534d7f83fa1155b0047718cbc546a0d072b04b3564eea1b422273f548271a0bb2316053fa76991955ebd63159434ecebb4e466dae5a1073a6727627097a1049e617d91d361094fa68f0ff77987130305beaba2eda04df997b714d6c6f2c29a6ad5cb4022b02709b' +
        'eead9d67890cbb22392336fea1851f38',
    );
    const pt = backend.open(key, hex('000000000102030405060708'), hex('f33388860000000000004e91'), ct);
    expect(Buffer.from(pt ?? []).toString()).toMatch(/^Internet-Drafts are draft documents valid for a maximum of six months/);
  });

  it('the reusable transport context matches an independent implementation at many counters', () => {
    const key = randomBytes(32);
    const aead = backend.aead(key);
    for (const counter of [0, 1, 255, 2 ** 32 - 1, 2 ** 32, 2 ** 40 + 12345, Number.MAX_SAFE_INTEGER]) {
      for (const len of [0, 1, 16, 1280]) {
        const pt = randomBytes(len);
        const buf = new Uint8Array(len + 16 + 8);
        buf.set(pt, 4);
        aead.seal(counter, buf, 4, len);
        const nonce = new Uint8Array(12);
        new DataView(nonce.buffer).setBigUint64(4, BigInt(counter), true);
        expect(toHex(buf.subarray(4, 4 + len + 16))).toBe(toHex(chacha20poly1305(key, nonce).encrypt(pt)));
        expect(aead.open(counter, buf, 4, len + 16)).toBe(true);
        expect(toHex(buf.subarray(4, 4 + len))).toBe(toHex(pt));
      }
    }
    aead.dispose();
  });
});

describe('RFC 7693 BLAKE2s', () => {
  it('hashes "abc" (Appendix B)', () => {
    expect(toHex(backend.hash(new TextEncoder().encode('abc')))).toBe('508c5e8c327c14e2e1a72ba34eeb452f37458b209ed63a294d999b4c86675982');
  });

  it('hashes the concatenation of its parts', () => {
    const a = randomBytes(40);
    const b = randomBytes(7);
    expect(toHex(backend.hash(a, b))).toBe(toHex(backend.hash(new Uint8Array(Buffer.concat([a, b])))));
    expect(toHex(backend.hash(new Uint8Array(0)))).toBe('69217a3079908094e11121d042354a7c1f55b6482ca1a51e1b250dfd1ed0eef9');
  });

  it('HMAC-BLAKE2s matches node:crypto', () => {
    for (const [k, d] of [
      [32, 0],
      [32, 1],
      [32, 33],
      [16, 200],
    ] as const) {
      const key = randomBytes(k);
      const data = randomBytes(d);
      expect(toHex(backend.hmac(key, data))).toBe(createHmac('blake2s256', key).update(data).digest('hex'));
    }
  });
});

describe('keyed BLAKE2s-128 (MAC1, MAC2, cookies)', () => {
  it('matches an independent implementation (@noble/hashes) for WireGuard key and message sizes', () => {
    for (const [k, d] of [
      [32, 116],
      [32, 132],
      [16, 60],
      [16, 76],
      [32, 0],
      [32, 18],
    ] as const) {
      const key = randomBytes(k);
      const data = randomBytes(d);
      expect(toHex(backend.mac(key, data))).toBe(toHex(blake2s(data, { key, dkLen: 16 })));
    }
  });
});

describe('XChaCha20-Poly1305 (draft-irtf-cfrg-xchacha §A.3.1)', () => {
  const nonce = hex('404142434445464748494a4b4c4d4e4f5051525354555657');
  const expected =
    'bd6d179d3e83d43b9576579493c0e939572a1700252bfaccbed2902c21396cbb731c7f1b0b4aa6440bf3a82f4eda7e39ae64c6708c54c216cb96b72e1213b4522f8c9ba40db5d945b11b69b982c1bb9e3f3fac2bc369488f76b2383565d3fff921f9664c97637da9768812f615c68b13b52e' +
    'c0875924c1c7987947deafd8780acf49';

  it('seals and opens the vector', () => {
    expect(toHex(backend.xseal(KEY_80_9F, nonce, AAD, SUNSCREEN))).toBe(expected);
    expect(Buffer.from(backend.xopen(KEY_80_9F, nonce, AAD, hex(expected)) ?? []).toString()).toBe(Buffer.from(SUNSCREEN).toString());
    expect(backend.xopen(KEY_80_9F, nonce, new Uint8Array(0), hex(expected))).toBeNull();
  });
});
