// RaftLog: the stable storage view plus the unstable tail, with the commit and apply cursors.
// Invariants: applied ≤ committed ≤ lastIndex; committed never decreases; entries are contiguous.

import { invariant } from '../errors.js'
import { entriesSize, limitSize } from './entry-size.js'
import { ErrCompacted, ErrUnavailable } from './errors.js'
import type { Storage } from './storage.js'
import type { Entry, Snapshot } from './types.js'
import { Unstable } from './unstable.js'

/** An (index, term) pair naming one log position. */
export interface EntryId { index: number, term: number }

/** The log as the state machine sees it: storage plus unstable tail, with commit and apply cursors. */
export class RaftLog {
  readonly storage: Storage
  readonly unstable: Unstable
  /** Highest index known committed. */
  committed: number
  /** Highest index handed out for applying (in a Ready not yet advanced). */
  applying: number
  /** Highest index the application has applied. */
  applied: number
  /** Limit on the bytes of committed entries handed out per Ready. */
  readonly maxApplyingEntsSize: number

  constructor (storage: Storage, maxApplyingEntsSize = Number.MAX_SAFE_INTEGER) {
    this.storage = storage
    const first = storage.firstIndex()
    const last = storage.lastIndex()
    this.unstable = new Unstable(last + 1)
    this.committed = first - 1
    this.applying = first - 1
    this.applied = first - 1
    this.maxApplyingEntsSize = maxApplyingEntsSize
  }

  /**
   * Appends a leader's entries after (prevIndex, prevTerm) if that position matches; returns the index of the last
   * new entry, or undefined on mismatch. Commits up to min(committed, last new index).
   */
  maybeAppend (prevIndex: number, prevTerm: number, committed: number, ents: Entry[]): number | undefined {
    if (!this.matchTerm(prevIndex, prevTerm)) return undefined
    const lastNew = prevIndex + ents.length
    const ci = this.findConflict(ents)
    if (ci !== 0) {
      invariant(ci > this.committed, () => `entry ${ci} conflicts with committed entry (committed ${this.committed})`)
      const offset = prevIndex + 1
      invariant(ci - offset <= ents.length, () => `conflict index ${ci} out of range`)
      this.append(ents.slice(ci - offset))
    }
    this.commitTo(Math.min(committed, lastNew))
    return lastNew
  }

  /** Appends entries (truncating the conflicting suffix); returns the new last index. */
  append (ents: Entry[]): number {
    if (ents.length === 0) return this.lastIndex()
    const after = ents[0].index - 1
    invariant(after >= this.committed, () => `append after ${after} is below committed ${this.committed}`)
    invariant(after <= this.lastIndex(), () => `append at ${ents[0].index} leaves a gap after last index ${this.lastIndex()}`)
    for (let k = 1; k < ents.length; k++) {
      invariant(ents[k].index === ents[k - 1].index + 1, 'appended entries must be contiguous')
      invariant(ents[k].term >= ents[k - 1].term, 'appended entries must have non-decreasing terms')
    }
    this.unstable.truncateAndAppend(ents)
    return this.lastIndex()
  }

  /** Index of the first entry of `ents` that is missing or has a different term in our log; 0 if none. */
  findConflict (ents: readonly Entry[]): number {
    for (const e of ents) {
      if (!this.matchTerm(e.index, e.term)) return e.index
    }
    return 0
  }

  /**
   * The largest position ≤ index whose term is ≤ term (etcd's fast backtracking). Returns term 0 if the position
   * is compacted or the log is empty there.
   */
  findConflictByTerm (index: number, term: number): EntryId {
    for (; index > 0; index--) {
      const ours = this.termOrUndefined(index)
      if (ours === undefined) return { index, term: 0 }
      if (ours <= term) return { index, term: ours }
    }
    return { index: 0, term: 0 }
  }

  /** Unstable entries not yet handed out. */
  nextUnstableEnts (): Entry[] {
    return this.unstable.nextEntries()
  }

  /** True if there are unstable entries not yet handed out. */
  hasNextUnstableEnts (): boolean {
    return this.unstable.nextEntries().length > 0
  }

  /** Committed entries not yet handed out for applying (may include unstable ones), size-limited. */
  nextCommittedEnts (): Entry[] {
    if (this.unstable.snapshot !== undefined) return []
    const lo = this.applying + 1
    const hi = this.committed + 1
    if (lo >= hi) return []
    return this.slice(lo, hi, this.maxApplyingEntsSize)
  }

  /** True if nextCommittedEnts() would be non-empty. */
  hasNextCommittedEnts (): boolean {
    if (this.unstable.snapshot !== undefined) return false
    return this.applying < this.committed
  }

  /** The pending incoming snapshot, if not yet handed out. */
  nextUnstableSnapshot (): Snapshot | undefined {
    return this.unstable.nextSnapshot()
  }

  /** True while an incoming snapshot is not yet persisted. */
  hasNextOrInProgressSnapshot (): boolean {
    return this.unstable.snapshot !== undefined
  }

  /** The snapshot to send a follower: the pending one or the storage's. */
  snapshot (): Snapshot {
    if (this.unstable.snapshot !== undefined) return this.unstable.snapshot
    return this.storage.snapshot()
  }

  /** First readable index. */
  firstIndex (): number {
    return this.unstable.maybeFirstIndex() ?? this.storage.firstIndex()
  }

  /** Last index. */
  lastIndex (): number {
    return this.unstable.maybeLastIndex() ?? this.storage.lastIndex()
  }

  /** Last index known persisted (everything below the unstable tail). */
  stableLastIndex (): number {
    return this.unstable.offset - 1
  }

  /** Raises committed to `toCommit` (never lowers it). */
  commitTo (toCommit: number): void {
    if (this.committed < toCommit) {
      invariant(toCommit <= this.lastIndex(), () => `commit ${toCommit} is out of range [last index ${this.lastIndex()}]; was the log truncated or lost?`)
      this.committed = toCommit
    }
  }

  /** The application has applied up to i. */
  appliedTo (i: number): void {
    invariant(i <= this.committed && i >= this.applied, () => `applied ${i} is out of range [prev applied ${this.applied}, committed ${this.committed}]`)
    this.applied = i
    this.applying = Math.max(this.applying, i)
  }

  /** Committed entries up to i were handed out for applying. */
  acceptApplying (i: number): void {
    invariant(i <= this.committed, () => `applying ${i} beyond committed ${this.committed}`)
    this.applying = i
  }

  /** Entries up to (index, term) are persisted. */
  stableTo (index: number, term: number): boolean {
    return this.unstable.stableTo(index, term)
  }

  /** The snapshot at index i is persisted. */
  stableSnapTo (i: number): void {
    this.unstable.stableSnapTo(i)
  }

  /** Everything unstable was handed out in a Ready. */
  acceptUnstable (): void {
    this.unstable.acceptInProgress()
  }

  /** (index, term) of the last entry. */
  lastEntryId (): EntryId {
    const index = this.lastIndex()
    const term = this.termOrUndefined(index)
    invariant(term !== undefined, () => `no term for last index ${index}`)
    return { index, term }
  }

  /** Term of entry i; throws ErrCompacted / ErrUnavailable. */
  term (i: number): number {
    const t = this.termOrUndefined(i)
    if (t !== undefined) return t
    if (i + 1 < this.firstIndex()) throw new ErrCompacted()
    throw new ErrUnavailable()
  }

  /** Term of entry i, or undefined if compacted / unavailable (checked first: errors are too costly on hot paths). */
  termOrUndefined (i: number): number | undefined {
    const t = this.unstable.maybeTerm(i)
    if (t !== undefined) return t
    if (i + 1 < this.firstIndex() || i > this.lastIndex()) return undefined
    try {
      return this.storage.term(i)
    } catch (err) {
      if (err instanceof ErrCompacted || err instanceof ErrUnavailable) return undefined
      throw err
    }
  }

  /** Term of entry i, 0 if out of bounds. */
  termOrZero (i: number): number {
    return this.termOrUndefined(i) ?? 0
  }

  /** Entries from i to the end, at most maxSize bytes (at least one). Throws ErrCompacted. */
  entries (i: number, maxSize: number): Entry[] {
    if (i > this.lastIndex()) return []
    return this.slice(i, this.lastIndex() + 1, maxSize)
  }

  /** Raft §5.4.1: a candidate's log is at least as up to date as ours. */
  isUpToDate (index: number, term: number): boolean {
    const our = this.lastEntryId()
    return term > our.term || (term === our.term && index >= our.index)
  }

  /** True if our entry at index has this term. */
  matchTerm (index: number, term: number): boolean {
    const t = this.termOrUndefined(index)
    return t !== undefined && t === term
  }

  /** Commits up to index if it is above committed and carries term (the caller decides which term is allowed). */
  maybeCommit (index: number, term: number): boolean {
    if (term !== 0 && index > this.committed && this.matchTerm(index, term)) {
      this.commitTo(index)
      return true
    }
    return false
  }

  /** Replaces the log with a snapshot (follower install). */
  restore (s: Snapshot): void {
    invariant(s.metadata.index >= this.committed, () => `snapshot ${s.metadata.index} below committed ${this.committed}`)
    this.committed = s.metadata.index
    this.unstable.restore(s)
  }

  /** Entries in [lo, hi), at most maxSize bytes (at least one); throws ErrCompacted if lo is compacted. */
  slice (lo: number, hi: number, maxSize: number): Entry[] {
    invariant(lo <= hi, () => `invalid slice ${lo} > ${hi}`)
    const fi = this.firstIndex()
    if (lo < fi) throw new ErrCompacted()
    invariant(hi <= this.lastIndex() + 1, () => `slice [${lo}, ${hi}) out of bound [${fi}, ${this.lastIndex()}]`)
    if (lo === hi) return []
    const u = this.unstable.offset
    if (lo >= u) return limitSize(this.unstable.slice(lo, hi), maxSize)
    const cut = Math.min(hi, u)
    const stored = this.storage.entries(lo, cut, maxSize)
    invariant(stored.length > 0, () => `storage returned no entries for [${lo}, ${cut})`)
    invariant(stored[0].index === lo, () => `storage returned entries from ${stored[0].index}, asked for ${lo}`)
    if (hi <= u || stored.length < cut - lo) return stored
    const size = entriesSize(stored)
    if (size >= maxSize) return stored
    const tail = limitSize(this.unstable.slice(u, hi), maxSize - size)
    if (tail.length === 1 && size + entriesSize(tail) > maxSize) return stored
    return stored.concat(tail)
  }

  /** True if any entry in [lo, hi) is a conf change (scanned in pages to bound memory). */
  hasConfChangeIn (lo: number, hi: number): boolean {
    const page = Math.max(1, Math.min(this.maxApplyingEntsSize, 4 * 1024 * 1024))
    while (lo < hi) {
      const ents = this.slice(lo, hi, page)
      invariant(ents.length > 0, () => `got 0 entries in [${lo}, ${hi})`)
      for (const e of ents) if (e.type === 'confChange') return true
      lo += ents.length
    }
    return false
  }
}
