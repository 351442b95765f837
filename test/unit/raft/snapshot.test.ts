// Snapshots and log compaction (Raft paper §7).

import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { emptyConfState } from '../../../src/raft/conf-state.js'
import { SnapshotTemporarilyUnavailable } from '../../../src/raft/errors.js'
import { MemoryStorage } from '../../../src/raft/storage.js'
import type { Snapshot } from '../../../src/raft/types.js'
import { Network, b, dataOf, ents, msg, newRaft, storageWith, takeMessages } from './helpers.js'

function compactLeader (net: Network, id: number): Snapshot {
  const n = net.node(id)
  const applied = n.rn.status().applied
  const snap = n.storage.createSnapshot(applied, n.rn.status().confState, b(`state@${applied}`))
  n.storage.compact(applied)
  return snap
}

describe('§7 snapshots', () => {
  it('§7 the leader sends a snapshot to a follower whose next entry was compacted, then resumes replication', () => {
    const net = new Network([1, 2, 3])
    net.elect(1)
    net.isolate(3)
    for (let i = 0; i < 5; i++) net.propose(1, `v${i}`)
    const snap = compactLeader(net, 1)
    net.heal()
    net.tickAll(3)
    const snaps = net.sent.filter((m) => m.type === 'snap' && m.to === 3)
    assert.equal(snaps.length, 1)
    assert.equal(snaps[0].snapshot?.metadata.index, snap.metadata.index)
    const n3 = net.node(3)
    assert.equal(n3.storage.firstIndex(), snap.metadata.index + 1)
    assert.deepEqual(n3.storage.snapshot().data, b(`state@${snap.metadata.index}`))
    // The follower's append response after installing moves it straight back to replicate; a late report is a no-op.
    assert.equal(net.node(1).rn.status().progress?.get(3)?.state, 'replicate')
    net.node(1).rn.reportSnapshot(3, 'finish')
    net.propose(1, 'after')
    assert.deepEqual(dataOf(n3.applied), ['after'])
    assert.equal(net.node(1).rn.status().progress?.get(3)?.state, 'replicate')
    assert.equal(net.node(1).rn.status().progress?.get(3)?.match, net.node(1).storage.lastIndex())
  })

  it('§7 a follower restores a snapshot: Ready.snapshot, commit at its index, configuration from its ConfState', () => {
    const { rn, r } = newRaft(2, [1, 2], { log: ents(1, 1, 1) })
    const cs = { ...emptyConfState(), voters: [1, 2, 3] }
    rn.step(msg({ type: 'snap', from: 1, to: 2, term: 2, snapshot: { metadata: { index: 11, term: 2, confState: cs }, data: b('S') } }))
    const rd = rn.ready()
    assert.equal(rd.snapshot?.metadata.index, 11)
    assert.deepEqual(rd.committedEntries, [])
    assert.equal(rd.hardState?.commit, 11)
    assert.deepEqual(rd.messagesAfterPersist.map((m) => [m.type, m.index]), [['appResp', 11]])
    assert.deepEqual(r.trk.voterNodes(), [1, 2, 3])
    assert.equal(r.promotable(), false, 'cannot campaign with a snapshot not yet persisted')
    rn.advance(rd)
    assert.equal(rn.status().applied, 11)
    assert.equal(r.promotable(), true)
  })

  it('§7 a stale snapshot is ignored and answered with the commit index', () => {
    const storage = storageWith([1, 2], [], ents(1, 1, 1, 1))
    storage.setHardState({ term: 1, vote: 0, commit: 3 })
    const { rn } = newRaft(2, [1, 2], { storage })
    rn.step(msg({ type: 'snap', from: 1, to: 2, term: 1, snapshot: { metadata: { index: 2, term: 1, confState: { ...emptyConfState(), voters: [1, 2] } }, data: b('') } }))
    const out = takeMessages(rn)
    assert.deepEqual(out.map((m) => [m.type, m.index]), [['appResp', 3]])
    assert.equal(rn.ready().snapshot, undefined)
  })

  it('§7 a snapshot whose last entry we already hold only moves the commit index', () => {
    const { rn, r } = newRaft(2, [1, 2], { log: ents(1, 1, 1, 1) })
    rn.step(msg({ type: 'snap', from: 1, to: 2, term: 1, snapshot: { metadata: { index: 2, term: 1, confState: { ...emptyConfState(), voters: [1, 2] } }, data: b('') } }))
    assert.equal(r.raftLog.committed, 2)
    assert.equal(r.raftLog.lastIndex(), 3)
    assert.equal(rn.ready().snapshot, undefined)
  })

  it('§7 a failed snapshot sends the follower back to probing from its match', () => {
    const net = new Network([1, 2, 3])
    net.elect(1)
    net.isolate(3)
    for (let i = 0; i < 3; i++) net.propose(1, `v${i}`)
    compactLeader(net, 1)
    net.heal()
    net.filter = (m) => !(m.type === 'snap')
    net.tickAll(2)
    const pr = () => net.node(1).rn.status().progress?.get(3)
    assert.equal(pr()?.state, 'snapshot')
    net.node(1).rn.reportSnapshot(3, 'failure')
    assert.equal(pr()?.state, 'probe')
    assert.equal(pr()?.next, pr()!.match + 1)
    net.heal()
    net.tickAll(3)
    net.node(1).rn.reportSnapshot(3, 'finish')
    net.tickAll(2)
    assert.equal(pr()?.state, 'replicate')
  })

  it('§7 a temporarily unavailable snapshot is retried later', () => {
    class FlakyStorage extends MemoryStorage {
      failures = 2
      override snapshot (): Snapshot {
        if (this.failures > 0) {
          this.failures--
          throw new SnapshotTemporarilyUnavailable()
        }
        return super.snapshot()
      }
    }
    const flaky = new FlakyStorage()
    flaky.applySnapshot({ metadata: { index: 0, term: 0, confState: { ...emptyConfState(), voters: [1, 2, 3] } }, data: new Uint8Array(0) })
    const net = new Network([2, 3])
    net.add(1, [1, 2, 3], { storage: flaky })
    for (const id of [2, 3]) {
      net.nodes.delete(id)
      net.add(id, [1, 2, 3])
    }
    net.elect(1)
    net.isolate(3)
    for (let i = 0; i < 3; i++) net.propose(1, `v${i}`)
    compactLeader(net, 1)
    net.heal()
    net.tickAll(6)
    assert.equal(flaky.failures, 0)
    assert.equal(net.sent.filter((m) => m.type === 'snap').length, 1)
  })

  it('§7 a node added to a bootstrapped cluster receives the bootstrap snapshot with the founding configuration', () => {
    const net = new Network([])
    const s1 = new MemoryStorage()
    s1.bootstrap([1])
    net.add(1, [], { storage: s1 })
    net.elect(1)
    net.propose(1, 'before-join')
    net.add(2, [], { storage: new MemoryStorage() })
    net.node(1).rn.proposeConfChange({ transition: 'auto', changes: [{ type: 'addNode', nodeId: 2 }], context: new Uint8Array(0) })
    net.stabilize()
    net.tickAll(3)
    const n2 = net.node(2)
    assert.deepEqual(n2.rn.status().confState.voters, [1, 2])
    assert.deepEqual(dataOf(n2.applied), ['before-join'])
    assert.ok(net.sent.some((m) => m.type === 'snap' && m.to === 2 && m.snapshot?.metadata.index === 1))
  })
})
