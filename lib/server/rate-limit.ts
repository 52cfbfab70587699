/**
 * A token bucket on a monotonic clock (PROTOCOL.md section 9: 50 requests a second per
 * connection with bursts of 200; `keys.fetch` 10 a minute per requester).
 */
/** One clock for every bucket: a closure per bucket was ~120 bytes per idle connection (issue 12). */
const monotonic = (): number => performance.now();

export class TokenBucket {
  private tokens: number;
  private last: number;

  constructor(
    /** Tokens added per second. */
    private readonly ratePerSecond: number,
    /** The most tokens held: the largest burst. */
    private readonly burst: number,
    private readonly now: () => number = monotonic,
  ) {
    this.tokens = burst;
    this.last = now();
  }

  /** Takes one token; false when the bucket is empty (the request is refused). */
  take(): boolean {
    const t = this.now();
    this.tokens = Math.min(this.burst, this.tokens + ((t - this.last) / 1000) * this.ratePerSecond);
    this.last = t;
    if (this.tokens < 1) return false;
    this.tokens -= 1;
    return true;
  }
}

/**
 * One token bucket per key (a requesting identity, a target, an address), in memory. At most
 * `maxKeys` are held; past that the oldest is dropped (it was full again or nearly so, since
 * keys are refreshed on use).
 */
export class KeyedBuckets {
  private readonly buckets = new Map<string, TokenBucket>();

  constructor(
    private readonly ratePerSecond: number,
    private readonly burst: number,
    private readonly maxKeys = 100_000,
    private readonly now: () => number = monotonic,
  ) {}

  take(key: string): boolean {
    let b = this.buckets.get(key);
    if (b) this.buckets.delete(key);
    else b = new TokenBucket(this.ratePerSecond, this.burst, this.now);
    this.buckets.set(key, b);
    if (this.buckets.size > this.maxKeys) {
      const oldest = this.buckets.keys().next().value;
      if (oldest !== undefined) this.buckets.delete(oldest);
    }
    return b.take();
  }
}
