// @ts-check
// TUN offloads (IFF_VNET_HDR): split the super-packets the kernel hands us (TSO/USO, partial checksums) into
// MTU-sized packets, and coalesce consecutive in-order TCP segments of one flow into one super-packet for a
// single write (GRO), and, where the device takes USO, consecutive same-size UDP datagrams of one flow into one
// UDP GSO write, the way wireguard-go's tun/offload_linux.go does.
//
// This is a library module, not a worker entry point: it is named `*.worker.mjs` so that the release build
// (tools/scripts/build-app.mjs copies every `*.worker.mjs` next to main.js) ships it beside tun.worker.mjs,
// which imports it. Self-contained and pure (no imports, no allocation on the hot path), so the worker and
// the TypeScript tests import the very same code.
//
// Every function takes bytes and returns numbers: a negative return is an OFFLOAD_* error code (the input is
// malformed); nothing here throws on bad input.

/** Bytes of `struct virtio_net_hdr` in front of every read and write. */
export const VNET_HDR_LEN = 10;
export const VIRTIO_NET_HDR_F_NEEDS_CSUM = 1;
export const GSO_NONE = 0;
export const GSO_TCPV4 = 1;
export const GSO_UDP = 3;
export const GSO_TCPV6 = 4;
export const GSO_UDP_L4 = 5;
export const GSO_ECN = 0x80;

/** Shorter than the virtio header plus the headers it announces. */
export const OFFLOAD_SHORT = -1;
/** Unknown gso_type or flags, checksum offsets outside the packet, gso_size 0. */
export const OFFLOAD_BAD_VNET = -2;
/** The IP/transport headers do not match the gso_type (version, protocol, header lengths, extension headers). */
export const OFFLOAD_BAD_IP = -3;
/** A segment would not fit in a slot (the caller's maximum packet size). */
export const OFFLOAD_TOO_BIG = -4;
/** More segments than the caller can take at all. */
export const OFFLOAD_TOO_MANY = -5;

/** Largest IP packet a coalesced write may carry (IPv4 total length / IPv6 payload length are 16 bits). */
export const MAX_SUPER_PACKET = 65535;
/** Most datagrams in one UDP GSO write: the kernel refuses more than UDP_MAX_SEGMENTS (64 before Linux 6.9). */
export const MAX_UDP_SEGMENTS = 64;

const TCP_FIN = 0x01;
const TCP_PSH = 0x08;
const TCP_ACK = 0x10;
const TCP_CWR = 0x80;

/** @param {Uint8Array} b @param {number} o */
function u16(b, o) {
  return ((b[o] ?? 0) << 8) | (b[o + 1] ?? 0);
}
/** @param {Uint8Array} b @param {number} o */
function u16le(b, o) {
  return (b[o] ?? 0) | ((b[o + 1] ?? 0) << 8);
}
/** @param {Uint8Array} b @param {number} o */
function u32(b, o) {
  return (((b[o] ?? 0) << 24) | ((b[o + 1] ?? 0) << 16) | ((b[o + 2] ?? 0) << 8) | (b[o + 3] ?? 0)) >>> 0;
}
/** @param {Uint8Array} b @param {number} o @param {number} v */
function put16(b, o, v) {
  b[o] = (v >>> 8) & 0xff;
  b[o + 1] = v & 0xff;
}
/** @param {Uint8Array} b @param {number} o @param {number} v */
function put16le(b, o, v) {
  b[o] = v & 0xff;
  b[o + 1] = (v >>> 8) & 0xff;
}
/** @param {Uint8Array} b @param {number} o @param {number} v */
function put32(b, o, v) {
  b[o] = (v >>> 24) & 0xff;
  b[o + 1] = (v >>> 16) & 0xff;
  b[o + 2] = (v >>> 8) & 0xff;
  b[o + 3] = v & 0xff;
}

// Copies between buffers go through `set(view)`; the views are reused from a small direct-mapped table keyed
// by (absolute offset, length) instead of one `subarray` per packet: in steady state the same ring slots and
// segment sizes come back (the same scheme as ViewCache in @postern/bufferpool; this file stays
// self-contained because workers load it). What each entry covers is kept beside it and the parent's buffer
// and byteOffset are read once per new parent: Node 20's V8 does not inline the typed-array getters `buffer`
// and `byteOffset` (each read is a generic load and a builtin call, 25-50 ns here).
const VIEW_BITS = 13;
/** @type {(Uint8Array | undefined)[]} */
const viewTable = new Array(1 << VIEW_BITS).fill(undefined);
/** @type {(ArrayBufferLike | undefined)[]} */
const viewBuffers = new Array(1 << VIEW_BITS).fill(undefined);
const viewOffsets = new Float64Array(1 << VIEW_BITS);
const viewLengths = new Float64Array(1 << VIEW_BITS);

// The two buffers baseOf last read (a split or a coalesce works between one source and one destination).
/** @type {Uint8Array | undefined} */
let viewA;
/** @type {Uint8Array | undefined} */
let viewB;
/** @type {ArrayBufferLike} */
let bufferA = new ArrayBuffer(0);
/** @type {ArrayBufferLike} */
let bufferB = bufferA;
let offsetA = 0;
let offsetB = 0;
/** The buffer of the view baseOf was last called with. @type {ArrayBufferLike} */
let lastBuffer = bufferA;

/**
 * `b.byteOffset`, with `b.buffer` left in `lastBuffer`; the getters are read once per new `b`.
 * @param {Uint8Array} b
 * @returns {number}
 */
function baseOf(b) {
  if (b === viewA) {
    lastBuffer = bufferA;
    return offsetA;
  }
  if (b === viewB) {
    lastBuffer = bufferB;
    return offsetB;
  }
  viewB = viewA;
  bufferB = bufferA;
  offsetB = offsetA;
  viewA = b;
  bufferA = b.buffer;
  offsetA = b.byteOffset;
  lastBuffer = bufferA;
  return offsetA;
}

/**
 * `b.subarray(start, end)` (a valid range), reused when the same bytes were viewed before.
 * @param {Uint8Array} b @param {number} start @param {number} end
 * @returns {Uint8Array}
 */
export function viewOf(b, start, end) {
  const abs = baseOf(b) + start;
  const len = end - start;
  const i = Math.imul(abs ^ Math.imul(len, 0x45d9f3b), 0x9e3779b1) >>> (32 - VIEW_BITS);
  if (viewBuffers[i] === lastBuffer && viewOffsets[i] === abs && viewLengths[i] === len) return /** @type {Uint8Array} */ (viewTable[i]);
  const fresh = b.subarray(start, end);
  viewTable[i] = fresh;
  viewBuffers[i] = lastBuffer;
  viewOffsets[i] = abs;
  viewLengths[i] = len;
  return fresh;
}

// --- The checksum in WebAssembly SIMD --------------------------------------------------------------------
// `sum(off, len)` over the module's memory (128 KiB of its own): the one's-complement sum of [off, off + len) as
// 16-bit big-endian words (an odd last byte padded with zero), folded to 16 bits, not inverted. Eight lanes of
// little-endian 16-bit words a step (i32x4.extadd_pairwise_i16x8_u, two accumulators of 32 bytes a round), then
// the lanes folded, the 16-bit tail, the odd byte, and a byte swap (RFC 1071: the sum is byte-order independent).
// 63 ns for a 1,228-byte segment against 540-620 ns for sum16's JS loop (node 20, this machine; performance.md,
// twelfth round). It reads only the module's memory, so the TUN reader reads its super-packets into
// `simdScratch` and the TSO split sums each segment's payload where it was read.
const X = 0xfd; // SIMD prefix
/** @param {number} i */ const get = (i) => [0x20, i];
/** @param {number} i */ const put = (i) => [0x21, i];
/** @param {number} i @param {number} n */ const addTo = (i, n) => [...get(i), 0x41, n, 0x6a, ...put(i)]; // i += n (n < 64)
/** @param {number} off */ const vload = (off) => [X, 0x00, 0x00, off]; // v128.load align=1, offset
const PAIRS = [X, 0x7f]; // i32x4.extadd_pairwise_i16x8_u
const ADD4 = [X, 0xae, 0x01]; // i32x4.add
// Params p, n; locals end, s (i32), a, b (v128).
const [P, N, END, S, A, B] = [0, 1, 2, 3, 4, 5];
/** a += pairs(load(p + off)) @param {number} acc @param {number} off */
const lane = (acc, off) => [...get(acc), ...get(P), ...vload(off), ...PAIRS, ...ADD4, ...put(acc)];
const FOLD = [...get(S), 0x41, 0xff, 0xff, 0x03, 0x71, ...get(S), 0x41, 0x10, 0x76, 0x6a, ...put(S)]; // s = (s & 0xffff) + (s >>> 16)
const SUM_BODY = [
  0x02, 0x02, 0x7f, 0x02, 0x7b, // locals: 2 x i32, 2 x v128
  ...get(P), ...get(N), 0x41, 0x60, 0x71, 0x6a, ...put(END), // end = p + (n & -32)
  0x02, 0x40, 0x03, 0x40, ...get(P), ...get(END), 0x4f, 0x0d, 0x01, // block loop: br_if 1 (p >= end)
  ...lane(A, 0), ...lane(B, 16), ...addTo(P, 32), 0x0c, 0x00, 0x0b, 0x0b, // 32 bytes; br 0; end end
  ...get(P), ...get(N), 0x41, 0x1f, 0x71, 0x6a, ...put(END), // end = p + (n & 31)
  ...get(END), ...get(P), 0x6b, 0x41, 0x10, 0x4f, 0x04, 0x40, ...lane(A, 0), ...addTo(P, 16), 0x0b, // if end - p >= 16: 16 bytes
  ...get(A), ...get(B), ...ADD4, ...put(A), // a += b
  ...get(A), X, 0x0c, ...[0xff, 0xff, 0, 0, 0xff, 0xff, 0, 0, 0xff, 0xff, 0, 0, 0xff, 0xff, 0, 0], X, 0x4e, // (a & 0xffff)
  ...get(A), 0x41, 0x10, X, 0xad, 0x01, ...ADD4, ...put(A), //   + (a >>> 16), lane by lane
  ...get(A), X, 0x1b, 0, ...get(A), X, 0x1b, 1, 0x6a, ...get(A), X, 0x1b, 2, 0x6a, ...get(A), X, 0x1b, 3, 0x6a, ...put(S), // s = the lanes' sum
  0x02, 0x40, 0x03, 0x40, ...get(END), ...get(P), 0x6b, 0x41, 0x02, 0x48, 0x0d, 0x01, // block loop: br_if 1 (end - p < 2)
  ...get(S), ...get(P), 0x2f, 0x00, 0x00, 0x6a, ...put(S), ...addTo(P, 2), 0x0c, 0x00, 0x0b, 0x0b, // s += load16_u(p); p += 2; br 0
  ...get(P), ...get(END), 0x49, 0x04, 0x40, ...get(S), ...get(P), 0x2d, 0x00, 0x00, 0x6a, ...put(S), 0x0b, // if p < end: s += load8_u(p)
  ...FOLD, ...FOLD,
  ...get(S), 0x41, 0xff, 0x01, 0x71, 0x41, 0x08, 0x74, ...get(S), 0x41, 0x08, 0x76, 0x72, // (s & 0xff) << 8 | s >>> 8
  0x0b,
];
/** A vector: its length (two-byte LEB128: fewer than 16,384 bytes), then its bytes. @param {number[]} bytes */
const vec = (bytes) => [(bytes.length & 0x7f) | 0x80, bytes.length >>> 7, ...bytes];
/** @param {string} text */
const name = (text) => [text.length, ...Array.from(text, (c) => c.charCodeAt(0))];
const SUM_MODULE = new Uint8Array([
  0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00, // \0asm, version 1
  1, ...vec([1, 0x60, 2, 0x7f, 0x7f, 1, 0x7f]), // type section: type 0 is (i32, i32) -> i32
  3, ...vec([1, 0]), // function section: function 0 has type 0
  5, ...vec([1, 0x00, 2]), // memory section: 2 pages (128 KiB: a 64 KiB super-packet and its virtio header)
  7, ...vec([2, ...name('sum'), 0x00, 0, ...name('memory'), 0x02, 0]), // export section: function 0, memory 0
  10, ...vec([1, ...vec(SUM_BODY)]), // code section: one body
]);

/** The compiled module's `sum`, or undefined where WebAssembly SIMD is not available (sum16 then runs in JS). */
let simdSum = /** @type {((off: number, len: number) => number) | undefined} */ (undefined);
/** Its memory. @type {ArrayBufferLike | undefined} */
let simdBuffer;
try {
  // The global's types are not in the project's libs (no DOM); the two constructors used, typed here.
  const wasm = /** @type {{ Module: new (bytes: Uint8Array) => object, Instance: new (m: object) => { exports: Record<string, unknown> } }} */ (
    Reflect.get(globalThis, 'WebAssembly')
  );
  const instance = new wasm.Instance(new wasm.Module(SUM_MODULE));
  simdSum = /** @type {(off: number, len: number) => number} */ (instance.exports['sum']);
  simdBuffer = /** @type {{ buffer: ArrayBuffer }} */ (instance.exports['memory']).buffer;
} catch {
  simdSum = undefined;
}

/** Which checksum `sum16` computes in `simdScratch` memory: `wasm-simd`, or `js` where that did not compile. */
export function checksumBackend() {
  return simdSum === undefined ? 'js' : 'wasm-simd';
}

/**
 * A buffer of `size` bytes (at most 128 KiB) whose checksums `sum16` computes with WebAssembly SIMD: the module's
 * memory, one per thread that loads this file, so one scratch per thread. A plain buffer where WebAssembly SIMD
 * is not available.
 * @param {number} size
 * @returns {Uint8Array}
 */
export function simdScratch(size) {
  if (size > 2 * 65536) throw new RangeError(`simdScratch: ${String(size)} bytes is more than 128 KiB`);
  return simdBuffer === undefined ? new Uint8Array(size) : new Uint8Array(simdBuffer, 0, size);
}

/** @type {ArrayBufferLike | undefined} */
let wordsOf;
/** @type {Uint32Array} */
let words = new Uint32Array(0);

/**
 * The unfolded one's-complement sum of `b[off, off + len)` as 16-bit big-endian words (an odd last byte is
 * padded with zero), plus `initial`. In `simdScratch` memory, WebAssembly SIMD; elsewhere 32-bit words where
 * the memory is 4-byte aligned.
 * @param {Uint8Array} b @param {number} off @param {number} len @param {number} initial
 * @returns {number}
 */
export function sum16(b, off, len, initial) {
  const base = baseOf(b);
  if (lastBuffer === simdBuffer && simdSum !== undefined && off >= 0 && len >= 0 && off + len <= b.length) return initial + simdSum(base + off, len);
  let s = initial;
  let i = off;
  const end = off + len;
  while (((base + i) & 3) !== 0 && i + 1 < end) {
    s += ((b[i] ?? 0) << 8) | (b[i + 1] ?? 0);
    i += 2;
  }
  if (((base + i) & 3) === 0 && end - i >= 64) {
    if (wordsOf !== lastBuffer) {
      wordsOf = lastBuffer;
      words = new Uint32Array(lastBuffer, 0, lastBuffer.byteLength >>> 2);
    }
    // Little-endian 32-bit words: each half is a byte-swapped big-endian 16-bit word; sum, fold, swap back.
    // Four words a step into two sums that stay small integers (folded every 2^14 words: no boxed number even
    // before the function is optimised, which the worker's no-GC test sees), the load known in bounds (no
    // `?? 0`: that made V8 keep an out-of-bounds path), the array in a local: 0.72x the time of the loop before
    // (`tun:bench` checksum.bench.ts; performance.md, tenth round).
    const ws = words;
    let le = 0;
    let w = (base + i) >>> 2;
    const wEnd = w + ((end - i) >>> 2);
    while (w < wEnd) {
      const stop = Math.min(wEnd, w + 0x4000);
      let lo = 0;
      let hi = 0;
      for (; w + 3 < stop; w += 4) {
        const a = /** @type {number} */ (ws[w]);
        const b2 = /** @type {number} */ (ws[w + 1]);
        const c = /** @type {number} */ (ws[w + 2]);
        const d = /** @type {number} */ (ws[w + 3]);
        lo += (a & 0xffff) + (b2 & 0xffff) + (c & 0xffff) + (d & 0xffff);
        hi += (a >>> 16) + (b2 >>> 16) + (c >>> 16) + (d >>> 16);
      }
      for (; w < stop; w++) {
        const a = /** @type {number} */ (ws[w]);
        lo += a & 0xffff;
        hi += a >>> 16;
      }
      le = fold16(le + lo + hi);
    }
    i = (w << 2) - base;
    s += ((le & 0xff) << 8) | (le >>> 8);
  }
  for (; i + 1 < end; i += 2) s += ((b[i] ?? 0) << 8) | (b[i + 1] ?? 0);
  if (i < end) s += (b[i] ?? 0) << 8;
  return s;
}

/** Folds an unfolded sum to 16 bits (not inverted). @param {number} s */
export function fold16(s) {
  while (s > 0xffff) s = (s & 0xffff) + Math.floor(s / 0x10000);
  return s;
}

/**
 * The unfolded pseudo-header sum of an IPv4/IPv6 packet starting at `ip` for `proto` and `l4len`.
 * @param {Uint8Array} b @param {number} ip @param {boolean} v6 @param {number} proto @param {number} l4len
 */
function pseudoSum(b, ip, v6, proto, l4len) {
  return v6 ? sum16(b, ip + 8, 32, proto + l4len) : sum16(b, ip + 12, 8, proto + l4len);
}

/** Recomputes the IPv4 header checksum in place. @param {Uint8Array} b @param {number} ip @param {number} ihl */
function ipv4HeaderChecksum(b, ip, ihl) {
  b[ip + 10] = 0;
  b[ip + 11] = 0;
  put16(b, ip + 10, ~fold16(sum16(b, ip, ihl, 0)) & 0xffff);
}

// Parsed header of the last packet measured (module scratch: no allocation per packet).
const hdr = { gsoType: 0, flags: 0, gsoSize: 0, csumStart: 0, csumOffset: 0, v6: false, ihl: 0, headers: 0, proto: 0 };

/**
 * Validates the virtio header and packet in `src[0, n)` and parses it into `hdr`.
 * @param {Uint8Array} src @param {number} n
 * @returns {number} 0 or an OFFLOAD_* error
 */
function parse(src, n) {
  if (n < VNET_HDR_LEN || n > src.length) return OFFLOAD_SHORT;
  const flags = src[0] ?? 0;
  const gsoType = (src[1] ?? 0) & ~GSO_ECN;
  hdr.flags = flags;
  hdr.gsoType = gsoType;
  hdr.gsoSize = u16le(src, 4);
  hdr.csumStart = u16le(src, 6);
  hdr.csumOffset = u16le(src, 8);
  if ((flags & ~0x07) !== 0) return OFFLOAD_BAD_VNET; // NEEDS_CSUM, DATA_VALID, RSC_INFO
  const len = n - VNET_HDR_LEN;
  if (gsoType === GSO_NONE) {
    if ((flags & VIRTIO_NET_HDR_F_NEEDS_CSUM) !== 0 && hdr.csumStart + hdr.csumOffset + 2 > len) return OFFLOAD_BAD_VNET;
    hdr.headers = 0;
    return 0;
  }
  if (gsoType !== GSO_TCPV4 && gsoType !== GSO_TCPV6 && gsoType !== GSO_UDP_L4) return OFFLOAD_BAD_VNET;
  if ((flags & VIRTIO_NET_HDR_F_NEEDS_CSUM) === 0 || hdr.gsoSize === 0) return OFFLOAD_BAD_VNET;
  const p = VNET_HDR_LEN;
  if (len < 1) return OFFLOAD_SHORT;
  const version = (src[p] ?? 0) >> 4;
  let ihl = 0;
  let proto = 0;
  if (version === 4) {
    ihl = ((src[p] ?? 0) & 0x0f) * 4;
    if (ihl < 20) return OFFLOAD_BAD_IP;
    if (len < ihl) return OFFLOAD_SHORT;
    proto = src[p + 9] ?? 0;
    if (gsoType === GSO_TCPV6) return OFFLOAD_BAD_IP;
  } else if (version === 6) {
    ihl = 40;
    if (len < ihl) return OFFLOAD_SHORT;
    proto = src[p + 6] ?? 0; // extension headers are not supported: the next header must be TCP/UDP
    if (gsoType === GSO_TCPV4) return OFFLOAD_BAD_IP;
  } else {
    return OFFLOAD_BAD_IP;
  }
  const wantProto = gsoType === GSO_UDP_L4 ? 17 : 6;
  if (proto !== wantProto || hdr.csumStart !== ihl) return OFFLOAD_BAD_IP;
  if (hdr.csumOffset !== (proto === 6 ? 16 : 6)) return OFFLOAD_BAD_VNET;
  let l4h = 8;
  if (proto === 6) {
    if (len < ihl + 20) return OFFLOAD_SHORT;
    l4h = ((src[p + ihl + 12] ?? 0) >> 4) * 4;
    if (l4h < 20) return OFFLOAD_BAD_IP;
  }
  if (len < ihl + l4h) return OFFLOAD_SHORT;
  hdr.v6 = version === 6;
  hdr.ihl = ihl;
  hdr.proto = proto;
  // hdr_len as sent by the kernel is a hint (wrong on some kernels); the parsed headers are authoritative.
  hdr.headers = ihl + l4h;
  return 0;
}

/**
 * How many packets `src[0, n)` (virtio header + packet, as read from the TUN) splits into, each at most
 * `maxSize` bytes; or a negative OFFLOAD_* error.
 * @param {Uint8Array} src @param {number} n @param {number} maxSize
 * @returns {number}
 */
export function segmentCount(src, n, maxSize) {
  const e = parse(src, n);
  if (e < 0) return e;
  const len = n - VNET_HDR_LEN;
  if (hdr.gsoType === GSO_NONE) return len === 0 ? OFFLOAD_SHORT : len > maxSize ? OFFLOAD_TOO_BIG : 1; // a virtio header with no packet behind it
  const payload = len - hdr.headers;
  if (hdr.headers + Math.min(hdr.gsoSize, payload) > maxSize) return OFFLOAD_TOO_BIG;
  return payload <= 0 ? 1 : Math.ceil(payload / hdr.gsoSize);
}

/**
 * splitPacket's copy hook for a destination at native address `dstAddr` (the TUN reader's ring): `memcpy` is libc's,
 * declared `uintptr_t memcpy(uintptr_t dst, void *src, size_t n)` through koffi. The source goes as one of
 * viewOf's cached views, not as an address: `src` (the reader's scratch, WebAssembly memory) lies above 2^31,
 * where a computed address is a heap number allocated on every call. Nothing is allocated per copy as long as
 * `dstAddr` plus an offset is a small integer (the apps' rings are below 2^31).
 * @param {(dst: number, src: Uint8Array, n: number) => unknown} memcpy @param {number} dstAddr @param {Uint8Array} src
 * @returns {(dstOff: number, srcOff: number, len: number) => void}
 */
export function memcpyInto(memcpy, dstAddr, src) {
  return (dstOff, srcOff, len) => {
    memcpy(dstAddr + dstOff, viewOf(src, srcOff, srcOff + len), len);
  };
}

/**
 * Moves `src[srcOff, srcOff + len)` to `dst[dstOff]`: through `copy` when given (see splitPacket), else `dst.set`.
 * @param {Uint8Array} src @param {Uint8Array} dst
 * @param {((dstOff: number, srcOff: number, len: number) => void) | undefined} copy
 * @param {number} dstOff @param {number} srcOff @param {number} len
 */
function move(src, dst, copy, dstOff, srcOff, len) {
  if (copy === undefined) dst.set(viewOf(src, srcOff, srcOff + len), dstOff);
  else copy(dstOff, srcOff, len);
}

/**
 * Splits `src[0, n)` (virtio header + packet) into plain IP packets with complete checksums, the i-th written
 * at `dst[offs[i]]`, its length stored in `lens[i]`. TCP: sequence numbers advance by gso_size, FIN/PSH only
 * on the last segment, CWR only on the first; IPv4 ids increment; lengths and checksums recomputed. UDP (USO):
 * UDP length and checksum per datagram. Partial checksums (NEEDS_CSUM without GSO) are completed.
 * @param {Uint8Array} src @param {number} n
 * @param {Uint8Array} dst @param {ArrayLike<number>} offs @param {Int32Array | number[]} lens
 * @param {number} maxSize the most bytes each destination slot takes
 * @param {number} maxCount the most segments the destination takes
 * @param {((dstOff: number, srcOff: number, len: number) => void) | undefined} [copy] moves the packets' and payloads'
 *   bytes from `src` to `dst` (default `dst.set`). The TUN reader passes libc's memcpy: V8 moves the bytes of a
 *   SharedArrayBuffer with relaxed atomic loads and stores, one byte at a time when source and destination are not
 *   8-byte co-aligned (here they never are: the virtio header is 10 bytes, a TCP payload 1,228): 439 ns per
 *   1,228 bytes, against 107 co-aligned and 73 for memcpy through koffi.
 * @returns {number} segments written, or a negative OFFLOAD_* error (nothing written then)
 */
export function splitPacket(src, n, dst, offs, lens, maxSize, maxCount, copy) {
  const count = segmentCount(src, n, maxSize);
  if (count < 0) return count;
  if (count > maxCount || count > offs.length) return OFFLOAD_TOO_MANY;
  const p = VNET_HDR_LEN;
  const len = n - p;
  if (hdr.gsoType === GSO_NONE) {
    const o = offs[0] ?? 0;
    if (o < 0 || o + len > dst.length) return OFFLOAD_TOO_MANY;
    move(src, dst, copy, o, p, len);
    if ((hdr.flags & VIRTIO_NET_HDR_F_NEEDS_CSUM) !== 0) {
      // The field holds the pseudo-header sum; the checksum covers [csum_start, end) including it.
      const at = o + hdr.csumStart + hdr.csumOffset;
      let c = ~fold16(sum16(src, p + hdr.csumStart, len - hdr.csumStart, 0)) & 0xffff; // the source's bytes: the same
      if (c === 0 && hdr.csumOffset === 6) c = 0xffff; // UDP: 0 means "no checksum"
      put16(dst, at, c);
    }
    lens[0] = len;
    return 1;
  }
  const ihl = hdr.ihl;
  const headers = hdr.headers;
  const gsoSize = hdr.gsoSize;
  const v6 = hdr.v6;
  const proto = hdr.proto;
  const l4 = ihl;
  const payload = Math.max(0, len - headers);
  const id0 = v6 ? 0 : u16(src, p + 4);
  const seq0 = proto === 6 ? u32(src, p + l4 + 4) : 0;
  const flags0 = proto === 6 ? (src[p + l4 + 13] ?? 0) : 0;
  // Each checksum is the rewritten headers' sum (in dst) plus the payload's, read where the super-packet lies
  // (`simdScratch` in the TUN reader: SIMD). The transport header's length is a multiple of 4 (TCP) or 8 (UDP),
  // so the payload starts on a 16-bit word of the segment's sum.
  for (let i = 0; i < count; i++) {
    const o = offs[i] ?? 0;
    const start = i * gsoSize;
    const plen = Math.min(gsoSize, payload - start);
    const segLen = headers + Math.max(0, plen);
    if (o < 0 || o + segLen > dst.length) return OFFLOAD_TOO_MANY;
    dst.set(viewOf(src, p, p + headers), o);
    if (plen > 0) move(src, dst, copy, o + headers, p + headers + start, plen);
    if (v6) {
      put16(dst, o + 4, segLen - 40);
    } else {
      put16(dst, o + 2, segLen);
      put16(dst, o + 4, (id0 + i) & 0xffff);
      ipv4HeaderChecksum(dst, o, ihl);
    }
    const l4len = segLen - l4;
    let c;
    if (proto === 6) {
      put32(dst, o + l4 + 4, (seq0 + start) >>> 0);
      let f = flags0;
      if (i !== count - 1) f &= ~(TCP_FIN | TCP_PSH);
      if (i !== 0) f &= ~TCP_CWR;
      dst[o + l4 + 13] = f;
      dst[o + l4 + 16] = 0;
      dst[o + l4 + 17] = 0;
      c = ~fold16(sum16(dst, o + l4, headers - l4, pseudoSum(dst, o, v6, 6, l4len)) + sum16(src, p + headers + start, plen, 0)) & 0xffff;
      put16(dst, o + l4 + 16, c);
    } else {
      put16(dst, o + l4 + 4, l4len);
      dst[o + l4 + 6] = 0;
      dst[o + l4 + 7] = 0;
      c = ~fold16(sum16(dst, o + l4, headers - l4, pseudoSum(dst, o, v6, 17, l4len)) + sum16(src, p + headers + start, plen, 0)) & 0xffff;
      put16(dst, o + l4 + 6, c === 0 ? 0xffff : c);
    }
    lens[i] = segLen;
  }
  return count;
}

// --- GRO: coalescing outbound TCP segments --------------------------------------------------------------

// The TCP candidate last measured by `tcpCandidate` (module scratch).
const cand = { v6: false, ihl: 0, thl: 0, payload: 0, flags: 0 };

/**
 * Whether `b[o, o + len)` is a TCP segment that may head or join a coalesced packet: IPv4 without options
 * and not fragmented, or IPv6 without extension headers; lengths consistent; a payload; flags ACK or ACK|PSH.
 * Fills `cand`.
 * @param {Uint8Array} b @param {number} o @param {number} len
 */
function tcpCandidate(b, o, len) {
  if (len < 40 || o < 0 || o + len > b.length) return false;
  const v = b[o] ?? 0;
  let ihl;
  if (v === 0x45) {
    if ((b[o + 9] ?? 0) !== 6 || u16(b, o + 2) !== len) return false;
    if ((u16(b, o + 6) & 0x3fff) !== 0) return false; // MF or a fragment offset
    ihl = 20;
    cand.v6 = false;
  } else if (v >> 4 === 6) {
    if (len < 60 || (b[o + 6] ?? 0) !== 6 || u16(b, o + 4) + 40 !== len) return false;
    ihl = 40;
    cand.v6 = true;
  } else {
    return false;
  }
  const thl = ((b[o + ihl + 12] ?? 0) >> 4) * 4;
  if (thl < 20 || ihl + thl >= len) return false;
  const flags = b[o + ihl + 13] ?? 0;
  if (flags !== TCP_ACK && flags !== (TCP_ACK | TCP_PSH)) return false;
  cand.ihl = ihl;
  cand.thl = thl;
  cand.payload = len - ihl - thl;
  cand.flags = flags;
  return true;
}

/**
 * Whether the headers of segment `b` (at `ob`) match those of the head segment `a` (at `oa`) for coalescing:
 * same addresses, ports, IP fields that must agree (ToS/DF/TTL; traffic class/flow label/hop limit), ack,
 * window and options. Both are candidates with the same header lengths.
 * @param {Uint8Array} a @param {number} oa @param {Uint8Array} b @param {number} ob
 * @param {boolean} v6 @param {number} ihl @param {number} thl
 */
function sameFlow(a, oa, b, ob, v6, ihl, thl) {
  if (v6) {
    for (let i = 0; i < 4; i++) if (a[oa + i] !== b[ob + i]) return false; // version, traffic class, flow label
    if (a[oa + 7] !== b[ob + 7]) return false;
    for (let i = 8; i < 40; i++) if (a[oa + i] !== b[ob + i]) return false;
  } else {
    if (a[oa + 1] !== b[ob + 1] || ((a[oa + 6] ?? 0) & 0xe0) !== ((b[ob + 6] ?? 0) & 0xe0) || a[oa + 8] !== b[ob + 8]) return false;
    for (let i = 12; i < 20; i++) if (a[oa + i] !== b[ob + i]) return false;
  }
  const ta = oa + ihl;
  const tb = ob + ihl;
  for (let i = 0; i < 4; i++) if (a[ta + i] !== b[tb + i]) return false; // ports
  for (let i = 8; i < 12; i++) if (a[ta + i] !== b[tb + i]) return false; // ack
  if (a[ta + 14] !== b[tb + 14] || a[ta + 15] !== b[tb + 15]) return false; // window
  for (let i = 20; i < thl; i++) if (a[ta + i] !== b[tb + i]) return false; // options
  return true;
}

// The UDP candidate last measured by `udpCandidate` (module scratch).
const ucand = { v6: false, ihl: 0, payload: 0 };

/**
 * Whether `b[o, o + len)` is a UDP datagram that may head or join a UDP GSO write: IPv4 without options and
 * not fragmented, or IPv6 without extension headers; IP and UDP lengths consistent; a payload. Fills `ucand`.
 * @param {Uint8Array} b @param {number} o @param {number} len
 */
function udpCandidate(b, o, len) {
  if (len < 29 || o < 0 || o + len > b.length) return false;
  const v = b[o] ?? 0;
  let ihl;
  if (v === 0x45) {
    if ((b[o + 9] ?? 0) !== 17 || u16(b, o + 2) !== len) return false;
    if ((u16(b, o + 6) & 0x3fff) !== 0) return false; // MF or a fragment offset
    ihl = 20;
    ucand.v6 = false;
  } else if (v >> 4 === 6) {
    if (len < 49 || (b[o + 6] ?? 0) !== 17 || u16(b, o + 4) + 40 !== len) return false;
    ihl = 40;
    ucand.v6 = true;
  } else {
    return false;
  }
  if (u16(b, o + ihl + 4) !== len - ihl) return false;
  ucand.ihl = ihl;
  ucand.payload = len - ihl - 8;
  return true;
}

/**
 * Whether datagram `b` (at `ob`) belongs to the flow of the head datagram `a` (at `oa`): same addresses and
 * ports, and the IP fields the segments of one GSO write share (ToS/DF/TTL; traffic class/flow label/hop limit).
 * @param {Uint8Array} a @param {number} oa @param {Uint8Array} b @param {number} ob @param {boolean} v6
 */
function sameUdpFlow(a, oa, b, ob, v6) {
  if (v6) {
    for (let i = 0; i < 4; i++) if (a[oa + i] !== b[ob + i]) return false;
    if (a[oa + 7] !== b[ob + 7]) return false;
    for (let i = 8; i < 44; i++) if (a[oa + i] !== b[ob + i]) return false; // addresses, then the ports
    return true;
  }
  if (a[oa + 1] !== b[ob + 1] || ((a[oa + 6] ?? 0) & 0xe0) !== ((b[ob + 6] ?? 0) & 0xe0) || a[oa + 8] !== b[ob + 8]) return false;
  for (let i = 12; i < 24; i++) if (a[oa + i] !== b[ob + i]) return false; // addresses, then the ports
  return true;
}

/**
 * Coalesces the packets `buf[offs[start + k], + lens[start + k])`, k = 0.., into `out` as one write
 * (virtio header + packet): consecutive in-order TCP segments of one flow (same headers, sequence numbers
 * contiguous, every segment but the last exactly the first one's payload size, nothing after a PSH) become a
 * TSO super-packet with NEEDS_CSUM and the pseudo-header sum in the checksum field; anything else is one
 * packet behind a zero header. With `udp` (the device took USO), consecutive UDP datagrams of one flow, every
 * one but the last exactly the first one's payload size (at most MAX_UDP_SEGMENTS), become one UDP GSO
 * (GSO_UDP_L4) write the same way.
 * @param {Uint8Array} buf @param {ArrayLike<number>} offs @param {ArrayLike<number>} lens
 * @param {number} start first packet @param {number} count packets available from `start`
 * @param {Uint8Array} out at least VNET_HDR_LEN + MAX_SUPER_PACKET bytes (less caps the super-packet size)
 * @param {Int32Array | number[]} result [0] = packets consumed (>= 1), [1] = bytes of the write (0 when the first
 *   packet does not fit `out`: skip it), [2] = entries in `ranges`
 * @param {boolean} [udp] coalesce UDP too (only where the device was given TUN_F_USO4/6)
 * @param {Int32Array} [ranges] gather mode: the payloads after the first packet are not copied into `out`;
 *   `ranges` gets their place in `buf` as (offset, length) pairs instead, and the write is `out[0, VNET_HDR_LEN +
 *   first packet's length)` followed by those ranges (one `writev`, no copy of a SharedArrayBuffer ring's bytes).
 *   Room for 2 x `count` numbers.
 */
export function coalesce(buf, offs, lens, start, count, out, result, udp = false, ranges = undefined) {
  const o0 = offs[start] ?? 0;
  const len0 = lens[start] ?? 0;
  out.fill(0, 0, VNET_HDR_LEN);
  result[0] = 1;
  result[2] = 0;
  if (len0 < 0 || o0 < 0 || o0 + len0 > buf.length || VNET_HDR_LEN + len0 > out.length) {
    result[1] = 0;
    return;
  }
  out.set(viewOf(buf, o0, o0 + len0), VNET_HDR_LEN);
  result[1] = VNET_HDR_LEN + len0;
  if (count < 2) return;
  if (udp && udpCandidate(buf, o0, len0)) {
    coalesceUdp(buf, offs, lens, start, count, out, result, ranges);
    return;
  }
  if (!tcpCandidate(buf, o0, len0)) return;
  const v6 = cand.v6;
  const ihl = cand.ihl;
  const thl = cand.thl;
  const gsoSize = cand.payload;
  const headers = ihl + thl;
  let total = len0;
  let seq = (u32(buf, o0 + ihl + 4) + gsoSize) >>> 0;
  let lastFlags = cand.flags;
  let lastPayload = gsoSize;
  let k = 1;
  const limit = Math.min(MAX_SUPER_PACKET, out.length - VNET_HDR_LEN);
  for (; k < count; k++) {
    if ((lastFlags & TCP_PSH) !== 0 || lastPayload !== gsoSize) break;
    const o = offs[start + k] ?? 0;
    const len = lens[start + k] ?? 0;
    if (!tcpCandidate(buf, o, len) || cand.v6 !== v6 || cand.thl !== thl || cand.payload > gsoSize) break;
    if (total + cand.payload > limit) break;
    if (u32(buf, o + ihl + 4) !== seq || !sameFlow(buf, o0, buf, o, v6, ihl, thl)) break;
    append(buf, o + headers, len - headers, out, VNET_HDR_LEN + total, ranges, k - 1);
    total += cand.payload;
    seq = (seq + cand.payload) >>> 0;
    lastFlags = cand.flags;
    lastPayload = cand.payload;
  }
  result[0] = k;
  result[1] = VNET_HDR_LEN + total;
  result[2] = ranges === undefined ? 0 : k - 1;
  if (k === 1) return;
  const ip = VNET_HDR_LEN;
  out[ip + ihl + 13] = TCP_ACK | (lastFlags & TCP_PSH);
  if (v6) {
    put16(out, ip + 4, total - 40);
  } else {
    put16(out, ip + 2, total);
    ipv4HeaderChecksum(out, ip, ihl);
  }
  out[ip + ihl + 16] = 0;
  out[ip + ihl + 17] = 0;
  put16(out, ip + ihl + 16, fold16(pseudoSum(out, ip, v6, 6, total - ihl)));
  out[0] = VIRTIO_NET_HDR_F_NEEDS_CSUM;
  out[1] = v6 ? GSO_TCPV6 : GSO_TCPV4;
  put16le(out, 2, headers);
  put16le(out, 4, gsoSize);
  put16le(out, 6, ihl);
  put16le(out, 8, 16);
}

/**
 * A following packet's payload `buf[from, from + n)` at `out[at]`, or, in gather mode, as range `i` of `ranges`.
 * @param {Uint8Array} buf @param {number} from @param {number} n @param {Uint8Array} out @param {number} at
 * @param {Int32Array | undefined} ranges @param {number} i
 */
function append(buf, from, n, out, at, ranges, i) {
  if (ranges === undefined) {
    out.set(viewOf(buf, from, from + n), at);
    return;
  }
  ranges[2 * i] = from;
  ranges[2 * i + 1] = n;
}

/**
 * `coalesce` for a head that is a UDP candidate (its bytes are already in `out`, `result` says one packet).
 * @param {Uint8Array} buf @param {ArrayLike<number>} offs @param {ArrayLike<number>} lens
 * @param {number} start @param {number} count @param {Uint8Array} out @param {Int32Array | number[]} result
 * @param {Int32Array | undefined} ranges
 */
function coalesceUdp(buf, offs, lens, start, count, out, result, ranges) {
  const o0 = offs[start] ?? 0;
  const v6 = ucand.v6;
  const ihl = ucand.ihl;
  const gsoSize = ucand.payload;
  const headers = ihl + 8;
  let total = lens[start] ?? 0;
  let lastPayload = gsoSize;
  let k = 1;
  const limit = Math.min(MAX_SUPER_PACKET, out.length - VNET_HDR_LEN);
  const most = Math.min(count, MAX_UDP_SEGMENTS);
  for (; k < most; k++) {
    if (lastPayload !== gsoSize) break; // a shorter datagram ends a GSO write
    const o = offs[start + k] ?? 0;
    const len = lens[start + k] ?? 0;
    if (!udpCandidate(buf, o, len) || ucand.v6 !== v6 || ucand.payload > gsoSize) break;
    if (total + ucand.payload > limit) break;
    if (!sameUdpFlow(buf, o0, buf, o, v6)) break;
    append(buf, o + headers, len - headers, out, VNET_HDR_LEN + total, ranges, k - 1);
    total += ucand.payload;
    lastPayload = ucand.payload;
  }
  result[0] = k;
  result[1] = VNET_HDR_LEN + total;
  result[2] = ranges === undefined ? 0 : k - 1;
  if (k === 1) return;
  const ip = VNET_HDR_LEN;
  if (v6) {
    put16(out, ip + 4, total - 40);
  } else {
    put16(out, ip + 2, total);
    ipv4HeaderChecksum(out, ip, ihl);
  }
  // The UDP length of the whole write and the pseudo-header sum over it: the kernel gives each datagram its
  // own length and finishes its checksum (as for a UDP_SEGMENT send).
  put16(out, ip + ihl + 4, total - ihl);
  out[ip + ihl + 6] = 0;
  out[ip + ihl + 7] = 0;
  put16(out, ip + ihl + 6, fold16(pseudoSum(out, ip, v6, 17, total - ihl)));
  out[0] = VIRTIO_NET_HDR_F_NEEDS_CSUM;
  out[1] = GSO_UDP_L4;
  put16le(out, 2, headers);
  put16le(out, 4, gsoSize);
  put16le(out, 6, ihl);
  put16le(out, 8, 6);
}
