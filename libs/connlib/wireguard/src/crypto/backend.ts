// The one small interface every cryptographic primitive of the protocol goes through (RFC 8439 AEAD,
// RFC 7693 BLAKE2s, RFC 2104 HMAC over BLAKE2s, XChaCha20-Poly1305, RFC 7748 X25519). The backend is
// chosen once; RFC vectors in test/vectors run against it.

/** ChaCha20-Poly1305 with one key and a context reused for every packet (transport data). */
export interface Aead {
  /**
   * Seals `buf[offset, offset + length)` in place with the 96-bit nonce `0^32 || le64(counter)` and no
   * associated data, and writes the 16-byte tag at `buf[offset + length]`.
   */
  seal(counter: number, buf: Uint8Array, offset: number, length: number): void;
  /**
   * The same seal with the plaintext read from elsewhere: `src[srcOffset, srcOffset + length)` is encrypted into
   * `dst[dstOffset, ...)` and the tag written after it (the cipher's output is the only copy). The two ranges are
   * either the very same bytes (in place, as `seal`) or do not overlap.
   */
  sealFrom(counter: number, src: Uint8Array, srcOffset: number, dst: Uint8Array, dstOffset: number, length: number): void;
  /** Opens `buf[offset, offset + length)` (ciphertext then tag) in place; false if it is not authentic. */
  open(counter: number, buf: Uint8Array, offset: number, length: number): boolean;
  /** Zeroes the key and frees native memory; the object is unusable afterwards. */
  dispose(): void;
}

export interface CryptoBackend {
  readonly name: string;
  /** A reusable AEAD context for the transport data of one direction of one session. */
  aead(key: Uint8Array): Aead;
  /**
   * One-shot ChaCha20-Poly1305 seal (handshake fields): ciphertext || tag. `nonce` is a counter (nonce
   * `0^32 || le64(counter)`) or the 12 nonce bytes.
   */
  seal(key: Uint8Array, nonce: number | Uint8Array, ad: Uint8Array, plaintext: Uint8Array): Uint8Array;
  /** One-shot open; null if not authentic. */
  open(key: Uint8Array, nonce: number | Uint8Array, ad: Uint8Array, ciphertext: Uint8Array): Uint8Array | null;
  /** BLAKE2s-256 of the concatenation of `parts`. */
  hash(...parts: Uint8Array[]): Uint8Array;
  /** HMAC-BLAKE2s-256. */
  hmac(key: Uint8Array, data: Uint8Array): Uint8Array;
  /** Keyed BLAKE2s with a 16-byte output (MAC1, MAC2, cookies). */
  mac(key: Uint8Array, data: Uint8Array): Uint8Array;
  /** XChaCha20-Poly1305 seal with a 24-byte nonce (cookie replies). */
  xseal(key: Uint8Array, nonce: Uint8Array, ad: Uint8Array, plaintext: Uint8Array): Uint8Array;
  /** XChaCha20-Poly1305 open; null if not authentic. */
  xopen(key: Uint8Array, nonce: Uint8Array, ad: Uint8Array, ciphertext: Uint8Array): Uint8Array | null;
}
