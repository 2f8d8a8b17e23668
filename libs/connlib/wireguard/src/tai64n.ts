// TAI64N timestamps (whitepaper §5.4.2): 8-byte big-endian seconds + 2^62, 4-byte big-endian nanoseconds.

export const TAI64N_LEN = 12;
const TAI64_BASE = 0x4000_0000n << 32n;
// Whole seconds of TAI - UTC are ignored, as wireguard-go does: only monotonicity matters.

/** Encodes a wall time in milliseconds since the Unix epoch. */
export function tai64n(wallMs: number): Uint8Array {
  const out = new Uint8Array(TAI64N_LEN);
  const dv = new DataView(out.buffer);
  const seconds = Math.floor(wallMs / 1000);
  dv.setBigUint64(0, TAI64_BASE + BigInt(seconds));
  // whole milliseconds only: finer resolution leaks timing (wireguard-go rounds too)
  dv.setUint32(8, Math.floor(wallMs - seconds * 1000) * 1_000_000);
  return out;
}

/** True if `a` is strictly later than `b`. */
export function tai64nAfter(a: Uint8Array, b: Uint8Array): boolean {
  for (let i = 0; i < TAI64N_LEN; i++) {
    const x = a[i] ?? 0;
    const y = b[i] ?? 0;
    if (x !== y) return x > y;
  }
  return false;
}
