// persist(): the unified log + state machine batch. Entries, hard state and applied state survive reopen;
// uncommitted entries are never applied; truncating an uncommitted suffix never touches the KV tables;
// invariant violations throw with nothing written; re-delivered entries are not applied twice.
import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { ops } from '../../../src/api/kv.js'
import { InvariantError } from '../../../src/errors.js'
import { RaftStore } from '../../../src/store/index.js'
import { b, cleanup, entry, s, tempDir } from './helpers.js'

/** A store in a temp dir that a test may reopen; closed and removed afterwards. */
class Harness {
  constructor (readonly dir: string, public store: RaftStore) {}
  async reopen (): Promise<RaftStore> {
    await this.store.close()
    this.store = await RaftStore.open(this.dir)
    return this.store
  }
}

async function withStore (fn: (store: RaftStore, h: Harness) => Promise<void>): Promise<void> {
  const dir = tempDir('log')
  const h = new Harness(dir, await RaftStore.open(dir))
  try {
    await fn(h.store, h)
  } finally {
    await h.store.close()
    cleanup(dir)
  }
}

describe('persist and recovery', () => {
  it('a fresh store recovers empty positions and gets a store UUID', async () => {
    await withStore(async (store) => {
      const r = store.recovered()
      assert.deepStrictEqual(r, {
        hardState: { term: 0, vote: 0, commit: 0 },
        confState: { voters: [], learners: [], votersOutgoing: [], learnersNext: [], autoLeave: false },
        applied: 0,
        snapshotMeta: undefined,
        firstIndex: 1,
        lastIndex: 0,
        lastTerm: 0,
        entries: []
      })
      assert.match(store.storeId, /^[0-9a-f-]{36}$/)
    })
  })

  it('entries, hard state, applied index and membership survive a reopen; uncommitted entries stay unapplied', async () => {
    const dir = tempDir('log')
    try {
      let store = await RaftStore.open(dir)
      const id = store.storeId
      const e = [entry(1, 1, ops.put(b('a'), b('1'))), entry(2, 1, ops.put(b('b'), b('2'))), entry(3, 2, ops.put(b('c'), b('3')))]
      const conf = { voters: [1, 2], learners: [3], votersOutgoing: [1], learnersNext: [], autoLeave: true }
      await store.persist({ entries: e, hardState: { term: 2, vote: 2, commit: 2 }, committedEntries: e.slice(0, 2), confState: conf })
      assert.equal(store.status().applied, 2)
      assert.equal(await store.get(b('c')), undefined, 'entry 3 is not committed')
      await store.close()

      store = await RaftStore.open(dir)
      assert.equal(store.storeId, id)
      const r = store.recovered()
      assert.deepStrictEqual(r.hardState, { term: 2, vote: 2, commit: 2 })
      assert.deepStrictEqual(r.confState, conf)
      assert.deepStrictEqual([r.applied, r.firstIndex, r.lastIndex, r.lastTerm], [2, 1, 3, 2])
      assert.deepStrictEqual(r.entries, e)
      assert.equal(s((await store.get(b('b')))?.value), '2')
      assert.equal(await store.get(b('c')), undefined)
      // Raft commits entry 3 later
      await store.persist({ entries: [], hardState: { term: 2, vote: 2, commit: 3 }, committedEntries: [e[2]] })
      assert.equal(s((await store.get(b('c')))?.value), '3')
      await store.close()
    } finally {
      cleanup(dir)
    }
  })

  it('a conflicting suffix is replaced without touching the KV tables (Raft §5.3)', async () => {
    await withStore(async (store, h) => {
      const e = [entry(1, 1, ops.put(b('a'), b('1'))), entry(2, 1, ops.put(b('x'), b('old'))), entry(3, 1, ops.put(b('y'), b('old')))]
      await store.persist({ entries: e, hardState: { term: 1, vote: 1, commit: 1 }, committedEntries: [e[0]] })
      const kvBefore = await store.kvHash()
      const replacement = [entry(2, 2, ops.put(b('x'), b('new')))]
      await store.persist({ entries: replacement, hardState: { term: 2, vote: 0, commit: 1 }, committedEntries: [] })
      assert.deepStrictEqual(store.status().lastIndex, 2)
      assert.deepStrictEqual((await store.kvHash()).hash, kvBefore.hash)
      assert.deepStrictEqual(await store.readEntries(1, 3), [e[0], replacement[0]])
      await store.persist({ entries: [], hardState: { term: 2, vote: 0, commit: 2 }, committedEntries: replacement })
      assert.equal(s((await store.get(b('x')))?.value), 'new')
      assert.equal(await store.get(b('y')), undefined)
      const again = await h.reopen()
      assert.deepStrictEqual(again.recovered().entries, [e[0], replacement[0]])
      assert.equal(again.recovered().lastIndex, 2)
    })
  })

  it('committed entries are applied only once: re-delivered ones are skipped', async () => {
    await withStore(async (store) => {
      const e = [entry(1, 1, ops.put(b('n'), b('1'))), entry(2, 1, ops.put(b('n'), b('2')))]
      const r1 = await store.persist({ entries: e, hardState: { term: 1, vote: 1, commit: 2 }, committedEntries: e })
      assert.equal(r1.length, 2)
      const r2 = await store.persist({ entries: [], committedEntries: e })
      assert.deepStrictEqual(r2, [])
      assert.equal((await store.get(b('n')))?.version, 2)
    })
  })

  it('the same committed entries give the same state whatever the batching (deterministic apply)', async () => {
    const entries = [
      entry(1, 1, ops.put(b('a'), b('1'))),
      entry(2, 1, { compare: [{ key: b('a'), target: 'version', result: 'equal', number: 1 }], success: [{ type: 'put', key: b('a'), value: b('2') }, { type: 'put', key: b('b'), value: b('x') }], failure: [] }),
      entry(3, 1),
      entry(4, 1, ops.deleteRange(b('a'), b('b'))),
      entry(5, 1, ops.put(b('a'), b('3')))
    ]
    const hashes: string[] = []
    for (const groups of [[5], [1, 1, 1, 1, 1], [2, 3]]) {
      await withStore(async (store) => {
        let i = 0
        for (const g of groups) {
          const batch = entries.slice(i, i + g)
          i += g
          await store.persist({ entries: batch, hardState: { term: 1, vote: 1, commit: i }, committedEntries: batch })
        }
        const kv = await store.kvHash()
        hashes.push(`${kv.index}/${kv.hash}/${store.stateHash().hash}/${store.chainHash().hash}`)
      })
    }
    assert.equal(new Set(hashes).size, 1, hashes.join('\n'))
  })

  it('invariants: no overwrite of committed entries, no gaps, no apply beyond commit or log, commit never regresses', async () => {
    await withStore(async (store) => {
      const e = [entry(1, 1, ops.put(b('a'), b('1'))), entry(2, 1), entry(3, 1)]
      await store.persist({ entries: e, hardState: { term: 1, vote: 1, commit: 2 }, committedEntries: e.slice(0, 2) })
      const before = { status: store.status(), kv: await store.kvHash() }
      await assert.rejects(store.persist({ entries: [entry(2, 2)], committedEntries: [] }), InvariantError)
      await assert.rejects(store.persist({ entries: [entry(5, 1)], committedEntries: [] }), InvariantError)
      await assert.rejects(store.persist({ entries: [entry(4, 1), entry(6, 1)], committedEntries: [] }), InvariantError)
      await assert.rejects(store.persist({ entries: [], committedEntries: [e[2]] }), InvariantError, 'entry 3 is not committed')
      await assert.rejects(store.persist({ entries: [], hardState: { term: 1, vote: 1, commit: 4 }, committedEntries: [] }), InvariantError, 'commit beyond the log')
      await assert.rejects(store.persist({ entries: [], hardState: { term: 1, vote: 1, commit: 1 }, committedEntries: [] }), InvariantError, 'commit regressed')
      await assert.rejects(store.persist({ entries: [], hardState: { term: 0, vote: 1, commit: 2 }, committedEntries: [] }), InvariantError, 'term regressed')
      await assert.rejects(store.persist({ entries: [], hardState: { term: 1, vote: 1, commit: 3 }, committedEntries: [{ ...e[2], term: 9 }] }), InvariantError, 'applying an entry that is not the logged one')
      await assert.rejects(store.persist({ entries: [entry(4, 0)], committedEntries: [] }), InvariantError, 'term below predecessor')
      assert.deepStrictEqual(store.status(), before.status)
      assert.deepStrictEqual(await store.kvHash(), before.kv)
      // the store is still usable after rejected batches
      await store.persist({ entries: [entry(4, 1)], hardState: { term: 1, vote: 1, commit: 4 }, committedEntries: [e[2], entry(4, 1)] })
      assert.equal(store.status().applied, 4)
    })
  })

  it('a Ready with only a hard state (a vote) is persisted', async () => {
    await withStore(async (store, h) => {
      await store.persist({ entries: [], hardState: { term: 5, vote: 3, commit: 0 }, committedEntries: [] })
      const again = await h.reopen()
      assert.deepStrictEqual(again.recovered().hardState, { term: 5, vote: 3, commit: 0 })
    })
  })

  it('readEntries returns log ranges from disk with a byte budget', async () => {
    await withStore(async (store) => {
      const e = Array.from({ length: 10 }, (_, i) => entry(i + 1, 1, ops.put(b(`k${i}`), new Uint8Array(100))))
      await store.persist({ entries: e, hardState: { term: 1, vote: 1, commit: 0 }, committedEntries: [] })
      assert.deepStrictEqual(await store.readEntries(3, 6), e.slice(2, 5))
      assert.equal((await store.readEntries(1, 11, 250)).length, 2)
      assert.equal((await store.readEntries(1, 11, 1)).length, 1, 'at least one entry')
      await assert.rejects(store.readEntries(1, 12), InvariantError)
    })
  })
})
