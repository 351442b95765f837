// Token buckets keyed by peer, with a bounded number of tracked keys (least recently used are forgotten), so a
// flood of fresh peer ids cannot grow memory. The clock is injected.
import { invariant } from '../errors.js'

export interface RateLimit {
  /** Tokens available at once. */
  burst: number
  /** Tokens added per minute. */
  perMinute: number
}

interface Bucket {
  tokens: number
  at: number
}

/** Per-key token bucket rate limiter. */
export class KeyedRateLimiter {
  private readonly buckets = new Map<string, Bucket>()

  constructor (readonly limit: RateLimit, private readonly clock: () => number, readonly maxKeys = 4096) {
    invariant(limit.burst >= 1 && limit.perMinute > 0 && maxKeys > 0, 'rate limit needs burst >= 1, perMinute > 0, maxKeys > 0')
  }

  /** Takes one token for `key`; false when fewer than 1 + `reserve` are left. */
  tryTake (key: string, reserve = 0): boolean {
    const b = this.refill(key)
    if (b.tokens < 1 + reserve) return false
    b.tokens -= 1
    return true
  }

  /** Milliseconds until `key` has a token again (0 if it has one now). */
  waitMs (key: string): number {
    const b = this.refill(key)
    if (b.tokens >= 1) return 0
    return Math.ceil((1 - b.tokens) * 60_000 / this.limit.perMinute)
  }

  private refill (key: string): Bucket {
    const now = this.clock()
    let b = this.buckets.get(key)
    if (b === undefined) {
      b = { tokens: this.limit.burst, at: now }
      if (this.buckets.size >= this.maxKeys) {
        const oldest = this.buckets.keys().next().value
        if (oldest !== undefined) this.buckets.delete(oldest)
      }
    } else {
      this.buckets.delete(key)
      const elapsed = Math.max(0, now - b.at)
      b.tokens = Math.min(this.limit.burst, b.tokens + elapsed * this.limit.perMinute / 60_000)
      b.at = now
    }
    // Re-insert: Map order is our LRU order.
    this.buckets.set(key, b)
    return b
  }
}
