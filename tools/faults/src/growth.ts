// Does a resource (RSS, fd count) grow over a soak run? Samples after a warm-up are split into thirds; the
// median of the last third is compared with the median of the first, so GC sawtooth and single spikes do not
// count as growth, while a steady leak does. The least-squares slope is reported alongside.
import { FaultsError } from './errors';

export interface GrowthOptions {
  /** Fraction of the run discarded at the start (allocations that settle once). Default 0.25. */
  readonly warmupFraction?: number;
  /** Growth allowed in the metric's unit. */
  readonly absTolerance: number;
  /** Growth allowed relative to the first third's median (0.2 = 20 %). Default 0. */
  readonly relTolerance?: number;
}

export interface GrowthVerdict {
  readonly firstMedian: number;
  readonly lastMedian: number;
  /** lastMedian - firstMedian */
  readonly growth: number;
  /** Allowed growth (absTolerance + relTolerance * firstMedian). */
  readonly allowed: number;
  /** Least-squares slope over the samples after warm-up, per minute. */
  readonly slopePerMinute: number;
  readonly samples: number;
  readonly ok: boolean;
}

export function median(values: readonly number[]): number {
  if (values.length === 0) return Number.NaN;
  const s = [...values].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 === 1 ? (s[mid] ?? Number.NaN) : ((s[mid - 1] ?? 0) + (s[mid] ?? 0)) / 2;
}

/** Slope of the least-squares line through (t, v), per unit of t. */
export function slope(points: readonly (readonly [number, number])[]): number {
  const n = points.length;
  if (n < 2) return 0;
  let st = 0;
  let sv = 0;
  for (const [t, v] of points) {
    st += t;
    sv += v;
  }
  const mt = st / n;
  const mv = sv / n;
  let num = 0;
  let den = 0;
  for (const [t, v] of points) {
    num += (t - mt) * (v - mv);
    den += (t - mt) * (t - mt);
  }
  return den === 0 ? 0 : num / den;
}

/** `points`: [time in ms, value]. Needs at least 6 samples after the warm-up (TOO_FEW_SAMPLES). */
export function assessGrowth(points: readonly (readonly [number, number])[], o: GrowthOptions): GrowthVerdict {
  const warmup = o.warmupFraction ?? 0.25;
  const kept = points.slice(Math.floor(points.length * warmup));
  if (kept.length < 6) throw new FaultsError('TOO_FEW_SAMPLES', `${String(kept.length)} samples after the warm-up; at least 6 are needed`);
  const third = Math.floor(kept.length / 3);
  const firstMedian = median(kept.slice(0, third).map(([, v]) => v));
  const lastMedian = median(kept.slice(kept.length - third).map(([, v]) => v));
  const growth = lastMedian - firstMedian;
  const allowed = o.absTolerance + (o.relTolerance ?? 0) * firstMedian;
  return { firstMedian, lastMedian, growth, allowed, slopePerMinute: slope(kept) * 60_000, samples: kept.length, ok: growth <= allowed };
}
