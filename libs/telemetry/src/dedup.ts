// "The same message at most once per 5 minutes": a small map of message key -> last time reported.

export class ReportLimiter {
  private readonly last = new Map<string, number>();
  constructor(
    private readonly windowMs: number,
    private readonly maxKeys = 1000,
  ) {}

  /** True if `key` may be reported at `now` (and records it); false within the window. */
  allow(key: string, now: number): boolean {
    const prev = this.last.get(key);
    if (prev !== undefined && now - prev < this.windowMs) return false;
    this.last.delete(key);
    this.last.set(key, now);
    if (this.last.size > this.maxKeys) {
      for (const [k, t] of this.last) {
        if (now - t >= this.windowMs || this.last.size > this.maxKeys) this.last.delete(k);
        else break;
      }
    }
    return true;
  }
}
