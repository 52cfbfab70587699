/**
 * The client's side of the relay's request limit (docs/protocol.md 7.1): a token bucket a
 * little below the rate and burst the relay announces, so the relay never has to refuse a
 * request with `rate_limited` (issue 9, point 9). Pure: the clock is injected.
 */

/** Share of the announced rate and burst the client uses: a margin for clock skew and pings. */
const MARGIN = 0.8;

export interface AnnouncedLimits {
  readonly requestsPerSecond?: number;
  readonly requestBurst?: number;
}

export class Pacer {
  private rate = 40;
  private burst = 100;
  private tokens = this.burst;
  private at: number;

  constructor(private readonly now: () => number) {
    this.at = now();
  }

  /** New limits (ServerInfo at the handshake, then `welcome.limits`); the bucket starts full. */
  configure(limits: AnnouncedLimits): void {
    const r = limits.requestsPerSecond;
    const b = limits.requestBurst;
    if (typeof r === 'number' && r > 0) this.rate = Math.max(1, r * MARGIN);
    if (typeof b === 'number' && b > 0) this.burst = Math.max(1, Math.floor(b * MARGIN));
    this.tokens = this.burst;
    this.at = this.now();
  }

  private refill(): void {
    const t = this.now();
    this.tokens = Math.min(this.burst, this.tokens + ((t - this.at) / 1000) * this.rate);
    this.at = t;
  }

  /** Takes `cost` tokens (at most the whole burst, so any request can go) if there are. */
  take(cost = 1): boolean {
    this.refill();
    const c = Math.min(cost, this.burst);
    if (this.tokens < c) return false;
    this.tokens -= c;
    return true;
  }

  /**
   * Requests that may be unanswered at once. The relay may read a bunch of them together after a
   * pause; as long as they fit in half its burst it never refuses one, even when it lags behind.
   */
  get window(): number {
    return Math.max(1, Math.floor(this.burst / 2));
  }

  /** Milliseconds until `cost` tokens are due. */
  waitMs(cost = 1): number {
    this.refill();
    const c = Math.min(cost, this.burst);
    return this.tokens >= c ? 0 : Math.ceil(((c - this.tokens) / this.rate) * 1000);
  }
}
