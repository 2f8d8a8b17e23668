// Node-wide handshake load control (whitepaper §5.3, boringtun's RateLimiter): every handshake message
// needs a valid MAC1; above `handshakesPerSecond` the node is "under load" and also demands a valid MAC2,
// answering messages without one by a cookie reply. Shared by all Tunns of a node.
import { CookieChecker } from './cookie';
import type { Rng } from './rng';
import type { StaticIdentity } from './static-identity';

export type RateLimitVerdict = 'accept' | 'invalidMac1' | 'invalidMac2' | 'sendCookie' | 'underLoad';

export interface RateLimiterOptions {
  /** Handshake messages per second above which MAC2 (a cookie) is required. Default 100. */
  readonly handshakesPerSecond?: number;
}

export class RateLimiter {
  readonly checker: CookieChecker;
  private readonly limit: number;
  private windowStart = Number.NEGATIVE_INFINITY;
  private count = 0;

  constructor(identity: StaticIdentity, rng: Rng, options: RateLimiterOptions = {}) {
    this.checker = new CookieChecker(identity, rng);
    this.limit = options.handshakesPerSecond ?? 100;
  }

  /** True when more than the limit of handshake messages arrived in the current second. */
  underLoad(now: number): boolean {
    if (now - this.windowStart >= 1000) {
      this.windowStart = now;
      this.count = 0;
    }
    return this.count >= this.limit;
  }

  /**
   * Checks a handshake initiation or response. `src` is the sender's address bytes (IP then port) that
   * cookies are bound to; without it a node under load drops the message (`underLoad`).
   */
  verify(msg: Uint8Array, src: Uint8Array | undefined, now: number): RateLimitVerdict {
    if (!this.checker.verifyMac1(msg)) return 'invalidMac1';
    if (this.underLoad(now)) {
      if (src === undefined) return 'underLoad';
      if (!this.checker.verifyMac2(msg, src, now)) return 'sendCookie';
    }
    this.count++;
    return 'accept';
  }
}
