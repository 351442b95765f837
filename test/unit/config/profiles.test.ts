// Raft timing profiles: the tick values give the heartbeat and election ranges the design promises.
import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import {
  electionRangeMs, heartbeatMs, isRaftProfileName, profileTiming, RAFT_PROFILE_NAMES, RAFT_PROFILES
} from '../../../src/node/profiles.js'

describe('raft profiles', () => {
  it('give heartbeat / election ranges fast 30 / 100–200, balanced 100 / 500–1000, conservative 500 / 1500–3000 ms', () => {
    const want = {
      fast: { hb: 30, minMs: 100, maxMs: 200 },
      balanced: { hb: 100, minMs: 500, maxMs: 1000 },
      conservative: { hb: 500, minMs: 1500, maxMs: 3000 }
    }
    for (const name of RAFT_PROFILE_NAMES) {
      const t = profileTiming(name)
      assert.equal(heartbeatMs(t), want[name].hb, name)
      assert.deepEqual(electionRangeMs(t), { minMs: want[name].minMs, maxMs: want[name].maxMs }, name)
    }
  })

  it('keep heartbeats well inside the election timeout (Raft §5.2 needs heartbeat << election timeout)', () => {
    for (const name of RAFT_PROFILE_NAMES) {
      const t = RAFT_PROFILES[name]
      assert.ok(t.heartbeatTick >= 1 && t.electionTick >= 3 * t.heartbeatTick, name)
    }
  })

  it('are frozen and named', () => {
    assert.ok(Object.isFrozen(RAFT_PROFILES) && Object.isFrozen(RAFT_PROFILES.fast))
    assert.ok(isRaftProfileName('balanced'))
    assert.ok(!isRaftProfileName('turbo'))
  })
})
