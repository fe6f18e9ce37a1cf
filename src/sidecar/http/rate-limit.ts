/**
 * Tool calls per minute per principal: a token bucket per principal (capacity = rpm, refilled continuously),
 * in this replica's memory. Refusals say when the next call would be accepted (Retry-After).
 */
export class RateLimiter {
  private readonly buckets = new Map<string, { tokens: number; at: number; rpm: number }>();

  constructor(private readonly now: () => number = Date.now) {}

  /** Takes one call from the principal's bucket; when empty, the seconds until one is back. */
  take(principalId: string, rpm: number): { ok: true } | { ok: false; retryAfterS: number } {
    const now = this.now();
    let b = this.buckets.get(principalId);
    if (!b || b.rpm !== rpm) {
      b = { tokens: rpm, at: now, rpm };
      this.buckets.set(principalId, b);
    }
    b.tokens = Math.min(rpm, b.tokens + ((now - b.at) * rpm) / 60_000);
    b.at = now;
    if (b.tokens >= 1) {
      b.tokens -= 1;
      return { ok: true };
    }
    return { ok: false, retryAfterS: Math.max(1, Math.ceil(((1 - b.tokens) * 60) / rpm)) };
  }

  /** Drops buckets that are full again (idle principals), so the map does not grow without bound. */
  sweep(): void {
    const now = this.now();
    for (const [id, b] of this.buckets) if (b.tokens + ((now - b.at) * b.rpm) / 60_000 >= b.rpm) this.buckets.delete(id);
  }
}
