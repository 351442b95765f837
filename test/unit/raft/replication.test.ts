// Replication mechanics (Raft paper §5.3 and etcd's flow control): batching, pipelining with an inflight
// window, probe/replicate states, size limits, proposal forwarding and dropping.

import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { ProposalDroppedError } from '../../../src/raft/errors.js'
import type { RawNode } from '../../../src/raft/rawnode.js'
import type { MemoryStorage } from '../../../src/raft/storage.js'
import type { Message } from '../../../src/raft/types.js'
import { Network, b, dataOf, drain, forceLeader, msg, newRaft } from './helpers.js'
import type { NodeOpts } from './helpers.js'

function accept (m: Message): Message {
  return msg({ type: 'appResp', from: m.to, to: m.from, term: m.term, index: m.index + m.entries.length })
}

/** A leader of 3 whose followers acknowledged the no-op (so both are in replicate). */
function replicatingLeader (opts: NodeOpts = {}): { rn: RawNode, storage: MemoryStorage, r: RawNode['raftForTesting'] } {
  const x = newRaft(1, [1, 2, 3], opts)
  const out = forceLeader(x.rn, x.storage)
  for (const m of out.filter((m) => m.type === 'app')) x.r.step(accept(m))
  drain(x.rn, x.storage)
  return x
}

const dropped = (reason: string) => (e: unknown): boolean => e instanceof ProposalDroppedError && e.reason === reason

describe('§5.3 replication flow control', () => {
  it('§5.3 the leader appends a no-op entry of its term on election', () => {
    const { rn, storage, r } = newRaft(1, [1, 2, 3])
    forceLeader(rn, storage)
    assert.deepEqual([storage.lastIndex(), storage.term(1), storage.entries(1, 2, Infinity)[0].data.byteLength], [1, r.term, 0])
  })

  it('many proposals between two Readies go out as one append per follower (batching)', () => {
    const { rn } = replicatingLeader()
    for (let i = 0; i < 10; i++) rn.propose(b(`p${i}`))
    const rd = rn.ready()
    const apps = rd.messages.filter((m) => m.type === 'app')
    assert.deepEqual(apps.map((m) => [m.to, m.entries.map((e) => e.index)]), [
      [2, Array.from({ length: 10 }, (_, i) => 2 + i)],
      [3, Array.from({ length: 10 }, (_, i) => 2 + i)]
    ])
    assert.equal(rd.entries.length, 10)
  })

  it('a replicating follower gets several appends in flight, bounded by maxInflightMsgs (pipelining)', () => {
    const { rn, storage, r } = replicatingLeader({ maxInflightMsgs: 3 })
    const sent: Message[] = []
    for (let i = 0; i < 5; i++) {
      rn.propose(b(`p${i}`))
      sent.push(...drain(rn, storage))
    }
    const to2 = sent.filter((m) => m.type === 'app' && m.to === 2 && m.entries.length > 0)
    assert.equal(to2.length, 3, 'window full after 3 unacknowledged appends')
    assert.equal(r.trk.progress.get(2)?.isPaused(), true)
    r.step(accept(to2[0]))
    const more = drain(rn, storage).filter((m) => m.type === 'app' && m.to === 2 && m.entries.length > 0)
    assert.equal(more.length, 1)
  })

  it('appends are split by maxSizePerMsg (at least one entry each)', () => {
    const { rn, storage } = replicatingLeader({ maxSizePerMsg: 150 })
    const big = new Uint8Array(100)
    for (let i = 0; i < 3; i++) rn.propose(big)
    const apps = drain(rn, storage).filter((m) => m.type === 'app' && m.to === 2)
    // Split into size-limited messages, all pipelined at once.
    assert.deepEqual(apps.map((m) => m.entries.length), [1, 1, 1])
  })

  it('a probing follower gets one append at a time until it answers', () => {
    const { rn, storage, r } = newRaft(1, [1, 2, 3])
    const out = forceLeader(rn, storage)
    assert.equal(out.filter((m) => m.type === 'app' && m.to === 2).length, 1)
    rn.propose(b('x'))
    assert.equal(drain(rn, storage).filter((m) => m.type === 'app' && m.to === 2).length, 0)
    r.step(accept(out.find((m) => m.to === 2)!))
    assert.equal(r.trk.progress.get(2)?.state, 'replicate')
    assert.ok(drain(rn, storage).some((m) => m.type === 'app' && m.to === 2 && dataOf(m.entries).includes('x')))
  })

  it('reportUnreachable moves a replicating follower back to probe', () => {
    const { rn, r } = replicatingLeader()
    assert.equal(r.trk.progress.get(2)?.state, 'replicate')
    rn.reportUnreachable(2)
    assert.equal(r.trk.progress.get(2)?.state, 'probe')
    rn.reportUnreachable(9)
  })

  it('a heartbeat response lets a stuck prober send again', () => {
    const { rn, storage, r } = newRaft(1, [1, 2, 3])
    forceLeader(rn, storage)
    rn.propose(b('x'))
    drain(rn, storage)
    assert.equal(r.trk.progress.get(2)?.isPaused(), true)
    r.step(msg({ type: 'heartbeatResp', from: 2, to: 1, term: r.term }))
    assert.ok(drain(rn, storage).some((m) => m.type === 'app' && m.to === 2))
  })

  it('the uncommitted entry size limit drops proposals until entries commit', () => {
    const net = new Network([1, 2, 3], { maxUncommittedEntriesSize: 10 })
    net.elect(1)
    net.isolate(2)
    net.isolate(3)
    net.node(1).rn.propose(new Uint8Array(8))
    assert.throws(() => net.node(1).rn.propose(new Uint8Array(8)), dropped('uncommittedLimit'))
    net.heal()
    net.tickAll(3)
    net.node(1).rn.propose(new Uint8Array(8))
  })

  it('§5.1 proposals without a leader are dropped; followers forward to the leader unless disabled', () => {
    const net = new Network([1, 2, 3])
    assert.throws(() => net.node(2).rn.propose(b('x')), dropped('noLeader'))
    net.node(1).rn.raftForTesting.becomeCandidate()
    assert.throws(() => net.node(1).rn.propose(b('x')), dropped('noLeader'))
    net.elect(1)
    net.propose(2, 'via-2')
    assert.deepEqual(dataOf(net.node(1).applied), ['via-2'])

    const strict = new Network([1, 2, 3], { disableProposalForwarding: true })
    strict.elect(1)
    assert.throws(() => strict.node(2).rn.propose(b('x')), dropped('forwardingDisabled'))
  })

  it('the leader reports per-follower progress and time since contact', () => {
    const net = new Network([1, 2, 3])
    net.elect(1)
    net.isolate(3)
    net.tickAll(4)
    const progress = net.node(1).rn.status().progress!
    assert.equal(progress.get(2)?.ticksSinceContact, 0)
    assert.equal(progress.get(3)?.ticksSinceContact, 4)
    assert.equal(progress.get(1)?.state, 'replicate')
    assert.equal(net.node(2).rn.status().progress, undefined)
  })
})
