// Cluster membership changes (Raft thesis chapter 4): learners, single-server changes, joint consensus with
// automatic leave, one change at a time, and a leader removing itself.

import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { ProposalDroppedError } from '../../../src/raft/errors.js'
import type { ConfChange, ConfChangeSingle, NodeId } from '../../../src/raft/types.js'
import { Network, b, dataOf, tickUntilLeader } from './helpers.js'

const cc = (transition: ConfChange['transition'], ...changes: ConfChangeSingle[]): ConfChange => ({ transition, changes, context: new Uint8Array(0) })
const add = (id: NodeId): ConfChangeSingle => ({ type: 'addNode', nodeId: id })
const learner = (id: NodeId): ConfChangeSingle => ({ type: 'addLearner', nodeId: id })
const remove = (id: NodeId): ConfChangeSingle => ({ type: 'removeNode', nodeId: id })

function dropped (reason: string): (e: unknown) => boolean {
  return (e) => e instanceof ProposalDroppedError && e.reason === reason
}

describe('§4 membership changes', () => {
  it('§4.2.1 learners receive entries but are never counted towards commitment', () => {
    const net = new Network([])
    for (const id of [1, 2, 3, 4]) net.add(id, [1, 2, 3], { learners: [4] })
    net.elect(1)
    net.propose(1, 'a')
    assert.deepEqual(dataOf(net.node(4).applied), ['a'])
    net.isolate(2)
    net.isolate(3)
    net.node(1).rn.propose(b('b'))
    net.stabilize()
    assert.deepEqual(net.node(4).storage.entries(net.node(4).storage.lastIndex(), net.node(4).storage.lastIndex() + 1, Infinity).map((e) => new TextDecoder().decode(e.data)), ['b'], 'the learner has the entry')
    assert.deepEqual(dataOf(net.node(1).applied), ['a'], 'but it does not commit with the learner\'s copy')
  })

  it('§4.2.1 a learner never campaigns', () => {
    const net = new Network([])
    for (const id of [1, 2, 3, 4]) net.add(id, [1, 2, 3], { learners: [4] })
    for (let i = 0; i < 100; i++) net.tick(4)
    assert.equal(net.node(4).rn.status().softState.role, 'follower')
    assert.equal(net.node(4).rn.status().hardState.term, 0)
    assert.equal(net.sent.length, 0)
  })

  it('§4.1 a learner added and promoted with single-server changes catches up and votes', () => {
    const net = new Network([1, 2, 3], { bootstrapped: true })
    net.elect(1)
    net.propose(1, 'a')
    net.add(4, [])
    net.node(1).rn.proposeConfChange(cc('auto', learner(4)))
    net.stabilize()
    net.tickAll(2)
    assert.deepEqual(net.node(4).rn.status().confState.learners, [4])
    net.node(1).rn.proposeConfChange(cc('auto', add(4)))
    net.stabilize()
    for (const id of [1, 2, 3, 4]) assert.deepEqual(net.node(id).rn.status().confState.voters, [1, 2, 3, 4], `node ${id}`)
    assert.deepEqual(dataOf(net.node(4).applied), ['a'])
    // Now 4 counts: with 2 and 3 gone, 1 and 4 are not a majority of 4, but 1, 3 and 4 are.
    net.isolate(2)
    net.propose(1, 'b')
    assert.deepEqual(dataOf(net.node(1).applied), ['a', 'b'])
  })

  it('§4.3 joint consensus with auto-leave: the leader proposes leaving once C-old,new is applied', () => {
    const net = new Network([1, 2, 3], { bootstrapped: true })
    net.elect(1)
    net.add(4, [])
    net.node(1).rn.proposeConfChange(cc('auto', add(4), remove(3)))
    net.stabilize()
    net.tickAll(3)
    for (const id of [1, 2, 4]) {
      const cs = net.node(id).rn.status().confState
      assert.deepEqual([cs.voters, cs.votersOutgoing, cs.autoLeave], [[1, 2, 4], [], false], `node ${id}`)
    }
    const confEntries = net.node(1).applied.filter((e) => e.type === 'confChange')
    assert.equal(confEntries.length, 2, 'enter joint, then the automatic leave')
  })

  it('§4.3 an explicit joint configuration stays joint until told to leave', () => {
    const net = new Network([1, 2, 3])
    net.elect(1)
    net.node(1).rn.proposeConfChange(cc('jointExplicit', learner(3)))
    net.stabilize()
    net.tickAll(3)
    let cs = net.node(1).rn.status().confState
    assert.deepEqual([cs.voters, cs.votersOutgoing, cs.learnersNext], [[1, 2], [1, 2, 3], [3]])
    assert.throws(() => net.node(1).rn.proposeConfChange(cc('auto', add(5))), dropped('confChangeInvalid'))
    net.node(1).rn.proposeConfChange(cc('auto'))
    net.stabilize()
    cs = net.node(1).rn.status().confState
    assert.deepEqual([cs.voters, cs.votersOutgoing, cs.learners], [[1, 2], [], [3]])
  })

  it('§4.1 only one configuration change may be in flight', () => {
    const net = new Network([1, 2, 3])
    net.elect(1)
    net.isolate(2)
    net.isolate(3)
    net.node(1).rn.proposeConfChange(cc('auto', learner(4)))
    assert.throws(() => net.node(1).rn.proposeConfChange(cc('auto', learner(5))), dropped('confChangePending'))
    net.heal()
    net.tickAll(2)
    net.node(1).rn.proposeConfChange(cc('auto', learner(5)))
    net.stabilize()
    assert.deepEqual(net.node(1).rn.status().confState.learners, [4, 5])
  })

  it('§4 invalid changes are refused at proposal time (removing every voter, leaving a non-joint config)', () => {
    const net = new Network([1])
    net.elect(1)
    net.tickAll(1)
    assert.throws(() => net.node(1).rn.proposeConfChange(cc('auto', remove(1))), dropped('confChangeInvalid'))
    assert.throws(() => net.node(1).rn.proposeConfChange(cc('auto')), dropped('confChangeInvalid'))
    assert.throws(() => net.node(1).rn.proposeConfChange(cc('auto', add(2), add(3), remove(1), remove(9), learner(1), remove(2), remove(3))), dropped('confChangeInvalid'))
  })

  it('§4 a forwarded conf change that is invalid becomes an empty entry on the leader', () => {
    const net = new Network([1, 2, 3])
    net.elect(1)
    net.node(2).rn.proposeConfChange(cc('auto'))
    net.stabilize()
    assert.equal(net.node(1).applied.filter((e) => e.type === 'confChange').length, 0)
    net.node(2).rn.proposeConfChange(cc('auto', learner(4)))
    net.stabilize()
    assert.deepEqual(net.node(1).rn.status().confState.learners, [4])
  })

  it('§4.2.2 a leader removing itself leads until C-new commits, then steps down; a new leader follows within ~2 election timeouts', () => {
    const net = new Network([1, 2, 3], { checkQuorum: true, preVote: true })
    const lead = tickUntilLeader(net)
    net.propose(lead, 'a')
    net.node(lead).rn.proposeConfChange(cc('auto', remove(lead)))
    net.processReadies()
    assert.equal(net.node(lead).rn.status().softState.role, 'leader', 'still leading while C-new is uncommitted')
    net.stabilize()
    assert.equal(net.node(lead).rn.status().softState.role, 'follower')
    const others = [1, 2, 3].filter((id) => id !== lead)
    for (const id of others) assert.deepEqual(net.node(id).rn.status().confState.voters, others)
    let ticks = 0
    while (ticks < 2 * 10 + 2 && !others.some((id) => net.node(id).rn.status().softState.role === 'leader')) {
      net.tickAll(1)
      ticks++
    }
    const next = others.find((id) => net.node(id).rn.status().softState.role === 'leader')
    assert.notEqual(next, undefined, `no new leader after ${ticks} ticks`)
    net.propose(next!, 'b')
    for (const id of others) assert.deepEqual(dataOf(net.node(id).applied), ['a', 'b'])
    // The removed node cannot campaign.
    for (let i = 0; i < 50; i++) net.tick(lead)
    assert.notEqual(net.node(lead).rn.status().softState.role, 'candidate')
  })

  it('§4.3 replacing the leader through joint consensus: it keeps leading in C-old,new and steps down after leaving', () => {
    const net = new Network([1, 2, 3], { bootstrapped: true })
    net.elect(1)
    net.add(4, [])
    net.node(1).rn.proposeConfChange(cc('auto', remove(1), add(4)))
    net.stabilize()
    net.tickAll(2)
    assert.equal(net.node(1).rn.status().softState.role, 'follower')
    for (const id of [2, 3]) assert.deepEqual(net.node(id).rn.status().confState.voters, [2, 3, 4], `node ${id}`)
    net.tickAll(25)
    const l = net.leader()
    assert.ok([2, 3, 4].includes(l), `leader ${l}`)
    net.propose(l, 'after')
    for (const id of [2, 3, 4]) {
      assert.deepEqual(net.node(id).rn.status().confState.voters, [2, 3, 4], `node ${id}`)
      assert.deepEqual(dataOf(net.node(id).applied), ['after'], `node ${id}`)
    }
  })

  it('§4 a node with unapplied committed conf changes does not campaign', () => {
    const net = new Network([1, 2, 3])
    net.elect(1)
    const r2 = net.node(2).rn.raftForTesting
    // Node 2 learns a conf change is committed but has not applied it yet.
    net.filter = (m) => !(m.to === 2 && m.type !== 'app')
    net.node(1).rn.proposeConfChange(cc('auto', learner(4)))
    net.stabilize()
    net.tickAll(1)
    r2.raftLog.applied = 1
    r2.raftLog.applying = 1
    assert.ok(r2.raftLog.committed > 1)
    r2.step({ type: 'timeoutNow', from: 1, to: 2, term: r2.term, logTerm: 0, index: 0, entries: [], commit: 0, reject: false, rejectHint: 0, context: new Uint8Array(0) })
    assert.equal(r2.state, 'follower')
  })
})
