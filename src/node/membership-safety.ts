// The safety rules a leader enforces before it proposes a membership change (DESIGN "cluster control").
// Pure: the caller gathers the facts (progress, reachability, clock) and gets back the list of rules a change
// would break. `--force` turns violations into logged warnings; it never skips gathering them.
import type { ConfState, NodeId } from '../raft/types.js'

export type SafetyRule =
  | 'CHANGE_IN_PROGRESS' // a previous change (or joint config) is not yet done
  | 'COOLDOWN' // voter set changed too recently
  | 'LEARNER_NOT_CONNECTED' // a node to promote is not reachable
  | 'LEARNER_LAGGING' // a node to promote is too far behind
  | 'NOT_A_LEARNER' // promote/voters names a node that is not in the cluster as learner or voter
  | 'QUORUM_OLD' // C-old would not have a reachable quorum
  | 'QUORUM_NEW' // C-new would not have a reachable quorum
  | 'TOO_MANY_VOTERS'
  | 'NO_VOTERS'

export interface SafetyViolation {
  rule: SafetyRule
  message: string
}

/** What the leader knows about one peer when it decides. */
export interface PeerFacts {
  match: number
  /** Connected and heard from within the last election timeout. */
  reachable: boolean
  /** Monotonic ms when the peer was last fully caught up (match == leader's last index), if ever. */
  lastFullyMatchedAt?: number
}

export interface SafetyLimits {
  cooldownMs: number
  maxVoters: number
  /** A learner may be promoted when within this many entries of the leader's last index. */
  promoteMaxLag: number
  /** ...or when it was fully matched within this window (promotion under heavy write load). */
  recentMatchWindowMs: number
}

export interface ChangeRequest {
  current: ConfState
  voters: NodeId[]
  learners: NodeId[]
  leaderId: NodeId
  leaderLastIndex: number
  peers: ReadonlyMap<NodeId, PeerFacts>
  /** Wall-clock ms of the last committed voter-set change (replicated in the change's context), if any. */
  lastVoterChangeAt?: number
  nowWallMs: number
  nowMonoMs: number
  /** A conf change is proposed but not yet applied. */
  pendingChange: boolean
}

const sameSet = (a: readonly NodeId[], b: readonly NodeId[]): boolean =>
  a.length === b.length && a.every(x => b.includes(x))

/** Number of voters in `voters` that are reachable (the leader always counts itself). */
function reachableCount (voters: readonly NodeId[], leaderId: NodeId, peers: ReadonlyMap<NodeId, PeerFacts>): number {
  return voters.filter(id => id === leaderId || peers.get(id)?.reachable === true).length
}

/** True when a majority of `voters` is reachable. */
export function hasReachableQuorum (voters: readonly NodeId[], leaderId: NodeId, peers: ReadonlyMap<NodeId, PeerFacts>): boolean {
  return voters.length > 0 && reachableCount(voters, leaderId, peers) >= Math.floor(voters.length / 2) + 1
}

/** Lists every rule that the requested change (to `voters`/`learners`) would break. Empty = safe. */
export function checkMembershipChange (req: ChangeRequest, limits: SafetyLimits): SafetyViolation[] {
  const out: SafetyViolation[] = []
  const { current, voters, leaderId, peers } = req
  const voterSetChanges = !sameSet(current.voters, voters)

  if (req.pendingChange || current.votersOutgoing.length > 0) {
    out.push({ rule: 'CHANGE_IN_PROGRESS', message: 'a previous membership change is still in progress; wait for it to finish' })
  }
  if (voters.length === 0) out.push({ rule: 'NO_VOTERS', message: 'a cluster needs at least one voter' })
  if (voters.length > limits.maxVoters) {
    out.push({ rule: 'TOO_MANY_VOTERS', message: `${voters.length} voters exceeds the limit of ${limits.maxVoters}` })
  }
  if (voterSetChanges && req.lastVoterChangeAt !== undefined) {
    const since = req.nowWallMs - req.lastVoterChangeAt
    if (since < limits.cooldownMs) {
      const wait = Math.ceil((limits.cooldownMs - since) / 1000)
      out.push({ rule: 'COOLDOWN', message: `the voter set changed ${Math.floor(since / 1000)}s ago; cooldown is ${limits.cooldownMs / 1000}s (retry in ${wait}s)` })
    }
  }
  for (const id of voters) {
    if (current.voters.includes(id)) continue
    if (!current.learners.includes(id)) {
      out.push({ rule: 'NOT_A_LEARNER', message: `node ${id} is not a learner; add it with add-learner first` })
      continue
    }
    const p = peers.get(id)
    if (p === undefined || !p.reachable) {
      out.push({ rule: 'LEARNER_NOT_CONNECTED', message: `learner ${id} is not connected to the leader` })
      continue
    }
    const lag = req.leaderLastIndex - p.match
    const recentlyMatched = p.lastFullyMatchedAt !== undefined && req.nowMonoMs - p.lastFullyMatchedAt <= limits.recentMatchWindowMs
    if (lag > limits.promoteMaxLag && !recentlyMatched) {
      out.push({ rule: 'LEARNER_LAGGING', message: `learner ${id} is ${lag} entries behind (limit ${limits.promoteMaxLag}); wait for it to catch up` })
    }
  }
  if (voterSetChanges) {
    if (!hasReachableQuorum(current.voters, leaderId, peers)) {
      out.push({ rule: 'QUORUM_OLD', message: `fewer than a quorum of the current voters [${current.voters.join(',')}] are reachable` })
    }
    if (voters.length > 0 && !hasReachableQuorum(voters, leaderId, peers)) {
      out.push({ rule: 'QUORUM_NEW', message: `fewer than a quorum of the new voters [${voters.join(',')}] would be reachable` })
    }
  }
  return out
}
