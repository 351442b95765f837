import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { MemoryStorage } from '../../../src/raft/storage.js'
import { RawNode } from '../../../src/raft/rawnode.js'
import { Network, b, cycle, dataOf, seededRandom } from './helpers.js'

describe('smoke', () => {
  it('single bootstrapped node elects itself and commits in advance()', () => {
    const storage = new MemoryStorage()
    storage.bootstrap([1])
    const rn = new RawNode({ id: 1, electionTick: 10, heartbeatTick: 1, storage, random: seededRandom(1) })
    rn.campaign()
    for (let i = 0; i < 10 && rn.status().softState.role !== 'leader'; i++) cycle(rn, storage)
    assert.equal(rn.status().softState.role, 'leader')
    rn.propose(b('x'))
    const applied: string[] = []
    for (let i = 0; i < 10 && rn.hasReady(); i++) applied.push(...dataOf(cycle(rn, storage).committedEntries))
    assert.deepEqual(applied, ['x'])
  })

  it('three nodes elect a leader and replicate', () => {
    const net = new Network([1, 2, 3])
    net.elect(1)
    assert.equal(net.leader(), 1)
    net.propose(1, 'a')
    net.propose(2, 'b')
    for (const id of [1, 2, 3]) assert.deepEqual(dataOf(net.node(id).applied), ['a', 'b'])
  })
})
