// The RawNode boundary: configuration validation and the defences against bad input from the network.

import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { InvalidMessageError, RaftConfigError, StepLocalMessageError } from '../../../src/raft/errors.js'
import { MemoryStorage } from '../../../src/raft/storage.js'
import { RawNode } from '../../../src/raft/rawnode.js'
import type { MessageType } from '../../../src/raft/types.js'
import { Network, b, ents, msg, newRaft, seededRandom } from './helpers.js'

describe('RawNode', () => {
  const badConfigs: Array<[string, Record<string, unknown>, RegExp]> = [
    ['zero id', { id: 0 }, /id/],
    ['heartbeat ≥ election', { heartbeatTick: 10 }, /electionTick/],
    ['zero heartbeat', { heartbeatTick: 0 }, /heartbeatTick/],
    ['bad inflight', { maxInflightMsgs: 0 }, /maxInflightMsgs/],
    ['inflight bytes below message size', { maxInflightBytes: 10, maxSizePerMsg: 100 }, /maxInflightBytes/]
  ]
  for (const [name, over, re] of badConfigs) {
    it(`rejects a bad config: ${name}`, () => {
      assert.throws(() => new RawNode({ id: 1, electionTick: 10, heartbeatTick: 1, storage: new MemoryStorage(), random: seededRandom(1), ...over }), (e: unknown) => e instanceof RaftConfigError && re.test(e.message))
    })
  }

  it('random() outside [0, 1) is an invariant failure', () => {
    assert.throws(() => new RawNode({ id: 1, electionTick: 10, heartbeatTick: 1, storage: new MemoryStorage(), random: () => 1 }), /random/)
  })

  for (const type of ['hup', 'beat', 'unreachable', 'snapStatus', 'checkQuorum'] as MessageType[]) {
    it(`refuses the local-only message type ${type} from the network`, () => {
      const { rn } = newRaft(1, [1, 2, 3])
      assert.throws(() => rn.step(msg({ type, from: 2, to: 1 })), StepLocalMessageError)
    })
  }

  const malformed: Array<[string, Parameters<typeof msg>[0]]> = [
    ['non-contiguous entries', { type: 'app', from: 2, to: 1, term: 1, index: 0, entries: [...ents(1, 1), ...ents(3, 1)] }],
    ['entries not starting after index', { type: 'app', from: 2, to: 1, term: 1, index: 4, entries: ents(1, 1) }],
    ['entry term above message term', { type: 'app', from: 2, to: 1, term: 1, entries: ents(1, 2) }],
    ['decreasing entry terms', { type: 'app', from: 2, to: 1, term: 3, entries: ents(1, 2, 1) }],
    ['negative index', { type: 'app', from: 2, to: 1, term: 1, index: -1 }],
    ['no sender', { type: 'heartbeat', from: 0, to: 1, term: 1 }],
    ['snapshot message without snapshot', { type: 'snap', from: 2, to: 1, term: 1 }],
    ['empty proposal', { type: 'prop', from: 2, to: 1 }],
    ['wrong recipient', { type: 'heartbeat', from: 2, to: 3, term: 1 }],
    ['vote without term', { type: 'vote', from: 2, to: 1, term: 0 }],
    ['forwarded proposal with a term', { type: 'prop', from: 2, to: 1, term: 3, entries: [{ term: 0, index: 0, type: 'normal', data: new Uint8Array(1) }] }]
  ]
  for (const [name, m] of malformed) {
    it(`refuses a malformed message: ${name}`, () => {
      const { rn, r } = newRaft(1, [1, 2, 3])
      assert.throws(() => rn.step(msg(m)), InvalidMessageError)
      assert.equal(r.term, 0)
    })
  }

  it('ignores responses from peers outside the configuration', () => {
    const { rn, r } = newRaft(1, [1, 2, 3])
    r.becomeCandidate()
    rn.step(msg({ type: 'voteResp', from: 9, to: 1, term: 1 }))
    assert.equal(r.trk.votes.size, 0)
  })

  it('swallows a forwarded proposal the leader cannot take', () => {
    const net = new Network([1, 2, 3])
    net.elect(1)
    net.node(1).rn.transferLeader(2)
    net.node(1).rn.step(msg({ type: 'prop', from: 3, to: 1, entries: [{ term: 0, index: 0, type: 'normal', data: b('x') }] }))
  })

  it('status reports hard state, soft state and configuration', () => {
    const net = new Network([1, 2, 3])
    net.elect(1)
    const st = net.node(2).rn.status()
    assert.deepEqual(st.softState, { leader: 1, role: 'follower' })
    assert.equal(st.hardState.term, 1)
    assert.deepEqual(st.confState.voters, [1, 2, 3])
    assert.equal(st.id, 2)
  })
})

describe('RawNode forwarding', () => {
  it('a follower forwards a transfer request that arrived from another peer (term re-stamped)', () => {
    const net = new Network([1, 2, 3])
    net.elect(1)
    const r2 = net.node(2).rn.raftForTesting
    net.node(2).rn.step(msg({ type: 'transferLeader', from: 3, to: 2, term: r2.term }))
    net.stabilize()
    assert.equal(net.leader(), 3)
  })
})
