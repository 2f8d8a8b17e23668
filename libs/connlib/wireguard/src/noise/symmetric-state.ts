// Noise SymmetricState (Noise spec §5.2) with WireGuard's HKDF over HMAC-BLAKE2s (whitepaper §5.4).
import type { CryptoBackend } from '../crypto/backend';

const ONE = Uint8Array.of(1);

/** Kdf_n(key, input) of the whitepaper: τ0 = HMAC(key, input), τi = HMAC(τ0, τ(i-1) || i). */
export function kdf(backend: CryptoBackend, key: Uint8Array, input: Uint8Array, n: 1 | 2 | 3): Uint8Array[] {
  const t0 = backend.hmac(key, input);
  const t1 = backend.hmac(t0, ONE);
  if (n === 1) return [t1];
  const buf = new Uint8Array(33);
  buf.set(t1);
  buf[32] = 2;
  const t2 = backend.hmac(t0, buf);
  if (n === 2) return [t1, t2];
  buf.set(t2);
  buf[32] = 3;
  return [t1, t2, backend.hmac(t0, buf)];
}

export class SymmetricState {
  /** Encryption key for the next encryptAndHash/decryptAndHash (counter always 0 in WireGuard). */
  private key: Uint8Array = new Uint8Array(32);

  constructor(
    private readonly backend: CryptoBackend,
    public chainingKey: Uint8Array,
    public hash: Uint8Array,
  ) {}

  clone(): SymmetricState {
    const s = new SymmetricState(this.backend, this.chainingKey, this.hash);
    s.key = this.key;
    return s;
  }

  mixHash(data: Uint8Array): void {
    this.hash = this.backend.hash(this.hash, data);
  }

  /** C, k = Kdf2(C, input). Also serves the psk-mode `e` token (C = Kdf1(C, e.pub)). */
  mixKey(input: Uint8Array): void {
    const [ck, k] = kdf(this.backend, this.chainingKey, input, 2);
    if (ck === undefined || k === undefined) return;
    this.chainingKey = ck;
    this.key = k;
  }

  /** C, τ, k = Kdf3(C, psk); H = Hash(H || τ) (the `psk` token). */
  mixKeyAndHash(input: Uint8Array): void {
    const [ck, tau, k] = kdf(this.backend, this.chainingKey, input, 3);
    if (ck === undefined || tau === undefined || k === undefined) return;
    this.chainingKey = ck;
    this.mixHash(tau);
    this.key = k;
  }

  encryptAndHash(plaintext: Uint8Array): Uint8Array {
    const ciphertext = this.backend.seal(this.key, 0, this.hash, plaintext);
    this.mixHash(ciphertext);
    return ciphertext;
  }

  /** null when the ciphertext is not authentic (state unchanged). */
  decryptAndHash(ciphertext: Uint8Array): Uint8Array | null {
    const plaintext = this.backend.open(this.key, 0, this.hash, ciphertext);
    if (plaintext === null) return null;
    this.mixHash(ciphertext);
    return plaintext;
  }

  /** T1, T2 = Kdf2(C, ε): (initiator send, initiator receive). */
  split(): [Uint8Array, Uint8Array] {
    const [t1, t2] = kdf(this.backend, this.chainingKey, new Uint8Array(0), 2);
    return [t1 ?? new Uint8Array(32), t2 ?? new Uint8Array(32)];
  }

  zero(): void {
    this.key.fill(0);
    this.chainingKey.fill(0);
  }
}
