// Snapshots: metadata at the applied index and log compaction with a trailing window; a chunked stream read from
// one LevelDB snapshot; crash-safe install that switches everything in one batch or nothing at all.
import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { ops } from '../../../src/api/kv.js'
import {
  CompactedError, RaftStore, SnapshotError, SnapshotInProgressError, StaleSnapshotError
} from '../../../src/store/index.js'
import type { StoreSnapshotMetadata } from '../../../src/store/index.js'
import { decodeChunk, encodeChunk } from '../../../src/store/snapshot-stream.js'
import { b, cleanup, commit, entry, gc, s, scanAll, tempDir } from './helpers.js'
import { bulkLoad } from './snapshot-fill.js'

async function collect (reader: AsyncIterable<Uint8Array>): Promise<Uint8Array[]> {
  const out: Uint8Array[] = []
  for await (const c of reader) out.push(c)
  return out
}

async function * from (chunks: Uint8Array[]): AsyncGenerator<Uint8Array> {
  for (const c of chunks) yield c
}

/** A source store with `keys` keys and a few extra revisions, plus its streamed snapshot. */
async function source (keys: number): Promise<{ dir: string, store: RaftStore, meta: StoreSnapshotMetadata, chunks: Uint8Array[] }> {
  const dir = tempDir('snap-src')
  const store = await RaftStore.open(dir)
  await bulkLoad(store, keys)
  await commit(store, [ops.put(b('extra'), b('x')), ops.del(b('bulk/00000000'))])
  const reader = await store.openSnapshotReader()
  const chunks = await collect(reader)
  return { dir, store, meta: reader.meta, chunks }
}

describe('snapshots', () => {
  it('createSnapshot records metadata at the applied index and compacts the log keeping logRetain entries', async () => {
    const dir = tempDir('snap')
    let store = await RaftStore.open(dir, { logRetain: 5 })
    try {
      const e = Array.from({ length: 30 }, (_, i) => entry(i + 1, 1 + Math.floor(i / 10), ops.put(b(`k${i}`), b(`${i}`))))
      const conf = { voters: [1, 2, 3], learners: [], votersOutgoing: [], learnersNext: [], autoLeave: false }
      await store.persist({ entries: e, hardState: { term: 3, vote: 1, commit: 25 }, committedEntries: e.slice(0, 25), confState: conf })
      const meta = await store.createSnapshot()
      assert.deepStrictEqual([meta.index, meta.term, meta.confState], [25, 3, conf])
      assert.equal(meta.chainHash, store.chainHash().hash)
      assert.equal(meta.stateHash, store.stateHash().hash)
      assert.equal(store.status().firstIndex, 21)
      await assert.rejects(store.readEntries(20, 22), (err: CompactedError) => err instanceof CompactedError && err.oldestRevision === 21)
      assert.deepStrictEqual(await store.readEntries(21, 23), e.slice(20, 22))
      await store.close()
      store = await RaftStore.open(dir, { logRetain: 5 })
      const r = store.recovered()
      assert.deepStrictEqual(r.snapshotMeta, meta)
      assert.deepStrictEqual([r.firstIndex, r.lastIndex, r.lastTerm, r.applied], [21, 30, 3, 25])
      assert.deepStrictEqual(r.entries, e.slice(25), 'entries after the snapshot index')
      // Raft commits the rest after the restart
      await store.persist({ entries: [], hardState: { term: 3, vote: 1, commit: 30 }, committedEntries: e.slice(25) })
      assert.equal(s((await store.get(b('k29')))?.value), '29')
    } finally {
      await store.close()
      cleanup(dir)
    }
  })

  it('streams 50,000 keys in checksummed chunks and installs them into a fresh store with bounded memory', async (t) => {
    const src = await source(50_000)
    const dir = tempDir('snap-dst')
    const dst = await RaftStore.open(dir)
    try {
      assert.ok(src.chunks.length >= 2, `${src.chunks.length} chunks`)
      const last = decodeChunk(src.chunks[src.chunks.length - 1])
      assert.equal(last.last, true)
      assert.equal(last.totalKeys, 50_000)
      gc()
      const base = process.memoryUsage().rss
      let peak = base
      const started = performance.now()
      const reader = await src.store.openSnapshotReader()
      async function * metered (): AsyncGenerator<Uint8Array> {
        for await (const c of reader) {
          peak = Math.max(peak, process.memoryUsage().rss)
          yield c
        }
      }
      await dst.installSnapshot(reader.meta, metered())
      const ms = performance.now() - started
      const growth = (peak - base) / 2 ** 20
      t.diagnostic(`50k keys: ${reader.chunkCount} chunks, ${(reader.bytes / 2 ** 20).toFixed(1)} MiB streamed+installed in ${ms.toFixed(0)} ms, rss growth ${growth.toFixed(1)} MiB`)
      assert.ok(growth < 100, `rss grew ${growth.toFixed(1)} MiB`)
      assert.equal(reader.checksum, last.totalChecksum.toString('hex'))
      assert.deepStrictEqual(await dst.kvHash(), await src.store.kvHash())
      assert.deepStrictEqual(dst.stateHash(), src.store.stateHash())
      assert.deepStrictEqual(dst.chainHash(), src.store.chainHash())
      const st = dst.status()
      assert.deepStrictEqual([st.applied, st.commit, st.lastIndex, st.firstIndex], [src.meta.index, src.meta.index, src.meta.index, src.meta.index + 1])
      assert.equal(await dst.get(b('bulk/00000000')), undefined)
      assert.equal(s((await dst.get(b('extra')))?.value), 'x')
      // the log continues after the snapshot, the chain from the snapshot's hash; events start after it
      const next = entry(src.meta.index + 1, src.meta.term, ops.put(b('after'), b('1')))
      await dst.persist({ entries: [next], hardState: { term: src.meta.term, vote: 0, commit: next.index }, committedEntries: [next] })
      await assert.rejects(dst.events(src.meta.index), CompactedError)
      assert.equal((await dst.events(src.meta.index + 1)).revisions.length, 1)
      await dst.close()
      const again = await RaftStore.open(dir)
      assert.deepStrictEqual(again.recovered().snapshotMeta?.index, src.meta.index)
      assert.equal(s((await again.get(b('after')))?.value), '1')
      await again.close()
    } finally {
      await dst.close()
      await src.store.close()
      cleanup(dir)
      cleanup(src.dir)
    }
  })

  it('the reader streams exactly the state at its metadata even while writes continue', async () => {
    const dir = tempDir('snap')
    const store = await RaftStore.open(dir)
    const dstDir = tempDir('snap-dst')
    const dst = await RaftStore.open(dstDir)
    try {
      await bulkLoad(store, 3000)
      const expected = await store.kvHash()
      const reader = await store.openSnapshotReader()
      assert.equal(reader.meta.index, expected.index)
      await commit(store, [ops.put(b('later'), b('x')), ops.deleteRange(b('bulk/'), b('bulk0'))])
      await dst.installSnapshot(reader.meta, reader)
      assert.deepStrictEqual(await dst.kvHash(), expected)
      assert.equal(await dst.get(b('later')), undefined)
    } finally {
      await dst.close()
      await store.close()
      cleanup(dir)
      cleanup(dstDir)
    }
  })

  it('install replaces the whole state and truncates the log', async () => {
    const src = await source(500)
    const dir = tempDir('snap-dst')
    const dst = await RaftStore.open(dir)
    try {
      await commit(dst, [ops.put(b('old-only'), b('1')), ops.put(b('extra'), b('old'))])
      const uncommitted = [entry(3, 1, ops.put(b('tail'), b('t')))]
      await dst.persist({ entries: uncommitted, committedEntries: [] })
      await dst.installSnapshot(src.meta, from(src.chunks))
      assert.equal(await dst.get(b('old-only')), undefined)
      assert.equal(s((await dst.get(b('extra')))?.value), 'x')
      assert.deepStrictEqual(await scanAll(dst), await scanAll(src.store))
      assert.equal(dst.status().lastIndex, src.meta.index)
      await assert.rejects(dst.readEntries(3, 4), CompactedError)
    } finally {
      await dst.close()
      await src.store.close()
      cleanup(dir)
      cleanup(src.dir)
    }
  })

  it('a bad stream is refused with SnapshotError and changes nothing', async () => {
    const src = await source(20_000)
    const dir = tempDir('snap-dst')
    const dst = await RaftStore.open(dir)
    try {
      await commit(dst, [ops.put(b('mine'), b('1'))])
      const before = { kv: await dst.kvHash(), status: dst.status() }
      const c0 = decodeChunk(src.chunks[0])
      const flipped = Buffer.from(c0.records)
      flipped[10] ^= 1
      const cases: Array<[string, StoreSnapshotMetadata, Uint8Array[]]> = [
        ['flipped record byte', src.meta, [encodeChunk({ ...c0, records: flipped }), ...src.chunks.slice(1)]],
        ['chunk checksum recomputed (whole-stream checksum catches it)', src.meta, [encodeChunk({ ...c0, records: flipped, checksum: (await import('node:crypto')).createHash('sha256').update(flipped).digest() }), ...src.chunks.slice(1)]],
        ['missing last chunk', src.meta, src.chunks.slice(0, -1)],
        ['missing first chunk', src.meta, src.chunks.slice(1)],
        ['chunk after the last', src.meta, [...src.chunks, src.chunks[0]]],
        ['chunks of another snapshot', { ...src.meta, term: src.meta.term + 1 }, src.chunks],
        ['garbage', src.meta, [Uint8Array.of(1, 2, 3)]]
      ]
      for (const [name, meta, chunks] of cases) {
        await assert.rejects(dst.installSnapshot(meta, from(chunks)), SnapshotError, name)
        assert.deepStrictEqual(await dst.kvHash(), before.kv, name)
        assert.deepStrictEqual(dst.status(), before.status, name)
      }
      // still usable, and a good stream installs
      await dst.installSnapshot(src.meta, from(src.chunks))
      assert.deepStrictEqual(await dst.kvHash(), await src.store.kvHash())
    } finally {
      await dst.close()
      await src.store.close()
      cleanup(dir)
      cleanup(src.dir)
    }
  })

  it('refuses a snapshot at or below commit, and a second concurrent install', async () => {
    const src = await source(300)
    const dir = tempDir('snap-dst')
    const dst = await RaftStore.open(dir)
    try {
      const many = Array.from({ length: src.meta.index }, (_, i) => entry(i + 1, 1))
      await dst.persist({ entries: many, hardState: { term: 1, vote: 1, commit: src.meta.index }, committedEntries: [] })
      await assert.rejects(dst.installSnapshot(src.meta, from(src.chunks)), StaleSnapshotError)
      const dir2 = tempDir('snap-dst')
      const fresh = await RaftStore.open(dir2)
      try {
        let release!: () => void
        const gate = new Promise<void>((resolve) => { release = resolve })
        async function * slow (): AsyncGenerator<Uint8Array> {
          await gate
          yield * from(src.chunks)
        }
        const first = fresh.installSnapshot(src.meta, slow())
        await assert.rejects(fresh.installSnapshot(src.meta, from(src.chunks)), SnapshotInProgressError)
        release()
        await first
        assert.deepStrictEqual(await fresh.kvHash(), await src.store.kvHash())
      } finally {
        await fresh.close()
        cleanup(dir2)
      }
    } finally {
      await dst.close()
      await src.store.close()
      cleanup(dir)
      cleanup(src.dir)
    }
  })

  it('closing the store releases a reader whose consumer stopped mid-stream', { timeout: 20_000 }, async () => {
    const dir = tempDir('snap')
    const store = await RaftStore.open(dir)
    try {
      await bulkLoad(store, 40_000)
      const reader = await store.openSnapshotReader()
      const it = reader.chunks()
      const first = await it.next()
      assert.equal(first.done, false)
      // the consumer never pulls again and never calls return()
      await store.close()
      await assert.rejects(reader.chunks().next(), SnapshotError)
    } finally {
      await store.close()
      cleanup(dir)
    }
  })
})
