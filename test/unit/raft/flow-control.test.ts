import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { Inflights } from '../../../src/raft/inflights.js'
import { Progress } from '../../../src/raft/progress.js'

describe('inflights', () => {
  it('fills up to its size and frees acknowledged messages in order', () => {
    const in10 = new Inflights(10)
    for (let i = 0; i < 5; i++) in10.add(i, 100)
    assert.equal(in10.count(), 5)
    assert.equal(in10.bytes(), 500)
    assert.equal(in10.full(), false)
    for (let i = 5; i < 10; i++) in10.add(i, 100)
    assert.equal(in10.full(), true)
    assert.throws(() => in10.add(10, 1), /full/)
    in10.freeLE(4)
    assert.equal(in10.count(), 5)
    assert.equal(in10.bytes(), 500)
    // Wraps around the ring.
    for (let i = 10; i < 15; i++) in10.add(i, 100)
    assert.equal(in10.full(), true)
    in10.freeLE(8)
    assert.equal(in10.count(), 6)
    in10.freeLE(14)
    assert.equal(in10.count(), 0)
    assert.equal(in10.bytes(), 0)
  })

  it('freeing below the first in-flight index is a no-op', () => {
    const inf = new Inflights(4)
    inf.add(10, 1)
    inf.add(20, 1)
    inf.freeLE(5)
    assert.equal(inf.count(), 2)
    inf.freeLE(15)
    assert.equal(inf.count(), 1)
  })

  it('a byte limit makes the window full before the count limit', () => {
    const inf = new Inflights(10, 1000)
    inf.add(1, 600)
    assert.equal(inf.full(), false)
    inf.add(2, 400)
    assert.equal(inf.full(), true)
    inf.freeLE(1)
    assert.equal(inf.full(), false)
  })

  it('indexes must increase', () => {
    const inf = new Inflights(4)
    inf.add(5, 1)
    assert.throws(() => inf.add(5, 1), /not above/)
  })

  it('clone is independent', () => {
    const a = new Inflights(3)
    a.add(1, 1)
    const c = a.clone()
    c.add(2, 1)
    assert.equal(a.count(), 1)
    assert.equal(c.count(), 2)
  })
})

describe('progress state transitions', () => {
  const mk = (match: number, next: number): Progress => new Progress({ match, next, inflights: new Inflights(256), isLearner: false })

  it('probe → replicate → probe resets next to match + 1', () => {
    const p = mk(1, 5)
    p.becomeReplicate()
    assert.equal(p.state, 'replicate')
    assert.equal(p.next, 2)
    p.sentEntries(3, 30)
    assert.equal(p.next, 5)
    assert.equal(p.inflights.count(), 1)
    p.becomeProbe()
    assert.equal(p.state, 'probe')
    assert.equal(p.next, 2)
    assert.equal(p.inflights.count(), 0)
  })

  it('snapshot → probe resumes after the pending snapshot', () => {
    const p = mk(1, 5)
    p.becomeSnapshot(10)
    assert.equal(p.next, 11)
    assert.equal(p.isPaused(), true)
    p.becomeProbe()
    assert.equal(p.next, 11)
    // The follower reports a match beyond the snapshot (it got there by other means): probe from there.
    const q = mk(1, 2)
    q.becomeSnapshot(10)
    q.maybeUpdate(12)
    q.becomeProbe()
    assert.equal(q.next, 13)
  })

  it('probe pauses after one message with entries; an update unpauses it', () => {
    const p = mk(0, 1)
    assert.equal(p.isPaused(), false)
    p.sentEntries(1, 1)
    assert.equal(p.isPaused(), true)
    assert.equal(p.maybeUpdate(1), true)
    assert.equal(p.isPaused(), false)
    assert.equal(p.maybeUpdate(1), false)
  })

  it('replicate pauses when the inflight window is full', () => {
    const p = new Progress({ match: 0, next: 1, inflights: new Inflights(2), isLearner: false })
    p.becomeReplicate()
    p.sentEntries(1, 1)
    assert.equal(p.isPaused(), false)
    p.sentEntries(1, 1)
    assert.equal(p.isPaused(), true)
  })

  const decr: Array<{ name: string, state: 'probe' | 'replicate', match: number, next: number, rejected: number, hint: number, ok: boolean, wantNext: number }> = [
    { name: 'replicate: stale rejection ignored', state: 'replicate', match: 5, next: 10, rejected: 5, hint: 5, ok: false, wantNext: 10 },
    { name: 'replicate: rejection resets next to match + 1', state: 'replicate', match: 5, next: 10, rejected: 9, hint: 9, ok: true, wantNext: 6 },
    { name: 'probe: rejection of another probe ignored', state: 'probe', match: 0, next: 10, rejected: 5, hint: 5, ok: false, wantNext: 10 },
    { name: 'probe: next follows the hint', state: 'probe', match: 0, next: 10, rejected: 9, hint: 3, ok: true, wantNext: 4 },
    { name: 'probe: next never below match + 1', state: 'probe', match: 5, next: 10, rejected: 9, hint: 1, ok: true, wantNext: 6 },
    { name: 'probe: hint beyond rejected is capped', state: 'probe', match: 0, next: 10, rejected: 9, hint: 20, ok: true, wantNext: 9 }
  ]
  for (const c of decr) {
    it(`maybeDecrTo ${c.name}`, () => {
      const p = mk(c.match, c.next)
      if (c.state === 'replicate') {
        p.becomeReplicate()
        p.next = c.next
      }
      assert.equal(p.maybeDecrTo(c.rejected, c.hint), c.ok)
      assert.equal(p.next, c.wantNext)
    })
  }

  it('match < next is asserted', () => {
    assert.throws(() => mk(5, 5), /match 5 < next 5/)
  })
})
