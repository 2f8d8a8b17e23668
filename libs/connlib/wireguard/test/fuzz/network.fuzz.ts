// Longer runs of the properties the unit suite checks briefly: `npx nx run wireguard:fuzz`.
import fc from 'fast-check';
import { describe, it } from 'vitest';
import { makePair } from '../support/pair';
import { opArb, runScenario } from '../support/scenario';

describe('fuzz', () => {
  it('decapsulate never throws on arbitrary bytes', () => {
    const { b } = makePair();
    const out = new Uint8Array(2048);
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 1500 }), fc.constantFrom(1, 2, 3, 4), (bytes, type) => {
        const d = bytes.length >= 4 ? Uint8Array.of(type, 0, 0, 0, ...bytes.subarray(4)) : bytes;
        const r = b.decapsulate(d, out, 1);
        return r.kind === 'error' || r.kind === 'done' || r.kind === 'writeToNetwork';
      }),
      { numRuns: 20_000 },
    );
  });

  it('random traffic over a hostile network delivers only sent packets, once, unmodified', () => {
    fc.assert(
      fc.property(fc.array(opArb, { maxLength: 400 }), fc.nat(100_000), (ops, seed) => {
        runScenario(ops, seed + 1);
      }),
      { numRuns: 500 },
    );
  }, 600_000);
});
