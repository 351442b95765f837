// The transaction state machine on its own (no LevelDB): the synchronous path (keys prefetched) and the
// asynchronous path (keys read on demand) give identical results and writes.
import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import fc from 'fast-check'
import type { RequestOp, Txn } from '../../../src/api/kv.js'
import { compareBytes } from '../../../src/api/kv.js'
import { bytesId } from '../../../src/store/keys.js'
import { NOT_LOADED, Overlay } from '../../../src/store/overlay.js'
import type { KvSource } from '../../../src/store/overlay.js'
import type { KvRecord } from '../../../src/store/records.js'
import { applyTxn } from '../../../src/store/state-machine.js'
import { b } from './helpers.js'

function source (records: Map<string, { key: Uint8Array, rec: KvRecord }>, loaded: boolean): KvSource {
  return {
    peek: (id) => loaded ? records.get(id)?.rec : NOT_LOADED,
    get: async (id) => records.get(id)?.rec,
    async * scan (start, end) {
      const sorted = [...records.values()].sort((x, y) => compareBytes(x.key, y.key))
      for (const r of sorted) {
        if (compareBytes(r.key, start) >= 0 && (end.length === 0 || compareBytes(r.key, end) < 0)) yield r
      }
    }
  }
}

const key = fc.constantFrom('a', 'b', 'c', 'd').map(b)
const op: fc.Arbitrary<RequestOp> = fc.oneof(
  fc.record({ type: fc.constant('put' as const), key, value: fc.constantFrom('1', '2').map(b), prevKv: fc.boolean() }, { noNullPrototype: true }),
  fc.record({ type: fc.constant('delete' as const), key, prevKv: fc.boolean() }, { noNullPrototype: true }),
  fc.record({ type: fc.constant('get' as const), key }, { noNullPrototype: true }),
  fc.constant<RequestOp>({ type: 'range', start: b('a'), end: b('c'), limit: 0 }),
  fc.constant<RequestOp>({ type: 'deleteRange', start: b('c'), end: new Uint8Array(0) })
)
const txn: fc.Arbitrary<Txn> = fc.record({
  compare: fc.array(fc.record({ key, target: fc.constant('version' as const), result: fc.constantFrom('equal' as const, 'greater' as const), number: fc.nat({ max: 2 }) }, { noNullPrototype: true }), { maxLength: 2 }),
  success: fc.array(op, { maxLength: 4 }),
  failure: fc.array(op, { maxLength: 3 })
}, { noNullPrototype: true })

describe('state machine', () => {
  it('prefetched and on-demand reads give the same results and writes', async () => {
    await fc.assert(fc.asyncProperty(fc.array(txn, { minLength: 1, maxLength: 6 }), async (txns) => {
      const base = new Map<string, { key: Uint8Array, rec: KvRecord }>()
      for (const k of ['a', 'c']) base.set(bytesId(b(k)), { key: b(k), rec: { value: b('0'), createRevision: 1, modRevision: 1, version: 1, lease: 0 } })
      const outcomes: unknown[] = []
      for (const loaded of [true, false]) {
        const root = new Overlay(source(base, loaded))
        const out: unknown[] = []
        for (let i = 0; i < txns.length; i++) {
          const r = applyTxn(root, txns[i], 10 + i)
          out.push(r instanceof Promise ? await r : r)
        }
        out.push([...root.pending()].map((p) => [p.id, p.rec]))
        outcomes.push(out)
      }
      assert.deepStrictEqual(outcomes[1], outcomes[0])
    }), { numRuns: 200 })
  })

  it('runs synchronously when every key is in memory and the transaction has no range', () => {
    const root = new Overlay(source(new Map(), true))
    const r = applyTxn(root, { compare: [{ key: b('k'), target: 'exists', result: 'equal', exists: false }], success: [{ type: 'put', key: b('k'), value: b('v') }, { type: 'get', key: b('k') }], failure: [] }, 5)
    assert.ok(!(r instanceof Promise))
    assert.equal(r.response.succeeded, true)
    assert.deepStrictEqual(r.effects.map((e) => e.type), ['put'])
  })
})
