// The root of every typed error in Aspen-TS. Each kind is a subclass with a stable `code` that scripts and
// the wire protocol can match on; messages say what went wrong and what to do, and never contain secrets.

/** Base class of all Aspen errors; `code` is stable and machine-readable. */
export abstract class AspenError extends Error {
  abstract readonly code: string
  constructor (message: string, options?: { cause?: unknown }) {
    super(message, options)
    this.name = new.target.name
  }
}

/** An internal invariant did not hold: a bug, never a user error. */
export class InvariantError extends AspenError {
  readonly code = 'INVARIANT'
}

/** Throws InvariantError with `message` unless `condition` holds (Tiger Style assertions stay on in production). */
export function invariant (condition: unknown, message: string | (() => string)): asserts condition {
  if (!condition) throw new InvariantError(typeof message === 'string' ? message : message())
}
