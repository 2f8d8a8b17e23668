// measureAllocations counts what a function allocates; steadyAllocations keeps the smallest of up to three tries.
import { describe, expect, it } from 'vitest';
import { measureAllocations, steadyAllocations } from '../../src/heap-sampling';

const sink: unknown[] = [];

describe('measureAllocations', () => {
  it('sees an object allocated per iteration, and (almost) nothing for a loop that allocates nothing', async () => {
    const allocating = await measureAllocations(() => {
      for (let i = 0; i < 20_000; i++) sink[i & 15] = { i };
    });
    let x = 0;
    const quiet = await measureAllocations(() => {
      for (let i = 0; i < 20_000; i++) x = (x + i) | 0;
    });
    expect(x).not.toBe(1);
    // an object with one field is >= 16 bytes
    expect(allocating.bytes / 20_000).toBeGreaterThan(8);
    expect(quiet.bytes / 20_000).toBeLessThan(1);
    expect(allocating.top.length).toBeGreaterThan(0);
  });
});

describe('steadyAllocations', () => {
  it('stops at the first try under the bound', async () => {
    let runs = 0;
    const r = await steadyAllocations(() => {
      runs++;
    }, 1_000_000);
    expect(runs).toBe(1);
    expect(r.bytes).toBeLessThan(1_000_000);
  });

  it('tries again while over the bound and keeps the smallest report; a steady allocation stays over it', async () => {
    let runs = 0;
    const r = await steadyAllocations(
      () => {
        runs++;
        // the first try allocates 8x what the others do
        const n = runs === 1 ? 80_000 : 10_000;
        for (let i = 0; i < n; i++) sink[i & 15] = { i };
      },
      1,
      3,
    );
    expect(runs).toBe(3);
    expect(r.bytes).toBeGreaterThan(1);
    // the first try made >= 80,000 objects of >= 16 bytes; the smallest report is one of the later tries
    expect(r.bytes).toBeLessThan((80_000 * 16) / 2);
  });

  it('refuses fewer than one attempt', async () => {
    await expect(steadyAllocations(() => undefined, 1, 0)).rejects.toThrow(RangeError);
  });
});
