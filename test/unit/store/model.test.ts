// Property: any sequence of commands, grouped into Ready batches in any way (with commit lagging the append, and
// reopening the store in between), leaves the store exactly where the in-memory reference model says: same
// results per entry, same key-values (revisions and versions included), same events.
import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import fc from 'fast-check'
import type { Compare, RequestOp, Txn } from '../../../src/api/kv.js'
import type { Entry } from '../../../src/raft/types.js'
import { RaftStore } from '../../../src/store/index.js'
import { b, cleanup, entry, scanAll, tempDir } from './helpers.js'
import { KvModel } from './kv-model.js'

const KEYS = ['a', 'b', 'ba', 'bb', 'c', 'd/1', 'd/2', 'e']
const key = fc.constantFrom(...KEYS).map(b)
const value = fc.oneof(fc.constantFrom('x', 'y', '').map(b), fc.uint8Array({ maxLength: 6 }))
const bound = fc.constantFrom('', 'a', 'b', 'bb', 'c', 'd/', 'd0', 'z').map(b)

const compare: fc.Arbitrary<Compare> = fc.oneof(
  fc.record({ key, target: fc.constant('value' as const), result: fc.constantFrom('equal' as const, 'notEqual' as const, 'greater' as const, 'less' as const), value }, { noNullPrototype: true }),
  fc.record({ key, target: fc.constantFrom('modRevision' as const, 'createRevision' as const, 'version' as const), result: fc.constantFrom('equal' as const, 'notEqual' as const, 'greater' as const, 'less' as const), number: fc.nat({ max: 12 }) }, { noNullPrototype: true }),
  fc.record({ key, target: fc.constant('exists' as const), result: fc.constantFrom('equal' as const, 'notEqual' as const), exists: fc.boolean() }, { noNullPrototype: true })
)

const range = fc.tuple(bound, bound).filter(([s, e]) => e.length === 0 || Buffer.compare(Buffer.from(s), Buffer.from(e)) < 0)

const op: fc.Arbitrary<RequestOp> = fc.oneof(
  { weight: 5, arbitrary: fc.record({ type: fc.constant('put' as const), key, value, prevKv: fc.boolean(), lease: fc.constantFrom(0, 0, 0, 0, 7) }, { noNullPrototype: true }) },
  { weight: 2, arbitrary: fc.record({ type: fc.constant('delete' as const), key, prevKv: fc.boolean() }, { noNullPrototype: true }) },
  { weight: 1, arbitrary: range.map(([start, end]) => ({ type: 'deleteRange' as const, start, end })) },
  { weight: 2, arbitrary: fc.record({ type: fc.constant('get' as const), key }, { noNullPrototype: true }) },
  { weight: 1, arbitrary: fc.tuple(range, fc.nat({ max: 4 }), fc.boolean()).map(([[start, end], limit, keysOnly]) => ({ type: 'range' as const, start, end, limit, keysOnly })) }
)

const txn: fc.Arbitrary<Txn | undefined> = fc.oneof(
  { weight: 1, arbitrary: fc.constant(undefined) },
  { weight: 8, arbitrary: fc.record({ compare: fc.array(compare, { maxLength: 2 }), success: fc.array(op, { minLength: 1, maxLength: 4 }), failure: fc.array(op, { maxLength: 3 }) }, { noNullPrototype: true }) },
  { weight: 1, arbitrary: fc.constant<Txn>({ compare: [], success: [{ type: 'put', key: new Uint8Array(1025), value: b('x') }], failure: [] }) }
)

/** One Ready: append `append` new entries, then commit `commit` of the appended-but-uncommitted ones; maybe reopen. */
const step = fc.record({ append: fc.array(txn, { maxLength: 5 }), commit: fc.nat({ max: 6 }), reopen: fc.integer({ min: 0, max: 9 }).map((x) => x < 2) }, { noNullPrototype: true })

describe('store vs in-memory model', () => {
  it('applies random command sequences in random Ready groupings exactly like the model', async () => {
    await fc.assert(fc.asyncProperty(fc.array(step, { minLength: 1, maxLength: 12 }), async (steps) => {
      const dir = tempDir('model')
      let store = await RaftStore.open(dir)
      const model = new KvModel()
      const log: Entry[] = []
      let commitIndex = 0
      try {
        for (const st of steps) {
          const appended = st.append.map((t, i) => entry(log.length + 1 + i, 1, t))
          log.push(...appended)
          const newCommit = Math.min(log.length, commitIndex + st.commit)
          const committed = log.slice(commitIndex, newCommit)
          commitIndex = newCommit
          const results = await store.persist({ entries: appended, hardState: { term: 1, vote: 1, commit: commitIndex }, committedEntries: committed })
          const expected = committed.map((e) => ({ index: e.index, r: model.applyEntry(e) })).filter((x) => x.r !== undefined)
          assert.deepStrictEqual(results.map((r) => r.index), expected.map((x) => x.index))
          for (let i = 0; i < results.length; i++) {
            const got = results[i]
            const want = expected[i].r
            if (want?.ok === true) assert.deepStrictEqual(got.ok ? got.response : got.code, want.response)
            else assert.equal(got.ok ? 'ok' : got.code, want?.code)
          }
          if (st.reopen) {
            await store.close()
            store = await RaftStore.open(dir)
            assert.equal(store.recovered().applied, model.applied)
            assert.equal(store.recovered().lastIndex, log.length)
          }
        }
        assert.deepStrictEqual(await scanAll(store, 3), model.all())
        for (const k of KEYS) assert.deepStrictEqual(await store.get(b(k)), model.all().find((kv) => Buffer.from(kv.key).equals(Buffer.from(k))))
        // every change is in the event table: replaying the events reproduces the key-values
        const replay = new Map<string, unknown>()
        for (const rev of (await store.events(1, 10_000)).revisions) {
          for (const ev of rev.events) {
            if (ev.type === 'delete') replay.delete(Buffer.from(ev.kv.key).toString('hex'))
            else replay.set(Buffer.from(ev.kv.key).toString('hex'), ev.kv)
          }
        }
        assert.deepStrictEqual([...replay.values()].sort((x, y) => Buffer.compare(Buffer.from((x as { key: Uint8Array }).key), Buffer.from((y as { key: Uint8Array }).key))), model.all())
      } finally {
        await store.close()
        cleanup(dir)
      }
    }), { numRuns: 60 })
  })
})
