// Leases in the state machine: grant, attach by put, revoke (client or leader-decided expiry, both replicated
// entries) deleting exactly the keys still attached, refusals that change nothing, durability across reopen, and
// snapshots that carry the lease table (with the attachment index rebuilt on install).
import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { ops } from '../../../src/api/kv.js'
import type { TxnResponse } from '../../../src/api/kv.js'
import { RaftStore } from '../../../src/store/index.js'
import { b, cleanup, commit, commitLease, entry, leaseEntry, s, scanAll, tempDir } from './helpers.js'

type Result = Awaited<ReturnType<RaftStore['persist']>>[number]

function ok (r: Result | undefined): TxnResponse {
  assert.ok(r !== undefined && r.ok, `expected success, got ${JSON.stringify(r)}`)
  return r.response
}

function code (r: Result | undefined): string {
  assert.ok(r !== undefined && !r.ok, `expected a refusal, got ${JSON.stringify(r)}`)
  return r.code
}

async function keys (store: RaftStore): Promise<string[]> {
  return (await scanAll(store)).map((kv) => s(kv.key) as string)
}

describe('leases in the state machine', () => {
  it('grant (id 0 = its revision), attach by put, revoke deletes the attached keys as delete events at the revoke revision', async () => {
    const dir = tempDir('leases')
    const store = await RaftStore.open(dir)
    try {
      const g = ok(await commitLease(store, { type: 'grant', id: 0, ttlSeconds: 10 }))
      const id = g.revision
      assert.deepStrictEqual(store.leaseList(), [{ id, ttlSeconds: 10, grantRevision: id, revoking: false }])
      await commit(store, [
        ops.put(b('a'), b('1'), { lease: id }),
        { compare: [], success: [{ type: 'put', key: b('b'), value: b('2'), lease: id }, { type: 'put', key: b('c'), value: b('3') }], failure: [] },
        ops.put(b('d'), b('4'), { lease: id }),
        ops.put(b('d'), b('5')) // re-put without the lease: d no longer belongs to it
      ])
      assert.deepStrictEqual((await store.leaseKeys(id)).map((k) => s(k)), ['a', 'b'])
      const r = await commitLease(store, { type: 'revoke', id, expired: true })
      const rev = ok(r)
      assert.deepStrictEqual(rev.responses, [{ type: 'deleteRange', deleted: 2, more: false }])
      assert.deepStrictEqual(await keys(store), ['c', 'd'])
      assert.deepStrictEqual(store.leaseList(), [])
      const ev = await store.events(rev.revision)
      assert.deepStrictEqual(ev.revisions.map((x) => [x.revision, x.events.map((e) => `${e.type} ${s(e.kv.key) as string}`)]), [[rev.revision, ['delete a', 'delete b']]])
      // the lease is gone: a second revoke and a put naming it are refused, changing nothing
      assert.equal(code(await commitLease(store, { type: 'revoke', id, expired: false })), 'LEASE_NOT_FOUND')
      const before = store.stateHash().hash
      const [refused] = await commit(store, [ops.put(b('e'), b('x'), { lease: id })])
      assert.equal(code(refused), 'LEASE_NOT_FOUND')
      assert.deepStrictEqual(await keys(store), ['c', 'd'])
      assert.equal(store.stateHash().hash, before)
    } finally {
      await store.close()
      cleanup(dir)
    }
  })

  it('a txn whose chosen branch names a missing lease is refused whole; the other branch may name one', async () => {
    const dir = tempDir('leases')
    const store = await RaftStore.open(dir)
    try {
      const [r] = await commit(store, [{ compare: [], success: [{ type: 'put', key: b('x'), value: b('1') }, { type: 'put', key: b('y'), value: b('2'), lease: 42 }], failure: [] }])
      assert.equal(code(r), 'LEASE_NOT_FOUND')
      assert.deepStrictEqual(await keys(store), [])
      const [r2] = await commit(store, [{ compare: [], success: [{ type: 'put', key: b('x'), value: b('1') }], failure: [{ type: 'put', key: b('y'), value: b('2'), lease: 42 }] }])
      assert.equal(ok(r2).succeeded, true)
      assert.deepStrictEqual(await keys(store), ['x'])
    } finally {
      await store.close()
      cleanup(dir)
    }
  })

  it('a duplicate id or an invalid TTL is refused; a grant and a revoke in one batch see each other', async () => {
    const dir = tempDir('leases')
    const store = await RaftStore.open(dir)
    try {
      ok(await commitLease(store, { type: 'grant', id: 5, ttlSeconds: 3 }))
      assert.equal(code(await commitLease(store, { type: 'grant', id: 5, ttlSeconds: 3 })), 'LEASE_REFUSED')
      assert.equal(code(await commitLease(store, { type: 'grant', id: 6, ttlSeconds: 0 })), 'INVALID_REQUEST')
      // one Ready: put with lease 5, grant 6, put with 6, revoke 5 (its key written in this same batch goes)
      const st = store.status()
      const i = st.lastIndex
      const entries = [
        entry(i + 1, 1, ops.put(b('p'), b('1'), { lease: 5 })),
        leaseEntry(i + 2, 1, { type: 'grant', id: 6, ttlSeconds: 9 }),
        entry(i + 3, 1, ops.put(b('q'), b('1'), { lease: 6 })),
        leaseEntry(i + 4, 1, { type: 'revoke', id: 5, expired: false })
      ]
      const results = await store.persist({ entries, hardState: { term: 1, vote: 1, commit: i + 4 }, committedEntries: entries })
      assert.deepStrictEqual(results.map((r) => r.ok), [true, true, true, true])
      assert.deepStrictEqual(await keys(store), ['q'])
      assert.deepStrictEqual(store.leaseList().map((l) => l.id), [6])
    } finally {
      await store.close()
      cleanup(dir)
    }
  })

  it('leases and attachments survive a reopen', async () => {
    const dir = tempDir('leases')
    let store = await RaftStore.open(dir)
    try {
      ok(await commitLease(store, { type: 'grant', id: 9, ttlSeconds: 30 }))
      await commit(store, [ops.put(b('k1'), b('v'), { lease: 9 }), ops.put(b('k2'), b('v'), { lease: 9 })])
      const list = store.leaseList()
      await store.close()
      store = await RaftStore.open(dir)
      assert.deepStrictEqual(store.leaseList(), list)
      ok(await commitLease(store, { type: 'revoke', id: 9, expired: true }))
      assert.deepStrictEqual(await keys(store), [])
    } finally {
      await store.close()
      cleanup(dir)
    }
  })

  it('a snapshot carries the lease table; the installed replica rebuilds attachments and revokes identically', async () => {
    const dirA = tempDir('leases-a')
    const dirB = tempDir('leases-b')
    const a = await RaftStore.open(dirA)
    const bStore = await RaftStore.open(dirB)
    try {
      ok(await commitLease(a, { type: 'grant', id: 0, ttlSeconds: 4 }))
      ok(await commitLease(a, { type: 'grant', id: 77, ttlSeconds: 8 }))
      await commit(a, [ops.put(b('x/1'), b('1'), { lease: 1 }), ops.put(b('x/2'), b('2'), { lease: 77 }), ops.put(b('y'), b('3'))])
      const reader = await a.openSnapshotReader()
      await bStore.installSnapshot(reader.meta, reader)
      assert.equal(reader.leaseCount, 2)
      assert.deepStrictEqual(bStore.leaseList(), a.leaseList())
      assert.deepStrictEqual((await bStore.leaseKeys(77)).map((k) => s(k)), ['x/2'])
      // the same revoke entry on both replicas: same keys, same state hash
      const st = a.status()
      const e = leaseEntry(st.lastIndex + 1, 1, { type: 'revoke', id: 77, expired: true })
      for (const store of [a, bStore]) await store.persist({ entries: [e], hardState: { term: 1, vote: 1, commit: e.index }, committedEntries: [e] })
      assert.deepStrictEqual(await keys(a), ['x/1', 'y'])
      assert.deepStrictEqual(await keys(bStore), ['x/1', 'y'])
      assert.deepStrictEqual(bStore.stateHash(), a.stateHash())
      assert.deepStrictEqual(bStore.leaseList(), a.leaseList())
      // and the installed state survives a reopen
      await bStore.close()
      const again = await RaftStore.open(dirB)
      try {
        assert.deepStrictEqual(again.leaseList(), a.leaseList())
      } finally {
        await again.close()
      }
    } finally {
      await a.close()
      await bStore.close()
      cleanup(dirA)
      cleanup(dirB)
    }
  })

  it('notifies applied-index listeners after each applying batch', async () => {
    const dir = tempDir('leases')
    const store = await RaftStore.open(dir)
    try {
      const seen: number[] = []
      const off = store.onApplied((i) => { seen.push(i) })
      await commit(store, [ops.put(b('a'), b('1')), ops.put(b('b'), b('1'))])
      await commit(store, [ops.put(b('c'), b('1'))])
      off()
      await commit(store, [ops.put(b('d'), b('1'))])
      assert.deepStrictEqual(seen, [2, 3])
    } finally {
      await store.close()
      cleanup(dir)
    }
  })
})
