// Typed errors of the durable store. Messages name the data dir and what to do; codes are stable.
import { AspenError } from '../errors.js'

/** On-disk state failed verification (chain hash mismatch, missing or torn record). Start-up stops; nothing is repaired. */
export class CorruptionError extends AspenError {
  readonly code = 'CORRUPTION'
  constructor (readonly dataDir: string, readonly table: string, readonly index: number | undefined, detail: string) {
    super(`data dir ${dataDir}: corrupt ${table} table${index === undefined ? '' : ` at index ${index}`}: ${detail}. ` +
      'The store refuses to start; restore the node from a healthy replica (wipe the data dir and re-add it as a learner).')
  }
}

/** Another process (or another open store in this process) holds the data dir. */
export class DataDirLockedError extends AspenError {
  readonly code = 'DATA_DIR_LOCKED'
  constructor (readonly dataDir: string, options?: { cause?: unknown }) {
    super(`data dir ${dataDir} is in use by another process (LevelDB lock held); stop it first`, options)
  }
}

/** The data dir was written by an unknown (newer or foreign) format version. */
export class FormatVersionError extends AspenError {
  readonly code = 'FORMAT_VERSION'
  constructor (readonly dataDir: string, readonly found: string, readonly supported: number) {
    super(`data dir ${dataDir} has format version ${found}; this build supports version ${supported}`)
  }
}

/** The data dir holds no store and `create: false` was given. */
export class NotInitializedError extends AspenError {
  readonly code = 'NOT_INITIALIZED'
  constructor (readonly dataDir: string) {
    super(`data dir ${dataDir} holds no store; initialise the node first`)
  }
}

/** The identity recorded in the data dir (node id, peer id) differs from the one given. */
export class IdentityMismatchError extends AspenError {
  readonly code = 'IDENTITY_MISMATCH'
}

/** Events older than the retained window were asked for; resume from `oldestRevision` or resync. */
export class CompactedError extends AspenError {
  readonly code = 'COMPACTED'
  constructor (readonly requested: number, readonly oldestRevision: number) {
    super(`revision ${requested} is compacted; the oldest retained revision is ${oldestRevision}`)
  }
}

/** A snapshot stream is malformed, does not match its metadata, or fails a checksum. Nothing was switched. */
export class SnapshotError extends AspenError {
  readonly code = 'SNAPSHOT_INVALID'
}

/** A snapshot at or below the commit index cannot be installed (it would move the state backwards). */
export class StaleSnapshotError extends AspenError {
  readonly code = 'SNAPSHOT_STALE'
}

/** Only one snapshot install may run at a time. */
export class SnapshotInProgressError extends AspenError {
  readonly code = 'SNAPSHOT_IN_PROGRESS'
}

/** The store is closed, or stopped after a failed write (fail-stop: reopen to recover from disk). */
export class StoreClosedError extends AspenError {
  readonly code = 'STORE_CLOSED'
}
