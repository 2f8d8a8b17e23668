// Sign-in throttling, in memory with a fake clock.
import { describe, expect, it } from 'vitest';
import { SignInThrottle, type ThrottleOptions } from '../../src/core/throttle';

const OPTS: ThrottleOptions = { freePerIp: 10, freePerAccount: 5, baseDelayMs: 1000, maxDelayMs: 60_000, forgetMs: 3_600_000, maxKeys: 1000 };

/** Attempts that fail: returns the Retry-After (ms) the next try would get, or 0. */
function fail(t: SignInThrottle, ip: string, account: string, now: number, times = 1): number {
  for (let i = 0; i < times; i++) t.attempt(ip, account, now);
  const v = t.check(ip, account, now);
  return v.ok ? 0 : v.retryAfterMs;
}

describe('sign-in throttle', () => {
  it('lets the free attempts through, then backs off exponentially up to the cap', () => {
    const t = new SignInThrottle(OPTS);
    expect(fail(t, '192.0.2.1', 'alice', 0, 5)).toBe(0);
    const delays: number[] = [];
    let now = 0;
    for (let i = 0; i < 9; i++) {
      const d = fail(t, '192.0.2.1', 'alice', now);
      delays.push(d);
      now += d;
    }
    expect(delays).toEqual([1000, 2000, 4000, 8000, 16_000, 32_000, 60_000, 60_000, 60_000]);
  });

  it('blocks an account attacked from many addresses (per account) and says which key', () => {
    const t = new SignInThrottle(OPTS);
    for (let i = 0; i < 6; i++) t.attempt(`198.51.100.${i}`, 'alice', 0);
    expect(t.check('203.0.113.1', 'alice', 0)).toEqual({ ok: false, retryAfterMs: 1000, key: 'account' });
    expect(t.check('203.0.113.1', 'bob', 0)).toEqual({ ok: true }); // other accounts unaffected
    expect(t.check('203.0.113.1', 'alice', 1000)).toEqual({ ok: true }); // the delay passes
  });

  it('blocks an address spraying many accounts (per IP)', () => {
    const t = new SignInThrottle(OPTS);
    for (let i = 0; i < 11; i++) t.attempt('192.0.2.7', `user${i}@example.com`, 0);
    expect(t.check('192.0.2.7', 'fresh@example.com', 0)).toEqual({ ok: false, retryAfterMs: 1000, key: 'ip' });
    expect(t.check('192.0.2.8', 'fresh@example.com', 0)).toEqual({ ok: true });
  });

  it('a success clears the account and returns its attempt to the IP, but not earlier failures', () => {
    const t = new SignInThrottle(OPTS);
    fail(t, '192.0.2.9', 'alice', 0, 5);
    t.attempt('192.0.2.9', 'alice', 0);
    t.success('192.0.2.9', 'alice');
    expect(t.check('192.0.2.9', 'alice', 0)).toEqual({ ok: true });
    // The IP still holds 5 failures: 5 more free ones, then blocked (spraying other accounts).
    expect(fail(t, '192.0.2.9', 'x1', 0, 5)).toBe(0);
    expect(fail(t, '192.0.2.9', 'x2', 0)).toBe(1000);
  });

  it('forgets keys after an hour without failures and keeps the table bounded', () => {
    const t = new SignInThrottle({ ...OPTS, maxKeys: 50 });
    fail(t, '192.0.2.1', 'alice', 0, 7);
    expect(t.check('192.0.2.1', 'alice', 3_600_000).ok).toBe(true);
    expect(fail(t, '192.0.2.1', 'alice', 3_600_000)).toBe(0); // counting starts afresh
    for (let i = 0; i < 500; i++) t.attempt(`10.0.${i >> 8}.${i & 255}`, `u${i}`, 0);
    expect(t.size).toBeLessThanOrEqual(50);
  });
});
