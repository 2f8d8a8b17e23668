// Random traffic over a lossy, reordering, duplicating in-memory network with a fake clock: every IP
// packet that arrives is one that was sent, arrives at most once, and is byte-exact (property).
import fc from 'fast-check';
import { describe, it } from 'vitest';
import { opArb, runScenario } from '../support/scenario';

describe('random traffic over a hostile network', () => {
  it('delivers only sent packets, each at most once and unmodified (property)', () => {
    fc.assert(
      fc.property(fc.array(opArb, { maxLength: 120 }), fc.nat(1000), (ops, seed) => {
        runScenario(ops, seed + 1);
      }),
      { numRuns: 40 },
    );
  });
});
