// CryptoBackend over Node's own OpenSSL 3 through koffi (performance.md: EVP ChaCha20-Poly1305 with a
// reused context was the fastest correct source here; keyed BLAKE2s-128 via EVP_Q_mac BLAKE2SMAC). Transport
// data below 2^31 goes through OpenSSL's ChaCha20 and Poly1305 without EVP where the node binary exports them
// (chacha-poly-direct.ts, after a self-test); EVP takes the rest.
// XChaCha20-Poly1305 (cookie replies only, absent from OpenSSL 3.0) comes from @noble/ciphers.
import { xchacha20poly1305 } from '@noble/ciphers/chacha.js';
import koffi, { type LibraryHandle } from 'koffi';
import { WireGuardError } from '../errors';
import { equalBytes } from '../keys';
import type { Aead, CryptoBackend } from './backend';
import { DirectChaCha, loadDirectPrimitives } from './chacha-poly-direct';
import { allocNative, type NativeBlock, viewBase, viewOffset } from './native-memory';

const EVP_CTRL_AEAD_GET_TAG = 0x10;
const EVP_CTRL_AEAD_SET_TAG = 0x11;
const TAG_LEN = 16;

type Fn<A extends unknown[], R> = (...args: A) => R;

function loadOpenSsl() {
  let lib: LibraryHandle;
  try {
    lib = koffi.load(null);
    lib.func('void *EVP_chacha20_poly1305()');
  } catch {
    lib = koffi.load('libcrypto.so.3');
  }
  return {
    /** ChaCha20 and Poly1305 themselves, where the library exports them (the node binary does; chacha-poly-direct.ts). */
    direct: loadDirectPrimitives(lib),
    chacha: lib.func('uintptr_t EVP_chacha20_poly1305()') as Fn<[], number>,
    blake2s256: lib.func('uintptr_t EVP_blake2s256()') as Fn<[], number>,
    ctxNew: lib.func('uintptr_t EVP_CIPHER_CTX_new()') as Fn<[], number>,
    ctxFree: lib.func('void EVP_CIPHER_CTX_free(uintptr_t ctx)') as Fn<[number], void>,
    init: lib.func('int EVP_CipherInit_ex(uintptr_t ctx, uintptr_t cipher, uintptr_t engine, uintptr_t key, uintptr_t iv, int enc)') as Fn<
      [number, number, number, number, number, number],
      number
    >,
    update: lib.func('int EVP_CipherUpdate(uintptr_t ctx, uintptr_t out, uintptr_t outl, uintptr_t in, int inl)') as Fn<
      [number, number, number, number, number],
      number
    >,
    /** The same, data given as views (koffi passes their memory's address): see EvpAead on boxed addresses. */
    updateViews: lib.func('EVP_CipherUpdate', 'int', ['uintptr_t', 'void *', 'uintptr_t', 'void *', 'int']) as Fn<
      [number, Uint8Array, number, Uint8Array, number],
      number
    >,
    final: lib.func('int EVP_CipherFinal_ex(uintptr_t ctx, uintptr_t out, uintptr_t outl)') as Fn<[number, number, number], number>,
    ctrl: lib.func('int EVP_CIPHER_CTX_ctrl(uintptr_t ctx, int type, int arg, uintptr_t ptr)') as Fn<[number, number, number, number], number>,
    digest: lib.func(
      'int EVP_Q_digest(uintptr_t libctx, const char *name, uintptr_t propq, uintptr_t data, size_t len, uintptr_t md, uintptr_t mdlen)',
    ) as Fn<[number, string, number, number, number, number, number], number>,
    qmac: lib.func(
      'uintptr_t EVP_Q_mac(uintptr_t libctx, const char *name, uintptr_t propq, uintptr_t subalg, uintptr_t params, uintptr_t key, size_t keylen, uintptr_t data, size_t datalen, uintptr_t out, size_t outsize, uintptr_t outlen)',
    ) as Fn<[number, string, number, number, number, number, number, number, number, number, number, number], number>,
    hmac: lib.func('uintptr_t HMAC(uintptr_t md, uintptr_t key, int keylen, uintptr_t data, size_t len, uintptr_t out, uintptr_t outlen)') as Fn<
      [number, number, number, number, number, number, number],
      number
    >,
  };
}

type OpenSsl = ReturnType<typeof loadOpenSsl>;

/**
 * The transport AEAD contexts of a backend: one EVP context for sealing and one for opening, shared by every
 * key. ChaCha20's key set-up is a copy of 32 bytes, so each packet sets key and nonce together
 * (`EVP_CipherInit_ex(ctx, NULL, NULL, key, iv, enc)`) and a session costs no native memory of its own
 * (a context per key and direction was ~1.8 KiB of RSS each; 1,000 idle clients make this matter).
 * Safe because every call is synchronous on one thread.
 */
class SharedAeadContexts {
  readonly enc: number;
  readonly dec: number;
  /** key (32) | nonce (12) | outl (4) | tag (16) | final's output (16; ChaCha20-Poly1305 writes none) */
  readonly scratch: NativeBlock;
  readonly nonceView: DataView;
  readonly tagAddress: number;
  readonly finalAddress: number;
  /** The transport AEAD without EVP for packets below 2^31 (undefined: EVP for all; see createOpenSslBackend). */
  direct: DirectChaCha | undefined;
  /** The key each context holds now (the AEAD's own copy: identity is the key), or undefined. */
  private encKey: Uint8Array | undefined;
  private decKey: Uint8Array | undefined;
  /** The sealed/opened bytes of a packet as a view of its buffer's view, kept per buffer view (see EvpAead). */
  private readonly bodies = new WeakMap<Uint8Array, Uint8Array>();

  body(buf: Uint8Array, offset: number, length: number): Uint8Array {
    if (offset === 0 && length === buf.length) return buf;
    const b = this.bodies.get(buf);
    if (b !== undefined && b.byteOffset === buf.byteOffset + offset && b.length === length) return b;
    const fresh = buf.subarray(offset, offset + length);
    this.bodies.set(buf, fresh);
    return fresh;
  }

  constructor(
    readonly ssl: OpenSsl,
    cipher: number,
  ) {
    this.scratch = allocNative(80);
    this.tagAddress = this.scratch.address + 48;
    this.finalAddress = this.scratch.address + 64;
    this.nonceView = new DataView(this.scratch.bytes.buffer, this.scratch.bytes.byteOffset + 32, 12);
    const make = (enc: 0 | 1): number => {
      const ctx = ssl.ctxNew();
      if (ctx === 0 || ssl.init(ctx, cipher, 0, 0, 0, enc) !== 1) throw new WireGuardError('CRYPTO_BACKEND', 'EVP ChaCha20-Poly1305 context setup failed');
      return ctx;
    };
    this.enc = make(1);
    this.dec = make(0);
  }

  /**
   * Loads the nonce `0^32 || le64(counter)` into the context, and the key when the context holds another one: with
   * one key in use (a busy tunnel), OpenSSL 3 is spared the key length lookup and the key set-up per packet
   * (EVP_CipherInit_ex 250 -> 180 ns here; performance.md, tenth round).
   */
  load(ctx: number, key: Uint8Array, counter: number, enc: 0 | 1): number {
    const s = this.scratch;
    let keyAddress = 0;
    if ((enc === 1 ? this.encKey : this.decKey) !== key) {
      s.bytes.set(key, 0);
      keyAddress = s.address;
    }
    const lo = counter >>> 0;
    this.nonceView.setUint32(4, lo, true);
    this.nonceView.setUint32(8, (counter - lo) / 0x1_0000_0000, true);
    // a failed init (not seen) leaves the context's key unknown: given again next time (the packet's final fails)
    const held = this.ssl.init(ctx, 0, 0, keyAddress, s.address + 32, enc) === 1 ? key : undefined;
    if (enc === 1) this.encKey = held;
    else this.decKey = held;
    return s.address + 44;
  }

  /** Drops the contexts' reference to a disposed key (another AEAD's key stays loaded). */
  forget(key: Uint8Array): void {
    if (this.encKey === key) this.encKey = undefined;
    if (this.decKey === key) this.decKey = undefined;
    this.direct?.forget(key);
  }
}

/** Addresses up to here are small integers in V8 (no allocation to pass one); above, each use boxes a HeapNumber. */
const SMALL_ADDRESS = 0x7fff_ffff;

/**
 * One key of one direction: 32 bytes in the JS heap; the contexts are the backend's. Packets below 2^31 go through
 * the backend's DirectChaCha when it has one (ChaCha20 and Poly1305 without EVP), the rest through EVP.
 *
 * Packet memory is passed by address where the address is a small integer (buffers from the brk heap); where it
 * is not (a buffer glibc mapped on its own, such as the socket's 16 MiB receive ring), V8 would box the number
 * for every argument it is passed as (16 bytes each, 64 per packet), so the data goes as a view of the packet's
 * buffer view (kept per view, no allocation in steady state) and the tag through the scratch block.
 */
class EvpAead implements Aead {
  private readonly key: Uint8Array;
  private disposed = false;

  constructor(
    private readonly shared: SharedAeadContexts,
    key: Uint8Array,
  ) {
    if (key.length !== 32) throw new WireGuardError('INVALID_KEY', 'ChaCha20-Poly1305 key must be 32 bytes');
    this.key = Uint8Array.from(key);
  }

  seal(counter: number, buf: Uint8Array, offset: number, length: number): void {
    this.sealFrom(counter, buf, offset, buf, offset, length);
  }

  sealFrom(counter: number, src: Uint8Array, srcOffset: number, dst: Uint8Array, dstOffset: number, length: number): void {
    if (this.disposed) throw new WireGuardError('CRYPTO_BACKEND', 'AEAD used after dispose');
    const sh = this.shared;
    const ssl = sh.ssl;
    const ctx = sh.enc;
    const s = viewBase(src) + viewOffset(src) + srcOffset;
    const d = dst === src ? s - srcOffset + dstOffset : viewBase(dst) + viewOffset(dst) + dstOffset;
    const small = s + length <= SMALL_ADDRESS && d + length + TAG_LEN <= SMALL_ADDRESS;
    const direct = sh.direct;
    if (small && direct !== undefined) {
      direct.seal(this.key, counter, s, d, length, dst, dstOffset + length);
      return;
    }
    const outl = sh.load(ctx, this.key, counter, 1);
    if (small) {
      if (length > 0) ssl.update(ctx, d, outl, s, length);
      ssl.final(ctx, d + length, outl);
      ssl.ctrl(ctx, EVP_CTRL_AEAD_GET_TAG, TAG_LEN, d + length);
      return;
    }
    if (length > 0) ssl.updateViews(ctx, sh.body(dst, dstOffset, length), outl, sh.body(src, srcOffset, length), length);
    ssl.final(ctx, sh.finalAddress, outl);
    ssl.ctrl(ctx, EVP_CTRL_AEAD_GET_TAG, TAG_LEN, sh.tagAddress);
    const tag = sh.scratch.bytes;
    const at = dstOffset + length;
    for (let i = 0; i < TAG_LEN; i++) dst[at + i] = tag[48 + i] ?? 0;
  }

  open(counter: number, buf: Uint8Array, offset: number, length: number): boolean {
    if (length < TAG_LEN || this.disposed) return false;
    const sh = this.shared;
    const ssl = sh.ssl;
    const ctx = sh.dec;
    const p = viewBase(buf) + viewOffset(buf) + offset;
    const n = length - TAG_LEN;
    const direct = sh.direct;
    if (p + length <= SMALL_ADDRESS && direct !== undefined) return direct.open(this.key, counter, p, length, buf, offset + n);
    const outl = sh.load(ctx, this.key, counter, 0);
    if (p + length <= SMALL_ADDRESS) {
      ssl.ctrl(ctx, EVP_CTRL_AEAD_SET_TAG, TAG_LEN, p + n);
      if (n > 0) ssl.update(ctx, p, outl, p, n);
      return ssl.final(ctx, p + n, outl) === 1;
    }
    const tag = sh.scratch.bytes;
    const at = offset + n;
    for (let i = 0; i < TAG_LEN; i++) tag[48 + i] = buf[at + i] ?? 0;
    ssl.ctrl(ctx, EVP_CTRL_AEAD_SET_TAG, TAG_LEN, sh.tagAddress);
    if (n > 0) {
      const body = sh.body(buf, offset, n);
      ssl.updateViews(ctx, body, outl, body, n);
    }
    return ssl.final(ctx, sh.finalAddress, outl) === 1;
  }

  dispose(): void {
    this.disposed = true;
    this.key.fill(0);
    this.shared.forget(this.key);
  }
}

/** AEAD with associated data, one shot (handshake). */
function aeadOnce(
  ssl: OpenSsl,
  cipher: number,
  scratch: { arena: NativeBlock; ctx: number },
  key: Uint8Array,
  nonce: number | Uint8Array,
  ad: Uint8Array,
  input: Uint8Array,
  enc: boolean,
): Uint8Array | null {
  const inLen = enc ? input.length : input.length - TAG_LEN;
  if (inLen < 0) return null;
  const size = 52 + ad.length + input.length + TAG_LEN;
  const mem = size <= scratch.arena.bytes.length ? scratch.arena : allocNative(size);
  const ctx = scratch.ctx;
  try {
    const b = mem.bytes;
    b.set(key, 0);
    if (typeof nonce === 'number') {
      const dv = new DataView(b.buffer, b.byteOffset, b.length);
      const lo = nonce >>> 0;
      dv.setUint32(36, lo, true);
      dv.setUint32(40, (nonce - lo) / 0x1_0000_0000, true);
    } else {
      if (nonce.length !== 12) return null;
      b.set(nonce, 32);
    }
    const adAt = 52;
    const dataAt = adAt + ad.length;
    b.set(ad, adAt);
    b.set(input, dataAt);
    const a = mem.address;
    const outl = a + 44;
    if (ssl.init(ctx, cipher, 0, a, a + 32, enc ? 1 : 0) !== 1) return null;
    if (!enc) ssl.ctrl(ctx, EVP_CTRL_AEAD_SET_TAG, TAG_LEN, a + dataAt + inLen);
    if (ad.length > 0 && ssl.update(ctx, 0, outl, a + adAt, ad.length) !== 1) return null;
    if (inLen > 0 && ssl.update(ctx, a + dataAt, outl, a + dataAt, inLen) !== 1) return null;
    if (ssl.final(ctx, a + dataAt + inLen, outl) !== 1) return null;
    if (enc) {
      ssl.ctrl(ctx, EVP_CTRL_AEAD_GET_TAG, TAG_LEN, a + dataAt + inLen);
      return b.slice(dataAt, dataAt + inLen + TAG_LEN);
    }
    return b.slice(dataAt, dataAt + inLen);
  } finally {
    mem.bytes.fill(0, 0, 32);
    if (mem !== scratch.arena) mem.free();
  }
}

/** OSSL_PARAM[] { "size": size_t 16 } for BLAKE2SMAC (struct ossl_param_st is 40 bytes on x86_64). */
function macSizeParams(): NativeBlock {
  const p = allocNative(128);
  const dv = new DataView(p.bytes.buffer, p.bytes.byteOffset, 128);
  const OSSL_PARAM_UNSIGNED_INTEGER = 2;
  p.bytes.set(new TextEncoder().encode('size\0'), 96);
  dv.setBigUint64(88, 16n, true);
  dv.setBigUint64(0, BigInt(p.address + 96), true); // key
  dv.setUint32(8, OSSL_PARAM_UNSIGNED_INTEGER, true); // data_type
  dv.setBigUint64(16, BigInt(p.address + 88), true); // data
  dv.setBigUint64(24, 8n, true); // data_size
  dv.setBigUint64(32, 0xffff_ffff_ffff_ffffn, true); // return_size = OSSL_PARAM_UNMODIFIED
  // entry 1 (bytes 40..80) stays zero: the terminator
  return p;
}

/**
 * The transport AEAD without EVP (chacha-poly-direct.ts), when the library exports ChaCha20 and Poly1305 and it agrees with EVP's own seal on every padding case (lengths 0 to
 * 1,232, counters below and above 2^32), opens what it sealed, and refuses (untouched) what was changed after.
 * Otherwise undefined: EVP seals and opens every packet.
 */
function soundDirect(ssl: OpenSsl, evpSeal: (key: Uint8Array, counter: number, plain: Uint8Array) => Uint8Array | null): DirectChaCha | undefined {
  if (ssl.direct === undefined) return undefined;
  const direct = new DirectChaCha(ssl.direct);
  const mem = allocNative(2048);
  const key = Uint8Array.from({ length: 32 }, (_, i) => (i * 29 + 3) & 0xff);
  let sound = false;
  try {
    if (mem.address + 2048 > SMALL_ADDRESS) return undefined;
    const a = mem.address;
    const b = mem.bytes;
    for (const len of [0, 1, 15, 16, 17, 45, 64, 1232]) {
      for (const counter of [0, 7, 0x1_0000_0005]) {
        const plain = Uint8Array.from({ length: len }, (_, i) => (i * 131 + counter) & 0xff);
        const want = evpSeal(key, counter, plain);
        b.set(plain, 0);
        direct.seal(key, counter, a, a, len, b, len);
        const sealed = b.slice(0, len + TAG_LEN);
        if (want === null || !equalBytes(sealed, want)) return undefined;
        if (!direct.open(key, counter, a, len + TAG_LEN, b, len) || !equalBytes(b.subarray(0, len), plain)) return undefined;
        sealed[len] = (sealed[len] ?? 0) ^ 1;
        b.set(sealed, 0);
        if (direct.open(key, counter, a, len + TAG_LEN, b, len) || !equalBytes(b.subarray(0, len + TAG_LEN), sealed)) return undefined;
      }
    }
    sound = true;
    return direct;
  } finally {
    direct.forget(key);
    if (!sound) direct.free();
    mem.free();
  }
}

export interface OpenSslBackendOptions {
  /**
   * Transport data: `auto` (ChaCha20 and Poly1305 without EVP where they are exported and pass the self-test) or
   * `evp`. Default: `evp` when the environment says `POSTERN_AEAD=evp`, else `auto`.
   */
  readonly transport?: 'auto' | 'evp';
}

export function createOpenSslBackend(options: OpenSslBackendOptions = {}): CryptoBackend {
  const transportAead = options.transport ?? (process.env['POSTERN_AEAD'] === 'evp' ? 'evp' : 'auto');
  const ssl = loadOpenSsl();
  const cipher = ssl.chacha();
  const md = ssl.blake2s256();
  if (cipher === 0 || md === 0) throw new WireGuardError('CRYPTO_BACKEND', 'OpenSSL lacks ChaCha20-Poly1305 or BLAKE2s');
  const out = allocNative(64);
  const macParams = macSizeParams();
  const ARENA = 2048;
  const arena = allocNative(ARENA);
  const once = { arena: allocNative(ARENA), ctx: ssl.ctxNew() };
  const transport = new SharedAeadContexts(ssl, cipher);
  if (once.ctx === 0) throw new WireGuardError('CRYPTO_BACKEND', 'EVP_CIPHER_CTX_new failed');
  if (transportAead === 'auto') transport.direct = soundDirect(ssl, (key, counter, plain) => aeadOnce(ssl, cipher, once, key, counter, new Uint8Array(0), plain, true));
  /** Runs `call(keyAddress, dataAddress)` with key and data copied into native memory. */
  const keyed = (key: Uint8Array, data: Uint8Array, call: (k: number, d: number) => boolean, outLen: number, what: string): Uint8Array => {
    const input = key.length + data.length <= ARENA ? arena : allocNative(key.length + data.length);
    input.bytes.set(key, 0);
    input.bytes.set(data, key.length);
    const ok = call(input.address, input.address + key.length);
    if (input !== arena) input.free();
    if (!ok) throw new WireGuardError('CRYPTO_BACKEND', `${what} failed`);
    return out.bytes.slice(0, outLen);
  };
  return {
    name: transport.direct === undefined ? 'openssl-evp' : 'openssl-direct',
    aead: (key) => new EvpAead(transport, key),
    seal(key, nonce, ad, plaintext): Uint8Array {
      const r = aeadOnce(ssl, cipher, once, key, nonce, ad, plaintext, true);
      if (r === null) throw new WireGuardError('CRYPTO_BACKEND', 'EVP seal failed');
      return r;
    },
    open: (key, nonce, ad, ciphertext) => aeadOnce(ssl, cipher, once, key, nonce, ad, ciphertext, false),
    // handshake-path inputs are copied into one native arena (no per-call address lookups of fresh arrays)
    hash(...parts: Uint8Array[]): Uint8Array {
      let len = 0;
      for (const p of parts) len += p.length;
      const input = len <= ARENA ? arena : allocNative(len);
      let o = 0;
      for (const p of parts) {
        input.bytes.set(p, o);
        o += p.length;
      }
      const ok = ssl.digest(0, 'BLAKE2S-256', 0, input.address, len, out.address, 0) === 1;
      if (input !== arena) input.free();
      if (!ok) throw new WireGuardError('CRYPTO_BACKEND', 'EVP_Q_digest BLAKE2S-256 failed');
      return out.bytes.slice(0, 32);
    },
    hmac(key, data): Uint8Array {
      return keyed(key, data, (k, d) => ssl.hmac(md, k, key.length, d, data.length, out.address, 0) !== 0, 32, 'HMAC-BLAKE2s');
    },
    mac(key, data): Uint8Array {
      return keyed(key, data, (k, d) => ssl.qmac(0, 'BLAKE2SMAC', 0, 0, macParams.address, k, key.length, d, data.length, out.address, 16, 0) !== 0, 16, 'BLAKE2SMAC');
    },
    xseal: (key, nonce, ad, plaintext) => xchacha20poly1305(key, nonce, ad).encrypt(plaintext),
    xopen(key, nonce, ad, ciphertext): Uint8Array | null {
      try {
        return xchacha20poly1305(key, nonce, ad).decrypt(ciphertext);
      } catch {
        return null;
      }
    },
  };
}

let defaultBackend: CryptoBackend | undefined;

/** The process-wide backend (created on first use). */
export function cryptoBackend(): CryptoBackend {
  defaultBackend ??= createOpenSslBackend();
  return defaultBackend;
}
