// Reconnect backoff (portal-protocol.md): before the first successful join a constant 1 s for at most 15 s;
// afterwards exponential from 500 ms, x1.5, randomisation 0.5, capped at 60 s, for up to the max partition time.

/** Injected randomness (conventions: `Rng`). */
export interface Rng {
  fill(bytes: Uint8Array): void;
  nextU32(): number;
}

export interface BackoffPolicy {
  readonly initialMs: number;
  readonly multiplier: number;
  readonly randomization: number;
  readonly maxIntervalMs: number;
  /** undefined = retry forever. */
  readonly maxElapsedMs: number | undefined;
}

export const INITIAL_CONNECT_POLICY: BackoffPolicy = { initialMs: 1000, multiplier: 1, randomization: 0, maxIntervalMs: 1000, maxElapsedMs: 15_000 };

export function reconnectPolicy(maxPartitionTimeMs: number | undefined): BackoffPolicy {
  return { initialMs: 500, multiplier: 1.5, randomization: 0.5, maxIntervalMs: 60_000, maxElapsedMs: maxPartitionTimeMs };
}

/** Exponential backoff like the `backoff` crate's ExponentialBackoff, driven by `now`. */
export class Backoff {
  private current: number;
  private readonly startedAt: number;

  constructor(
    readonly policy: BackoffPolicy,
    now: number,
    private readonly rng: Rng,
  ) {
    this.current = policy.initialMs;
    this.startedAt = now;
  }

  /** Time since the backoff started (the start of the partition / first attempt). */
  elapsed(now: number): number {
    return now - this.startedAt;
  }

  /** The next delay, or undefined when the elapsed budget is exhausted. */
  next(now: number): number | undefined {
    const max = this.policy.maxElapsedMs;
    if (max !== undefined && this.elapsed(now) >= max) return undefined;
    const r = this.policy.randomization;
    const unit = this.rng.nextU32() / 0x1_0000_0000;
    const delay = Math.round(this.current * (1 - r + 2 * r * unit));
    this.current = Math.min(this.current * this.policy.multiplier, this.policy.maxIntervalMs);
    return delay;
  }
}
