// ChaCha20-Poly1305 (RFC 8439 §2.8) for transport data, composed from OpenSSL's own ChaCha20 and Poly1305 code as
// the node binary exports it (`ChaCha20_ctr32`, `Poly1305_Init` / `_Update` / `_Final`: the very assembly that EVP's
// chacha20-poly1305 runs), without EVP's plumbing per packet (the key and IV set through OSSL_PARAM lookups, the tag
// fetched by a ctrl). One 1,232-byte seal: 0.66-0.77x the time of the EVP path (performance.md, fourteenth round).
//
//   poly key  = ChaCha20(key, counter 0, nonce)[0, 32)
//   ciphertext = ChaCha20(key, counter 1, nonce) xor plaintext
//   tag       = Poly1305(poly key, ciphertext || zeros to a multiple of 16 || le64(0) || le64(length))
//
// with WireGuard's nonce `0^32 || le64(counter)` and no associated data. Opening checks the tag before it decrypts,
// so a datagram that is not authentic is left as it came. Every address here must be a small integer (below 2^31:
// the caller checks); the EVP path takes the rest. The symbols are not OpenSSL's public API: `loadDirectChaCha`
// returns undefined when any is missing, and the backend uses this only after a known-answer self-test.
import type { LibraryHandle } from 'koffi';
import { allocNative, type NativeBlock } from './native-memory';

type Fn<A extends unknown[], R> = (...args: A) => R;

export interface DirectPrimitives {
  /** ChaCha20 of `len` bytes from `inp` to `out`: key = 8 LE words, counter = [block, nonce 0..2] (4 LE words). */
  readonly chacha: Fn<[number, number, number, number, number], void>;
  readonly polyInit: Fn<[number, number], void>;
  readonly polyUpdate: Fn<[number, number, number], void>;
  readonly polyFinal: Fn<[number, number], void>;
  readonly polyCtxSize: Fn<[], number>;
}

/** The primitives from `lib` (the node binary), or undefined if it does not export all of them. */
export function loadDirectPrimitives(lib: LibraryHandle): DirectPrimitives | undefined {
  try {
    return {
      chacha: lib.func('void ChaCha20_ctr32(uintptr_t out, uintptr_t inp, size_t len, uintptr_t key, uintptr_t counter)') as DirectPrimitives['chacha'],
      polyInit: lib.func('void Poly1305_Init(uintptr_t ctx, uintptr_t key)') as DirectPrimitives['polyInit'],
      polyUpdate: lib.func('void Poly1305_Update(uintptr_t ctx, uintptr_t inp, size_t len)') as DirectPrimitives['polyUpdate'],
      polyFinal: lib.func('void Poly1305_Final(uintptr_t ctx, uintptr_t mac)') as DirectPrimitives['polyFinal'],
      polyCtxSize: lib.func('size_t Poly1305_ctx_size()') as DirectPrimitives['polyCtxSize'],
    };
  } catch {
    return undefined;
  }
}

// scratch layout (bytes)
const KEY = 0; // 32: the key loaded now
const CTR = 32; // 16: block counter, nonce
const ZERO = 48; // 32 zero bytes: ChaCha20 of them is the poly key
const PKEY = 80; // 32: the poly key
const MAC = 112; // 16: the tag computed when opening
const SAVED = 128; // 16: the received tag, kept while the lengths block lies where it was
const LENS = 144; // 32: up to 15 zero bytes of padding, then le64(0) || le64(length), ending at LENS + 32
const CTX = 192; // the Poly1305 context (248 bytes on x86_64 here), 64-aligned in the block
const TAG_LEN = 16;

/** RFC 8439's lengths block at `b[at, at + 16)`: le64(0) (no associated data) || le64(length). */
function putLengths(b: Uint8Array, at: number, length: number): void {
  const lo = length >>> 0;
  for (let i = 0; i < 8; i++) b[at + i] = 0;
  b[at + 8] = lo & 0xff;
  b[at + 9] = (lo >>> 8) & 0xff;
  b[at + 10] = (lo >>> 16) & 0xff;
  b[at + 11] = lo >>> 24;
  for (let i = 12; i < 16; i++) b[at + i] = 0;
}

/**
 * The transport AEAD without EVP: one scratch block and one Poly1305 context per backend, shared by every key
 * (like the EVP contexts: a session costs no native memory of its own). Synchronous, one thread.
 */
export class DirectChaCha {
  private readonly scratch: NativeBlock;
  private readonly bytes: Uint8Array;
  private readonly ctr: DataView;
  private readonly base: number;
  /** The key in the scratch now (the AEAD's own copy: identity is the key), or undefined. */
  private held: Uint8Array | undefined;

  constructor(private readonly p: DirectPrimitives) {
    const ctxSize = p.polyCtxSize();
    this.scratch = allocNative(CTX + ctxSize + 64);
    this.bytes = this.scratch.bytes;
    this.ctr = new DataView(this.bytes.buffer, this.bytes.byteOffset + CTR, 16);
    this.base = this.scratch.address;
  }

  /** Sets the key (when another is loaded) and the nonce, block counter 0, and makes the poly key. */
  private begin(key: Uint8Array, counter: number): void {
    if (this.held !== key) {
      this.bytes.set(key, KEY);
      this.held = key;
    }
    const lo = counter >>> 0;
    const c = this.ctr;
    c.setUint32(0, 0, true);
    c.setUint32(4, 0, true);
    c.setUint32(8, lo, true);
    c.setUint32(12, (counter - lo) / 0x1_0000_0000, true);
    const b = this.base;
    this.p.chacha(b + PKEY, b + ZERO, 32, b + KEY, b + CTR);
    this.ctr.setUint32(0, 1, true);
  }

  /**
   * MACs `length` bytes of ciphertext at `at` and the padding and lengths after them into the Poly1305 context
   * (`Poly1305_Final` follows). `view[viewAt, viewAt + 16)` are the 16 bytes after the ciphertext (where the tag
   * goes): when no padding is needed, the lengths block is written there and MAC'd with the ciphertext in one call.
   */
  private mac(at: number, length: number, view: Uint8Array, viewAt: number): void {
    const b = this.base;
    const p = this.p;
    p.polyInit(b + CTX, b + PKEY);
    const pad = (16 - (length & 15)) & 15;
    if (pad === 0) {
      putLengths(view, viewAt, length);
      p.polyUpdate(b + CTX, at, length + 16);
      return;
    }
    if (length > 0) p.polyUpdate(b + CTX, at, length);
    const s = this.bytes;
    const from = LENS + 16 - pad;
    for (let i = from; i < LENS + 16; i++) s[i] = 0;
    putLengths(s, LENS + 16, length);
    p.polyUpdate(b + CTX, b + from, pad + 16);
  }

  /**
   * Seals `length` bytes at address `src` into address `dst` (the same, or not overlapping) and writes the tag
   * after them; `view[viewAt]` is the first tag byte as a view (the lengths block passes through there).
   */
  seal(key: Uint8Array, counter: number, src: number, dst: number, length: number, view: Uint8Array, viewAt: number): void {
    this.begin(key, counter);
    const b = this.base;
    if (length > 0) this.p.chacha(dst, src, length, b + KEY, b + CTR);
    this.mac(dst, length, view, viewAt);
    this.p.polyFinal(b + CTX, dst + length);
  }

  /**
   * Opens `length` bytes (ciphertext, then the 16-byte tag) at address `at` in place; `view[viewAt]` is the first
   * tag byte as a view. False, and the bytes as they were, when the tag does not authenticate them.
   */
  open(key: Uint8Array, counter: number, at: number, length: number, view: Uint8Array, viewAt: number): boolean {
    const n = length - TAG_LEN;
    if (n < 0) return false;
    const s = this.bytes;
    for (let i = 0; i < TAG_LEN; i++) s[SAVED + i] = view[viewAt + i] ?? 0;
    this.begin(key, counter);
    const b = this.base;
    this.mac(at, n, view, viewAt);
    this.p.polyFinal(b + CTX, b + MAC);
    let diff = 0;
    for (let i = 0; i < TAG_LEN; i++) diff |= (s[MAC + i] ?? 0) ^ (s[SAVED + i] ?? 0);
    for (let i = 0; i < TAG_LEN; i++) view[viewAt + i] = s[SAVED + i] ?? 0;
    if (diff !== 0) return false;
    if (n > 0) this.p.chacha(at, at, n, b + KEY, b + CTR);
    return true;
  }

  /** Zeroes and frees the scratch (a backend that will not use this one); unusable afterwards. */
  free(): void {
    this.held = undefined;
    this.scratch.free();
  }

  /** Forgets a disposed key (zeroed in the scratch if it is the one loaded). */
  forget(key: Uint8Array): void {
    if (this.held !== key) return;
    this.held = undefined;
    this.bytes.fill(0, KEY, KEY + 32);
    this.bytes.fill(0, PKEY, PKEY + 32);
  }
}
