// The not-yet-persisted tail of the log (and a not-yet-persisted incoming snapshot). Entries handed out in a
// Ready are "in progress" until advance() reports them stable; new appends may still truncate them.

import { invariant } from '../errors.js'
import type { Entry, Snapshot } from './types.js'

/** Unstable log tail: entries[i] has index offset + i. */
export class Unstable {
  snapshot: Snapshot | undefined = undefined
  entries: Entry[] = []
  offset: number
  /** Entries below this index (and the snapshot if snapshotInProgress) were handed out for persisting. */
  offsetInProgress: number
  snapshotInProgress = false

  constructor (offset: number) {
    this.offset = offset
    this.offsetInProgress = offset
  }

  /** First index if a snapshot is pending. */
  maybeFirstIndex (): number | undefined {
    return this.snapshot !== undefined ? this.snapshot.metadata.index + 1 : undefined
  }

  /** Last index held here, if any. */
  maybeLastIndex (): number | undefined {
    if (this.entries.length > 0) return this.offset + this.entries.length - 1
    if (this.snapshot !== undefined) return this.snapshot.metadata.index
    return undefined
  }

  /** Term of index i, if held here. */
  maybeTerm (i: number): number | undefined {
    if (i < this.offset) {
      if (this.snapshot !== undefined && this.snapshot.metadata.index === i) return this.snapshot.metadata.term
      return undefined
    }
    const last = this.maybeLastIndex()
    if (last === undefined || i > last) return undefined
    return this.entries[i - this.offset].term
  }

  /** Entries not yet handed out for persisting. */
  nextEntries (): Entry[] {
    const inProgress = this.offsetInProgress - this.offset
    if (this.entries.length === inProgress) return []
    return this.entries.slice(inProgress)
  }

  /** The snapshot if not yet handed out for persisting. */
  nextSnapshot (): Snapshot | undefined {
    if (this.snapshot === undefined || this.snapshotInProgress) return undefined
    return this.snapshot
  }

  /** Marks everything currently held as handed out (called when a Ready is produced). */
  acceptInProgress (): void {
    if (this.entries.length > 0) this.offsetInProgress = this.entries[this.entries.length - 1].index + 1
    if (this.snapshot !== undefined) this.snapshotInProgress = true
  }

  /** Entries up to (index, term) are persisted; ignored if the log changed under the write (term mismatch). */
  stableTo (index: number, term: number): boolean {
    const gt = this.maybeTerm(index)
    if (gt === undefined || index < this.offset || gt !== term) return false
    const num = index + 1 - this.offset
    this.entries.splice(0, num)
    this.offset = index + 1
    this.offsetInProgress = Math.max(this.offsetInProgress, this.offset)
    return true
  }

  /** The snapshot at index i is persisted. */
  stableSnapTo (i: number): void {
    if (this.snapshot !== undefined && this.snapshot.metadata.index === i) {
      this.snapshot = undefined
      this.snapshotInProgress = false
    }
  }

  /** Replaces everything with a snapshot. */
  restore (s: Snapshot): void {
    this.offset = s.metadata.index + 1
    this.offsetInProgress = this.offset
    this.entries = []
    this.snapshot = s
    this.snapshotInProgress = false
  }

  /** Appends ents, truncating whatever they overwrite (including in-progress entries). */
  truncateAndAppend (ents: Entry[]): void {
    const from = ents[0].index
    if (from === this.offset + this.entries.length) {
      // The common case (a leader appending proposals): amortised O(1) per entry, no copying of the tail.
      for (const e of ents) this.entries.push(e)
    } else if (from <= this.offset) {
      this.entries = ents.slice()
      this.offset = from
      this.offsetInProgress = from
    } else {
      this.entries = this.slice(this.offset, from).concat(ents)
      this.offsetInProgress = Math.min(this.offsetInProgress, from)
    }
  }

  /** Entries in [lo, hi), which must lie inside this tail. */
  slice (lo: number, hi: number): Entry[] {
    invariant(lo <= hi, () => `unstable.slice ${lo} > ${hi}`)
    const upper = this.offset + this.entries.length
    invariant(lo >= this.offset && hi <= upper, () => `unstable.slice [${lo}, ${hi}) out of bound [${this.offset}, ${upper}]`)
    return this.entries.slice(lo - this.offset, hi - this.offset)
  }
}
