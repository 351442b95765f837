// Capped exponential backoff with jitter for re-dials. Randomness is injected so tests are deterministic.
import { invariant } from '../errors.js'

export interface BackoffPolicy {
  /** First delay (ms). */
  initialMs: number
  /** Largest delay (ms). */
  maxMs: number
  /** Growth per attempt (≥ 1). */
  factor: number
  /** Fraction of the delay that is randomised, 0..1 (0.2 → delay × [0.8, 1.0]). */
  jitter: number
}

export const DEFAULT_BACKOFF: BackoffPolicy = { initialMs: 50, maxMs: 2000, factor: 2, jitter: 0.2 }

/** Capped exponential backoff: next() returns successive delays; reset() after a success. */
export class Backoff {
  private attempt = 0

  constructor (readonly policy: BackoffPolicy = DEFAULT_BACKOFF, private readonly random: () => number = Math.random) {
    invariant(policy.initialMs > 0 && policy.maxMs >= policy.initialMs, 'backoff needs 0 < initialMs <= maxMs')
    invariant(policy.factor >= 1 && policy.jitter >= 0 && policy.jitter <= 1, 'backoff needs factor >= 1 and jitter in [0, 1]')
  }

  /** Failures since the last reset. */
  get attempts (): number {
    return this.attempt
  }

  /** The delay before the next attempt (ms); grows each call up to maxMs. */
  next (): number {
    const { initialMs, maxMs, factor, jitter } = this.policy
    const base = Math.min(maxMs, initialMs * factor ** Math.min(this.attempt, 64))
    this.attempt++
    return Math.max(1, Math.round(base * (1 - jitter * this.random())))
  }

  /** Forget past failures. */
  reset (): void {
    this.attempt = 0
  }
}
