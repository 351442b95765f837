// ProgressTracker: the active configuration, the leader's Progress for every member, and votes of an election.

import { cloneConfState } from './conf-state.js'
import type { Progress } from './progress.js'
import { jointCommittedIndex, jointIds, jointVoteResult } from './quorum.js'
import type { VoteResult } from './quorum.js'
import type { ConfState, NodeId } from './types.js'

/** A configuration as the tracker holds it (mutable sets; the Changer works on copies). */
export interface TrackerConfig {
  voters: { incoming: Set<NodeId>, outgoing: Set<NodeId> }
  /** Learners; never overlaps voters. */
  learners: Set<NodeId>
  /** Outgoing voters that become learners when the joint configuration is left. */
  learnersNext: Set<NodeId>
  autoLeave: boolean
}

/** An empty configuration. */
export function emptyTrackerConfig (): TrackerConfig {
  return { voters: { incoming: new Set(), outgoing: new Set() }, learners: new Set(), learnersNext: new Set(), autoLeave: false }
}

/** A deep copy. */
export function cloneTrackerConfig (c: TrackerConfig): TrackerConfig {
  return {
    voters: { incoming: new Set(c.voters.incoming), outgoing: new Set(c.voters.outgoing) },
    learners: new Set(c.learners),
    learnersNext: new Set(c.learnersNext),
    autoLeave: c.autoLeave
  }
}

/** True while in a joint configuration. */
export function isJoint (c: TrackerConfig): boolean {
  return c.voters.outgoing.size > 0
}

/** Human-readable description for logs. */
export function describeConfig (c: TrackerConfig): string {
  const s = (x: Set<NodeId>): string => `(${[...x].sort((a, b) => a - b).join(' ')})`
  let out = `voters=${s(c.voters.incoming)}`
  if (isJoint(c)) out += `&&${s(c.voters.outgoing)}`
  if (c.learners.size > 0) out += ` learners=${s(c.learners)}`
  if (c.learnersNext.size > 0) out += ` learners_next=${s(c.learnersNext)}`
  if (c.autoLeave) out += ' autoleave'
  return out
}

const sortedIds = (s: Iterable<NodeId>): NodeId[] => [...s].sort((a, b) => a - b)

/** The ConfState describing a configuration. */
export function configToConfState (c: TrackerConfig): ConfState {
  return cloneConfState({
    voters: sortedIds(c.voters.incoming),
    votersOutgoing: sortedIds(c.voters.outgoing),
    learners: sortedIds(c.learners),
    learnersNext: sortedIds(c.learnersNext),
    autoLeave: c.autoLeave
  })
}

/** Configuration, per-peer progress and election votes. */
export class ProgressTracker {
  config: TrackerConfig = emptyTrackerConfig()
  progress = new Map<NodeId, Progress>()
  votes = new Map<NodeId, boolean>()

  constructor (readonly maxInflight: number, readonly maxInflightBytes: number) {}

  /** The current configuration as a ConfState. */
  confState (): ConfState {
    return configToConfState(this.config)
  }

  /** True if the only voter is a single node and not joint. */
  isSingleton (): boolean {
    return this.config.voters.incoming.size === 1 && this.config.voters.outgoing.size === 0
  }

  /** Highest index replicated (match) on a quorum of the (joint) voters. */
  committed (): number {
    return jointCommittedIndex(this.config.voters, (id) => this.progress.get(id)?.match)
  }

  /** Visits every tracked peer in id order (deterministic output). */
  visit (f: (id: NodeId, pr: Progress) => void): void {
    for (const id of sortedIds(this.progress.keys())) {
      const pr = this.progress.get(id)
      if (pr !== undefined) f(id, pr)
    }
  }

  /** True if a quorum of voters was recently active (check-quorum). */
  quorumActive (): boolean {
    const votes = new Map<NodeId, boolean>()
    this.visit((id, pr) => {
      if (!pr.isLearner) votes.set(id, pr.recentActive)
    })
    return jointVoteResult(this.config.voters, votes) === 'won'
  }

  /** Sorted ids of all voters (both halves). */
  voterNodes (): NodeId[] {
    return sortedIds(jointIds(this.config.voters))
  }

  /** Sorted ids of learners. */
  learnerNodes (): NodeId[] {
    return sortedIds(this.config.learners)
  }

  /** True if id is a voter in either half. */
  isVoter (id: NodeId): boolean {
    return this.config.voters.incoming.has(id) || this.config.voters.outgoing.has(id)
  }

  /** Forgets all votes. */
  resetVotes (): void {
    this.votes = new Map()
  }

  /** Records a vote (the first one from a node wins). */
  recordVote (id: NodeId, granted: boolean): void {
    if (!this.votes.has(id)) this.votes.set(id, granted)
  }

  /** Tally of votes among voters and the resulting outcome. */
  tallyVotes (): { granted: number, rejected: number, result: VoteResult } {
    let granted = 0
    let rejected = 0
    for (const [id, pr] of this.progress) {
      if (pr.isLearner) continue
      const v = this.votes.get(id)
      if (v === undefined) continue
      if (v) granted++
      else rejected++
    }
    return { granted, rejected, result: jointVoteResult(this.config.voters, this.votes) }
  }
}
