// Linearizable reads (Raft thesis §6.4): ReadIndex confirmed by a heartbeat round, and lease-based reads bounded
// by an injected monotonic clock.

import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { decodeRound, encodeRound } from '../../../src/raft/read-only.js'
import { MemoryStorage } from '../../../src/raft/storage.js'
import { RawNode } from '../../../src/raft/rawnode.js'
import type { NodeId } from '../../../src/raft/types.js'
import { FakeClock, Network, b, drain, seededRandom, tickUntilLeader } from './helpers.js'
import type { NodeOpts } from './helpers.js'

const ctxs = (net: Network, id: NodeId): string[] => net.node(id).readStates.map((rs) => new TextDecoder().decode(rs.requestCtx))

function leaseNet (clock: FakeClock, extra: NodeOpts = {}): { net: Network, lead: NodeId } {
  const net = new Network([1, 2, 3], { checkQuorum: true, readOnlyOption: 'leaseBased', tickMs: 10, leaseDriftMs: 5, now: clock.now, ...extra })
  const lead = tickUntilLeader(net)
  net.tickAll(1)
  return { net, lead }
}

describe('§6.4 ReadIndex (safe)', () => {
  it('round numbers survive the heartbeat context encoding', () => {
    for (const r of [0, 1, 255, 2 ** 32 + 5, Number.MAX_SAFE_INTEGER]) assert.equal(decodeRound(encodeRound(r)), r)
    assert.equal(decodeRound(new Uint8Array(3)), undefined)
  })

  it('§6.4 a read is answered at the commit index after a heartbeat round confirms leadership', () => {
    const net = new Network([1, 2, 3])
    net.elect(1)
    net.propose(1, 'a')
    const committed = net.node(1).rn.status().hardState.commit
    const sentBefore = net.sent.length
    net.node(1).rn.readIndex(b('r1'))
    net.stabilize()
    assert.deepEqual(net.node(1).readStates.map((rs) => rs.index), [committed])
    assert.deepEqual(ctxs(net, 1), ['r1'])
    const heartbeats = net.sent.slice(sentBefore).filter((m) => m.type === 'heartbeat')
    assert.equal(heartbeats.length, 2)
    assert.ok(heartbeats.every((m) => m.context.byteLength === 8))
  })

  it('§6.4 reads wait until the new leader has committed an entry of its term', () => {
    const net = new Network([1, 2, 3])
    net.filter = (m) => m.type !== 'appResp'
    net.elect(1)
    net.node(1).rn.readIndex(b('early'))
    net.stabilize()
    assert.deepEqual(ctxs(net, 1), [])
    net.heal()
    net.tickAll(2)
    const status = net.node(1).rn.status()
    assert.deepEqual(ctxs(net, 1), ['early'])
    assert.ok(net.node(1).readStates[0].index >= 1)
    assert.equal(status.hardState.commit >= net.node(1).readStates[0].index, true)
  })

  it('§6.4 a leader cut off from the quorum never confirms a read', () => {
    const net = new Network([1, 2, 3])
    net.elect(1)
    net.isolate(1)
    net.node(1).rn.readIndex(b('lost'))
    net.tick(1, 5)
    net.stabilize()
    assert.deepEqual(ctxs(net, 1), [])
  })

  it('§6.4 followers forward reads to the leader and receive readIndexResp', () => {
    const net = new Network([1, 2, 3])
    net.elect(1)
    net.propose(1, 'a')
    net.node(2).rn.readIndex(b('from-2'))
    net.stabilize()
    assert.deepEqual(ctxs(net, 2), ['from-2'])
    assert.equal(net.node(2).readStates[0].index, net.node(1).rn.status().hardState.commit)
    assert.ok(net.sent.some((m) => m.type === 'readIndexResp' && m.to === 2))
  })

  it('§6.4 reads arriving together share one heartbeat round', () => {
    const net = new Network([1, 2, 3])
    net.elect(1)
    net.propose(1, 'a')
    const sentBefore = net.sent.length
    for (let i = 0; i < 5; i++) net.node(1).rn.readIndex(b(`r${i}`))
    net.stabilize()
    assert.deepEqual(ctxs(net, 1), ['r0', 'r1', 'r2', 'r3', 'r4'])
    assert.equal(net.sent.slice(sentBefore).filter((m) => m.type === 'heartbeat').length, 2)
  })

  it('§6.4 a single voter answers reads without a round', () => {
    const storage = new MemoryStorage()
    storage.bootstrap([1])
    const rn = new RawNode({ id: 1, electionTick: 10, heartbeatTick: 1, storage, random: seededRandom(1) })
    rn.campaign()
    drain(rn, storage)
    rn.readIndex(b('solo'))
    const rd = rn.ready()
    assert.deepEqual(rd.readStates.map((rs) => rs.index), [rn.status().hardState.commit])
    rn.advance(rd)
  })

  it('§6.4 a read on a node without a leader is dropped', () => {
    const net = new Network([1, 2, 3])
    net.node(2).rn.readIndex(b('nobody'))
    net.stabilize()
    assert.deepEqual(ctxs(net, 2), [])
    assert.equal(net.sent.length, 0)
  })
})

describe('§6.4 lease-based reads', () => {
  it('lease reads are served locally while the lease lasts, then need a quorum again', () => {
    const clock = new FakeClock()
    const { net, lead } = leaseNet(clock)
    const leader = net.node(lead)
    const expiry = leader.rn.raftForTesting.readOnly.leaseExpiresAt()
    // Lease = send time + (electionTick - 1) × tickMs - drift.
    assert.equal(expiry, 0 + 9 * 10 - 5)
    net.isolate(lead)
    clock.t = expiry - 1
    leader.rn.readIndex(b('in-lease'))
    net.processReadies()
    assert.deepEqual(ctxs(net, lead), ['in-lease'])
    clock.t = expiry
    leader.rn.readIndex(b('expired'))
    net.processReadies()
    net.stabilize()
    assert.deepEqual(ctxs(net, lead), ['in-lease'], 'no quorum, no read')
  })

  it('the lease is measured from when the confirming heartbeats were sent, not when acks arrived', () => {
    const clock = new FakeClock()
    const { net, lead } = leaseNet(clock)
    clock.t = 1000
    // Heartbeats go out at t=1000, acks come back much later.
    net.node(lead).rn.tick()
    net.processReadies()
    clock.t = 1070
    net.stabilize()
    assert.equal(net.node(lead).rn.raftForTesting.readOnly.leaseExpiresAt(), 1000 + 85)
  })

  it('a leader paused past its lease (SIGSTOP) falls back to a safe round when resumed', () => {
    const clock = new FakeClock()
    const { net, lead } = leaseNet(clock)
    clock.t = 10_000
    const before = net.sent.length
    net.node(lead).rn.readIndex(b('late'))
    net.processReadies()
    assert.deepEqual(ctxs(net, lead), [], 'not served from the expired lease')
    assert.ok(net.sent.slice(before).some((m) => m.type === 'heartbeat'))
    net.stabilize()
    assert.deepEqual(ctxs(net, lead), ['late'], 'served after the quorum confirmed')
  })

  it('the lease ends when a leadership transfer starts', () => {
    const clock = new FakeClock()
    const { net, lead } = leaseNet(clock)
    const target = lead === 3 ? 2 : 3
    net.isolate(target) // transfer cannot complete: target lags behind
    net.propose(lead, 'x')
    net.heal()
    net.isolate(target)
    net.node(lead).rn.transferLeader(target)
    net.processReadies()
    net.node(lead).rn.readIndex(b('during-transfer'))
    net.processReadies()
    assert.deepEqual(ctxs(net, lead), [])
    assert.equal(net.node(lead).rn.raftForTesting.readOnly.leaseValid(clock.t), false)
  })

  it('the lease ends when the leader steps down', () => {
    const clock = new FakeClock()
    const { net, lead } = leaseNet(clock)
    const r = net.node(lead).rn.raftForTesting
    assert.equal(r.readOnly.leaseValid(clock.t), true)
    r.becomeFollower(r.term + 1, 0)
    assert.equal(r.readOnly.leaseValid(clock.t), false)
  })

  it('followers honour the lease: a vote request within the election timeout is ignored', () => {
    const clock = new FakeClock()
    const { net, lead } = leaseNet(clock)
    const other = lead === 1 ? 2 : 1
    const r = net.node(other).rn.raftForTesting
    const term = r.term
    net.node(other === 2 ? 3 : 2).rn.raftForTesting.step({
      type: 'vote', from: other === 2 ? 2 : 1, to: other === 2 ? 3 : 2, term: term + 1, logTerm: 99, index: 99, entries: [], commit: 0, reject: false, rejectHint: 0, context: new Uint8Array(0)
    })
    assert.equal(net.node(other === 2 ? 3 : 2).rn.raftForTesting.term, term)
  })

  it('a restarted node honours a lease it may have promised before the crash', () => {
    const clock = new FakeClock()
    const storage = new MemoryStorage()
    storage.bootstrap([1, 2, 3])
    const rn = new RawNode({ id: 2, electionTick: 10, heartbeatTick: 1, storage, random: seededRandom(1), checkQuorum: true, readOnlyOption: 'leaseBased', tickMs: 10, now: clock.now })
    const r = rn.raftForTesting
    const vote = { type: 'vote' as const, from: 3, to: 2, term: 5, logTerm: 1, index: 1, entries: [], commit: 0, reject: false, rejectHint: 0, context: new Uint8Array(0) }
    rn.step(vote)
    assert.equal(r.term, 1, 'ignored right after start')
    for (let i = 0; i < 10; i++) rn.tick()
    rn.step(vote)
    assert.equal(r.term, 5)
    assert.equal(r.vote, 3)
  })

  it('with leaseReads and safe ReadIndex, a read that accepts the lease is served from it and ReadIndex still takes a round', () => {
    const clock = new FakeClock()
    const { net, lead } = leaseNet(clock, { readOnlyOption: 'safe', leaseReads: true })
    const leader = net.node(lead).rn
    const committed = leader.status().hardState.commit
    assert.equal(leader.leaseReadIndex(), committed, 'lease read at the commit index')
    const follower = lead === 1 ? 2 : 1
    assert.equal(net.node(follower).rn.leaseReadIndex(), undefined, 'a follower has no lease')
    const before = net.sent.length
    leader.readIndex(b('safe'))
    net.processReadies()
    assert.deepEqual(ctxs(net, lead), [], 'ReadIndex is not answered from the lease')
    assert.ok(net.sent.slice(before).some((m) => m.type === 'heartbeat'))
    net.stabilize()
    assert.deepEqual(ctxs(net, lead), ['safe'])
  })

  it('with leaseReads, no lease read once the lease expired or a transfer started', () => {
    const clock = new FakeClock()
    const { net, lead } = leaseNet(clock, { readOnlyOption: 'safe', leaseReads: true })
    const leader = net.node(lead).rn
    const expiry = leader.raftForTesting.readOnly.leaseExpiresAt()
    clock.t = expiry
    assert.equal(leader.leaseReadIndex(), undefined, 'expired')
    net.tickAll(1)
    net.stabilize()
    assert.notEqual(leader.leaseReadIndex(), undefined, 'renewed by the next quorum round')
    leader.transferLeader(lead === 3 ? 2 : 3)
    assert.equal(leader.leaseReadIndex(), undefined, 'revoked by the transfer')
  })

  it('lease-based reads require check-quorum, a clock and the tick length', () => {
    const storage = new MemoryStorage()
    const base = { id: 1, electionTick: 10, heartbeatTick: 1, storage, random: seededRandom(1), readOnlyOption: 'leaseBased' as const }
    assert.throws(() => new RawNode({ ...base, checkQuorum: false, now: () => 0, tickMs: 10 }), /checkQuorum/)
    assert.throws(() => new RawNode({ ...base, tickMs: 10 }), /now is required/)
    assert.throws(() => new RawNode({ ...base, now: () => 0 }), /tickMs is required/)
    const leaseOnly = { ...base, readOnlyOption: 'safe' as const, leaseReads: true }
    assert.throws(() => new RawNode({ ...leaseOnly, checkQuorum: false, now: () => 0, tickMs: 10 }), /checkQuorum/)
    assert.throws(() => new RawNode({ ...leaseOnly, tickMs: 10 }), /now is required/)
  })
})
