import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import fc from 'fast-check'
import { Changer, confChangeKind, restoreConfig } from '../../../src/raft/confchange.js'
import type { ConfigAndProgress } from '../../../src/raft/confchange.js'
import { decodeConfChange, encodeConfChange } from '../../../src/raft/confchange-codec.js'
import { emptyConfState } from '../../../src/raft/conf-state.js'
import { ConfChangeDecodeError, ConfChangeError } from '../../../src/raft/errors.js'
import { configToConfState } from '../../../src/raft/tracker.js'
import type { ConfChange, ConfChangeSingle, ConfState } from '../../../src/raft/types.js'

const v = (id: number): ConfChangeSingle => ({ type: 'addNode', nodeId: id })
const l = (id: number): ConfChangeSingle => ({ type: 'addLearner', nodeId: id })
const r = (id: number): ConfChangeSingle => ({ type: 'removeNode', nodeId: id })

function from (cs: Partial<ConfState>): ConfigAndProgress {
  return restoreConfig({ ...emptyConfState(), ...cs }, 10, 16, 0)
}
function changer (c: ConfigAndProgress): Changer {
  return new Changer(c, 10, 16, 0)
}
function cs (c: ConfigAndProgress): ConfState {
  return configToConfState(c.config)
}

describe('confchange: simple changes', () => {
  it('adds the first voter to an empty configuration', () => {
    const got = changer(from({})).simple([v(1)])
    assert.deepEqual(cs(got).voters, [1])
    assert.equal(got.progress.get(1)?.next, 10)
  })

  it('refuses changing more than one voter without joint consensus', () => {
    assert.throws(() => changer(from({ voters: [1] })).simple([v(2), v(3)]), (e: unknown) => e instanceof ConfChangeError && /more than one voter/.test(e.message))
    assert.throws(() => changer(from({ voters: [1, 2, 3] })).simple([r(1), v(4)]), ConfChangeError)
  })

  it('adding learners alongside one voter change is simple', () => {
    const got = changer(from({ voters: [1] })).simple([v(2), l(3), l(4)])
    assert.deepEqual(cs(got), { ...emptyConfState(), voters: [1, 2], learners: [3, 4] })
  })

  it('promotes a learner and demotes a voter', () => {
    const promoted = changer(from({ voters: [1], learners: [2] })).simple([v(2)])
    assert.deepEqual(cs(promoted), { ...emptyConfState(), voters: [1, 2] })
    assert.equal(promoted.progress.get(2)?.isLearner, false)
    const demoted = changer(from({ voters: [1, 2] })).simple([l(2)])
    assert.deepEqual(cs(demoted), { ...emptyConfState(), voters: [1], learners: [2] })
    assert.equal(demoted.progress.get(2)?.isLearner, true)
  })

  it('refuses removing all voters', () => {
    assert.throws(() => changer(from({ voters: [1] })).simple([r(1)]), /removed all voters/)
    assert.throws(() => changer(from({ voters: [1], learners: [2] })).simple([l(1)]), /removed all voters/)
  })

  it('is idempotent for repeated adds and removals of unknown nodes', () => {
    const got = changer(from({ voters: [1, 2] })).simple([v(2), r(9)])
    assert.deepEqual(cs(got).voters, [1, 2])
  })

  it('refuses simple changes while joint', () => {
    const joint = changer(from({ voters: [1, 2, 3] })).enterJoint(true, [v(4)])
    assert.throws(() => changer(joint).simple([v(5)]), /in joint config/)
  })

  it('does not mutate its input', () => {
    const base = from({ voters: [1, 2, 3] })
    changer(base).simple([r(3)])
    assert.deepEqual(cs(base).voters, [1, 2, 3])
    assert.ok(base.progress.has(3))
  })
})

describe('confchange: joint consensus', () => {
  it('enters C-old,new with changes applied to the incoming half', () => {
    const got = changer(from({ voters: [1, 2, 3] })).enterJoint(true, [v(4), r(3)])
    assert.deepEqual(cs(got), { voters: [1, 2, 4], votersOutgoing: [1, 2, 3], learners: [], learnersNext: [], autoLeave: true })
    // 3 is still a voter of C-old: its progress stays.
    assert.ok(got.progress.has(3))
  })

  it('a voter demoted while joint becomes a learner only when leaving', () => {
    const joint = changer(from({ voters: [1, 2, 3] })).enterJoint(false, [l(3)])
    assert.deepEqual(cs(joint), { voters: [1, 2], votersOutgoing: [1, 2, 3], learners: [], learnersNext: [3], autoLeave: false })
    assert.equal(joint.progress.get(3)?.isLearner, false)
    const left = changer(joint).leaveJoint()
    assert.deepEqual(cs(left), { ...emptyConfState(), voters: [1, 2], learners: [3] })
    assert.equal(left.progress.get(3)?.isLearner, true)
  })

  it('leaving drops outgoing-only voters entirely', () => {
    const joint = changer(from({ voters: [1, 2, 3] })).enterJoint(true, [r(1), v(4)])
    const left = changer(joint).leaveJoint()
    assert.deepEqual(cs(left), { ...emptyConfState(), voters: [2, 3, 4] })
    assert.equal(left.progress.has(1), false)
  })

  it('refuses entering joint twice, leaving a non-joint config, and a zero-voter joint config', () => {
    const joint = changer(from({ voters: [1, 2, 3] })).enterJoint(true, [v(4)])
    assert.throws(() => changer(joint).enterJoint(true, [v(5)]), /already joint/)
    assert.throws(() => changer(from({ voters: [1] })).leaveJoint(), /non-joint/)
    assert.throws(() => changer(from({})).enterJoint(true, [v(1)]), /zero-voter/)
  })

  it('refuses a joint change that removes every incoming voter', () => {
    assert.throws(() => changer(from({ voters: [1, 2] })).enterJoint(true, [r(1), r(2)]), /removed all voters/)
  })

  it('replaces the whole voter set through a joint configuration', () => {
    const joint = changer(from({ voters: [1, 2, 3] })).enterJoint(true, [r(1), r(2), r(3), v(4), v(5), v(6)])
    assert.deepEqual(cs(joint).voters, [4, 5, 6])
    assert.deepEqual(cs(joint).votersOutgoing, [1, 2, 3])
    assert.deepEqual(cs(changer(joint).leaveJoint()).voters, [4, 5, 6])
  })
})

describe('confchange: classification and restore', () => {
  const kinds: Array<{ cc: Pick<ConfChange, 'transition' | 'changes'>, want: ReturnType<typeof confChangeKind> }> = [
    { cc: { transition: 'auto', changes: [] }, want: { kind: 'leaveJoint' } },
    { cc: { transition: 'auto', changes: [v(1)] }, want: { kind: 'simple' } },
    { cc: { transition: 'auto', changes: [v(1), v(2)] }, want: { kind: 'enterJoint', autoLeave: true } },
    { cc: { transition: 'joint', changes: [v(1)] }, want: { kind: 'enterJoint', autoLeave: true } },
    { cc: { transition: 'jointExplicit', changes: [v(1)] }, want: { kind: 'enterJoint', autoLeave: false } }
  ]
  for (const k of kinds) {
    it(`${k.cc.transition} with ${k.cc.changes.length} changes is ${k.want.kind}`, () => {
      assert.deepEqual(confChangeKind({ ...k.cc, context: new Uint8Array(0) }), k.want)
    })
  }

  const states: ConfState[] = [
    { ...emptyConfState() },
    { ...emptyConfState(), voters: [1, 2, 3] },
    { ...emptyConfState(), voters: [1, 2, 3], learners: [4, 5] },
    { voters: [1, 2, 4], votersOutgoing: [1, 2, 3], learners: [5], learnersNext: [], autoLeave: true },
    { voters: [1, 2], votersOutgoing: [1, 2, 3], learners: [], learnersNext: [3], autoLeave: false },
    { voters: [4, 5], votersOutgoing: [1, 2, 3], learners: [6], learnersNext: [1], autoLeave: true }
  ]
  for (const s of states) {
    it(`restores ${JSON.stringify(s)}`, () => {
      assert.deepEqual(cs(from(s)), s)
    })
  }
})

describe('confchange codec', () => {
  it('round-trips arbitrary conf changes', () => {
    const arbCC = fc.record({
      transition: fc.constantFrom<'auto' | 'joint' | 'jointExplicit'>('auto', 'joint', 'jointExplicit'),
      changes: fc.array(fc.record({
        type: fc.constantFrom<'addNode' | 'addLearner' | 'removeNode'>('addNode', 'addLearner', 'removeNode'),
        nodeId: fc.oneof(fc.integer({ min: 0, max: 1000 }), fc.constant(Number.MAX_SAFE_INTEGER))
      }), { maxLength: 20 }),
      context: fc.uint8Array({ maxLength: 200 })
    })
    fc.assert(fc.property(arbCC, (cc) => {
      const got = decodeConfChange(encodeConfChange(cc))
      assert.equal(got.transition, cc.transition)
      assert.deepEqual(got.changes, cc.changes.map((c) => ({ type: c.type, nodeId: c.nodeId })))
      assert.deepEqual(got.context, cc.context)
    }), { numRuns: 300, seed: 42 })
  })

  it('rejects garbage with a typed error', () => {
    const good = encodeConfChange({ transition: 'joint', changes: [v(3), r(300)], context: new Uint8Array([1, 2, 3]) })
    const bad: Array<[string, Uint8Array]> = [
      ['empty', new Uint8Array(0)],
      ['wrong version', Uint8Array.from([9, ...good.subarray(1)])],
      ['unknown transition', Uint8Array.from([1, 7, ...good.subarray(2)])],
      ['truncated', good.subarray(0, good.length - 1)],
      ['trailing bytes', Uint8Array.from([...good, 0])],
      ['unknown change type', Uint8Array.from([1, 0, 1, 9, 1, 0])],
      ['non-minimal varint', Uint8Array.from([1, 0, 1, 0, 0x81, 0x00, 0])],
      ['overlong varint', Uint8Array.from([1, 0, 1, 0, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01, 0])]
    ]
    for (const [name, bytes] of bad) {
      assert.throws(() => decodeConfChange(bytes), ConfChangeDecodeError, name)
    }
  })

  it('fuzzed bytes either decode to a re-encodable value or throw ConfChangeDecodeError', () => {
    fc.assert(fc.property(fc.uint8Array({ maxLength: 40 }), (bytes) => {
      try {
        const cc = decodeConfChange(bytes)
        assert.deepEqual(encodeConfChange(cc), bytes)
      } catch (err) {
        assert.ok(err instanceof ConfChangeDecodeError)
      }
    }), { numRuns: 2000, seed: 7 })
  })
})
