// Ordering between persisting, sending and counting (Raft thesis §3.8 and §10.2.1): what a node promises in a
// message must be durable before the message leaves; a leader may replicate before its own fsync but counts its
// own copy only once it is durable.

import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { MemoryStorage } from '../../../src/raft/storage.js'
import { RawNode } from '../../../src/raft/rawnode.js'
import { ReadyProtocolError } from '../../../src/raft/errors.js'
import { b, cycle, dataOf, drain, ents, forceLeader, msg, newRaft, seededRandom, storageWith } from './helpers.js'

describe('persistence ordering', () => {
  it('§3.8 a vote response appears only in messagesAfterPersist, with the vote in the hard state', () => {
    const { rn } = newRaft(1, [1, 2, 3])
    rn.step(msg({ type: 'vote', from: 2, to: 1, term: 1 }))
    const rd = rn.ready()
    assert.deepEqual(rd.messages, [])
    assert.deepEqual(rd.messagesAfterPersist.map((m) => [m.type, m.to, m.reject]), [['voteResp', 2, false]])
    assert.deepEqual(rd.hardState, { term: 1, vote: 2, commit: 0 })
    assert.equal(rd.mustSync, true)
  })

  it('§3.8 an append response leaves only after the appended entries are persisted', () => {
    const { rn } = newRaft(1, [1, 2, 3])
    rn.step(msg({ type: 'app', from: 2, to: 1, term: 1, entries: ents(1, 1, 1) }))
    const rd = rn.ready()
    assert.deepEqual(rd.entries.map((e) => e.index), [1, 2])
    assert.equal(rd.mustSync, true)
    assert.deepEqual(rd.messages, [])
    assert.deepEqual(rd.messagesAfterPersist.map((m) => [m.type, m.index]), [['appResp', 2]])
  })

  it('§3.8 heartbeat responses and forwarded proposals also wait for persistence', () => {
    const { rn, storage } = newRaft(1, [1, 2, 3])
    rn.step(msg({ type: 'heartbeat', from: 2, to: 1, term: 1 }))
    cycle(rn, storage)
    rn.propose(b('fwd'))
    const rd = rn.ready()
    assert.deepEqual(rd.messages, [])
    assert.deepEqual(rd.messagesAfterPersist.map((m) => [m.type, m.to]), [['prop', 2]])
  })

  it('§10.2.1 the leader sends appends before its own fsync but its commit does not advance before advance()', () => {
    const { rn, storage, r } = newRaft(1, [1, 2, 3])
    const out = forceLeader(rn, storage)
    for (const m of out.filter((m) => m.type === 'app')) r.step(msg({ type: 'appResp', from: m.to, to: 1, term: r.term, index: m.index + m.entries.length }))
    drain(rn, storage)
    const committed0 = r.raftLog.committed
    rn.propose(b('x'))
    const rd = rn.ready()
    const li = rd.entries[0].index
    assert.ok(rd.messages.some((m) => m.type === 'app' && m.to === 2 && m.entries.some((e) => e.index === li)), 'append sent immediately')
    // Follower 2 acknowledges before the leader persisted: 2 of 3 hold it, but the leader itself does not count yet.
    r.step(msg({ type: 'appResp', from: 2, to: 1, term: r.term, index: li }))
    assert.equal(r.raftLog.committed, committed0)
    storage.append(rd.entries)
    rn.advance(rd)
    assert.equal(r.raftLog.committed, li, 'the self-acknowledgement is stepped in advance()')
  })

  it('§10.2.1 a single-node cluster commits in advance(), never within the Ready that carries the entry', () => {
    const storage = new MemoryStorage()
    storage.bootstrap([1])
    const rn = new RawNode({ id: 1, electionTick: 10, heartbeatTick: 1, storage, random: seededRandom(3) })
    rn.campaign()
    drain(rn, storage)
    assert.equal(rn.status().softState.role, 'leader')
    rn.propose(b('x'))
    const rd1 = rn.ready()
    assert.deepEqual(dataOf(rd1.entries), ['x'])
    assert.deepEqual(rd1.committedEntries, [])
    storage.append(rd1.entries)
    rn.advance(rd1)
    const rd2 = rn.ready()
    assert.deepEqual(dataOf(rd2.committedEntries), ['x'])
    assert.deepEqual(rd2.entries, [])
    rn.advance(rd2)
  })

  it('§3.8 a candidate counts its own vote only once it is persisted', () => {
    const storage = new MemoryStorage()
    storage.bootstrap([1])
    const rn = new RawNode({ id: 1, electionTick: 10, heartbeatTick: 1, storage, random: seededRandom(3), preVote: false })
    rn.campaign()
    assert.equal(rn.status().softState.role, 'candidate')
    const rd = rn.ready()
    assert.equal(rn.status().softState.role, 'candidate', 'still a candidate until advance()')
    storage.setHardState(rd.hardState!)
    rn.advance(rd)
    assert.equal(rn.status().softState.role, 'leader')
  })

  it('messages caused between ready() and advance() wait for the next Ready', () => {
    const { rn, storage } = newRaft(1, [1, 2, 3])
    rn.step(msg({ type: 'app', from: 2, to: 1, term: 1, entries: ents(1, 1) }))
    const rd1 = rn.ready()
    assert.equal(rn.hasReady(), false, 'nothing new while a Ready is outstanding')
    rn.step(msg({ type: 'app', from: 2, to: 1, term: 1, index: 1, logTerm: 1, entries: ents(2, 1) }))
    assert.deepEqual(rd1.messagesAfterPersist.map((m) => m.index), [1])
    storage.append(rd1.entries)
    rn.advance(rd1)
    const rd2 = rn.ready()
    assert.deepEqual(rd2.entries.map((e) => e.index), [2])
    assert.deepEqual(rd2.messagesAfterPersist.map((m) => m.index), [2])
  })

  it('a commit-only hard state change does not require a sync', () => {
    const { rn, storage } = newRaft(1, [1, 2, 3])
    rn.step(msg({ type: 'app', from: 2, to: 1, term: 1, entries: ents(1, 1) }))
    cycle(rn, storage)
    rn.step(msg({ type: 'heartbeat', from: 2, to: 1, term: 1, commit: 1 }))
    const rd = rn.ready()
    assert.deepEqual(rd.hardState, { term: 1, vote: 0, commit: 1 })
    assert.equal(rd.mustSync, false)
  })

  it('a restarted node does not re-emit its unchanged hard state and replays entries after `applied`', () => {
    const storage = storageWith([1, 2, 3], [], ents(1, 1, 1, 1))
    storage.setHardState({ term: 1, vote: 2, commit: 3 })
    const rn = new RawNode({ id: 1, electionTick: 10, heartbeatTick: 1, storage, random: seededRandom(1), applied: 1 })
    const rd = rn.ready()
    assert.equal(rd.hardState, undefined)
    assert.deepEqual(rd.committedEntries.map((e) => e.index), [2, 3])
    rn.advance(rd)
    assert.equal(rn.status().applied, 3)
  })

  it('the Ready protocol is enforced', () => {
    const { rn } = newRaft(1, [1, 2, 3])
    rn.step(msg({ type: 'vote', from: 2, to: 1, term: 1 }))
    const rd = rn.ready()
    assert.throws(() => rn.ready(), ReadyProtocolError)
    rn.advance(structuredClone(rd))
    assert.throws(() => rn.advance(rd), ReadyProtocolError)
  })

  it('an entry being persisted that a new leader replaces is not marked stable by the old write', () => {
    const { rn, storage, r } = newRaft(1, [1, 2, 3])
    rn.step(msg({ type: 'app', from: 2, to: 1, term: 1, entries: ents(1, 1, 1) }))
    const rd1 = rn.ready()
    // While 1@1, 2@1 are being written, a leader of term 2 replaces index 2.
    rn.step(msg({ type: 'app', from: 3, to: 1, term: 2, index: 1, logTerm: 1, entries: ents(2, 2) }))
    storage.append(rd1.entries)
    rn.advance(rd1)
    // Conservative: the write of (2, term 1) no longer describes our log, so nothing is marked stable by it.
    assert.equal(r.raftLog.stableLastIndex(), 0)
    const rd2 = rn.ready()
    assert.deepEqual(rd2.entries.map((e) => [e.index, e.term]), [[2, 2]])
    storage.append(rd2.entries)
    rn.advance(rd2)
    assert.equal(storage.term(2), 2)
  })
})
