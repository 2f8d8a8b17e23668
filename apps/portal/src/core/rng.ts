// Injected randomness (conventions: `Rng`), a crypto-backed one for production.
import { randomFillSync } from 'node:crypto';

export interface Rng {
  fill(bytes: Uint8Array): void;
  nextU32(): number;
}

export const cryptoRng: Rng = {
  fill: (bytes) => {
    randomFillSync(bytes);
  },
  nextU32: () => randomFillSync(new Uint32Array(1))[0] ?? 0,
};

export function randomBytesFrom(rng: Rng, n: number): Uint8Array {
  const b = new Uint8Array(n);
  rng.fill(b);
  return b;
}

export function randomUuid(rng: Rng): string {
  const b = randomBytesFrom(rng, 16);
  b[6] = ((b[6] ?? 0) & 0x0f) | 0x40;
  b[8] = ((b[8] ?? 0) & 0x3f) | 0x80;
  const hex = Buffer.from(b).toString('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20, 32)}`;
}

/** URL-safe random token (32 bytes). */
export function randomToken(rng: Rng): string {
  return Buffer.from(randomBytesFrom(rng, 32)).toString('base64url');
}
