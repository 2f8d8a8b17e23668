// Internet checksum (RFC 1071) and its incremental update (RFC 1624).

/** Folds a (possibly > 16-bit) one's-complement accumulator into 16 bits. */
export function fold(sum: number): number {
  let s = sum;
  while (s > 0xffff) s = (s & 0xffff) + Math.floor(s / 0x10000);
  return s;
}

/**
 * One's-complement sum of `bytes[start, end)` as big-endian 16-bit words, added to `initial`, folded to 16 bits
 * and NOT complemented (RFC 1071 §4.1). An odd trailing byte is padded with a zero low byte.
 */
export function onesComplementSum(bytes: Uint8Array, start = 0, end = bytes.length, initial = 0): number {
  let sum = initial;
  let i = start;
  const even = end - ((end - start) & 1);
  // Accumulate in a float64; fold every 2^16 words to stay far below 2^53.
  let n = 0;
  for (; i < even; i += 2) {
    sum += ((bytes[i] ?? 0) << 8) | (bytes[i + 1] ?? 0);
    if (++n === 0x10000) {
      sum = fold(sum);
      n = 0;
    }
  }
  if (i < end) sum += (bytes[i] ?? 0) << 8;
  return fold(sum);
}

/** The Internet checksum of `bytes[start, end)` plus `initial`: the complement of the folded sum. */
export function internetChecksum(bytes: Uint8Array, start = 0, end = bytes.length, initial = 0): number {
  return ~onesComplementSum(bytes, start, end, initial) & 0xffff;
}

/**
 * RFC 1624 eq. 3: `HC' = ~(~HC + ~m + m')` for one 16-bit word `m` replaced by `m'`.
 * A result of 0x0000 is emitted as the equivalent -0 (0xFFFF), so that all-zero data still verifies and a UDP
 * checksum never becomes "no checksum".
 */
export function updateChecksum(oldChecksum: number, removeU16: number, addU16: number): number {
  const sum = fold((~oldChecksum & 0xffff) + (~removeU16 & 0xffff) + (addU16 & 0xffff));
  const r = ~sum & 0xffff;
  return r === 0 ? 0xffff : r;
}

/**
 * RFC 1624 update for a run of 16-bit words: `old[oldOffset..+len)` replaced by `neu[newOffset..+len)` (len even).
 * Used for 4- and 16-byte addresses; allocation-free.
 */
export function updateChecksumBytes(
  oldChecksum: number,
  old: Uint8Array,
  oldOffset: number,
  neu: Uint8Array,
  newOffset: number,
  len: number,
): number {
  let sum = ~oldChecksum & 0xffff;
  for (let i = 0; i < len; i += 2) {
    const m = ((old[oldOffset + i] ?? 0) << 8) | (old[oldOffset + i + 1] ?? 0);
    const m2 = ((neu[newOffset + i] ?? 0) << 8) | (neu[newOffset + i + 1] ?? 0);
    sum += (~m & 0xffff) + m2;
  }
  const r = ~fold(sum) & 0xffff;
  return r === 0 ? 0xffff : r;
}

/** A UDP checksum is never transmitted as 0x0000 (that means "no checksum", RFC 768): map it to 0xFFFF. */
export function intoUdpChecksum(checksum: number): number {
  const c = checksum & 0xffff;
  return c === 0 ? 0xffff : c;
}
