// Brute-force throttling of the sign-in page, sans-IO (time in): attempts are counted per client IP and per
// account before the password is checked (so parallel requests count too); after `free` failures of a key every
// further one blocks it for base x 2^(n - free), capped. A blocked key is refused before any password is checked
// (429 + Retry-After), which also keeps scrypt off an attacker's budget. A success takes its own attempt back
// from the IP and clears the account (one valid account must not launder guesses at others: the IP keeps its
// earlier failures). Entries are forgotten after `forgetMs` without a failure, and the table is bounded.

export interface ThrottleOptions {
  /** Failures allowed before backoff starts: per IP, per account. */
  readonly freePerIp: number;
  readonly freePerAccount: number;
  readonly baseDelayMs: number;
  readonly maxDelayMs: number;
  /** A key with no failure for this long starts afresh. */
  readonly forgetMs: number;
  /** Bound on the number of keys kept (oldest evicted). */
  readonly maxKeys: number;
}

export const DEFAULT_THROTTLE: ThrottleOptions = {
  freePerIp: 10,
  freePerAccount: 5,
  baseDelayMs: 1000,
  maxDelayMs: 15 * 60_000,
  forgetMs: 60 * 60_000,
  maxKeys: 100_000,
};

export type ThrottleVerdict = { readonly ok: true } | { readonly ok: false; readonly retryAfterMs: number; readonly key: 'ip' | 'account' };

interface Entry {
  failures: number;
  blockedUntilMs: number;
  lastFailureMs: number;
}

export class SignInThrottle {
  private readonly entries = new Map<string, Entry>();

  constructor(private readonly opts: ThrottleOptions = DEFAULT_THROTTLE) {}

  /** May this IP try to sign in to this account now? */
  check(ip: string, account: string, nowMs: number): ThrottleVerdict {
    let verdict: ThrottleVerdict = { ok: true };
    for (const [kind, key] of this.keys(ip, account)) {
      const e = this.live(key, nowMs);
      const wait = e ? e.blockedUntilMs - nowMs : 0;
      if (wait > 0 && (verdict.ok || wait > verdict.retryAfterMs)) verdict = { ok: false, retryAfterMs: wait, key: kind };
    }
    return verdict;
  }

  /** An attempt from this IP at this account, counted as a failure until `success` says otherwise. */
  attempt(ip: string, account: string, nowMs: number): void {
    for (const [kind, key] of this.keys(ip, account)) {
      const e = this.live(key, nowMs) ?? { failures: 0, blockedUntilMs: 0, lastFailureMs: nowMs };
      e.failures++;
      e.lastFailureMs = nowMs;
      const over = e.failures - (kind === 'ip' ? this.opts.freePerIp : this.opts.freePerAccount);
      if (over > 0) e.blockedUntilMs = nowMs + Math.min(this.opts.maxDelayMs, this.opts.baseDelayMs * 2 ** Math.min(over - 1, 40));
      this.entries.delete(key); // re-insert: the Map's order is the eviction order
      this.entries.set(key, e);
    }
    while (this.entries.size > this.opts.maxKeys) {
      const oldest = this.entries.keys().next();
      if (oldest.done) break;
      this.entries.delete(oldest.value);
    }
  }

  /** The attempt succeeded: the account starts afresh and the IP gets this attempt back. */
  success(ip: string, account: string): void {
    this.entries.delete(`account:${account}`);
    const e = this.entries.get(`ip:${ip}`);
    if (!e) return;
    e.failures = Math.max(0, e.failures - 1);
    if (e.failures <= this.opts.freePerIp) e.blockedUntilMs = 0;
  }

  get size(): number {
    return this.entries.size;
  }

  private keys(ip: string, account: string): [['ip', string], ['account', string]] {
    return [['ip', `ip:${ip}`], ['account', `account:${account}`]];
  }

  private live(key: string, nowMs: number): Entry | undefined {
    const e = this.entries.get(key);
    if (e && nowMs - e.lastFailureMs >= this.opts.forgetMs && e.blockedUntilMs <= nowMs) {
      this.entries.delete(key);
      return undefined;
    }
    return e;
  }
}
