// The kv.watch long poll over a real store: whole revisions of the range in order, an empty answer that still moves
// nextRevision past revisions without matching events, waiting for the next applied batch, compacted answers with
// the oldest revision, limits and aborts.
import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { ops, prefixRange } from '../../../src/api/kv.js'
import type { WatchRequest } from '../../../src/api/codec.js'
import { decodeWatchAnswer, decodeWatchRequest, encodeWatchAnswer, encodeWatchRequest } from '../../../src/api/codec.js'
import { RaftStore } from '../../../src/store/index.js'
import { WatchService } from '../../../src/node/watch-service.js'
import { b, cleanup, commit, s, tempDir } from '../store/helpers.js'

const req = (prefix: string, fromRevision: number, waitMs = 0, limit = 0): WatchRequest => ({ ...prefixRange(b(prefix)), fromRevision, waitMs, limit })

describe('watch service', () => {
  it('answers the range\'s events in revision order and moves past revisions without any', async () => {
    const dir = tempDir('watch')
    const store = await RaftStore.open(dir)
    try {
      const w = new WatchService(store)
      await commit(store, [ops.put(b('a/1'), b('x')), ops.put(b('b/1'), b('y')), ops.del(b('a/1')), ops.put(b('b/2'), b('z'))])
      const a = await w.poll(req('a/', 1), 0)
      assert.deepStrictEqual(a.events.map((e) => [e.type, s(e.kv.key), e.kv.modRevision]), [['put', 'a/1', 1], ['delete', 'a/1', 3]])
      assert.equal(a.nextRevision, 5)
      assert.equal(a.compacted, false)
      const none = await w.poll(req('c/', 1), 0)
      assert.deepStrictEqual([none.events.length, none.nextRevision], [0, 5])
      // limit: whole revisions only, then continue where it stopped
      const first = await w.poll(req('', 1, 0, 2), 0)
      assert.deepStrictEqual(first.events.map((e) => e.kv.modRevision), [1, 2])
      const rest = await w.poll(req('', first.nextRevision, 0, 2), 0)
      assert.deepStrictEqual(rest.events.map((e) => e.kv.modRevision), [3, 4])
      // the wire form round-trips
      assert.deepStrictEqual(decodeWatchAnswer(encodeWatchAnswer(a)), a)
      assert.deepStrictEqual(decodeWatchRequest(encodeWatchRequest(req('a/', 3, 10, 5))), req('a/', 3, 10, 5))
    } finally {
      await store.close()
      cleanup(dir)
    }
  })

  it('holds a poll until a matching revision is applied, and answers empty at its deadline or abort', async () => {
    const dir = tempDir('watch')
    const store = await RaftStore.open(dir)
    try {
      const w = new WatchService(store)
      const pending = w.poll(req('k', 1, 10_000), 10_000)
      await new Promise(resolve => setImmediate(resolve))
      assert.equal(w.active, 1)
      await commit(store, [ops.put(b('other'), b('1'))])
      await commit(store, [ops.put(b('k'), b('2'))])
      const got = await pending
      assert.deepStrictEqual(got.events.map((e) => [s(e.kv.key), e.kv.modRevision]), [['k', 2]])
      assert.equal(got.nextRevision, 3)
      const t0 = performance.now()
      const empty = await w.poll(req('k', 3, 10_000), 50)
      assert.ok(performance.now() - t0 >= 45, 'waited for its deadline')
      assert.deepStrictEqual([empty.events.length, empty.nextRevision], [0, 3])
      const ac = new AbortController()
      const aborted = w.poll(req('k', 3, 10_000), 10_000, ac.signal)
      ac.abort()
      assert.deepStrictEqual((await aborted).events, [])
      assert.equal(w.active, 0)
    } finally {
      await store.close()
      cleanup(dir)
    }
  })

  it('answers compacted with the oldest retained revision', async () => {
    const dir = tempDir('watch')
    const store = await RaftStore.open(dir, { eventWindow: 4 })
    try {
      const w = new WatchService(store)
      for (let i = 0; i < 20; i++) await commit(store, [ops.put(b(`k${i}`), b('v'))])
      const floor = store.status().eventsFloor
      const c = await w.poll(req('', 1), 0)
      assert.deepStrictEqual([c.compacted, c.oldestRevision, c.events.length], [true, floor, 0])
      const ok = await w.poll(req('', floor), 0)
      assert.equal(ok.compacted, false)
      assert.equal(ok.events[0].kv.modRevision, floor)
      await assert.rejects(w.poll(req('', 0), 0), (err: { code?: string }) => err.code === 'INVALID_REQUEST')
    } finally {
      await store.close()
      cleanup(dir)
    }
  })
})
