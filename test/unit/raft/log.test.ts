import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { emptyConfState } from '../../../src/raft/conf-state.js'
import { ErrCompacted } from '../../../src/raft/errors.js'
import { RaftLog } from '../../../src/raft/log.js'
import { MemoryStorage } from '../../../src/raft/storage.js'
import { ents } from './helpers.js'

function logWith (stable: number[], unstable: number[] = []): RaftLog {
  const s = new MemoryStorage()
  s.append(ents(1, ...stable))
  const log = new RaftLog(s)
  if (unstable.length > 0) log.append(ents(stable.length + 1, ...unstable))
  return log
}

describe('RaftLog', () => {
  const conflicts: Array<{ name: string, incoming: ReturnType<typeof ents>, want: number }> = [
    { name: 'no entries', incoming: [], want: 0 },
    { name: 'all match', incoming: ents(1, 1, 2, 3), want: 0 },
    { name: 'suffix match', incoming: ents(2, 2, 3), want: 0 },
    { name: 'new entries', incoming: ents(2, 2, 3, 4, 4), want: 4 },
    { name: 'conflict at start', incoming: ents(1, 4, 4), want: 1 },
    { name: 'conflict in the middle', incoming: ents(2, 1, 4, 4), want: 2 },
    { name: 'conflict at the end', incoming: ents(3, 1, 4, 4), want: 3 }
  ]
  for (const c of conflicts) {
    it(`findConflict: ${c.name}`, () => {
      assert.equal(logWith([1, 2, 3]).findConflict(c.incoming), c.want)
    })
  }

  // Log terms: 1 1 1 1 2 2 (indexes 1..6)
  const byTerm: Array<{ index: number, term: number, want: [number, number] }> = [
    { index: 6, term: 2, want: [6, 2] },
    { index: 6, term: 1, want: [4, 1] },
    { index: 6, term: 0, want: [0, 0] },
    { index: 6, term: 3, want: [6, 2] },
    { index: 3, term: 1, want: [3, 1] },
    { index: 10, term: 2, want: [10, 0] }
  ]
  for (const c of byTerm) {
    it(`§5.3 findConflictByTerm(${c.index}, ${c.term}) → ${c.want}`, () => {
      const got = logWith([1, 1, 1, 1, 2, 2]).findConflictByTerm(c.index, c.term)
      assert.deepEqual([got.index, got.term], c.want)
    })
  }

  it('findConflictByTerm stops at a compacted index with term 0', () => {
    const s = new MemoryStorage()
    s.applySnapshot({ metadata: { index: 5, term: 3, confState: emptyConfState() }, data: new Uint8Array(0) })
    s.append(ents(6, 4, 4))
    const got = new RaftLog(s).findConflictByTerm(7, 1)
    assert.deepEqual([got.index, got.term], [4, 0])
  })

  it('maybeAppend appends after a matching position, truncates conflicts, and commits up to the last new entry', () => {
    const log = logWith([1, 2, 3])
    assert.equal(log.maybeAppend(3, 2, 3, ents(4, 4)), undefined, 'prev term mismatch rejects')
    assert.equal(log.maybeAppend(4, 3, 3, []), undefined, 'missing prev rejects')
    assert.equal(log.maybeAppend(3, 3, 10, ents(4, 4, 4)), 5)
    assert.equal(log.committed, 5, 'commit limited to the last new entry')
    const other = logWith([1, 2, 3, 3])
    assert.equal(other.maybeAppend(2, 2, 1, ents(3, 5, 5, 5)), 5)
    assert.deepEqual([other.term(3), other.term(4), other.term(5)], [5, 5, 5], 'conflicting suffix replaced')
    assert.equal(other.committed, 1)
  })

  it('never truncates committed entries', () => {
    const log = logWith([1, 2, 3])
    log.commitTo(3)
    assert.throws(() => log.maybeAppend(1, 1, 3, ents(2, 4)), /conflicts with committed/)
  })

  it('commit never decreases and never passes the last index', () => {
    const log = logWith([1, 2, 3])
    log.commitTo(2)
    log.commitTo(1)
    assert.equal(log.committed, 2)
    assert.throws(() => log.commitTo(4), /out of range/)
  })

  it('applied stays within [applied, committed]', () => {
    const log = logWith([1, 2, 3])
    log.commitTo(2)
    log.appliedTo(2)
    assert.throws(() => log.appliedTo(3), /out of range/)
    assert.throws(() => log.appliedTo(1), /out of range/)
  })

  it('unstable entries are handed out once and become stable on stableTo', () => {
    const log = logWith([1, 1], [2, 2])
    assert.deepEqual(log.nextUnstableEnts().map((e) => e.index), [3, 4])
    log.acceptUnstable()
    assert.deepEqual(log.nextUnstableEnts(), [])
    assert.equal(log.stableTo(4, 1), false, 'term mismatch ignored')
    assert.equal(log.stableTo(4, 2), true)
    assert.equal(log.stableLastIndex(), 4)
  })

  it('an in-progress append truncated by a new leader is handed out again', () => {
    const log = logWith([1], [1, 1])
    log.acceptUnstable()
    log.append(ents(3, 2))
    assert.deepEqual(log.nextUnstableEnts().map((e) => [e.index, e.term]), [[3, 2]])
    // The old write finishing must not mark the new entry stable.
    assert.equal(log.stableTo(3, 1), false)
  })

  it('committed entries may include unstable ones and respect the size limit', () => {
    const s = new MemoryStorage()
    s.append(ents(1, 1, 1))
    const log = new RaftLog(s, 1)
    log.append(ents(3, 1))
    log.commitTo(3)
    assert.deepEqual(log.nextCommittedEnts().map((e) => e.index), [1])
    const big = new RaftLog(s)
    big.append(ents(3, 1))
    big.commitTo(3)
    assert.deepEqual(big.nextCommittedEnts().map((e) => e.index), [1, 2, 3])
    big.acceptApplying(3)
    assert.equal(big.hasNextCommittedEnts(), false)
  })

  it('slice throws ErrCompacted below the first index', () => {
    const s = new MemoryStorage()
    s.append(ents(1, 1, 1, 1, 1))
    s.compact(2)
    const log = new RaftLog(s)
    assert.throws(() => log.slice(2, 4, Infinity), ErrCompacted)
    assert.deepEqual(log.slice(3, 5, Infinity).map((e) => e.index), [3, 4])
    assert.equal(log.term(2), 1)
  })

  it('restore replaces the log with a snapshot and moves commit', () => {
    const log = logWith([1, 1])
    log.restore({ metadata: { index: 10, term: 3, confState: emptyConfState() }, data: new Uint8Array(0) })
    assert.equal(log.committed, 10)
    assert.equal(log.lastIndex(), 10)
    assert.equal(log.firstIndex(), 11)
    assert.equal(log.term(10), 3)
    assert.equal(log.hasNextCommittedEnts(), false)
  })

  it('§5.4.1 isUpToDate compares last term, then length', () => {
    const log = logWith([1, 2, 2])
    assert.equal(log.isUpToDate(3, 2), true)
    assert.equal(log.isUpToDate(2, 2), false)
    assert.equal(log.isUpToDate(1, 3), true)
    assert.equal(log.isUpToDate(9, 1), false)
  })
})
