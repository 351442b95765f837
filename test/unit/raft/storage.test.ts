import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { emptyConfState } from '../../../src/raft/conf-state.js'
import { ErrCompacted, ErrSnapOutOfDate, ErrUnavailable } from '../../../src/raft/errors.js'
import { MemoryStorage } from '../../../src/raft/storage.js'
import { ENTRY_OVERHEAD_BYTES } from '../../../src/raft/entry-size.js'
import type { Entry } from '../../../src/raft/types.js'

function e (index: number, term: number, size = 0): Entry {
  return { index, term, type: 'normal', data: new Uint8Array(size) }
}

/** Storage holding a dummy at 3 (term 3) and entries 4@4, 5@5. */
function storage345 (): MemoryStorage {
  const s = new MemoryStorage()
  s.applySnapshot({ metadata: { index: 3, term: 3, confState: emptyConfState() }, data: new Uint8Array(0) })
  s.append([e(4, 4), e(5, 5)])
  return s
}

describe('MemoryStorage', () => {
  it('starts empty with a dummy entry at index 0', () => {
    const s = new MemoryStorage()
    assert.equal(s.firstIndex(), 1)
    assert.equal(s.lastIndex(), 0)
    assert.equal(s.term(0), 0)
    assert.throws(() => s.term(1), ErrUnavailable)
    assert.deepEqual(s.initialState().hardState, { term: 0, vote: 0, commit: 0 })
  })

  const terms: Array<[number, number | 'compacted' | 'unavailable']> = [[2, 'compacted'], [3, 3], [4, 4], [5, 5], [6, 'unavailable']]
  for (const [i, want] of terms) {
    it(`term(${i}) → ${want}`, () => {
      const s = storage345()
      if (want === 'compacted') assert.throws(() => s.term(i), ErrCompacted)
      else if (want === 'unavailable') assert.throws(() => s.term(i), ErrUnavailable)
      else assert.equal(s.term(i), want)
    })
  }

  it('entries() honours bounds and the size limit (always at least one entry)', () => {
    const s = new MemoryStorage()
    s.append([e(1, 1, 10), e(2, 1, 10), e(3, 2, 10), e(4, 2, 10)])
    const one = 10 + ENTRY_OVERHEAD_BYTES
    assert.throws(() => s.entries(0, 2, Infinity), ErrCompacted)
    assert.throws(() => s.entries(1, 6, Infinity), ErrUnavailable)
    assert.deepEqual(s.entries(2, 4, Infinity).map((x) => x.index), [2, 3])
    assert.deepEqual(s.entries(1, 5, 0).map((x) => x.index), [1])
    assert.deepEqual(s.entries(1, 5, one * 2).map((x) => x.index), [1, 2])
    assert.deepEqual(s.entries(1, 5, one * 2 + 1).map((x) => x.index), [1, 2])
    assert.deepEqual(s.entries(1, 5, one * 4).map((x) => x.index), [1, 2, 3, 4])
    assert.deepEqual(s.entries(3, 3, Infinity), [])
  })

  it('append truncates a conflicting suffix and ignores already-compacted entries', () => {
    const s = storage345()
    s.append([e(3, 3), e(4, 6), e(5, 6)])
    assert.deepEqual([s.term(4), s.term(5)], [6, 6])
    s.append([e(5, 7), e(6, 7)])
    assert.deepEqual([s.term(4), s.term(5), s.term(6)], [6, 7, 7])
    s.append([e(1, 1), e(2, 1)])
    assert.equal(s.lastIndex(), 6)
    assert.throws(() => s.append([e(9, 9)]), /missing log entry/)
  })

  it('compact keeps the compact index as the dummy entry', () => {
    const s = new MemoryStorage()
    s.append([e(1, 1), e(2, 1), e(3, 2), e(4, 3)])
    s.compact(2)
    assert.equal(s.firstIndex(), 3)
    assert.equal(s.term(2), 1)
    assert.throws(() => s.term(1), ErrCompacted)
    assert.throws(() => s.compact(2), ErrCompacted)
    assert.throws(() => s.compact(9), /out of bound/)
    s.compact(4)
    assert.equal(s.firstIndex(), 5)
    assert.equal(s.lastIndex(), 4)
  })

  it('createSnapshot records index, term and config; older snapshots are refused', () => {
    const s = new MemoryStorage()
    s.append([e(1, 1), e(2, 2), e(3, 2)])
    const cs = { ...emptyConfState(), voters: [1, 2, 3] }
    const snap = s.createSnapshot(2, cs, new Uint8Array([7]))
    assert.deepEqual(snap.metadata, { index: 2, term: 2, confState: cs })
    assert.deepEqual(s.snapshot().data, new Uint8Array([7]))
    assert.throws(() => s.createSnapshot(2, cs, new Uint8Array(0)), ErrSnapOutOfDate)
    assert.throws(() => s.createSnapshot(9, cs, new Uint8Array(0)), /out of bound/)
    assert.deepEqual(s.initialState().confState, cs)
  })

  it('applySnapshot replaces the log; a stale snapshot is refused', () => {
    const s = storage345()
    const cs = { ...emptyConfState(), voters: [1] }
    s.applySnapshot({ metadata: { index: 10, term: 7, confState: cs }, data: new Uint8Array(0) })
    assert.equal(s.firstIndex(), 11)
    assert.equal(s.lastIndex(), 10)
    assert.equal(s.term(10), 7)
    assert.throws(() => s.applySnapshot({ metadata: { index: 9, term: 7, confState: cs }, data: new Uint8Array(0) }), ErrSnapOutOfDate)
  })

  it('bootstrap writes the founding configuration at index 1, term 1', () => {
    const s = new MemoryStorage()
    s.bootstrap([1, 2, 3], [4])
    assert.deepEqual(s.initialState(), {
      hardState: { term: 1, vote: 0, commit: 1 },
      confState: { ...emptyConfState(), voters: [1, 2, 3], learners: [4] }
    })
    assert.equal(s.firstIndex(), 2)
    assert.equal(s.term(1), 1)
    assert.throws(() => s.bootstrap([1]), /empty storage/)
  })
})
