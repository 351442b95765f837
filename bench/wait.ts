// Polling with a deadline (never a bare sleep as synchronisation).

/** Polls `cond` every `everyMs` until it returns a value other than undefined/false, or throws after `timeoutMs`. */
export async function waitFor<T> (what: string, cond: () => Promise<T | undefined | false> | T | undefined | false, timeoutMs: number, everyMs = 25): Promise<T> {
  const deadline = performance.now() + timeoutMs
  let lastErr: unknown
  while (performance.now() < deadline) {
    try {
      const v = await cond()
      if (v !== undefined && v !== false) return v
    } catch (err) {
      lastErr = err
    }
    await new Promise(resolve => setTimeout(resolve, everyMs))
  }
  const why = lastErr === undefined ? '' : ` (last error: ${lastErr instanceof Error ? lastErr.message : String(lastErr)})`
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${why}`)
}

/** Resolves after `ms` (pacing a measurement window, not synchronising with anything). */
export async function delay (ms: number): Promise<void> {
  await new Promise(resolve => setTimeout(resolve, ms))
}
