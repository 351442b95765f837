// Tests named after the sections of the Raft paper (Ongaro & Ousterhout, "In Search of an Understandable Consensus
// Algorithm"), in the spirit of etcd-io/raft's raft_paper_test.go.

import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import type { MemoryStorage } from '../../../src/raft/storage.js'
import type { RawNode } from '../../../src/raft/rawnode.js'
import type { Entry, Message, NodeId } from '../../../src/raft/types.js'
import { Network, allMessages, b, cycle, dataOf, drain, ents, forceLeader, msg, newRaft, seededRandom, storageWith, takeMessages } from './helpers.js'

/** Answers every append to an acceptor with success until the leader sends nothing new to them. */
function pump (rn: RawNode, storage: MemoryStorage, first: Message[], acceptors: NodeId[]): void {
  let out = first
  for (let i = 0; i < 50 && out.length > 0; i++) {
    for (const m of out) if (m.type === 'app' && acceptors.includes(m.to)) rn.raftForTesting.step(accept(m))
    out = drain(rn, storage)
  }
}

/** The follower's success answer to an append. */
function accept (m: Message): Message {
  return msg({ type: 'appResp', from: m.to, to: m.from, term: m.term, index: m.index + m.entries.length })
}

function logOf (storage: MemoryStorage): Array<[number, number]> {
  const out: Array<[number, number]> = []
  for (let i = storage.firstIndex(); i <= storage.lastIndex(); i++) out.push([i, storage.term(i)])
  return out
}

describe('§5.1 terms', () => {
  for (const state of ['follower', 'candidate', 'leader'] as const) {
    it(`§5.1 ${state} updates its term from a message with a higher term and becomes follower`, () => {
      const { rn, storage, r } = newRaft(1, [1, 2, 3])
      if (state !== 'follower') r.becomeCandidate()
      if (state === 'leader') forceLeader(rn, storage)
      r.step(msg({ type: 'app', from: 2, to: 1, term: 5 }))
      assert.equal(r.term, 5)
      assert.equal(r.state, 'follower')
      assert.equal(r.lead, 2)
    })
  }

  it('§5.1 a server rejects requests with a stale term', () => {
    const { r, rn } = newRaft(1, [1, 2, 3], { term: 2 })
    r.step(msg({ type: 'app', from: 2, to: 1, term: 1, entries: ents(1, 1) }))
    assert.equal(r.term, 2)
    assert.equal(r.raftLog.lastIndex(), 0)
    assert.deepEqual(takeMessages(rn), [])
  })

  it('§5.1 with check-quorum a stale leader is told the newer term', () => {
    const { r, rn } = newRaft(1, [1, 2, 3], { term: 2, checkQuorum: true })
    r.step(msg({ type: 'heartbeat', from: 2, to: 1, term: 1 }))
    const out = takeMessages(rn)
    assert.deepEqual(out.map((m) => [m.type, m.to, m.term]), [['appResp', 2, 2]])
  })

  it('§5.1 term never decreases', () => {
    const { r } = newRaft(1, [1, 2, 3], { term: 5 })
    assert.throws(() => r.becomeFollower(4, 0), /term must never decrease/)
  })
})

describe('§5.2 leader election', () => {
  it('§5.2 servers start as followers', () => {
    const { r } = newRaft(1, [1, 2, 3])
    assert.equal(r.state, 'follower')
  })

  it('§5.2 leader broadcasts heartbeats every heartbeat timeout', () => {
    const { rn, storage, r } = newRaft(1, [1, 2, 3], { heartbeatTick: 2 })
    forceLeader(rn, storage)
    rn.tick()
    assert.deepEqual(takeMessages(rn).filter((m) => m.type === 'heartbeat'), [])
    rn.tick()
    const hb = takeMessages(rn).filter((m) => m.type === 'heartbeat')
    assert.deepEqual(hb.map((m) => [m.to, m.term, m.commit]), [[2, r.term, 0], [3, r.term, 0]])
  })

  for (const state of ['follower', 'candidate'] as const) {
    it(`§5.2 ${state} starts an election on election timeout`, () => {
      const { rn, storage, r } = newRaft(1, [1, 2, 3])
      if (state === 'candidate') r.becomeCandidate()
      const term0 = r.term
      for (let i = 0; i < 2 * r.electionTimeout; i++) rn.tick()
      assert.equal(r.term, term0 + 1)
      assert.equal(r.state, 'candidate')
      assert.equal(r.vote, 1)
      const rd = rn.ready()
      assert.deepEqual(rd.hardState, { term: term0 + 1, vote: 1, commit: 0 })
      assert.equal(rd.mustSync, true)
      // A vote request promises our own persisted vote: it leaves only after persistence.
      assert.deepEqual(rd.messages, [])
      assert.deepEqual(rd.messagesAfterPersist.map((m) => [m.type, m.to, m.term]), [['vote', 2, term0 + 1], ['vote', 3, term0 + 1]])
      storage.setHardState(rd.hardState!)
      rn.advance(rd)
    })
  }

  const oneRound: Array<{ size: number, votes: Record<number, boolean>, want: string }> = [
    { size: 1, votes: {}, want: 'leader' },
    { size: 3, votes: { 2: true, 3: true }, want: 'leader' },
    { size: 3, votes: { 2: true }, want: 'leader' },
    { size: 5, votes: { 2: true, 3: true, 4: true, 5: true }, want: 'leader' },
    { size: 5, votes: { 2: true, 3: true }, want: 'leader' },
    { size: 3, votes: {}, want: 'candidate' },
    { size: 5, votes: { 2: true }, want: 'candidate' },
    { size: 3, votes: { 2: false, 3: false }, want: 'follower' },
    { size: 5, votes: { 2: false, 3: false, 4: false }, want: 'follower' },
    { size: 5, votes: { 2: true, 3: false, 4: false, 5: false }, want: 'follower' }
  ]
  for (const c of oneRound) {
    it(`§5.2 election in one round: ${c.size} nodes, votes ${JSON.stringify(c.votes)} → ${c.want}`, () => {
      const ids = Array.from({ length: c.size }, (_, i) => i + 1)
      const { rn, storage, r } = newRaft(1, ids)
      rn.campaign()
      cycle(rn, storage) // persist the self-vote; it is counted in advance()
      for (const [from, granted] of Object.entries(c.votes)) {
        r.step(msg({ type: 'voteResp', from: Number(from), to: 1, term: r.term, reject: !granted }))
      }
      assert.equal(r.state, c.want)
      assert.equal(r.term, 1)
    })
  }

  const followerVote: Array<{ vote: NodeId, from: NodeId, reject: boolean }> = [
    { vote: 0, from: 2, reject: false },
    { vote: 0, from: 3, reject: false },
    { vote: 2, from: 2, reject: false },
    { vote: 3, from: 3, reject: false },
    { vote: 2, from: 3, reject: true },
    { vote: 3, from: 2, reject: true }
  ]
  for (const c of followerVote) {
    it(`§5.2 a follower votes at most once per term (voted ${c.vote}, request from ${c.from})`, () => {
      const storage = storageWith([1, 2, 3])
      storage.setHardState({ term: 1, vote: c.vote, commit: 0 })
      const { rn, r } = newRaft(1, [1, 2, 3], { storage })
      r.step(msg({ type: 'vote', from: c.from, to: 1, term: 1 }))
      assert.deepEqual(takeMessages(rn).map((m) => [m.type, m.to, m.term, m.reject]), [['voteResp', c.from, 1, c.reject]])
    })
  }

  for (const term of [1, 2]) {
    it(`§5.2 a candidate returns to follower on an append from a leader of term ${term}`, () => {
      const { r } = newRaft(1, [1, 2, 3])
      r.becomeCandidate()
      r.step(msg({ type: 'app', from: 2, to: 1, term }))
      assert.equal(r.state, 'follower')
      assert.equal(r.term, term)
      assert.equal(r.lead, 2)
    })
  }

  it('§5.2 election timeouts are randomized in [electionTick, 2 × electionTick)', () => {
    const { r } = newRaft(1, [1, 2, 3], { random: seededRandom(99) })
    const seen = new Set<number>()
    for (let i = 0; i < 1000; i++) {
      r.becomeFollower(r.term + 1, 0)
      seen.add(r.randomizedElectionTimeout)
    }
    assert.deepEqual([...seen].sort((x, y) => x - y), Array.from({ length: r.electionTimeout }, (_, i) => r.electionTimeout + i))
  })

  it('§5.2 a follower campaigns only after its randomized timeout', () => {
    const { rn, r } = newRaft(1, [1, 2, 3], { random: seededRandom(5) })
    const timeout = r.randomizedElectionTimeout
    for (let i = 0; i < timeout - 1; i++) rn.tick()
    assert.equal(r.state, 'follower')
    rn.tick()
    assert.equal(r.state, 'candidate')
  })

  it('§5.2 randomized timeouts make simultaneous timeouts (split votes) rare', () => {
    const nodes = [1, 2, 3, 4, 5].map((id) => newRaft(id, [1, 2, 3, 4, 5], { random: seededRandom(1000 + id) }).r)
    let conflicts = 0
    const rounds = 1000
    for (let i = 0; i < rounds; i++) {
      for (const r of nodes) r.becomeFollower(r.term + 1, 0)
      const timeouts = nodes.map((r) => r.randomizedElectionTimeout)
      const min = Math.min(...timeouts)
      if (timeouts.filter((t) => t === min).length > 1) conflicts++
    }
    assert.ok(conflicts / rounds < 0.4, `conflict rate ${conflicts / rounds}`)
  })
})

describe('§5.3 log replication', () => {
  function leaderOf3 (): { rn: RawNode, storage: MemoryStorage, r: ReturnType<typeof newRaft>['r'] } {
    const x = newRaft(1, [1, 2, 3])
    const out = forceLeader(x.rn, x.storage)
    // Followers acknowledge the no-op: they move to replicate.
    for (const m of out.filter((m) => m.type === 'app')) x.r.step(accept(m))
    drain(x.rn, x.storage)
    return x
  }

  it('§5.3 the leader appends a proposal and sends it right away, before its own fsync', () => {
    const { rn, r } = leaderOf3()
    const li = r.raftLog.lastIndex()
    rn.propose(b('some data'))
    const rd = rn.ready()
    assert.deepEqual(rd.entries.map((e) => [e.index, e.term, new TextDecoder().decode(e.data)]), [[li + 1, r.term, 'some data']])
    const apps = rd.messages.filter((m) => m.type === 'app')
    assert.deepEqual(apps.map((m) => [m.to, m.index, m.logTerm, m.entries.map((e) => e.index), m.commit]), [
      [2, li, r.term, [li + 1], li],
      [3, li, r.term, [li + 1], li]
    ])
  })

  it('§5.3 the leader commits an entry once a majority stores it and tells the followers', () => {
    const { rn, storage, r } = leaderOf3()
    rn.propose(b('x'))
    const out = drain(rn, storage)
    const li = r.raftLog.lastIndex()
    assert.equal(r.raftLog.committed, li - 1, 'not committed with only its own copy')
    r.step(accept(out.find((m) => m.to === 2 && m.type === 'app')!))
    assert.equal(r.raftLog.committed, li)
    const rd = rn.ready()
    assert.deepEqual(dataOf(rd.committedEntries), ['x'])
    assert.deepEqual(rd.messages.filter((m) => m.type === 'app').map((m) => [m.to, m.commit]), [[2, li], [3, li]])
  })

  const acks: Array<{ size: number, acceptors: NodeId[], committed: boolean }> = [
    { size: 1, acceptors: [], committed: true },
    { size: 3, acceptors: [], committed: false },
    { size: 3, acceptors: [2], committed: true },
    { size: 3, acceptors: [2, 3], committed: true },
    { size: 5, acceptors: [], committed: false },
    { size: 5, acceptors: [2], committed: false },
    { size: 5, acceptors: [2, 3], committed: true },
    { size: 5, acceptors: [2, 3, 4, 5], committed: true }
  ]
  for (const c of acks) {
    it(`§5.3 leader acknowledges commit: ${c.size} nodes, acceptors ${JSON.stringify(c.acceptors)} → ${c.committed}`, () => {
      const ids = Array.from({ length: c.size }, (_, i) => i + 1)
      const { rn, storage, r } = newRaft(1, ids)
      const out = forceLeader(rn, storage)
      rn.propose(b('data'))
      out.push(...drain(rn, storage))
      const li = r.raftLog.lastIndex()
      pump(rn, storage, out, c.acceptors)
      assert.equal(r.raftLog.committed >= li, c.committed)
    })
  }

  const preceding: Entry[][] = [[], ents(1, 2), ents(1, 1, 2), ents(1, 1)]
  for (const log of preceding) {
    it(`§5.3 committing an entry commits all preceding ones (prior log terms ${JSON.stringify(log.map((e) => e.term))})`, () => {
      const { rn, storage, r } = newRaft(1, [1, 2, 3], { log, term: 2 })
      const out = forceLeader(rn, storage)
      rn.propose(b('some data'))
      out.push(...drain(rn, storage))
      const committed: Entry[] = []
      for (let i = 0; i < 50 && out.length > 0; i++) {
        for (const m of out) if (m.type === 'app') r.step(accept(m))
        out.length = 0
        for (let k = 0; k < 20 && rn.hasReady(); k++) {
          const rd = cycle(rn, storage)
          committed.push(...rd.committedEntries)
          out.push(...allMessages(rd))
        }
      }
      assert.deepEqual(committed.map((e) => e.index), Array.from({ length: log.length + 2 }, (_, i) => i + 1))
      assert.deepEqual(dataOf(committed.slice(log.length)), ['some data'])
    })
  }

  const followerCommit: Array<{ entries: Entry[], commit: number }> = [
    { entries: ents(1, 1), commit: 1 },
    { entries: ents(1, 1, 1), commit: 1 },
    { entries: ents(1, 1, 1), commit: 2 },
    { entries: ents(1, 1, 1), commit: 5 }
  ]
  for (const c of followerCommit) {
    it(`§5.3 a follower commits up to the leader's commit index (${c.entries.length} entries, leader commit ${c.commit})`, () => {
      const { rn, storage, r } = newRaft(1, [1, 2, 3])
      r.becomeFollower(1, 2)
      r.step(msg({ type: 'app', from: 2, to: 1, term: 1, entries: c.entries, commit: c.commit }))
      const want = Math.min(c.commit, c.entries.length)
      assert.equal(r.raftLog.committed, want)
      // Committed entries may include entries of the same Ready (persist them first).
      const rd = rn.ready()
      assert.deepEqual(rd.committedEntries.map((e) => e.index), Array.from({ length: want }, (_, i) => i + 1))
      assert.deepEqual(rd.entries.map((e) => e.index), c.entries.map((e) => e.index))
      storage.append(rd.entries)
      rn.advance(rd)
    })
  }

  // Follower log 1@1 2@2, committed 1.
  const check: Array<{ term: number, index: number, windex: number, reject: boolean, hint: number, logTerm: number }> = [
    { term: 0, index: 0, windex: 1, reject: false, hint: 0, logTerm: 0 },
    { term: 1, index: 1, windex: 1, reject: false, hint: 0, logTerm: 0 },
    { term: 2, index: 2, windex: 2, reject: false, hint: 0, logTerm: 0 },
    { term: 1, index: 2, windex: 2, reject: true, hint: 1, logTerm: 1 },
    { term: 3, index: 3, windex: 3, reject: true, hint: 2, logTerm: 2 }
  ]
  for (const c of check) {
    it(`§5.3 follower consistency check: prev (${c.index}, ${c.term}) → ${c.reject ? 'reject' : 'accept'}`, () => {
      const storage = storageWith([1, 2, 3], [], ents(1, 1, 2))
      storage.setHardState({ term: 2, vote: 0, commit: 1 })
      const { rn, r } = newRaft(1, [1, 2, 3], { storage })
      r.becomeFollower(2, 2)
      r.step(msg({ type: 'app', from: 2, to: 1, term: 2, logTerm: c.term, index: c.index, commit: 1 }))
      const out = takeMessages(rn)
      assert.deepEqual(out.map((m) => [m.type, m.index, m.reject, m.rejectHint, m.logTerm]), [['appResp', c.windex, c.reject, c.hint, c.logTerm]])
    })
  }

  const appendCases: Array<{ index: number, term: number, entries: Entry[], want: Array<[number, number]> }> = [
    { index: 2, term: 2, entries: ents(3, 3), want: [[1, 1], [2, 2], [3, 3]] },
    { index: 1, term: 1, entries: ents(2, 3, 4), want: [[1, 1], [2, 3], [3, 4]] },
    { index: 0, term: 0, entries: ents(1, 1), want: [[1, 1], [2, 2]] },
    { index: 0, term: 0, entries: ents(1, 3), want: [[1, 3]] }
  ]
  for (const c of appendCases) {
    it(`§5.3 a follower deletes conflicting entries and appends new ones (prev ${c.index}@${c.term})`, () => {
      const storage = storageWith([1, 2, 3], [], ents(1, 1, 2), 2)
      const { rn, r } = newRaft(1, [1, 2, 3], { storage })
      r.becomeFollower(2, 2)
      r.step(msg({ type: 'app', from: 2, to: 1, term: 4, logTerm: c.term, index: c.index, entries: c.entries }))
      const rd = rn.ready()
      storage.append(rd.entries)
      rn.advance(rd)
      assert.deepEqual(logOf(storage), c.want)
    })
  }

  // Figure 7: the leader (term 8) brings every follower's log in line with its own.
  const leaderLog = [1, 1, 1, 4, 4, 5, 5, 6, 6, 6]
  const followers: Record<string, number[]> = {
    a: [1, 1, 1, 4, 4, 5, 5, 6, 6],
    b: [1, 1, 1, 4],
    c: [1, 1, 1, 4, 4, 5, 5, 6, 6, 6, 6],
    d: [1, 1, 1, 4, 4, 5, 5, 6, 6, 6, 7, 7],
    e: [1, 1, 1, 4, 4, 4, 4],
    f: [1, 1, 1, 2, 2, 2, 3, 3, 3, 3, 3]
  }
  for (const [name, flog] of Object.entries(followers)) {
    it(`§5.3 leader brings follower (${name}) of Figure 7 in sync`, () => {
      const net = new Network([1, 2, 3], (id) => ({
        log: ents(1, ...(id === 2 ? flog : leaderLog)),
        term: id === 2 ? Math.max(...flog) : 7
      }))
      net.elect(1)
      assert.equal(net.leader(), 1)
      net.propose(1, 'x')
      const want = logOf(net.node(1).storage)
      assert.deepEqual(logOf(net.node(2).storage), want)
      assert.deepEqual(logOf(net.node(3).storage), want)
    })
  }

  it('§5.3 leader backtracks on reject using the follower\'s conflict hint (about one probe per term)', () => {
    // The leader's log: 1@1 then 100 entries of term 5; the follower: 1@1 then 100 entries of terms 2..4.
    const leaderTail = Array.from({ length: 100 }, () => 5)
    const followerTail = Array.from({ length: 100 }, (_, i) => 2 + Math.floor(i / 34))
    const net = new Network([1, 2, 3], (id) => ({ log: ents(1, 1, ...(id === 2 ? followerTail : leaderTail)), term: 5 }))
    net.elect(1)
    assert.equal(net.leader(), 1)
    net.propose(1, 'x')
    const rejects = net.sent.filter((m) => m.type === 'appResp' && m.from === 2 && m.reject)
    assert.ok(rejects.length >= 1 && rejects.length <= 4, `rejections: ${rejects.length}`)
    assert.deepEqual(logOf(net.node(2).storage), logOf(net.node(1).storage))
  })

  it('§5.3 a leader never overwrites its own log (leader append-only)', () => {
    const { rn, storage, r } = newRaft(1, [1, 2, 3])
    forceLeader(rn, storage)
    const before = r.raftLog.lastIndex()
    // An append from a deposed leader of an older term is ignored.
    r.step(msg({ type: 'app', from: 2, to: 1, term: r.term - 1, index: 0, logTerm: 0, entries: ents(1, 1, 1, 1) }))
    assert.equal(r.raftLog.lastIndex(), before)
    assert.equal(r.state, 'leader')
    // Even an append claiming the leader's own term is never applied to a leader's log.
    r.step(msg({ type: 'app', from: 2, to: 1, term: r.term, index: 0, logTerm: 0, entries: ents(1, r.term) }))
    assert.equal(r.raftLog.lastIndex(), before)
    assert.equal(r.raftLog.term(1), r.term)
  })
})

describe('§5.4 safety', () => {
  it('§5.4.1 vote requests carry the candidate\'s last log index and term', () => {
    const { rn, storage, r } = newRaft(1, [1, 2, 3])
    r.becomeFollower(2, 2)
    r.step(msg({ type: 'app', from: 2, to: 1, term: 2, entries: ents(1, 1, 2) }))
    cycle(rn, storage)
    for (let i = 0; i < 2 * r.electionTimeout; i++) rn.tick()
    const votes = allMessages(rn.ready()).filter((m) => m.type === 'vote')
    assert.deepEqual(votes.map((m) => [m.to, m.term, m.index, m.logTerm]), [[2, 3, 2, 2], [3, 3, 2, 2]])
  })

  const voter: Array<{ log: Entry[], logTerm: number, index: number, reject: boolean }> = [
    { log: ents(1, 1), logTerm: 1, index: 1, reject: false },
    { log: ents(1, 1), logTerm: 1, index: 2, reject: false },
    { log: ents(1, 1, 1), logTerm: 1, index: 1, reject: true },
    { log: ents(1, 1), logTerm: 2, index: 1, reject: false },
    { log: ents(1, 1), logTerm: 2, index: 2, reject: false },
    { log: ents(1, 1, 1), logTerm: 2, index: 1, reject: false },
    { log: ents(1, 2), logTerm: 1, index: 1, reject: true },
    { log: ents(1, 2), logTerm: 1, index: 2, reject: true },
    { log: ents(1, 2, 1), logTerm: 1, index: 1, reject: true }
  ]
  for (const c of voter) {
    it(`§5.4.1 voter with log ${JSON.stringify(c.log.map((e) => e.term))} ${c.reject ? 'rejects' : 'grants'} candidate (index ${c.index}, logTerm ${c.logTerm})`, () => {
      const { rn, r } = newRaft(1, [1, 2], { log: c.log })
      r.step(msg({ type: 'vote', from: 2, to: 1, term: 3, logTerm: c.logTerm, index: c.index }))
      const out = takeMessages(rn)
      assert.deepEqual(out.map((m) => [m.type, m.reject]), [['voteResp', c.reject]])
    })
  }

  const currentTerm: Array<{ index: number, commit: number }> = [
    { index: 1, commit: 0 },
    { index: 2, commit: 0 },
    { index: 3, commit: 3 }
  ]
  for (const c of currentTerm) {
    it(`§5.4.2 leader only commits entries of its term by counting (ack up to ${c.index} → commit ${c.commit})`, () => {
      const { rn, storage, r } = newRaft(1, [1, 2, 3], { log: ents(1, 1, 2), term: 2 })
      forceLeader(rn, storage)
      assert.equal(r.term, 3)
      r.step(msg({ type: 'appResp', from: 2, to: 1, term: r.term, index: c.index }))
      assert.equal(r.raftLog.committed, c.commit)
    })
  }
})
