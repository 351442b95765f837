// Raft's safety properties (Raft paper Figure 3), checked by the simulator after every step:
// Election Safety, Log Matching, Leader Completeness, State Machine Safety, plus commit/term monotonicity,
// crash-recovery consistency and "an acknowledged write is never lost".

import { AspenError } from '../../src/errors.js'
import type { ConfState, Entry, NodeId } from '../../src/raft/types.js'
import { fnv1aBytes } from './rng.js'

/** A safety property of Raft was violated: the simulated run found a bug. */
export class SafetyViolation extends AspenError {
  readonly code = 'SIM_SAFETY_VIOLATION'
  constructor (readonly property: string, readonly detail: string) {
    super(`${property}: ${detail}`)
  }
}

/** A read-only view of one node's log (storage plus entries not yet persisted). */
export interface LogView {
  /** Term of entry i, or undefined when i is compacted or beyond the end. */
  term(i: number): number | undefined
}

/** Global knowledge the checks accumulate over a run. */
export class SafetyMonitor {
  private readonly leaderOfTerm = new Map<number, NodeId>()
  /** "term/voter" → candidate, from persisted hard states and granted vote responses. */
  private readonly votes = new Map<string, NodeId>()
  /** (index, term) → digest and previous term, for Log Matching. */
  private readonly entryAt = new Map<string, { digest: number, prevTerm: number | undefined }>()
  /** index → chain hash of the applied prefix, for State Machine Safety. */
  private readonly chainAt = new Map<number, number>()
  /** index → term of the entry known to be committed (applied somewhere). */
  private readonly committedTerm = new Map<number, number>()
  /** index → current term of the first node that applied it (≥ the term of the leader that committed it). */
  private readonly appliedInTerm = new Map<number, number>()
  private maxCommitted = 0
  /** Acknowledged writes: command id → index of the entry that carried it. */
  readonly acked = new Map<string, number>()
  checks = 0

  /** Election Safety: at most one leader per term. */
  onLeader (node: NodeId, term: number, log: LogView, configs: readonly ConfState[]): void {
    this.checks++
    this.checkVotes(node, term, configs)
    const other = this.leaderOfTerm.get(term)
    if (other !== undefined && other !== node) {
      throw new SafetyViolation('election safety', `nodes ${other} and ${node} were both leader of term ${term}`)
    }
    this.leaderOfTerm.set(term, node)
    this.checkLeaderCompleteness(node, term, log)
  }

  /**
   * Records a vote `node` cast for `candidate` in `term`: a persisted hard state, or a granted vote response leaving
   * the node (its promise; the hard state itself may already have moved on to a later term). A node votes at most
   * once per term.
   */
  onVote (node: NodeId, term: number, candidate: NodeId): void {
    if (candidate === 0) return
    const key = `${term}/${node}`
    const prev = this.votes.get(key)
    if (prev !== undefined && prev !== candidate) {
      throw new SafetyViolation('vote safety', `node ${node} voted for both ${prev} and ${candidate} in term ${term}`)
    }
    this.votes.set(key, candidate)
  }

  /**
   * Election Safety's premise: a leader of a term holds votes granted in that very term by a quorum (of both
   * halves of a joint configuration) of one of the configurations it recently had.
   */
  checkVotes (node: NodeId, term: number, configs: readonly ConfState[]): void {
    this.checks++
    const granted = (id: NodeId): boolean => this.votes.get(`${term}/${id}`) === node
    const majority = (ids: readonly NodeId[]): boolean => ids.length === 0 || ids.filter(granted).length * 2 > ids.length
    if (configs.some(cs => majority(cs.voters) && majority(cs.votersOutgoing))) return
    const cs = configs[configs.length - 1]
    const have = [...new Set([...cs.voters, ...cs.votersOutgoing])].filter(granted)
    throw new SafetyViolation('election safety', `node ${node} leads term ${term} with votes only from ${have.join(',') || 'nobody'} (voters ${cs.voters.join(',')}${cs.votersOutgoing.length > 0 ? ` & ${cs.votersOutgoing.join(',')}` : ''})`)
  }

  /**
   * Leader Completeness: a leader's log holds every entry committed in earlier terms. Log Matching makes the
   * newest such entry enough; entries of later terms (the leader was observed late) are skipped.
   */
  checkLeaderCompleteness (node: NodeId, term: number, log: LogView): void {
    for (let i = this.maxCommitted, budget = 10_000; i > 0 && budget > 0; i--, budget--) {
      const want = this.committedTerm.get(i)
      if (want === undefined) continue
      if (want > term) continue
      // Committed only after this term (by a later leader): a leader of `term` observed late need not hold it
      // (sim seed 8200: a candidate paused mid-election wins term 5 after term 6 committed the entry).
      if ((this.appliedInTerm.get(i) ?? 0) > term) continue
      const have = log.term(i)
      if (have === undefined) return // compacted into the leader's snapshot
      if (have !== want) {
        throw new SafetyViolation('leader completeness', `leader ${node} of term ${term} has term ${have} at committed index ${i} (committed in term ${want})`)
      }
      return
    }
  }

  /** Log Matching: entries with the same index and term are identical and have the same predecessor. */
  onPersisted (node: NodeId, e: Entry, prevTerm: number | undefined): void {
    this.checks++
    const key = `${e.index}/${e.term}`
    const digest = fnv1aBytes(e.data, e.type === 'normal' ? 1 : 2)
    const seen = this.entryAt.get(key)
    if (seen === undefined) {
      this.entryAt.set(key, { digest, prevTerm })
      return
    }
    if (seen.digest !== digest) {
      throw new SafetyViolation('log matching', `node ${node} holds a different entry at index ${e.index} term ${e.term}`)
    }
    if (seen.prevTerm !== undefined && prevTerm !== undefined && seen.prevTerm !== prevTerm) {
      throw new SafetyViolation('log matching', `node ${node}: entry ${e.index}/${e.term} follows term ${prevTerm}, elsewhere term ${seen.prevTerm}`)
    }
  }

  /** State Machine Safety: every node applies the same entry at an index (compared through chain hashes). */
  onApplied (node: NodeId, index: number, term: number | undefined, chain: number, nodeTerm?: number): void {
    this.checks++
    const seen = this.chainAt.get(index)
    if (seen === undefined) this.chainAt.set(index, chain)
    else if (seen !== chain) {
      throw new SafetyViolation('state machine safety', `node ${node} applied a different history up to index ${index}`)
    }
    if (term !== undefined && !this.committedTerm.has(index)) {
      this.committedTerm.set(index, term)
      // The applier's term when it first applied the index bounds the term the entry was committed in from above.
      if (nodeTerm !== undefined) this.appliedInTerm.set(index, nodeTerm)
      if (index > this.maxCommitted) this.maxCommitted = index
    }
  }

  /** Commit and term never go back on one node (also across its restarts, through what it persisted). */
  onHardState (node: NodeId, prev: { term: number, commit: number }, next: { term: number, commit: number }): void {
    this.checks++
    if (next.term < prev.term) throw new SafetyViolation('term monotonicity', `node ${node} term ${prev.term} → ${next.term}`)
    if (next.commit < prev.commit) throw new SafetyViolation('commit monotonicity', `node ${node} commit ${prev.commit} → ${next.commit}`)
  }

  /** A recovered node's durable state must be self-consistent: nothing applied beyond what it persisted as committed. */
  onRecovered (node: NodeId, applied: number, commit: number, lastIndex: number): void {
    this.checks++
    if (applied > commit || applied > lastIndex) {
      throw new SafetyViolation('durability', `node ${node} restarted with applied ${applied} beyond persisted commit ${commit} / last index ${lastIndex}`)
    }
  }

  /** Records that a client got a success answer for the write carried by the entry at `index`. */
  onAcked (id: string, index: number): void {
    this.acked.set(id, index)
  }

  /** Durability of acknowledged writes: every one of them took effect in the final state machine. */
  checkAckedWrites (node: NodeId, tookEffect: (id: string) => boolean): void {
    this.checks++
    for (const [id, index] of this.acked) {
      if (!tookEffect(id)) throw new SafetyViolation('durability', `acknowledged write ${id} (entry ${index}) is missing from node ${node}'s final state`)
    }
  }

  /** The chain hash recorded at an index, if any node applied it. */
  chainOf (index: number): number | undefined {
    return this.chainAt.get(index)
  }

  /** Highest index known to be committed (applied on some node). */
  get highestCommitted (): number {
    return this.maxCommitted
  }
}
