import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { assessGrowth, FaultsError, median, parseVmRss, sampleProcess, slope } from '../../src/index';

const series = (n: number, f: (i: number) => number): [number, number][] => Array.from({ length: n }, (_, i) => [i * 1000, f(i)]);

describe('growth verdict', () => {
  it('median and slope', () => {
    expect(median([3, 1, 2])).toBe(2);
    expect(median([4, 1, 3, 2])).toBe(2.5);
    expect(median([])).toBeNaN();
    expect(slope(series(10, (i) => 5 + 2 * i))).toBeCloseTo(0.002); // 2 per 1000 ms
    expect(slope([[0, 1]])).toBe(0);
  });

  it('a flat series with GC sawtooth and a spike is not growth', () => {
    const v = assessGrowth(
      series(60, (i) => 80_000 + (i % 5) * 3_000 + (i === 50 ? 40_000 : 0)),
      { absTolerance: 4_096, relTolerance: 0.1 },
    );
    expect(v.ok).toBe(true);
    expect(Math.abs(v.growth)).toBeLessThan(3_001);
  });

  it('a steady leak is growth, and the slope reports it per minute', () => {
    const v = assessGrowth(series(60, (i) => 80_000 + i * 500), { absTolerance: 4_096, relTolerance: 0.1 });
    expect(v.ok).toBe(false);
    expect(v.slopePerMinute).toBeCloseTo(30_000, -2);
  });

  it('one leaked fd per sample is growth for fds with tolerance 2', () => {
    expect(assessGrowth(series(40, (i) => 30 + i), { absTolerance: 2 }).ok).toBe(false);
    expect(assessGrowth(series(40, (i) => 30 + (i % 2)), { absTolerance: 2 }).ok).toBe(true);
  });

  it('warm-up allocations are ignored', () => {
    expect(assessGrowth(series(40, (i) => (i < 8 ? i * 10_000 : 80_000)), { absTolerance: 1_000 }).ok).toBe(true);
  });

  it('too few samples: a typed error', () => {
    expect(() => assessGrowth(series(4, () => 1), { absTolerance: 0 })).toThrow(FaultsError);
    try {
      assessGrowth(series(4, () => 1), { absTolerance: 0 });
    } catch (e) {
      expect(e instanceof FaultsError && e.code).toBe('TOO_FEW_SAMPLES');
    }
  });

  it('property: a constant series is never growth; adding a rise larger than the tolerance always is', () => {
    fc.assert(
      fc.property(fc.integer({ min: 12, max: 200 }), fc.integer({ min: 0, max: 1e6 }), fc.integer({ min: 1, max: 1e5 }), (n, base, tol) => {
        expect(assessGrowth(series(n, () => base), { absTolerance: tol }).ok).toBe(true);
        // a step of 2*tol between the first and the last third
        expect(assessGrowth(series(n, (i) => (i < n / 2 ? base : base + 2 * tol)), { absTolerance: tol }).ok).toBe(false);
      }),
    );
  });
});

describe('/proc sampling', () => {
  it('parses VmRSS, and garbage is a typed error', () => {
    expect(parseVmRss('Name:\tnode\nVmRSS:\t  123456 kB\nVmSwap:\t0 kB\n')).toBe(123456);
    expect(() => parseVmRss('Name: x\n')).toThrow(FaultsError);
  });

  it('samples this process, and a dead pid is PROC_GONE', () => {
    const s = sampleProcess(process.pid, 5);
    expect(s.at).toBe(5);
    expect(s.rssKiB).toBeGreaterThan(1_000);
    expect(s.fds).toBeGreaterThan(2);
    try {
      sampleProcess(0x3fffffff);
      expect.unreachable();
    } catch (e) {
      expect(e instanceof FaultsError && e.code).toBe('PROC_GONE');
    }
  });
});
