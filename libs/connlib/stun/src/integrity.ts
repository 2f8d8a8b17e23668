// MESSAGE-INTEGRITY (HMAC-SHA1), MESSAGE-INTEGRITY-SHA256 and FINGERPRINT (CRC-32) (RFC 8489 §14.5-14.7, §9.2).
import { createHash, createHmac, timingSafeEqual } from 'node:crypto';
import { crc32 } from 'node:zlib';
import { FINGERPRINT_XOR } from './constants';

// RFC 3454 table B.1 (mapped to nothing) and C.1.2 (non-ASCII spaces, mapped to SPACE) as SASLprep uses them.
function mapsToNothing(c: number): boolean {
  return (
    c === 0xad || c === 0x34f || c === 0x1806 || (c >= 0x180b && c <= 0x180d) || (c >= 0x200b && c <= 0x200d) ||
    c === 0x2060 || (c >= 0xfe00 && c <= 0xfe0f) || c === 0xfeff
  );
}
function isNonAsciiSpace(c: number): boolean {
  return c === 0xa0 || c === 0x1680 || (c >= 0x2000 && c <= 0x200a) || c === 0x202f || c === 0x205f || c === 0x3000;
}

/** SASLprep (RFC 4013) mapping + NFKC normalisation; enough for STUN passwords (RFC 5769 §2.4 vector). */
export function saslprep(s: string): string {
  let out = '';
  for (const ch of s) {
    const c = ch.codePointAt(0) ?? 0;
    if (mapsToNothing(c)) continue;
    out += isNonAsciiSpace(c) ? ' ' : ch;
  }
  return out.normalize('NFKC');
}

/** Long-term credential key (RFC 8489 §9.2.2): MD5("username:realm:SASLprep(password)"), or SHA-256. */
export function longTermKey(username: string, realm: string, password: string, algorithm: 'md5' | 'sha256' = 'md5'): Uint8Array {
  return new Uint8Array(createHash(algorithm).update(`${username}:${realm}:${saslprep(password)}`, 'utf8').digest());
}

/** Short-term credential key (RFC 8489 §9.1.1): the SASLprep'd password as UTF-8 (ICE uses this). */
export function shortTermKey(password: string): Uint8Array {
  return new TextEncoder().encode(saslprep(password));
}

/**
 * HMAC over `header` (20 bytes, with the length field already adjusted) and `body`.
 * `algorithm` sha1 -> 20 bytes, sha256 -> 32 bytes.
 */
export function stunHmac(algorithm: 'sha1' | 'sha256', key: Uint8Array, header: Uint8Array, body: Uint8Array): Uint8Array {
  const h = createHmac(algorithm, key);
  h.update(header);
  h.update(body);
  return new Uint8Array(h.digest());
}

/** FINGERPRINT value over `bytes` (the message up to, not including, the FINGERPRINT attribute). */
export function fingerprintOf(bytes: Uint8Array): number {
  return (crc32(bytes) ^ FINGERPRINT_XOR) >>> 0;
}

/** Constant-time comparison of two MACs (truncated SHA-256 compares the given prefix). */
export function macEquals(expected: Uint8Array, got: Uint8Array): boolean {
  if (got.length > expected.length || got.length === 0) return false;
  return timingSafeEqual(expected.subarray(0, got.length), got);
}
