// Every KV operation applied through persist(): revisions, versions, compares, transactions, ranges with
// continuation, prevKv, limits (typed failures that change nothing) and reads of the applied state.
import { describe, it, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { ops } from '../../../src/api/kv.js'
import type { Txn, TxnResponse } from '../../../src/api/kv.js'
import { MAX_PAGE_BYTES, MAX_PAGE_KEYS, MAX_VALUE_BYTES } from '../../../src/api/limits.js'
import { PageTooLargeError, KeyTooLargeError, InvalidRequestError } from '../../../src/api/errors.js'
import { encodeCommand } from '../../../src/api/codec.js'
import { RaftStore } from '../../../src/store/index.js'
import type { ApplyResult } from '../../../src/store/index.js'
import { b, cleanup, commit, commitLease, rawEntry, s, scanAll, tempDir } from './helpers.js'

function ok (r: ApplyResult): TxnResponse {
  assert.ok(r.ok, `expected success, got ${r.ok ? '' : `${r.code}: ${r.message}`}`)
  return r.response
}

async function one (store: RaftStore, txn: Txn): Promise<ApplyResult> {
  const [r] = await commit(store, [txn])
  return r
}

describe('KV operations', () => {
  let dir: string
  let store: RaftStore
  before(async () => {
    dir = tempDir('kv')
    store = await RaftStore.open(dir)
  })
  after(async () => {
    await store.close()
    cleanup(dir)
  })

  it('put creates a key at revision = index with version 1, then bumps version and mod revision', async () => {
    const r1 = await one(store, ops.put(b('a'), b('1')))
    assert.equal(r1.index, 1)
    assert.deepStrictEqual(r1.requestId, b('r1'))
    assert.deepStrictEqual(ok(r1), { succeeded: true, revision: 1, responses: [{ type: 'put' }] })
    assert.deepStrictEqual(await store.get(b('a')), { key: b('a'), value: b('1'), createRevision: 1, modRevision: 1, version: 1, lease: 0 })
    assert.equal((await commitLease(store, { type: 'grant', id: 7, ttlSeconds: 60 })).ok, true)
    const r2 = ok(await one(store, ops.put(b('a'), b('2'), { prevKv: true, lease: 7 })))
    assert.deepStrictEqual(r2.responses[0], { type: 'put', prevKv: { key: b('a'), value: b('1'), createRevision: 1, modRevision: 1, version: 1, lease: 0 } })
    assert.deepStrictEqual(await store.get(b('a')), { key: b('a'), value: b('2'), createRevision: 1, modRevision: 3, version: 2, lease: 7 })
    assert.equal(await store.get(b('missing')), undefined)
  })

  it('responses are copies: mutating one cannot change the applied state', async () => {
    ok(await one(store, ops.put(b('alias'), b('orig'))))
    const r = ok(await one(store, ops.put(b('alias'), b('next'), { prevKv: true })))
    const prev = r.responses[0].type === 'put' ? r.responses[0].prevKv : undefined
    assert.ok(prev !== undefined)
    prev.value.fill(0x7a)
    const got = ok(await one(store, { compare: [], success: [{ type: 'get', key: b('alias') }], failure: [] }))
    const kv = got.responses[0].type === 'get' ? got.responses[0].kv : undefined
    assert.equal(s(kv?.value), 'next')
    kv?.value.fill(0x7a)
    assert.equal(ok(await one(store, ops.cas(b('alias'), b('next'), b('third')))).succeeded, true)
  })

  it('values are bytes end to end (no text decoding)', async () => {
    const bin = Uint8Array.from({ length: 256 }, (_, i) => i)
    ok(await one(store, ops.put(Uint8Array.of(0, 0xff, 0x80), bin)))
    assert.deepStrictEqual((await store.get(Uint8Array.of(0, 0xff, 0x80)))?.value, bin)
    ok(await one(store, ops.put(b('empty'), new Uint8Array(0))))
    assert.deepStrictEqual((await store.get(b('empty')))?.value, new Uint8Array(0))
  })

  it('delete removes a key and reports the count; deleting a missing key changes nothing', async () => {
    ok(await one(store, ops.put(b('d'), b('x'))))
    const r = ok(await one(store, ops.del(b('d'), { prevKv: true })))
    assert.equal(r.responses[0].type, 'delete')
    assert.deepStrictEqual(r.responses[0], { type: 'delete', deleted: 1, prevKv: { key: b('d'), value: b('x'), createRevision: r.revision - 1, modRevision: r.revision - 1, version: 1, lease: 0 } })
    assert.equal(await store.get(b('d')), undefined)
    assert.deepStrictEqual(ok(await one(store, ops.del(b('d')))).responses[0], { type: 'delete', deleted: 0 })
    // a re-created key starts over at version 1 with a new create revision
    const again = ok(await one(store, ops.put(b('d'), b('y'))))
    assert.deepStrictEqual(await store.get(b('d')), { key: b('d'), value: b('y'), createRevision: again.revision, modRevision: again.revision, version: 1, lease: 0 })
  })

  it('compare-and-set on value, on mod revision, and "must not exist"', async () => {
    ok(await one(store, ops.put(b('cas'), b('v1'))))
    const rev = (await store.get(b('cas')))?.modRevision as number
    const miss = ok(await one(store, ops.cas(b('cas'), b('wrong'), b('v2'))))
    assert.equal(miss.succeeded, false)
    assert.deepStrictEqual(miss.responses[0], { type: 'get', kv: { key: b('cas'), value: b('v1'), createRevision: rev, modRevision: rev, version: 1, lease: 0 } })
    assert.equal(s((await store.get(b('cas')))?.value), 'v1')
    assert.equal(ok(await one(store, ops.cas(b('cas'), b('v1'), b('v2')))).succeeded, true)
    assert.equal(ok(await one(store, ops.casRevision(b('cas'), rev, b('v3')))).succeeded, false)
    const rev2 = (await store.get(b('cas')))?.modRevision as number
    assert.equal(ok(await one(store, ops.casRevision(b('cas'), rev2, b('v3')))).succeeded, true)
    assert.equal(s((await store.get(b('cas')))?.value), 'v3')
    assert.equal(ok(await one(store, ops.cas(b('cas'), undefined, b('new')))).succeeded, false)
    assert.equal(ok(await one(store, ops.cas(b('fresh'), undefined, b('new')))).succeeded, true)
    assert.equal(ok(await one(store, ops.casRevision(b('fresh2'), 0, b('new')))).succeeded, true, 'mod revision 0 = absent')
    assert.equal(ok(await one(store, ops.cas(b('nokey'), b('x'), b('y')))).succeeded, false, 'value compare on a missing key is false')
  })

  it('compare-and-delete deletes only on a matching value', async () => {
    ok(await one(store, ops.put(b('cad'), b('keep'))))
    assert.equal(ok(await one(store, ops.cad(b('cad'), b('other')))).succeeded, false)
    assert.notEqual(await store.get(b('cad')), undefined)
    assert.equal(ok(await one(store, ops.cad(b('cad'), b('keep')))).succeeded, true)
    assert.equal(await store.get(b('cad')), undefined)
  })

  it('compare results: greater, less, notEqual on version/createRevision; exists notEqual', async () => {
    ok(await one(store, ops.put(b('cv'), b('1'))))
    ok(await one(store, ops.put(b('cv'), b('2'))))
    const check = async (c: Txn['compare'][number]): Promise<boolean> => ok(await one(store, { compare: [c], success: [], failure: [] })).succeeded
    assert.equal(await check({ key: b('cv'), target: 'version', result: 'greater', number: 1 }), true)
    assert.equal(await check({ key: b('cv'), target: 'version', result: 'less', number: 2 }), false)
    assert.equal(await check({ key: b('cv'), target: 'version', result: 'notEqual', number: 2 }), false)
    assert.equal(await check({ key: b('cv'), target: 'createRevision', result: 'less', number: 10 ** 9 }), true)
    assert.equal(await check({ key: b('cv'), target: 'value', result: 'greater', value: b('1') }), true)
    assert.equal(await check({ key: b('cv'), target: 'value', result: 'less', value: b('1') }), false)
    assert.equal(await check({ key: b('cv'), target: 'exists', result: 'notEqual', exists: false }), true)
    assert.equal(await check({ key: b('nope'), target: 'version', result: 'equal', number: 0 }), true)
  })

  it('a transaction applies atomically and in order; later ops see earlier writes', async () => {
    const r = ok(await one(store, {
      compare: [{ key: b('t1'), target: 'exists', result: 'equal', exists: false }],
      success: [
        { type: 'put', key: b('t1'), value: b('a') },
        { type: 'put', key: b('t1'), value: b('b'), prevKv: true },
        { type: 'get', key: b('t1') },
        { type: 'put', key: b('t2'), value: b('c') },
        { type: 'range', start: b('t'), end: b('u'), limit: 0 },
        { type: 'delete', key: b('t2') }
      ],
      failure: []
    }))
    assert.equal(r.succeeded, true)
    const rev = r.revision
    assert.deepStrictEqual(r.responses[1], { type: 'put', prevKv: { key: b('t1'), value: b('a'), createRevision: rev, modRevision: rev, version: 1, lease: 0 } })
    assert.deepStrictEqual(r.responses[2], { type: 'get', kv: { key: b('t1'), value: b('b'), createRevision: rev, modRevision: rev, version: 2, lease: 0 } })
    const range = r.responses[4]
    assert.equal(range.type, 'range')
    assert.deepStrictEqual(range.type === 'range' ? range.kvs.map((kv) => s(kv.key)) : [], ['t1', 't2'])
    assert.equal(await store.get(b('t2')), undefined)
    assert.equal((await store.get(b('t1')))?.version, 2)
  })

  it('delete-range removes [start, end) and reports the count; empty end means unbounded', async () => {
    await commit(store, ['r/a', 'r/b', 'r/c', 's/a'].map((k) => ops.put(b(k), b('v'))))
    const r = ok(await one(store, ops.deleteRange(b('r/'), b('r/c'))))
    assert.deepStrictEqual(r.responses[0], { type: 'deleteRange', deleted: 2, more: false })
    assert.deepStrictEqual((await scanAll(store)).filter((kv) => /^[rs]\//.test(s(kv.key) as string)).map((kv) => s(kv.key)), ['r/c', 's/a'])
    const atOrAbove = (await scanAll(store)).filter((kv) => Buffer.compare(Buffer.from(kv.key), Buffer.from('r/')) >= 0)
    assert.ok(atOrAbove.length >= 2)
    const all = ok(await one(store, ops.deleteRange(b('r/'), new Uint8Array(0))))
    assert.deepStrictEqual(all.responses[0], { type: 'deleteRange', deleted: atOrAbove.length, more: false })
    assert.deepStrictEqual((await store.range({ start: b('r/'), end: new Uint8Array(0) })).kvs, [])
    assert.notEqual(await store.get(b('a')), undefined, 'keys below start survive')
  })

  it('range pages follow limit and continuation; prefix scan; keysOnly', async () => {
    const keys = Array.from({ length: 25 }, (_, i) => `p/${String(i).padStart(2, '0')}`)
    await commit(store, keys.map((k) => ops.put(b(k), b(`value-${k}`))))
    const seen: string[] = []
    let start = b('p/')
    for (;;) {
      const page = await store.range({ start, end: b('p0'), limit: 7 })
      assert.ok(page.kvs.length <= 7)
      seen.push(...page.kvs.map((kv) => s(kv.key) as string))
      if (!page.more) break
      start = page.next as Uint8Array
    }
    assert.deepStrictEqual(seen, keys)
    const ko = await store.range({ start: b('p/'), end: b('p0'), limit: 3, keysOnly: true })
    assert.deepStrictEqual(ko.kvs.map((kv) => kv.value.length), [0, 0, 0])
    assert.deepStrictEqual(ko.next, b('p/03'))
    const tail = await store.range({ start: b('p/24'), end: b('p0') })
    assert.deepStrictEqual([tail.kvs.length, tail.more, tail.next], [1, false, undefined])
    await assert.rejects(store.range({ start: b('a'), end: b('b'), limit: MAX_PAGE_KEYS + 1 }), PageTooLargeError)
    await assert.rejects(store.range({ start: b('b'), end: b('a') }), InvalidRequestError)
    await assert.rejects(store.get(new Uint8Array(1025)), KeyTooLargeError)
  })

  it('a range page stops at MAX_PAGE_BYTES', async () => {
    const big = new Uint8Array(MAX_VALUE_BYTES - 16)
    await commit(store, [0, 1, 2, 3, 4].map((i) => ops.put(b(`big/${i}`), big)))
    const page = await store.range({ start: b('big/'), end: b('big0') })
    assert.equal(page.kvs.length, 4)
    assert.ok(page.kvs.reduce((n, kv) => n + kv.key.length + kv.value.length, 0) <= MAX_PAGE_BYTES)
    assert.deepStrictEqual([page.more, s(page.next)], [true, 'big/4'])
    // the same bound makes a transaction that must return more than 4 MiB fail as a whole, changing nothing
    const gets: Txn = { compare: [], success: [{ type: 'put', key: b('marker'), value: b('x') }, ...[0, 1, 2, 3, 4].map((i) => ({ type: 'get' as const, key: b(`big/${i}`) }))], failure: [] }
    const r = await one(store, gets)
    assert.equal(r.ok, false)
    assert.equal(r.ok ? '' : r.code, 'PAGE_TOO_LARGE')
    assert.equal(await store.get(b('marker')), undefined)
    ok(await one(store, ops.deleteRange(b('big/'), b('big0'))))
  })

  it('over-limit or undecodable entries apply as typed failures that change nothing', async () => {
    const before = await store.kvHash()
    const results = await commit(store, [
      ops.put(new Uint8Array(1025), b('v')),
      ops.put(b('k'), new Uint8Array(MAX_VALUE_BYTES + 1)),
      { compare: [], success: Array.from({ length: 129 }, (_, i) => ({ type: 'get' as const, key: b(`g${i}`) })), failure: [] },
      { compare: [], success: [{ type: 'range', start: b('a'), end: b('b'), limit: MAX_PAGE_KEYS + 1 }], failure: [] },
      { compare: [], success: [{ type: 'put', key: b('a'), value: new Uint8Array(MAX_VALUE_BYTES) }, { type: 'put', key: b('b'), value: new Uint8Array(MAX_VALUE_BYTES) }], failure: [] }
    ])
    assert.deepStrictEqual(results.map((r) => r.ok ? 'OK' : r.code), ['KEY_TOO_LARGE', 'VALUE_TOO_LARGE', 'TOO_MANY_OPS', 'PAGE_TOO_LARGE', 'REQUEST_TOO_LARGE'])
    const st = store.status()
    const garbage = [rawEntry(st.lastIndex + 1, 1, Uint8Array.of(0xff, 0xff, 0xff)), rawEntry(st.lastIndex + 2, 1, new Uint8Array(1536 * 1024 + 1))]
    const g = await store.persist({ entries: garbage, hardState: { term: 1, vote: 1, commit: st.lastIndex + 2 }, committedEntries: garbage })
    assert.deepStrictEqual(g.map((r) => r.ok ? 'OK' : r.code), ['DECODE', 'REQUEST_TOO_LARGE'])
    const after = await store.kvHash()
    assert.equal(after.hash, before.hash)
    assert.equal(after.index, st.lastIndex + 2)
  })

  it('delete-range deletes at most MAX_PAGE_KEYS keys per transaction and says more', async () => {
    const n = MAX_PAGE_KEYS + 5
    const puts: Txn[] = []
    for (let i = 0; i < n; i += 100) {
      puts.push({ compare: [], success: Array.from({ length: Math.min(100, n - i) }, (_, j) => ({ type: 'put' as const, key: b(`dr/${String(i + j).padStart(6, '0')}`), value: b('v') })), failure: [] })
    }
    await commit(store, puts)
    const r = ok(await one(store, ops.deleteRange(b('dr/'), b('dr0'))))
    assert.deepStrictEqual(r.responses[0], { type: 'deleteRange', deleted: MAX_PAGE_KEYS, more: true })
    const rest = ok(await one(store, ops.deleteRange(b('dr/'), b('dr0'))))
    assert.deepStrictEqual(rest.responses[0], { type: 'deleteRange', deleted: 5, more: false })
  })

  it('no-op entries and conf-change entries advance applied without results', async () => {
    const st = store.status()
    const noop = { index: st.lastIndex + 1, term: 1, type: 'normal' as const, data: new Uint8Array(0) }
    const cc = { index: st.lastIndex + 2, term: 1, type: 'confChange' as const, data: encodeCommand({ requestId: b('not-a-kv-command'), txn: ops.put(b('cc'), b('x')) }) }
    const conf = { voters: [1, 2, 3], learners: [4], votersOutgoing: [], learnersNext: [], autoLeave: false }
    const r = await store.persist({ entries: [noop, cc], hardState: { term: 1, vote: 1, commit: cc.index }, committedEntries: [noop, cc], confState: conf })
    assert.deepStrictEqual(r, [])
    assert.equal(store.status().applied, cc.index)
    assert.equal(await store.get(b('cc')), undefined, 'conf change payloads are not applied as KV commands')
    assert.deepStrictEqual(store.appliedConfState(), conf)
  })
})
