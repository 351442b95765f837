// The read side of the persisted log as the core sees it, and an in-memory implementation used by tests, the
// simulator and as the node's mirror. Index 0 (or the snapshot index) is a dummy entry carrying the term
// of the last compacted entry, so term(firstIndex - 1) always answers.

import { invariant } from '../errors.js'
import { cloneConfState, cloneSnapshot, emptySnapshot } from './conf-state.js'
import { limitSize } from './entry-size.js'
import { ErrCompacted, ErrSnapOutOfDate, ErrUnavailable } from './errors.js'
import { bootstrapState } from './bootstrap.js'
import type { ConfState, Entry, HardState, NodeId, Snapshot } from './types.js'

/** Read side of the persisted log; synchronous (the node keeps an in-memory mirror). */
export interface Storage {
  /** Persisted hard state and the configuration as of the last snapshot (the log may hold later changes). */
  initialState(): { hardState: HardState, confState: ConfState }
  /** Entries in [lo, hi), at most maxSizeBytes but at least one if any; throws ErrCompacted / ErrUnavailable. */
  entries(lo: number, hi: number, maxSizeBytes: number): Entry[]
  /** Term of entry i, for i in [firstIndex - 1, lastIndex]; throws ErrCompacted / ErrUnavailable. */
  term(i: number): number
  /** Index of the first entry that may be read with entries(); snapshot index + 1. */
  firstIndex(): number
  /** Index of the last entry (the snapshot index when the log is empty). */
  lastIndex(): number
  /** The most recent snapshot; may throw SnapshotTemporarilyUnavailable. */
  snapshot(): Snapshot
}

/** An in-memory Storage; what the application persists is mirrored here by calling the mutators. */
export class MemoryStorage implements Storage {
  private hardState: HardState = { term: 0, vote: 0, commit: 0 }
  private snap: Snapshot = emptySnapshot()
  /** ents[0] is the dummy entry at the snapshot index. */
  private ents: Entry[] = [{ term: 0, index: 0, type: 'normal', data: new Uint8Array(0) }]

  /** Hard state and snapshot configuration. */
  initialState (): { hardState: HardState, confState: ConfState } {
    return { hardState: { ...this.hardState }, confState: cloneConfState(this.snap.metadata.confState) }
  }

  /** Records the persisted hard state. */
  setHardState (hs: HardState): void {
    this.hardState = { ...hs }
  }

  /** The recorded hard state. */
  getHardState (): HardState {
    return { ...this.hardState }
  }

  /** Entries in [lo, hi) limited to maxSizeBytes (at least one). */
  entries (lo: number, hi: number, maxSizeBytes: number): Entry[] {
    invariant(lo <= hi, () => `storage.entries: lo ${lo} > hi ${hi}`)
    const offset = this.ents[0].index
    if (lo <= offset) throw new ErrCompacted()
    if (hi > this.lastIndex() + 1) throw new ErrUnavailable(`entries [${lo}, ${hi}) beyond last index ${this.lastIndex()}`)
    if (lo === hi) return []
    return limitSize(this.ents.slice(lo - offset, hi - offset), maxSizeBytes)
  }

  /** Term of entry i. */
  term (i: number): number {
    const offset = this.ents[0].index
    if (i < offset) throw new ErrCompacted()
    if (i - offset >= this.ents.length) throw new ErrUnavailable(`term(${i}) beyond last index ${this.lastIndex()}`)
    return this.ents[i - offset].term
  }

  /** Snapshot index + 1. */
  firstIndex (): number {
    return this.ents[0].index + 1
  }

  /** Index of the last entry. */
  lastIndex (): number {
    return this.ents[0].index + this.ents.length - 1
  }

  /** The latest snapshot (a copy). */
  snapshot (): Snapshot {
    return cloneSnapshot(this.snap)
  }

  /** Replaces the whole log by `snap` (a follower installing the leader's snapshot); throws ErrSnapOutOfDate if older. */
  applySnapshot (snap: Snapshot): void {
    const have = this.snap.metadata.index
    if (have !== 0 && have >= snap.metadata.index) throw new ErrSnapOutOfDate()
    this.snap = cloneSnapshot(snap)
    this.ents = [{ term: snap.metadata.term, index: snap.metadata.index, type: 'normal', data: new Uint8Array(0) }]
  }

  /** Records an application-made snapshot at `index` (≤ last index); compaction is a separate step. */
  createSnapshot (index: number, confState: ConfState, data: Uint8Array): Snapshot {
    if (index <= this.snap.metadata.index) throw new ErrSnapOutOfDate()
    const offset = this.ents[0].index
    invariant(index <= this.lastIndex(), () => `snapshot ${index} is out of bound last index ${this.lastIndex()}`)
    this.snap = { metadata: { index, term: this.ents[index - offset].term, confState: cloneConfState(confState) }, data }
    return cloneSnapshot(this.snap)
  }

  /** Discards entries before compactIndex; compactIndex becomes the dummy entry. Throws ErrCompacted if already gone. */
  compact (compactIndex: number): void {
    const offset = this.ents[0].index
    if (compactIndex <= offset) throw new ErrCompacted()
    invariant(compactIndex <= this.lastIndex(), () => `compact ${compactIndex} is out of bound last index ${this.lastIndex()}`)
    const i = compactIndex - offset
    const dummy: Entry = { term: this.ents[i].term, index: this.ents[i].index, type: 'normal', data: new Uint8Array(0) }
    this.ents = [dummy, ...this.ents.slice(i + 1)]
  }

  /** Makes this (empty) storage the start of a new cluster with the given members (see bootstrapState). */
  bootstrap (voters: readonly NodeId[], learners: readonly NodeId[] = []): void {
    invariant(this.lastIndex() === 0 && this.snap.metadata.index === 0, 'bootstrap needs an empty storage')
    const { snapshot, hardState } = bootstrapState(voters, learners)
    this.applySnapshot(snapshot)
    this.setHardState(hardState)
  }

  /** Appends entries, truncating any suffix they replace; entries below the first index are skipped. */
  append (entries: readonly Entry[]): void {
    if (entries.length === 0) return
    const first = this.firstIndex()
    const last = entries[0].index + entries.length - 1
    if (last < first) return
    let ents = entries
    if (first > entries[0].index) ents = entries.slice(first - entries[0].index)
    for (let k = 1; k < ents.length; k++) {
      invariant(ents[k].index === ents[k - 1].index + 1, 'storage.append: entries must be contiguous')
    }
    const offset = ents[0].index - this.ents[0].index
    invariant(offset <= this.ents.length, () => `storage.append: missing log entry [last: ${this.lastIndex()}, append at: ${ents[0].index}]`)
    // Truncate the replaced suffix in place, then append: amortised O(entries appended), not O(log length).
    if (offset < this.ents.length) this.ents.length = offset
    for (const e of ents) this.ents.push(e)
  }
}
