// AppendEntries larger than 4 MiB are split into consecutive appends that chain (index, logTerm) correctly, and
// the size estimate used for queues and frame budgets never undercounts.
import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import fc from 'fast-check'
import type { Entry, Message } from '../../../src/raft/types.js'
import { estimateMessageBytes, splitAppend } from '../../../src/p2p/raft-batching.js'
import { encodeRaftMessages } from '../../../src/p2p/raft-codec.js'

function app (sizes: number[], index = 10, logTerm = 3): Message {
  const entries: Entry[] = sizes.map((s, i) => ({ term: 4, index: index + 1 + i, type: 'normal', data: new Uint8Array(s) }))
  return { type: 'app', to: 2, from: 1, term: 4, logTerm, index, entries, commit: 12, reject: false, rejectHint: 0, context: new Uint8Array() }
}

describe('raft batching', () => {
  it('leaves small appends and other messages alone', () => {
    const m = app([100, 100])
    assert.deepEqual(splitAppend(m), [m])
    const hb: Message = { ...m, type: 'heartbeat', entries: [] }
    assert.deepEqual(splitAppend(hb), [hb])
  })

  it('splits appends over the cap into chained pieces of at most the cap (§5.3 consistency check holds per piece)', () => {
    fc.assert(fc.property(fc.array(fc.integer({ min: 0, max: 3000 }), { minLength: 1, maxLength: 40 }), fc.integer({ min: 1000, max: 8000 }), (sizes, cap) => {
      const m = app(sizes)
      const pieces = splitAppend(m, cap)
      assert.deepEqual(pieces.flatMap((p) => p.entries), m.entries)
      let prevIndex = m.index
      let prevTerm = m.logTerm
      for (const p of pieces) {
        assert.equal(p.index, prevIndex)
        assert.equal(p.logTerm, prevTerm)
        assert.equal(p.commit, m.commit)
        assert.equal(p.term, m.term)
        const bytes = p.entries.reduce((n, e) => n + e.data.byteLength, 0)
        assert.ok(p.entries.length === 1 || bytes <= cap, `piece of ${bytes} bytes over cap ${cap}`)
        prevIndex = p.entries[p.entries.length - 1].index
        prevTerm = p.entries[p.entries.length - 1].term
      }
    }))
  })

  it('sends a single entry larger than the cap on its own', () => {
    const pieces = splitAppend(app([10, 5000, 10]), 1000)
    assert.deepEqual(pieces.map((p) => p.entries.length), [1, 1, 1])
  })

  it('caps real appends at 4 MiB of entries by default', () => {
    const pieces = splitAppend(app(Array.from({ length: 20 }, () => 512 * 1024)))
    assert.equal(pieces.length, 3)
    for (const p of pieces) assert.ok(p.entries.reduce((n, e) => n + e.data.byteLength, 0) <= 4 * 1024 * 1024)
  })

  it('estimates never undercount the encoded size', () => {
    fc.assert(fc.property(fc.array(fc.integer({ min: 0, max: 200 }), { maxLength: 10 }), fc.nat({ max: 2 ** 48 }), fc.uint8Array({ maxLength: 50 }), (sizes, idx, ctx) => {
      const m = { ...app(sizes, idx, idx), context: ctx, term: idx, commit: idx, rejectHint: idx, to: idx, from: idx }
      assert.ok(estimateMessageBytes(m) >= encodeRaftMessages([m]).byteLength)
    }))
  })
})
