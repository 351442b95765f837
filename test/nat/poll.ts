// Waiting in the NAT test: every wait polls a condition until a deadline (no sleeps as synchronisation).
import { setTimeout as delay } from 'node:timers/promises'
import { AspenError } from '../../src/errors.js'

/** Interval between two looks at a condition (ms). */
export const POLL_INTERVAL_MS = 50

/** A condition did not hold before its deadline. */
export class DeadlineError extends AspenError {
  readonly code = 'NAT_TEST_DEADLINE'
}

/**
 * Evaluates `probe` until it returns a value other than undefined and returns it with the time it took. After
 * `deadlineMs` throws DeadlineError naming `what` and, via `explain`, the last state seen.
 */
export async function pollUntil<T> (probe: () => Promise<T | undefined>, deadlineMs: number, what: string, explain?: () => string): Promise<{ value: T, elapsedMs: number }> {
  const start = Date.now()
  while (true) {
    const value = await probe()
    if (value !== undefined) return { value, elapsedMs: Date.now() - start }
    if (Date.now() - start > deadlineMs) {
      throw new DeadlineError(`timed out after ${deadlineMs} ms waiting for ${what}${explain === undefined ? '' : `; last state: ${explain()}`}`)
    }
    await delay(POLL_INTERVAL_MS)
  }
}
