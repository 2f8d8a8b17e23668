import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { REPLAY_WINDOW_SIZE, ReplayWindow } from '../../src/index';

/** The obvious model: a set of seen counters and the highest one. */
class ModelWindow {
  private readonly seen = new Set<number>();
  private last = -1;
  accept(c: number): boolean {
    if (this.seen.has(c)) return false;
    if (c <= this.last && this.last - c >= REPLAY_WINDOW_SIZE) return false;
    this.seen.add(c);
    if (c > this.last) this.last = c;
    return true;
  }
}

describe('ReplayWindow', () => {
  it('keeps at least 2048 counters behind the newest', () => {
    expect(REPLAY_WINDOW_SIZE).toBeGreaterThanOrEqual(2048);
  });

  it('accepts each counter once, in any order within the window', () => {
    const w = new ReplayWindow();
    const order = Array.from({ length: 3000 }, (_, i) => 2999 - i);
    for (const c of order) expect(w.accept(c)).toBe(true);
    for (const c of order) expect(w.accept(c)).toBe(false);
  });

  it('rejects counters that fell out of the window', () => {
    const w = new ReplayWindow();
    expect(w.accept(0)).toBe(true);
    expect(w.accept(REPLAY_WINDOW_SIZE + 5)).toBe(true);
    expect(w.accept(4)).toBe(false);
    expect(w.accept(6)).toBe(true);
    expect(w.accept(2 ** 50)).toBe(true);
    expect(w.accept(2 ** 50 - REPLAY_WINDOW_SIZE)).toBe(false);
    expect(w.accept(2 ** 50 - REPLAY_WINDOW_SIZE + 1)).toBe(true);
  });

  it('agrees with a set-based model on random sequences (property)', () => {
    const counter = fc.oneof(fc.nat(20_000), fc.integer({ min: 0, max: 2 ** 40 }));
    fc.assert(
      fc.property(fc.array(fc.oneof(counter, fc.nat(300)), { maxLength: 400 }), (cs) => {
        const w = new ReplayWindow();
        const m = new ModelWindow();
        for (const c of cs) if (w.accept(c) !== m.accept(c)) return false;
        return true;
      }),
      { numRuns: 300 },
    );
  });
});

describe('ReplayWindow without a ring (counters below 64)', () => {
  it('allocates no ring while counters stay below 64, and one at the first counter of 64 or more', () => {
    const w = new ReplayWindow();
    for (let c = 0; c < 64; c += 2) expect(w.accept(c)).toBe(true);
    expect(w.allocated).toBe(false);
    expect(w.accept(10)).toBe(false);
    expect(w.accept(11)).toBe(true);
    expect(w.accept(63)).toBe(true);
    expect(w.allocated).toBe(false);
    expect(w.accept(64)).toBe(true);
    expect(w.allocated).toBe(true);
    // what was seen inline is still seen, what was not still passes
    for (let c = 0; c < 64; c += 2) expect(w.accept(c)).toBe(false);
    expect(w.accept(11)).toBe(false);
    expect(w.accept(13)).toBe(true);
    w.reset();
    expect(w.allocated).toBe(false);
    expect(w.accept(0)).toBe(true);
  });

  it('agrees with the model on small counters around the switch to the ring (property)', () => {
    fc.assert(
      fc.property(fc.array(fc.nat(140), { maxLength: 200 }), (cs) => {
        const w = new ReplayWindow();
        const m = new ModelWindow();
        for (const c of cs) if (w.accept(c) !== m.accept(c)) return false;
        return true;
      }),
      { numRuns: 500 },
    );
  });
});
