// Pre-vote and check-quorum (Raft thesis §9.6 and §6.2): partitioned or removed nodes must not disrupt a healthy
// leader, and a leader that lost its quorum steps down.

import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { CAMPAIGN_TRANSFER_CONTEXT } from '../../../src/raft/raft.js'
import { Network, msg, tickUntilLeader } from './helpers.js'

describe('§9.6 pre-vote and check-quorum', () => {
  it('§9.6 with pre-vote a partitioned node does not raise its term and does not disrupt the leader when it rejoins', () => {
    const net = new Network([1, 2, 3], { preVote: true, checkQuorum: true })
    const lead = tickUntilLeader(net)
    const term = net.node(lead).rn.status().hardState.term
    const lone = lead === 3 ? 1 : 3
    net.isolate(lone)
    net.tickAll(50)
    assert.equal(net.node(lone).rn.status().hardState.term, term, 'pre-vote never wins, term unchanged')
    assert.equal(net.node(lone).rn.status().softState.role, 'preCandidate')
    net.heal()
    net.tickAll(5)
    assert.equal(net.leader(), lead)
    assert.equal(net.node(lead).rn.status().hardState.term, term)
  })

  it('§9.6 without pre-vote a rejoining partitioned node disrupts the leader with its higher term', () => {
    const net = new Network([1, 2, 3], { preVote: false, checkQuorum: false })
    net.elect(1)
    const term = net.node(1).rn.status().hardState.term
    net.isolate(3)
    net.tickAll(50)
    assert.ok(net.node(3).rn.status().hardState.term > term + 1)
    net.heal()
    net.tickAll(30)
    assert.ok(net.node(1).rn.status().hardState.term > term, 'the cluster had to move to a higher term')
  })

  it('§6.2 check-quorum: a leader that does not hear from a quorum within an election timeout steps down', () => {
    const net = new Network([1, 2, 3], { checkQuorum: true })
    const lead = tickUntilLeader(net)
    net.isolate(lead)
    for (let i = 0; i < 2 * 10 && net.node(lead).rn.status().softState.role === 'leader'; i++) net.tick(lead)
    assert.equal(net.node(lead).rn.status().softState.role, 'follower')
    assert.equal(net.node(lead).rn.status().softState.leader, 0)
  })

  it('§6.2 check-quorum: a leader hearing from a quorum stays leader', () => {
    const net = new Network([1, 2, 3], { checkQuorum: true })
    const lead = tickUntilLeader(net)
    net.tickAll(40)
    assert.equal(net.leader(), lead)
  })

  it('§4.2.3 a follower that heard from the leader recently ignores (pre)vote requests (leader lease)', () => {
    const net = new Network([1, 2, 3], { checkQuorum: true, preVote: false })
    const lead = tickUntilLeader(net)
    const term = net.node(lead).rn.status().hardState.term
    const other = lead === 3 ? 2 : 3
    const voter = [1, 2, 3].find((id) => id !== lead && id !== other)!
    const r = net.node(voter).rn.raftForTesting
    for (const type of ['vote', 'preVote'] as const) {
      r.step(msg({ type, from: other, to: voter, term: term + 1, index: 100, logTerm: term }))
      assert.equal(r.term, term)
      assert.equal(r.msgsAfterPersist.filter((m) => m.type === 'voteResp' || m.type === 'preVoteResp').length, 0)
    }
  })

  it('§3.10 a vote request marked as a leadership transfer is honoured despite the lease', () => {
    const net = new Network([1, 2, 3], { checkQuorum: true, preVote: false })
    const lead = tickUntilLeader(net)
    const term = net.node(lead).rn.status().hardState.term
    const other = lead === 3 ? 2 : 3
    const voter = [1, 2, 3].find((id) => id !== lead && id !== other)!
    const r = net.node(voter).rn.raftForTesting
    r.step(msg({ type: 'vote', from: other, to: voter, term: term + 1, index: 100, logTerm: term, context: CAMPAIGN_TRANSFER_CONTEXT }))
    assert.equal(r.term, term + 1)
    assert.equal(r.vote, other)
  })

  it('§9.6 a node with a higher term but no quorum recovers via the stale leader\'s answer (check-quorum)', () => {
    const net = new Network([1, 2, 3], { checkQuorum: true, preVote: false })
    const lead = tickUntilLeader(net)
    const lone = lead === 3 ? 1 : 3
    net.isolate(lone)
    net.tickAll(30)
    const loneTerm = net.node(lone).rn.status().hardState.term
    assert.ok(loneTerm > net.node(lead).rn.status().hardState.term)
    net.heal()
    net.tickAll(40)
    // The cluster converges on one leader in a term at least as high as the lone node's.
    const l2 = net.leader()
    assert.notEqual(l2, 0)
    assert.ok(net.node(l2).rn.status().hardState.term >= loneTerm)
  })

  it('§5.2 pre-candidates poll without changing term; a granted pre-vote leads to a real election', () => {
    const net = new Network([1, 2, 3], { preVote: true })
    net.node(1).rn.campaign()
    net.processReadies()
    assert.equal(net.node(1).rn.status().softState.role, 'preCandidate')
    assert.equal(net.node(1).rn.status().hardState.term, 0)
    assert.ok(net.queue.every((m) => m.type !== 'preVote' || m.term === 1))
    net.stabilize()
    assert.equal(net.leader(), 1)
    assert.equal(net.node(1).rn.status().hardState.term, 1)
  })
})
