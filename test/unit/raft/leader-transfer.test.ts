// Leadership transfer (Raft thesis §3.10).

import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { ProposalDroppedError } from '../../../src/raft/errors.js'
import { Network, b } from './helpers.js'

describe('§3.10 leadership transfer', () => {
  it('§3.10 transfer to an up-to-date follower: TimeoutNow, and it wins without pre-vote', () => {
    const net = new Network([1, 2, 3], { preVote: true, checkQuorum: true })
    net.elect(1)
    net.propose(1, 'a')
    const term = net.node(1).rn.status().hardState.term
    net.node(1).rn.transferLeader(2)
    net.stabilize()
    assert.equal(net.leader(), 2)
    assert.equal(net.node(2).rn.status().hardState.term, term + 1)
    assert.ok(net.sent.some((m) => m.type === 'timeoutNow' && m.from === 1 && m.to === 2))
    assert.ok(!net.sent.some((m) => m.type === 'preVote' && m.from === 2))
  })

  it('§3.10 transfer to a lagging follower waits until it has caught up', () => {
    const net = new Network([1, 2, 3])
    net.elect(1)
    net.isolate(3)
    for (let i = 0; i < 5; i++) net.propose(1, `v${i}`)
    net.heal()
    net.node(1).rn.transferLeader(3)
    net.processReadies()
    assert.ok(!net.queue.some((m) => m.type === 'timeoutNow'), 'no TimeoutNow before catch-up')
    net.stabilize()
    assert.equal(net.leader(), 3)
    const tn = net.sent.findIndex((m) => m.type === 'timeoutNow')
    const lastApp = net.sent.slice(0, tn).filter((m) => m.type === 'appResp' && m.from === 3).pop()
    assert.equal(lastApp?.index, net.node(1).storage.lastIndex() - 1, 'TimeoutNow after the target matched the log (before the new term)')
  })

  it('§3.10 proposals are dropped while a transfer is in progress', () => {
    const net = new Network([1, 2, 3])
    net.elect(1)
    net.isolate(3)
    net.propose(1, 'a')
    net.node(1).rn.transferLeader(3)
    assert.throws(() => net.node(1).rn.propose(b('x')), (e: unknown) => e instanceof ProposalDroppedError && e.reason === 'transferInProgress')
  })

  it('§3.10 a transfer that does not finish within an election timeout is aborted', () => {
    const net = new Network([1, 2, 3])
    net.elect(1)
    net.isolate(3)
    net.propose(1, 'a')
    net.node(1).rn.transferLeader(3)
    assert.equal(net.node(1).rn.status().leadTransferee, 3)
    for (let i = 0; i < 10; i++) net.tickAll(1)
    assert.equal(net.node(1).rn.status().leadTransferee, 0)
    assert.equal(net.leader(), 1)
    net.node(1).rn.propose(b('after'))
  })

  it('§3.10 transfers to self or to a learner are ignored', () => {
    const net = new Network([1, 2, 3], (id) => ({ learners: [4], ...(id === 4 ? {} : {}) }))
    net.add(4, [1, 2, 3], { learners: [4] })
    net.elect(1)
    net.node(1).rn.transferLeader(1)
    net.node(1).rn.transferLeader(4)
    net.stabilize()
    assert.equal(net.node(1).rn.status().leadTransferee, 0)
    assert.equal(net.leader(), 1)
  })

  it('§3.10 a follower forwards the transfer request to the leader', () => {
    const net = new Network([1, 2, 3])
    net.elect(1)
    net.node(2).rn.transferLeader(2)
    net.stabilize()
    assert.equal(net.leader(), 2)
  })

  it('§3.10 a newer transfer request replaces an older one', () => {
    const net = new Network([1, 2, 3])
    net.elect(1)
    net.isolate(3)
    net.propose(1, 'a')
    net.node(1).rn.transferLeader(3)
    net.heal()
    net.isolate(3)
    net.node(1).rn.transferLeader(2)
    net.stabilize()
    assert.equal(net.leader(), 2)
  })
})
