// The change-event table: every put/delete of each revision (transactions and delete-range included), the
// revisions of one batch in one record, read back whole revisions at a time, compacted to a window with a typed
// error below it.
import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { ops } from '../../../src/api/kv.js'
import { CompactedError, RaftStore } from '../../../src/store/index.js'
import { decodeEventRun, encodeEventRuns, EVENT_RUN_MAX_BYTES } from '../../../src/store/events.js'
import { eventRevisionOf } from '../../../src/store/keys.js'
import { RecordError } from '../../../src/store/records.js'
import { b, cleanup, commit, s, tempDir } from './helpers.js'

describe('change events', () => {
  it('record puts and deletes per revision, including transactions and delete-range', async () => {
    const dir = tempDir('events')
    const store = await RaftStore.open(dir)
    try {
      await commit(store, [
        ops.put(b('a'), b('1')),
        { compare: [], success: [{ type: 'put', key: b('b'), value: b('2') }, { type: 'put', key: b('a'), value: b('3') }], failure: [] },
        undefined, // no-op: no events
        ops.cas(b('a'), b('nope'), b('x')), // failed compare: only a read
        ops.deleteRange(b('a'), b('c')),
        ops.del(b('missing'))
      ])
      const { revisions, next } = await store.events(1)
      assert.equal(next, 7)
      assert.deepStrictEqual(revisions.map((r) => r.revision), [1, 2, 5])
      assert.deepStrictEqual(revisions[0].events, [{ type: 'put', kv: { key: b('a'), value: b('1'), createRevision: 1, modRevision: 1, version: 1, lease: 0 } }])
      assert.deepStrictEqual(revisions[1].events, [
        { type: 'put', kv: { key: b('b'), value: b('2'), createRevision: 2, modRevision: 2, version: 1, lease: 0 } },
        { type: 'put', kv: { key: b('a'), value: b('3'), createRevision: 1, modRevision: 2, version: 2, lease: 0 } }
      ])
      assert.deepStrictEqual(revisions[2].events.map((e) => [e.type, s(e.kv.key), e.kv.modRevision]), [['delete', 'a', 5], ['delete', 'b', 5]])
      // resuming from a revision and paging by event count (whole revisions only)
      assert.deepStrictEqual((await store.events(3)).revisions.map((r) => r.revision), [5])
      const page = await store.events(1, 2)
      assert.deepStrictEqual([page.revisions.map((r) => r.revision), page.next], [[1], 2])
      assert.deepStrictEqual((await store.events(2, 1)).revisions.map((r) => r.revision), [2], 'a revision larger than the limit still comes whole')
      assert.deepStrictEqual(await store.events(100), { revisions: [], next: 100 })
    } finally {
      await store.close()
      cleanup(dir)
    }
  })

  it('keep a configurable window; older revisions give CompactedError with the oldest available', async () => {
    const dir = tempDir('events')
    let store = await RaftStore.open(dir, { eventWindow: 16 })
    try {
      for (let i = 0; i < 40; i++) await commit(store, [ops.put(b(`k${i}`), b('v'))])
      const floor = store.status().eventsFloor
      assert.ok(floor > 1 && floor <= 40 - 16 + 1, `floor ${floor}`)
      await assert.rejects(store.events(1), (err: CompactedError) => err instanceof CompactedError && err.code === 'COMPACTED' && err.oldestRevision === floor)
      const kept = await store.events(floor)
      assert.deepStrictEqual(kept.revisions.map((r) => r.revision), Array.from({ length: 40 - floor + 1 }, (_, i) => floor + i))
      await store.close()
      store = await RaftStore.open(dir, { eventWindow: 16 })
      assert.equal(store.status().eventsFloor, floor, 'the floor is durable')
      await assert.rejects(store.events(floor - 1), CompactedError)
    } finally {
      await store.close()
      cleanup(dir)
    }
  })

  it('revisions applied in one batch share a record; a window floor inside it keeps its later revisions readable', async () => {
    const dir = tempDir('events')
    let store = await RaftStore.open(dir, { eventWindow: 10 })
    try {
      // six batches of seven revisions: event runs [1-7], [8-14], ... [36-42]
      for (let batch = 0; batch < 6; batch++) await commit(store, Array.from({ length: 7 }, (_, i) => ops.put(b(`k${batch}-${i}`), b('v'))))
      const floor = store.status().eventsFloor
      assert.ok(floor > 1 && floor % 7 !== 1, `the floor ${floor} falls inside a run`)
      const all = Array.from({ length: 42 - floor + 1 }, (_, i) => floor + i)
      assert.deepStrictEqual((await store.events(floor)).revisions.map((r) => r.revision), all)
      assert.deepStrictEqual((await store.events(floor + 1, 3)).revisions.map((r) => r.revision), [floor + 1, floor + 2, floor + 3])
      await assert.rejects(store.events(floor - 1), CompactedError)
      await store.close()
      store = await RaftStore.open(dir, { eventWindow: 10 })
      assert.deepStrictEqual((await store.events(floor)).revisions.map((r) => r.revision), all)
    } finally {
      await store.close()
      cleanup(dir)
    }
  })

  it('event runs split at EVENT_RUN_MAX_BYTES, round-trip, read format-1 records and reject torn ones', () => {
    const big = Buffer.alloc(EVENT_RUN_MAX_BYTES / 2 + 1, 7)
    const huge = Buffer.alloc(EVENT_RUN_MAX_BYTES + 1, 8)
    const revs = [[3, Buffer.from([0, 1, 97])], [4, big], [9, big], [10, Buffer.from([1, 1, 98])], [11, huge], [12, Buffer.from([1, 1, 99])]] as const
    const runs = encodeEventRuns(revs)
    // [3, 4] fill a run; 9 would overflow it; [9, 10]; 11 exceeds the bound alone; [12]
    assert.deepStrictEqual(runs.map((r) => eventRevisionOf(r.key)), [4, 10, 11, 12])
    const back = runs.flatMap((r) => decodeEventRun(eventRevisionOf(r.key), r.value))
    assert.deepStrictEqual(back.map((r) => [r.revision, Buffer.from(r.events)]), revs.map(([rev, ev]) => [rev, ev]))
    assert.deepStrictEqual(decodeEventRun(5, Buffer.from([0, 1, 97])), [{ revision: 5, events: Buffer.from([0, 1, 97]) }])
    assert.throws(() => decodeEventRun(4, runs[0].value.subarray(0, 20)), RecordError)
    assert.throws(() => decodeEventRun(5, runs[0].value), RecordError, 'a run must end at its key')
  })

  it('a window of 0 keeps no events: every applied revision is compacted, later ones are empty', async () => {
    const dir = tempDir('events')
    let store = await RaftStore.open(dir, { eventWindow: 0 })
    try {
      await commit(store, [ops.put(b('a'), b('1')), ops.put(b('b'), b('2'))])
      await assert.rejects(store.events(2), (err: CompactedError) => err instanceof CompactedError && err.oldestRevision === 3)
      assert.deepStrictEqual(await store.events(3), { revisions: [], next: 3 })
      // reopened with a window, the revisions applied without one stay unavailable
      await store.close()
      store = await RaftStore.open(dir, { eventWindow: 100 })
      await commit(store, [ops.put(b('c'), b('3'))])
      await assert.rejects(store.events(2), CompactedError)
      assert.deepStrictEqual((await store.events(3)).revisions.map((r) => r.revision), [3])
    } finally {
      await store.close()
      cleanup(dir)
    }
  })
})
