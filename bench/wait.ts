// Polling with a deadline (never a bare sleep as synchronisation).

export { waitFor } from '../test/integration/harness.js'

/** Resolves after `ms` (pacing a measurement window, not synchronising with anything). */
export async function delay (ms: number): Promise<void> {
  await new Promise(resolve => setTimeout(resolve, ms))
}
