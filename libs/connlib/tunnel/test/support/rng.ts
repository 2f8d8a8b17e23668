// A seeded, deterministic Rng for tests (xorshift32; not for keys outside tests).
import type { Rng } from '@postern/wireguard';

export function seededRng(seed: number): Rng {
  let s = seed >>> 0 || 0x9e3779b9;
  const next = (): number => {
    s ^= s << 13;
    s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5;
    s >>>= 0;
    return s;
  };
  return {
    fill(bytes: Uint8Array): void {
      for (let i = 0; i < bytes.length; i++) bytes[i] = next() & 0xff;
    },
    nextU32: next,
  };
}

export function key(rng: Rng): Uint8Array {
  const k = new Uint8Array(32);
  rng.fill(k);
  return k;
}
