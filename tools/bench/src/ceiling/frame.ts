// The ceiling loop's frame (a measuring instrument of tools/bench, not shipped, not part of any app): the
// WireGuard transport-data layout without the protocol around it. A fixed key per direction, no handshake, no
// replay window, no routing: a datagram is
//
//   type u32 LE (4) | receiver index u32 LE | counter u64 LE | ChaCha20-Poly1305(IP packet padded to 16) | tag (16)
//
// with the nonce `0^32 || le64(counter)` of WireGuard, sealed and opened in place through the same AEAD backend
// Postern's data path uses (@postern/wireguard's EVP contexts through koffi). Bad input is a counted drop
// (a negative FRAME_* code), never an exception.
import type { Aead } from '@postern/wireguard';

export const FRAME_HEADER = 16;
export const FRAME_TAG = 16;
/** Header + tag: the shortest datagram (an empty payload). */
export const FRAME_OVERHEAD = FRAME_HEADER + FRAME_TAG;
/** WireGuard's message type of transport data. */
export const FRAME_TYPE_DATA = 4;

/** Shorter than header + tag, or the payload is not a multiple of 16. */
export const FRAME_SHORT = -1;
/** Not a transport-data message. */
export const FRAME_TYPE = -2;
/** Another receiver index. */
export const FRAME_RECEIVER = -3;
/** The tag does not authenticate the datagram. */
export const FRAME_AUTH = -4;
/** Authentic, but the plaintext is not an IPv4/IPv6 packet that fits it. */
export const FRAME_IP = -5;

/** Drops by reason and the frames that opened; the loop prints them. */
export interface FrameCounters {
  opened: number;
  short: number;
  type: number;
  receiver: number;
  auth: number;
  ip: number;
}

export function frameCounters(): FrameCounters {
  return { opened: 0, short: 0, type: 0, receiver: 0, auth: 0, ip: 0 };
}

/** The plaintext padded to 16 bytes (WireGuard's padding; the receiver reads the IP length). */
export function paddedLength(plain: number): number {
  return (plain + 15) & ~15;
}

/** Bytes of the frame of an IP packet of `plain` bytes. */
export function frameLength(plain: number): number {
  return FRAME_OVERHEAD + paddedLength(plain);
}

/**
 * Seals the IP packet at `buf[off + 16, off + 16 + plain)` in place: writes the header at `buf[off]`, zero
 * padding, ciphertext and tag. `buf` needs `frameLength(plain)` bytes from `off`. Returns the frame length.
 */
export function sealFrame(aead: Aead, buf: Uint8Array, off: number, plain: number, receiver: number, counter: number): number {
  const padded = paddedLength(plain);
  const body = off + FRAME_HEADER;
  if (padded !== plain) buf.fill(0, body + plain, body + padded);
  buf[off] = FRAME_TYPE_DATA;
  buf[off + 1] = 0;
  buf[off + 2] = 0;
  buf[off + 3] = 0;
  putU32(buf, off + 4, receiver);
  putU32(buf, off + 8, counter >>> 0);
  putU32(buf, off + 12, Math.floor(counter / 0x1_0000_0000));
  aead.seal(counter, buf, body, padded);
  return FRAME_OVERHEAD + padded;
}

/**
 * Opens the frame `buf[off, off + len)` in place for `receiver`. Returns the IP packet's length (it starts at
 * `off + 16`), or a negative FRAME_* code; either way `counters` counts the outcome.
 */
export function openFrame(aead: Aead, buf: Uint8Array, off: number, len: number, receiver: number, counters: FrameCounters): number {
  if (len < FRAME_OVERHEAD || off < 0 || off + len > buf.length || ((len - FRAME_OVERHEAD) & 15) !== 0) {
    counters.short++;
    return FRAME_SHORT;
  }
  if (getU32(buf, off) !== FRAME_TYPE_DATA) {
    counters.type++;
    return FRAME_TYPE;
  }
  if (getU32(buf, off + 4) !== receiver >>> 0) {
    counters.receiver++;
    return FRAME_RECEIVER;
  }
  const counter = getU32(buf, off + 8) + getU32(buf, off + 12) * 0x1_0000_0000;
  const body = off + FRAME_HEADER;
  const padded = len - FRAME_OVERHEAD;
  if (!aead.open(counter, buf, body, padded + FRAME_TAG)) {
    counters.auth++;
    return FRAME_AUTH;
  }
  const ipLen = ipLength(buf, body, padded);
  if (ipLen <= 0) {
    counters.ip++;
    return FRAME_IP;
  }
  counters.opened++;
  return ipLen;
}

/** The length an IPv4/IPv6 header at `buf[off]` announces, or 0 when it is no such packet or exceeds `room`. */
export function ipLength(buf: Uint8Array, off: number, room: number): number {
  if (room < 20) return 0;
  const v = (buf[off] ?? 0) >> 4;
  let n = 0;
  if (v === 4) n = ((buf[off + 2] ?? 0) << 8) | (buf[off + 3] ?? 0);
  else if (v === 6 && room >= 40) n = (((buf[off + 4] ?? 0) << 8) | (buf[off + 5] ?? 0)) + 40;
  return n >= 20 && n <= room && n > room - 16 ? n : 0;
}

function putU32(b: Uint8Array, o: number, v: number): void {
  b[o] = v & 0xff;
  b[o + 1] = (v >>> 8) & 0xff;
  b[o + 2] = (v >>> 16) & 0xff;
  b[o + 3] = (v >>> 24) & 0xff;
}

function getU32(b: Uint8Array, o: number): number {
  return ((b[o] ?? 0) | ((b[o + 1] ?? 0) << 8) | ((b[o + 2] ?? 0) << 16) | ((b[o + 3] ?? 0) << 24)) >>> 0;
}
