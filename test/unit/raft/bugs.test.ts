// Every deliberately injectable bug changes observable behaviour (so the simulator's checkers have something to
// catch). Each case runs the same scenario with and without the bug.

import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import type { RaftBug } from '../../../src/raft/config.js'
import { MemoryStorage } from '../../../src/raft/storage.js'
import { RawNode } from '../../../src/raft/rawnode.js'
import { FakeClock, Network, b, cycle, dataOf, drain, ents, forceLeader, msg, newRaft, seededRandom, tickUntilLeader } from './helpers.js'

const withBug = (bug: RaftBug): ReadonlySet<RaftBug> => new Set([bug])

describe('injected bugs', () => {
  for (const bug of [false, true]) {
    it(`§5.2 countOldTermVotes ${bug ? 'lets' : 'does not let'} a candidate win with a vote from an older term`, () => {
      const { rn, storage, r } = newRaft(1, [1, 2, 3], { bugs: bug ? withBug('countOldTermVotes') : undefined })
      rn.campaign()
      cycle(rn, storage)
      assert.equal(r.term, 1)
      // Node 2 granted the term-1 vote, but the response is delayed; meanwhile the election times out again.
      const staleGrant = msg({ type: 'voteResp', from: 2, to: 1, term: 1 })
      for (let i = 0; i < 2 * r.electionTimeout && r.term === 1; i++) rn.tick()
      cycle(rn, storage)
      assert.equal(r.term, 2)
      rn.step(staleGrant)
      assert.equal(r.state, bug ? 'leader' : 'candidate')
    })

    it(`§5.4.2 commitPriorTermByCounting ${bug ? 'commits' : 'does not commit'} a prior-term entry replicated on a majority`, () => {
      const { rn, storage, r } = newRaft(1, [1, 2, 3], { log: ents(1, 1, 2), term: 2, bugs: bug ? withBug('commitPriorTermByCounting') : undefined })
      forceLeader(rn, storage)
      r.step(msg({ type: 'appResp', from: 2, to: 1, term: r.term, index: 2 }))
      assert.equal(r.raftLog.committed, bug ? 2 : 0)
    })

    it(`§10.2.1 leaderSelfAckBeforePersist ${bug ? 'commits' : 'does not commit'} before the leader's own entry is persisted`, () => {
      const storage = new MemoryStorage()
      storage.bootstrap([1])
      const rn = new RawNode({ id: 1, electionTick: 10, heartbeatTick: 1, storage, random: seededRandom(2), bugs: bug ? withBug('leaderSelfAckBeforePersist') : undefined })
      rn.campaign()
      drain(rn, storage)
      rn.propose(b('x'))
      const rd = rn.ready()
      assert.deepEqual(dataOf(rd.entries), ['x'])
      assert.deepEqual(dataOf(rd.committedEntries), bug ? ['x'] : [])
    })

    it(`§6.4 leaseReadAfterTimeoutNow ${bug ? 'keeps serving' : 'stops serving'} lease reads after TimeoutNow`, () => {
      const clock = new FakeClock()
      const net = new Network([1, 2, 3], {
        checkQuorum: true,
        readOnlyOption: 'leaseBased',
        tickMs: 10,
        now: clock.now,
        bugs: bug ? withBug('leaseReadAfterTimeoutNow') : undefined
      })
      const lead = tickUntilLeader(net)
      const target = lead === 2 ? 3 : 2
      net.tickAll(1)
      clock.t = 5
      const leader = net.node(lead)
      leader.rn.readIndex(b('before'))
      net.processReadies()
      assert.equal(leader.readStates.length, 1, 'served from the lease without a round trip')
      // Transfer to 2: TimeoutNow goes out; cut the leader off before anything comes back.
      leader.rn.transferLeader(target)
      net.processReadies()
      assert.ok(net.queue.some((m) => m.type === 'timeoutNow' && m.to === target))
      net.isolate(lead)
      leader.rn.readIndex(b('after'))
      net.processReadies()
      assert.equal(leader.readStates.length, bug ? 2 : 1)
    })
  }
})
