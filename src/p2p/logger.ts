// The logging surface the p2p layer needs: a structural subset of pino's Logger, so the node passes its pino
// logger as is. Fields must never contain the cookie or key material.

/** Structured logger (pino-compatible). */
export interface P2PLogger {
  debug (obj: object, msg: string): void
  info (obj: object, msg: string): void
  warn (obj: object, msg: string): void
  error (obj: object, msg: string): void
}

/** A logger that discards everything (the default). */
export const silentLogger: P2PLogger = {
  debug () {},
  info () {},
  warn () {},
  error () {}
}

/** Short text of an unknown thrown value for a log field. */
export function errText (e: unknown): string {
  if (e instanceof Error) return `${e.name}: ${e.message}`
  return String(e)
}
