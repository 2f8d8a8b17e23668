// X25519 (RFC 7748) through node:crypto KeyObjects, imported once per key (performance.md: ~26 µs/DH).
import { createPrivateKey, createPublicKey, diffieHellman, type KeyObject } from 'node:crypto';
import { WireGuardError } from '../errors';

const PKCS8_PREFIX = Buffer.from('302e020100300506032b656e04220420', 'hex');
const SPKI_PREFIX = Buffer.from('302a300506032b656e032100', 'hex');

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
  const keyObject = createPrivateKey({ key: Buffer.concat([PKCS8_PREFIX, raw]), format: 'der', type: 'pkcs8' });
  const spki = createPublicKey(keyObject).export({ format: 'der', type: 'spki' });
  return { raw: Uint8Array.from(raw), keyObject, publicKey: new Uint8Array(spki.subarray(SPKI_PREFIX.length)) };
}

export function importPublicKey(raw: Uint8Array): KeyObject {
  check32(raw, 'X25519 public key');
  return createPublicKey({ key: Buffer.concat([SPKI_PREFIX, raw]), format: 'der', type: 'spki' });
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
