// The fixed strings of WireGuard's Noise instance (whitepaper §5.4) and the state they start from.
import type { CryptoBackend } from '../crypto/backend';

const ascii = (s: string): Uint8Array => new TextEncoder().encode(s);

export const CONSTRUCTION = ascii('Noise_IKpsk2_25519_ChaChaPoly_BLAKE2s');
export const IDENTIFIER = ascii('WireGuard v1 zx2c4 Jason@zx2c4.com');
export const LABEL_MAC1 = ascii('mac1----');
export const LABEL_COOKIE = ascii('cookie--');

const cache = new WeakMap<CryptoBackend, { ck: Uint8Array; h: Uint8Array }>();

function initial(backend: CryptoBackend): { ck: Uint8Array; h: Uint8Array } {
  let v = cache.get(backend);
  if (v === undefined) {
    const ck = backend.hash(CONSTRUCTION);
    v = { ck, h: backend.hash(ck, IDENTIFIER) };
    cache.set(backend, v);
  }
  return v;
}

/** C = HASH(CONSTRUCTION). */
export function initialChainingKey(backend: CryptoBackend): Uint8Array {
  return initial(backend).ck.slice();
}

/** H = HASH(C || IDENTIFIER). */
export function initialHash(backend: CryptoBackend): Uint8Array {
  return initial(backend).h.slice();
}
