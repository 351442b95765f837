// The log is stored in runs (one LevelDB record per persist, split at RUN_MAX_BYTES, keyed by the last index).
// Whatever the run boundaries, the log reads back as the entries appended, conflicting suffixes cut runs at any
// point, compaction keeps a run that straddles the log start, and a reopen verifies the chain across runs.
// Format-1 stores (one record per entry) read as runs of one and upgrade without a rewrite.
import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { join } from 'node:path'
import fc from 'fast-check'
import { RaftStore } from '../../../src/store/index.js'
import { chainHash } from '../../../src/store/chain.js'
import { prepareStoreFormat, encodeFormatVersion } from '../../../src/store/format-version.js'
import { LOG_END, logIndexOf, logKey, META } from '../../../src/store/keys.js'
import { decodeLogRun, encodeLogAppend, RUN_MAX_BYTES } from '../../../src/store/log-run.js'
import { ZERO_HASH } from '../../../src/store/records.js'
import type { Entry } from '../../../src/raft/types.js'
import { cleanup, tempDir, withRawDb } from './helpers.js'

function opaque (index: number, term: number, size: number): Entry {
  return { index, term, type: index % 5 === 0 ? 'confChange' : 'normal', data: new Uint8Array(size).fill(index & 0xff) }
}

/** Log keys (run last indexes) in the store's raft DB. */
async function runKeys (dir: string): Promise<number[]> {
  return await withRawDb(join(dir, 'raft'), async (db) => (await db.keys({ gte: logKey(0), lt: LOG_END }).all()).map(logIndexOf))
}

describe('log runs', () => {
  it('encodeLogAppend splits at RUN_MAX_BYTES, keys each run by its last index and chains every entry', () => {
    const sizes = [10, RUN_MAX_BYTES / 2, RUN_MAX_BYTES / 2, 0, RUN_MAX_BYTES * 2, 7]
    const entries = sizes.map((n, i) => opaque(i + 1, 1, n))
    const { runs, hashes } = encodeLogAppend(entries, ZERO_HASH, 0)
    // [1, 2] fit; 3 would overflow; [3, 4]; 5 alone exceeds the bound; [6]
    assert.deepEqual(runs.map((r) => logIndexOf(r.key)), [2, 4, 5, 6])
    let prev: Uint8Array = ZERO_HASH
    const decoded = runs.flatMap((r) => decodeLogRun(logIndexOf(r.key), r.value))
    assert.deepEqual(decoded.map((d) => d.entry), entries)
    decoded.forEach((d, i) => {
      const h = chainHash(prev, entries[i])
      assert.deepEqual(d.chainHash, h)
      assert.deepEqual(hashes[i], h)
      prev = h
    })
  })

  it('random appends, conflicting suffixes and compactions read back as the model log, before and after reopen', async () => {
    const step = fc.oneof(
      { weight: 5, arbitrary: fc.record({ kind: fc.constant('append' as const), sizes: fc.array(fc.oneof(fc.nat(300), fc.constant(200_000)), { minLength: 1, maxLength: 12 }) }) },
      { weight: 2, arbitrary: fc.record({ kind: fc.constant('conflict' as const), back: fc.nat(20), sizes: fc.array(fc.nat(300), { minLength: 1, maxLength: 6 }) }) },
      { weight: 1, arbitrary: fc.record({ kind: fc.constant('commit' as const), upTo: fc.nat(30) }) },
      { weight: 1, arbitrary: fc.constant({ kind: 'snapshot' as const }) },
      { weight: 1, arbitrary: fc.constant({ kind: 'reopen' as const }) }
    )
    await fc.assert(fc.asyncProperty(fc.array(step, { minLength: 1, maxLength: 25 }), async (steps) => {
      const dir = tempDir('runs')
      let store = await RaftStore.open(dir, { logRetain: 3 })
      const log: Entry[] = [] // model: log[i] is entry i + 1
      let term = 1
      let commit = 0
      try {
        for (const st of steps) {
          if (st.kind === 'append' || st.kind === 'conflict') {
            // a conflict rewrites from a point after the commit index with a newer term (Raft §5.3)
            const from = st.kind === 'append' ? log.length + 1 : Math.max(commit + 1, log.length + 1 - st.back)
            if (st.kind === 'conflict') term++
            const ents = st.sizes.map((n, i) => opaque(from + i, term, n))
            await store.persist({ entries: ents, hardState: { term, vote: 1, commit }, committedEntries: [] })
            log.length = from - 1
            log.push(...ents)
          } else if (st.kind === 'commit') {
            const to = Math.min(log.length, commit + st.upTo)
            await store.persist({ entries: [], hardState: { term, vote: 1, commit: to }, committedEntries: log.slice(commit, to) })
            commit = to
          } else if (st.kind === 'snapshot') {
            await store.createSnapshot()
          } else {
            await store.close()
            store = await RaftStore.open(dir, { logRetain: 3 })
            assert.equal(store.recovered().lastIndex, log.length)
          }
          const first = store.status().firstIndex
          assert.ok(first >= 1 && first <= log.length + 1)
          const got: Entry[] = []
          while (first + got.length <= log.length) {
            const page = await store.readEntries(first + got.length, log.length + 1, 1 << 30)
            assert.ok(page.length > 0, 'readEntries returns at least one entry')
            got.push(...page)
          }
          assert.deepEqual(got, log.slice(first - 1))
        }
        const first = store.status().firstIndex
        await store.close()
        // every run ends inside the retained log (a run straddling the log start ends after it)
        const keys = await runKeys(dir)
        assert.ok(keys.every((k) => k >= first && k <= log.length), `run keys ${keys.join(',')} outside [${first}, ${log.length}]`)
        store = await RaftStore.open(dir, { logRetain: 3 })
        assert.equal(store.recovered().lastIndex, log.length)
      } finally {
        await store.close()
        cleanup(dir)
      }
    }), { numRuns: 30 })
  })

  it('a format-1 store (one record per entry) upgrades without a rewrite and keeps its log', async () => {
    const dir = tempDir('fmt1')
    try {
      const entries = Array.from({ length: 8 }, (_, i) => opaque(i + 1, 1, 40))
      let store = await RaftStore.open(dir)
      await store.persist({ entries, hardState: { term: 1, vote: 1, commit: 2 }, committedEntries: entries.slice(0, 2) })
      await store.close()
      // turn the log into format 1: each entry its own record (its bare record bytes) keyed by its index
      await withRawDb(join(dir, 'raft'), async (db) => {
        const [[key, value]] = await db.iterator({ gte: logKey(0), lt: LOG_END }).all()
        const recs = decodeLogRun(logIndexOf(key), value)
        await db.batch([
          { type: 'del', key },
          ...recs.map((r) => ({ type: 'put' as const, key: logKey(r.entry.index), value: Buffer.from(r.record) })),
          { type: 'put', key: META.formatVersion, value: encodeFormatVersion(1) }
        ], { sync: true })
      })

      const out = await prepareStoreFormat(dir)
      assert.equal(out.kind, 'migrated')
      store = await RaftStore.open(dir)
      assert.deepEqual(store.recovered().entries, entries)
      assert.deepEqual(await store.readEntries(1, 9), entries)
      // a conflicting suffix inside the format-1 part, then appends as runs
      const replacement = [opaque(5, 2, 3), opaque(6, 2, 3)]
      await store.persist({ entries: replacement, hardState: { term: 2, vote: 1, commit: 2 }, committedEntries: [] })
      await store.close()
      store = await RaftStore.open(dir)
      const expected = [...entries.slice(0, 4), ...replacement]
      assert.deepEqual(await store.readEntries(1, 7), expected)
      await store.close()
      assert.deepEqual(await runKeys(dir), [1, 2, 3, 4, 6])
    } finally {
      cleanup(dir)
    }
  })
})
