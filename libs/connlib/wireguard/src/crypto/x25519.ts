// X25519 (RFC 7748) through node:crypto KeyObjects, imported once per key (performance.md: ~26 µs/DH).
// Keys are imported as JWK (raw key bytes, EVP_PKEY_new_raw_*): measured here ~5-10x cheaper than
// DER/PKCS8, which goes through OpenSSL 3's slow decoder framework.
import { createPrivateKey, createPublicKey, diffieHellman, type KeyObject } from 'node:crypto';
import { WireGuardError } from '../errors';

const b64url = (raw: Uint8Array): string => Buffer.from(raw.buffer, raw.byteOffset, raw.byteLength).toString('base64url');

export interface X25519PrivateKey {
  readonly raw: Uint8Array;
  readonly keyObject: KeyObject;
  readonly publicKey: Uint8Array;
}

function check32(key: Uint8Array, what: string): void {
  if (key.length !== 32) throw new WireGuardError('INVALID_KEY', `${what} must be 32 bytes, got ${key.length}`);
}

export function importPrivateKey(raw: Uint8Array): X25519PrivateKey {
  check32(raw, 'X25519 private key');
  const d = b64url(raw);
  // `x` is required by the JWK shape; Node derives the key from `d` alone, and the real public key is
  // read back from the imported key
  const keyObject = createPrivateKey({ key: { kty: 'OKP', crv: 'X25519', d, x: d }, format: 'jwk' });
  const jwk = createPublicKey(keyObject).export({ format: 'jwk' });
  if (typeof jwk.x !== 'string') throw new WireGuardError('INVALID_KEY', 'X25519 public key export failed');
  return { raw: Uint8Array.from(raw), keyObject, publicKey: new Uint8Array(Buffer.from(jwk.x, 'base64url')) };
}

export function importPublicKey(raw: Uint8Array): KeyObject {
  check32(raw, 'X25519 public key');
  return createPublicKey({ key: { kty: 'OKP', crv: 'X25519', x: b64url(raw) }, format: 'jwk' });
}

/** DH(private, public); null when the result would be all zeros (a low-order point). */
export function dh(privateKey: X25519PrivateKey, publicKey: KeyObject): Uint8Array | null {
  try {
    const shared = new Uint8Array(diffieHellman({ privateKey: privateKey.keyObject, publicKey }));
    let acc = 0;
    for (const b of shared) acc |= b;
    return acc === 0 ? null : shared;
  } catch {
    return null;
  }
}

/** DH with a public key given as raw bytes (an ephemeral from the wire); null on any failure. */
export function dhRaw(privateKey: X25519PrivateKey, publicKey: Uint8Array): Uint8Array | null {
  if (publicKey.length !== 32) return null;
  let pub: KeyObject;
  try {
    pub = importPublicKey(publicKey);
  } catch {
    return null;
  }
  return dh(privateKey, pub);
}
