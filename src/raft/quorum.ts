// Quorum arithmetic for majority and joint (C-old,new) configurations: the index a quorum has acknowledged
// and the outcome of a vote. Learners are never members of these sets.

import type { NodeId } from './types.js'

/** Outcome of an election tally. */
export type VoteResult = 'pending' | 'lost' | 'won'

/** Returns the index acknowledged by `id`, or undefined if it has not acknowledged anything. */
export type AckedIndexer = (id: NodeId) => number | undefined

/** The highest index acknowledged by a majority of `voters`; +Infinity for an empty set (it never restricts). */
export function majorityCommittedIndex (voters: ReadonlySet<NodeId>, acked: AckedIndexer): number {
  const n = voters.size
  if (n === 0) return Number.POSITIVE_INFINITY
  const srt: number[] = []
  for (const id of voters) srt.push(acked(id) ?? 0)
  srt.sort((a, b) => a - b)
  return srt[n - (Math.floor(n / 2) + 1)]
}

/** Outcome of a vote among `voters`: won with a majority of yes, lost once a majority is impossible. */
export function majorityVoteResult (voters: ReadonlySet<NodeId>, votes: ReadonlyMap<NodeId, boolean>): VoteResult {
  if (voters.size === 0) return 'won'
  let yes = 0
  let missing = 0
  for (const id of voters) {
    const v = votes.get(id)
    if (v === undefined) missing++
    else if (v) yes++
  }
  const q = Math.floor(voters.size / 2) + 1
  if (yes >= q) return 'won'
  if (yes + missing >= q) return 'pending'
  return 'lost'
}

/** Voters of a possibly joint configuration; `outgoing` is empty unless joint. */
export interface JointConfig {
  incoming: ReadonlySet<NodeId>
  outgoing: ReadonlySet<NodeId>
}

/** Index acknowledged by a majority in both halves of a joint configuration. */
export function jointCommittedIndex (c: JointConfig, acked: AckedIndexer): number {
  return Math.min(majorityCommittedIndex(c.incoming, acked), majorityCommittedIndex(c.outgoing, acked))
}

/** Vote outcome requiring a win in both halves; lost if either half lost. */
export function jointVoteResult (c: JointConfig, votes: ReadonlyMap<NodeId, boolean>): VoteResult {
  const r1 = majorityVoteResult(c.incoming, votes)
  const r2 = majorityVoteResult(c.outgoing, votes)
  if (r1 === r2) return r1
  if (r1 === 'lost' || r2 === 'lost') return 'lost'
  return 'pending'
}

/** Every voter id in either half. */
export function jointIds (c: JointConfig): Set<NodeId> {
  const s = new Set<NodeId>(c.incoming)
  for (const id of c.outgoing) s.add(id)
  return s
}
