// Small value helpers for ConfState and HardState (plain data, compared by content).

import type { ConfState, HardState, Snapshot } from './types.js'

/** A configuration with no members. */
export function emptyConfState (): ConfState {
  return { voters: [], learners: [], votersOutgoing: [], learnersNext: [], autoLeave: false }
}

/** A deep copy with sorted id lists. */
export function cloneConfState (cs: ConfState): ConfState {
  const sorted = (a: readonly number[]): number[] => [...a].sort((x, y) => x - y)
  return {
    voters: sorted(cs.voters),
    learners: sorted(cs.learners),
    votersOutgoing: sorted(cs.votersOutgoing),
    learnersNext: sorted(cs.learnersNext),
    autoLeave: cs.autoLeave
  }
}

/** True if both describe the same configuration (order of ids ignored). */
export function confStatesEqual (a: ConfState, b: ConfState): boolean {
  const eq = (x: readonly number[], y: readonly number[]): boolean => {
    if (x.length !== y.length) return false
    const sx = [...x].sort((p, q) => p - q)
    const sy = [...y].sort((p, q) => p - q)
    return sx.every((v, i) => v === sy[i])
  }
  return eq(a.voters, b.voters) && eq(a.learners, b.learners) && eq(a.votersOutgoing, b.votersOutgoing) &&
    eq(a.learnersNext, b.learnersNext) && a.autoLeave === b.autoLeave
}

/** The all-zero hard state of a node that never voted nor saw a term. */
export function emptyHardState (): HardState {
  return { term: 0, vote: 0, commit: 0 }
}

/** True if the hard state is the all-zero one. */
export function isEmptyHardState (hs: HardState): boolean {
  return hs.term === 0 && hs.vote === 0 && hs.commit === 0
}

/** True if both hard states are equal field by field. */
export function hardStatesEqual (a: HardState, b: HardState): boolean {
  return a.term === b.term && a.vote === b.vote && a.commit === b.commit
}

/** The snapshot every storage starts with: index 0, term 0, no members, no data. */
export function emptySnapshot (): Snapshot {
  return { metadata: { index: 0, term: 0, confState: emptyConfState() }, data: new Uint8Array(0) }
}

/** A deep-enough copy of a snapshot (data bytes are shared: they are never mutated). */
export function cloneSnapshot (s: Snapshot): Snapshot {
  return {
    metadata: { index: s.metadata.index, term: s.metadata.term, confState: cloneConfState(s.metadata.confState) },
    data: s.data
  }
}
