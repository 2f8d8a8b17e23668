// Key utilities: generation, public-from-private, base64 in the `wg` format (standard base64, 44 chars).
import { WireGuardError } from './errors';
import type { Rng } from './rng';
import { importPrivateKey } from './crypto/x25519';

export interface KeyPair {
  readonly privateKey: Uint8Array;
  readonly publicKey: Uint8Array;
}

/** A fresh X25519 private key (clamped as `wg genkey` does) and its public key. */
export function generateKeyPair(rng: Rng): KeyPair {
  const privateKey = new Uint8Array(32);
  rng.fill(privateKey);
  clampPrivateKey(privateKey);
  return { privateKey, publicKey: publicKeyFromPrivate(privateKey) };
}

/** RFC 7748 §5 clamping, in place. */
export function clampPrivateKey(key: Uint8Array): void {
  key[0] = (key[0] ?? 0) & 248;
  key[31] = ((key[31] ?? 0) & 127) | 64;
}

export function publicKeyFromPrivate(privateKey: Uint8Array): Uint8Array {
  return importPrivateKey(privateKey).publicKey;
}

export function keyToBase64(key: Uint8Array): string {
  return Buffer.from(key.buffer, key.byteOffset, key.byteLength).toString('base64');
}

/** Parses a 32-byte key in base64 (as `wg` prints it); throws WireGuardError('INVALID_KEY'). */
export function keyFromBase64(text: string): Uint8Array {
  const trimmed = text.trim();
  if (!/^[A-Za-z0-9+/]{43}=$/.test(trimmed)) throw new WireGuardError('INVALID_KEY', 'a key is 44 characters of base64');
  return new Uint8Array(Buffer.from(trimmed, 'base64'));
}

/** Constant-time equality of two byte strings of the same length. */
export function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  let acc = 0;
  for (let i = 0; i < a.length; i++) acc |= (a[i] ?? 0) ^ (b[i] ?? 0);
  return acc === 0;
}
