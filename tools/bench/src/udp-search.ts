// The UDP case's search for the highest offered rate with <= 0.1 % loss (pure: the probe is passed in).

export interface UdpProbeResult {
  /** Packets/s received. */
  readonly packetsPerSecond: number;
  readonly lostPercent: number;
}

export interface UdpSearchOptions {
  /** Bisection steps inside the bracket. */
  readonly steps: number;
  /** Probes that may raise the bracket when every probe in it passed (x1.25 each); default 3. */
  readonly growSteps?: number;
  /** Loss allowed, percent; default 0.1. */
  readonly maxLossPercent?: number;
}

/**
 * The highest received packets/s of a probe with at most `maxLossPercent` loss. `flat` is the unlimited probe
 * (`iperf3 -b 0`): the bracket is [its rate if it was loss-free, else 0; 1.1 x its received rate], bisected
 * `steps` times (the first probe at the bracket's middle). The unlimited sender competes with the tunnel for
 * the CPUs, so a path can stay loss-free above that bracket: when no probe lost, the bracket's top is raised
 * x1.25 until one does (`growSteps` at most), then halved twice more. A path that lost inside the bracket is
 * probed exactly as by a plain bisection.
 */
export function searchLossFree(flat: UdpProbeResult, probe: (pps: number) => UdpProbeResult, o: UdpSearchOptions): number {
  const maxLoss = o.maxLossPercent ?? 0.1;
  let hi = flat.packetsPerSecond * 1.1;
  let lo = 0;
  let best = flat.lostPercent <= maxLoss ? flat.packetsPerSecond : 0;
  if (best > 0) lo = best;
  let lost = false;
  /** Probes `rate`; true if it lost. */
  const step = (rate: number): boolean => {
    const r = probe(rate);
    if (r.lostPercent <= maxLoss) {
      lo = rate;
      best = Math.max(best, r.packetsPerSecond);
      return false;
    }
    hi = rate;
    return true;
  };
  for (let i = 0; i < o.steps; i++) if (step(lo === 0 && i === 0 ? hi / 2 : (lo + hi) / 2)) lost = true;
  if (lost || lo === 0) return best;
  for (let g = 0; g < (o.growSteps ?? 3) && !lost; g++) lost = step(hi * 1.25 ** (g + 1));
  if (!lost) return best;
  for (let i = 0; i < 2; i++) step((lo + hi) / 2);
  return best;
}
