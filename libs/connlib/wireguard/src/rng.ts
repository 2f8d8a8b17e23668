// Injected randomness (docs/conventions.md): sans-IO code never calls a random source directly.
import { randomFillSync } from 'node:crypto';

export interface Rng {
  fill(bytes: Uint8Array): void;
  nextU32(): number;
}

/** The operating system's CSPRNG, for the IO shells. */
export const cryptoRng: Rng = {
  fill(bytes: Uint8Array): void {
    randomFillSync(bytes);
  },
  nextU32(): number {
    const b = new Uint32Array(1);
    randomFillSync(b);
    return b[0] ?? 0;
  },
};
