// Each safety check of the simulator flags the violation it is named after (Raft paper Figure 3) and accepts
// the legal counterpart.
import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { SafetyMonitor, SafetyViolation } from './safety.js'
import type { ConfState, Entry } from '../../src/raft/types.js'

const cs = (voters: number[], votersOutgoing: number[] = []): ConfState => ({ voters, learners: [], votersOutgoing, learnersNext: [], autoLeave: false })
const entry = (index: number, term: number, text = `e${index}`): Entry => ({ index, term, type: 'normal', data: new TextEncoder().encode(text) })
const log = (terms: Record<number, number>) => ({ term: (i: number) => terms[i] })
const violation = (property: string) => (err: unknown) => err instanceof SafetyViolation && err.property === property

describe('simulator safety checks', () => {
  it('§5.2 Election Safety: rejects two leaders of one term', () => {
    const m = new SafetyMonitor()
    for (const v of [1, 2]) m.onVote(v, 3, 1)
    m.onLeader(1, 3, log({}), [cs([1, 2, 3])])
    // Each claims a quorum of a (different, single-voter) configuration: only the one-leader-per-term rule objects.
    m.onVote(3, 4, 3)
    m.onLeader(3, 4, log({}), [cs([3])])
    m.onVote(2, 4, 2)
    assert.throws(() => m.onLeader(2, 4, log({}), [cs([2])]), (err: unknown) => violation('election safety')(err) && /both leader of term 4/.test(String(err)))
  })

  it('§5.2 Election Safety: rejects a leader without a quorum of votes of its own term (joint: both halves)', () => {
    const m = new SafetyMonitor()
    m.onVote(1, 7, 1)
    m.onVote(2, 6, 1) // an older term's vote does not count
    assert.throws(() => m.onLeader(1, 7, log({}), [cs([1, 2, 3])]), violation('election safety'))
    const j = new SafetyMonitor()
    for (const v of [1, 2]) j.onVote(v, 2, 1)
    assert.throws(() => j.onLeader(1, 2, log({}), [cs([1, 2, 3], [4, 5, 6])]), violation('election safety'))
    j.onVote(4, 2, 1)
    j.onVote(5, 2, 1)
    j.onLeader(1, 2, log({}), [cs([1, 2, 3], [4, 5, 6])])
  })

  it('§5.2: rejects a node voting for two candidates in one term', () => {
    const m = new SafetyMonitor()
    m.onVote(2, 4, 1)
    m.onVote(2, 4, 1)
    assert.throws(() => m.onVote(2, 4, 3), violation('vote safety'))
  })

  it('§5.3 Log Matching: rejects different entries with the same index and term', () => {
    const m = new SafetyMonitor()
    m.onPersisted(1, entry(5, 2, 'a'), 2)
    m.onPersisted(2, entry(5, 2, 'a'), 2)
    assert.throws(() => m.onPersisted(3, entry(5, 2, 'b'), 2), violation('log matching'))
    assert.throws(() => m.onPersisted(3, entry(5, 2, 'a'), 1), violation('log matching'))
  })

  it('§5.4 Leader Completeness: rejects a leader missing a committed entry', () => {
    const m = new SafetyMonitor()
    m.onApplied(1, 10, 3, 111)
    for (const v of [1, 2]) m.onVote(v, 5, 2)
    assert.throws(() => m.onLeader(2, 5, log({ 10: 4 }), [cs([1, 2, 3])]), violation('leader completeness'))
    const ok = new SafetyMonitor()
    ok.onApplied(1, 10, 3, 111)
    for (const v of [1, 2]) ok.onVote(v, 5, 2)
    ok.onLeader(2, 5, log({ 10: 3 }), [cs([1, 2, 3])])
  })

  it('§5.4 Leader Completeness concerns earlier terms only: an entry first committed in term 6 may be missing from a late leader of term 5', () => {
    const m = new SafetyMonitor()
    m.onApplied(1, 10, 3, 111, 6)
    for (const v of [1, 2]) m.onVote(v, 5, 2)
    m.onLeader(2, 5, log({ 10: 5 }), [cs([1, 2, 3])])
  })

  it('§5.4.3 State Machine Safety: rejects two nodes applying different histories at one index', () => {
    const m = new SafetyMonitor()
    m.onApplied(1, 4, 1, 0xabc)
    m.onApplied(2, 4, 1, 0xabc)
    assert.throws(() => m.onApplied(3, 4, 1, 0xdef), violation('state machine safety'))
  })

  it('rejects a term or commit index going back, and a recovered node applied beyond its durable commit', () => {
    const m = new SafetyMonitor()
    m.onHardState(1, { term: 3, commit: 5 }, { term: 3, commit: 6 })
    assert.throws(() => m.onHardState(1, { term: 3, commit: 5 }, { term: 2, commit: 6 }), violation('term monotonicity'))
    assert.throws(() => m.onHardState(1, { term: 3, commit: 5 }, { term: 3, commit: 4 }), violation('commit monotonicity'))
    m.onRecovered(1, 5, 5, 7)
    assert.throws(() => m.onRecovered(1, 6, 5, 7), violation('durability'))
  })

  it('rejects an acknowledged write missing from the final state', () => {
    const m = new SafetyMonitor()
    m.onAcked('c1.1', 4)
    m.onAcked('c2.1', 5)
    m.checkAckedWrites(1, () => true)
    assert.throws(() => m.checkAckedWrites(1, (id) => id !== 'c2.1'), violation('durability'))
  })
})
