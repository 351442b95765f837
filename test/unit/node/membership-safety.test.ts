// Table-driven checks of the membership safety rules the leader enforces (DESIGN "cluster control").
import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { checkMembershipChange, hasReachableQuorum, type ChangeRequest, type PeerFacts, type SafetyRule } from '../../../src/node/membership-safety.js'
import type { ConfState } from '../../../src/raft/types.js'

const conf = (voters: number[], learners: number[] = [], outgoing: number[] = []): ConfState =>
  ({ voters, learners, votersOutgoing: outgoing, learnersNext: [], autoLeave: false })
const limits = { cooldownMs: 300_000, maxVoters: 100, promoteMaxLag: 100, recentMatchWindowMs: 1000 }
const up = (match: number, lastFullyMatchedAt?: number): PeerFacts => ({ match, reachable: true, lastFullyMatchedAt })
const down = (match: number): PeerFacts => ({ match, reachable: false })

function req (over: Partial<ChangeRequest>): ChangeRequest {
  return {
    current: conf([1, 2, 3], [4]),
    voters: [1, 2, 3, 4],
    learners: [],
    leaderId: 1,
    leaderLastIndex: 1000,
    peers: new Map([[2, up(1000)], [3, up(1000)], [4, up(990)]]),
    nowWallMs: 10_000_000,
    nowMonoMs: 50_000,
    pendingChange: false,
    ...over
  }
}

describe('membership safety rules', () => {
  const cases: Array<{ name: string, r: ChangeRequest, want: SafetyRule[] }> = [
    { name: 'promoting a caught-up connected learner is safe', r: req({}), want: [] },
    { name: 'first voter change needs no cooldown', r: req({ lastVoterChangeAt: undefined }), want: [] },
    { name: 'voter change inside the cooldown is refused', r: req({ lastVoterChangeAt: 10_000_000 - 60_000 }), want: ['COOLDOWN'] },
    { name: 'voter change after the cooldown is allowed', r: req({ lastVoterChangeAt: 10_000_000 - 301_000 }), want: [] },
    { name: 'adding a learner ignores the cooldown', r: req({ current: conf([1, 2, 3]), voters: [1, 2, 3], learners: [4], lastVoterChangeAt: 10_000_000 - 1 }), want: [] },
    { name: 'learner more than 100 entries behind is refused', r: req({ peers: new Map([[2, up(1000)], [3, up(1000)], [4, up(800)]]) }), want: ['LEARNER_LAGGING'] },
    { name: 'learner behind but fully matched within the last second is allowed', r: req({ peers: new Map([[2, up(1000)], [3, up(1000)], [4, up(800, 49_500)]]) }), want: [] },
    { name: 'learner matched long ago and behind is refused', r: req({ peers: new Map([[2, up(1000)], [3, up(1000)], [4, up(800, 10_000)]]) }), want: ['LEARNER_LAGGING'] },
    { name: 'unreachable learner is refused', r: req({ peers: new Map([[2, up(1000)], [3, up(1000)], [4, down(1000)]]) }), want: ['LEARNER_NOT_CONNECTED'] },
    { name: 'promoting an unknown node is refused', r: req({ voters: [1, 2, 3, 9] }), want: ['NOT_A_LEARNER'] },
    { name: 'change while a previous one is pending is refused', r: req({ pendingChange: true }), want: ['CHANGE_IN_PROGRESS'] },
    { name: 'change while joint is refused', r: req({ current: conf([1, 2, 3], [4], [1, 2]) }), want: ['CHANGE_IN_PROGRESS'] },
    { name: 'removing voters so C-new lacks a reachable quorum is refused', r: req({ current: conf([1, 2, 3, 4, 5]), voters: [1, 4, 5], peers: new Map([[2, up(1000)], [3, up(1000)], [4, down(1000)], [5, down(1000)]]) }), want: ['QUORUM_NEW'] },
    { name: 'changing voters while C-old lacks a reachable quorum is refused', r: req({ current: conf([1, 2, 3], [4]), peers: new Map([[2, down(1000)], [3, down(1000)], [4, up(1000)]]) }), want: ['QUORUM_OLD', 'QUORUM_NEW'] },
    { name: 'removing a down voter keeps a quorum and is allowed', r: req({ current: conf([1, 2, 3]), voters: [1, 2], peers: new Map([[2, up(1000)], [3, down(10)]]) }), want: [] },
    { name: 'more than max voters is refused', r: req({ voters: Array.from({ length: 101 }, (_, i) => i + 1), current: conf(Array.from({ length: 101 }, (_, i) => i + 1)) }), want: ['TOO_MANY_VOTERS'] },
    { name: 'an empty voter set is refused', r: req({ voters: [] }), want: ['NO_VOTERS'] }
  ]
  for (const c of cases) {
    it(c.name, () => {
      assert.deepEqual(checkMembershipChange(c.r, limits).map(v => v.rule).sort(), [...c.want].sort())
    })
  }

  it('quorum counts the leader itself as reachable', () => {
    assert.equal(hasReachableQuorum([1, 2, 3], 1, new Map([[2, up(0)], [3, down(0)]])), true)
    assert.equal(hasReachableQuorum([1, 2, 3], 1, new Map([[2, down(0)], [3, down(0)]])), false)
    assert.equal(hasReachableQuorum([], 1, new Map()), false)
  })
})
