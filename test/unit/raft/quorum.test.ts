import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { Inflights } from '../../../src/raft/inflights.js'
import { Progress } from '../../../src/raft/progress.js'
import { jointCommittedIndex, jointVoteResult, majorityCommittedIndex, majorityVoteResult } from '../../../src/raft/quorum.js'
import type { VoteResult } from '../../../src/raft/quorum.js'
import { ProgressTracker } from '../../../src/raft/tracker.js'

const acker = (acks: Record<number, number>) => (id: number): number | undefined => acks[id]

describe('quorum: majority committed index', () => {
  const cases: Array<{ voters: number[], acks: Record<number, number>, want: number }> = [
    { voters: [], acks: {}, want: Number.POSITIVE_INFINITY },
    { voters: [1], acks: {}, want: 0 },
    { voters: [1], acks: { 1: 12 }, want: 12 },
    { voters: [1, 2], acks: { 1: 12, 2: 5 }, want: 5 },
    { voters: [1, 2], acks: { 1: 12 }, want: 0 },
    { voters: [1, 2, 3], acks: { 1: 10, 2: 12, 3: 5 }, want: 10 },
    { voters: [1, 2, 3], acks: { 1: 10, 2: 12 }, want: 10 },
    { voters: [1, 2, 3], acks: { 1: 10 }, want: 0 },
    { voters: [1, 2, 3, 4], acks: { 1: 5, 2: 10, 3: 12, 4: 15 }, want: 10 },
    { voters: [1, 2, 3, 4, 5], acks: { 1: 1, 2: 2, 3: 3, 4: 4, 5: 5 }, want: 3 },
    { voters: [1, 2, 3, 4, 5], acks: { 1: 9, 2: 9, 3: 1 }, want: 1 },
    // Acks of non-members never count.
    { voters: [1, 2, 3], acks: { 1: 10, 7: 100, 8: 100 }, want: 0 }
  ]
  for (const c of cases) {
    it(`voters ${JSON.stringify(c.voters)} acks ${JSON.stringify(c.acks)} → ${c.want}`, () => {
      assert.equal(majorityCommittedIndex(new Set(c.voters), acker(c.acks)), c.want)
    })
  }
})

describe('quorum: joint committed index is the minimum of both majorities', () => {
  const cases: Array<{ incoming: number[], outgoing: number[], acks: Record<number, number>, want: number }> = [
    { incoming: [1, 2, 3], outgoing: [], acks: { 1: 10, 2: 12, 3: 5 }, want: 10 },
    { incoming: [1, 2, 3], outgoing: [1, 2, 3], acks: { 1: 10, 2: 12, 3: 5 }, want: 10 },
    { incoming: [1, 2, 3], outgoing: [4, 5, 6], acks: { 1: 10, 2: 12, 3: 5, 4: 3, 5: 3, 6: 20 }, want: 3 },
    { incoming: [1, 2, 3], outgoing: [3, 4, 5], acks: { 1: 10, 2: 12, 3: 11, 4: 1, 5: 11 }, want: 11 },
    { incoming: [4], outgoing: [1, 2, 3], acks: { 1: 7, 2: 7, 3: 7, 4: 2 }, want: 2 },
    { incoming: [1, 2], outgoing: [1], acks: { 1: 9, 2: 4 }, want: 4 }
  ]
  for (const c of cases) {
    it(`${JSON.stringify(c.incoming)} && ${JSON.stringify(c.outgoing)} → ${c.want}`, () => {
      const got = jointCommittedIndex({ incoming: new Set(c.incoming), outgoing: new Set(c.outgoing) }, acker(c.acks))
      assert.equal(got, c.want)
    })
  }
})

describe('quorum: vote results', () => {
  const majority: Array<{ voters: number[], votes: Record<number, boolean>, want: VoteResult }> = [
    { voters: [], votes: {}, want: 'won' },
    { voters: [1], votes: {}, want: 'pending' },
    { voters: [1], votes: { 1: true }, want: 'won' },
    { voters: [1], votes: { 1: false }, want: 'lost' },
    { voters: [1, 2], votes: { 1: true }, want: 'pending' },
    { voters: [1, 2], votes: { 1: true, 2: false }, want: 'lost' },
    { voters: [1, 2, 3], votes: { 1: true }, want: 'pending' },
    { voters: [1, 2, 3], votes: { 1: true, 2: true }, want: 'won' },
    { voters: [1, 2, 3], votes: { 1: true, 2: false }, want: 'pending' },
    { voters: [1, 2, 3], votes: { 1: false, 2: false }, want: 'lost' },
    { voters: [1, 2, 3, 4], votes: { 1: true, 2: true }, want: 'pending' },
    { voters: [1, 2, 3, 4], votes: { 1: true, 2: true, 3: false, 4: false }, want: 'lost' },
    // Votes of non-members (e.g. learners) are ignored.
    { voters: [1, 2, 3], votes: { 1: true, 9: true }, want: 'pending' }
  ]
  for (const c of majority) {
    it(`majority ${JSON.stringify(c.voters)} votes ${JSON.stringify(c.votes)} → ${c.want}`, () => {
      const votes = new Map(Object.entries(c.votes).map(([k, v]) => [Number(k), v]))
      assert.equal(majorityVoteResult(new Set(c.voters), votes), c.want)
    })
  }

  const joint: Array<{ incoming: number[], outgoing: number[], votes: Record<number, boolean>, want: VoteResult }> = [
    { incoming: [1, 2, 3], outgoing: [4, 5, 6], votes: { 1: true, 2: true }, want: 'pending' },
    { incoming: [1, 2, 3], outgoing: [4, 5, 6], votes: { 1: true, 2: true, 4: true, 5: true }, want: 'won' },
    { incoming: [1, 2, 3], outgoing: [4, 5, 6], votes: { 1: true, 2: true, 4: false, 5: false }, want: 'lost' },
    { incoming: [1, 2, 3], outgoing: [1, 2, 3], votes: { 1: true, 2: true }, want: 'won' },
    { incoming: [1], outgoing: [1, 2, 3], votes: { 1: true }, want: 'pending' },
    { incoming: [1], outgoing: [1, 2, 3], votes: { 1: true, 2: false, 3: false }, want: 'lost' }
  ]
  for (const c of joint) {
    it(`joint ${JSON.stringify(c.incoming)} && ${JSON.stringify(c.outgoing)} votes ${JSON.stringify(c.votes)} → ${c.want}`, () => {
      const votes = new Map(Object.entries(c.votes).map(([k, v]) => [Number(k), v]))
      assert.equal(jointVoteResult({ incoming: new Set(c.incoming), outgoing: new Set(c.outgoing) }, votes), c.want)
    })
  }
})

describe('quorum: learners in the tracker', () => {
  function tracker (voters: number[], learners: number[], match: Record<number, number>): ProgressTracker {
    const t = new ProgressTracker(16, 0)
    t.config.voters.incoming = new Set(voters)
    t.config.learners = new Set(learners)
    for (const id of [...voters, ...learners]) {
      t.progress.set(id, new Progress({ match: match[id] ?? 0, next: (match[id] ?? 0) + 1, inflights: new Inflights(16), isLearner: learners.includes(id) }))
    }
    return t
  }

  it('learners never count towards the commit index', () => {
    const t = tracker([1, 2, 3], [4, 5], { 1: 10, 2: 1, 3: 1, 4: 10, 5: 10 })
    assert.equal(t.committed(), 1)
  })

  it('learner votes are not tallied', () => {
    const t = tracker([1, 2, 3], [4, 5], {})
    t.recordVote(1, true)
    t.recordVote(4, true)
    t.recordVote(5, true)
    assert.deepEqual(t.tallyVotes(), { granted: 1, rejected: 0, result: 'pending' })
    t.recordVote(2, true)
    assert.equal(t.tallyVotes().result, 'won')
  })

  it('a first vote is never overwritten by a later one from the same node', () => {
    const t = tracker([1, 2, 3], [], {})
    t.recordVote(2, false)
    t.recordVote(2, true)
    assert.deepEqual(t.tallyVotes(), { granted: 0, rejected: 1, result: 'pending' })
  })

  it('check-quorum counts only recently active voters', () => {
    const t = tracker([1, 2, 3], [4, 5], {})
    for (const [id, pr] of t.progress) pr.recentActive = id === 1 || id >= 4
    assert.equal(t.quorumActive(), false)
    t.progress.get(2)!.recentActive = true
    assert.equal(t.quorumActive(), true)
  })
})
