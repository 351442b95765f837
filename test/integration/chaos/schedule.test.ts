// The chaos fault schedule is a pure function of the seed: a failing seed replays the same faults in the same
// order, and every round holds one fault of each enabled kind (so a run of R rounds has ≥ R faults of each).
import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { countByKind, faultSchedule, FAULT_KINDS } from '../../chaos/schedule.js'

describe('chaos fault schedule', () => {
  it('is the same for the same seed and differs for another seed', () => {
    const a = faultSchedule({ seed: 5, seconds: 120 })
    assert.deepEqual(faultSchedule({ seed: 5, seconds: 120 }), a)
    assert.notDeepEqual(faultSchedule({ seed: 6, seconds: 120 }), a)
  })

  it('puts one fault of every kind in each round, with hold times inside the slot', () => {
    const s = faultSchedule({ seed: 9, seconds: 60, slotMs: 3000 })
    assert.equal(s.length, 20)
    for (let r = 0; r + FAULT_KINDS.length <= s.length; r += FAULT_KINDS.length) {
      assert.deepEqual(new Set(s.slice(r, r + FAULT_KINDS.length).map(f => f.kind)), new Set(FAULT_KINDS))
    }
    for (const f of s) assert.ok(f.holdMs >= 300 && f.holdMs <= 2000, `hold ${f.holdMs}`)
    for (const n of Object.values(countByKind(s))) assert.ok(n >= 3)
  })

  it('plans at least the requested rounds however short the run, and only the enabled kinds', () => {
    const s = faultSchedule({ seed: 1, seconds: 1, kinds: ['kill', 'pause'], minRounds: 4 })
    assert.equal(s.length, 8)
    assert.deepEqual(countByKind(s), { kill: 4, pause: 4, partition: 0, membership: 0, snapshot: 0 })
  })
})
