// A deterministic Rng for tests (xorshift32), the shape sans-IO code takes: `fill(bytes)` and `nextU32()`.
export interface TestRng {
  fill(bytes: Uint8Array): void;
  nextU32(): number;
}

export function xorshiftRng(seed = 1): TestRng {
  let x = seed >>> 0 || 1;
  const next = (): number => {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    return x;
  };
  return {
    fill(b) {
      for (let i = 0; i < b.length; i++) b[i] = next() & 0xff;
    },
    nextU32: next,
  };
}
