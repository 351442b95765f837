// A snapshot of 1,000,000 keys is created, streamed and installed into a fresh store with memory growth under
// 200 MiB (process.memoryUsage().rss sampled while streaming). Slow: runs in `npm run test:extra`.
import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { RaftStore } from '../../src/store/index.js'
import { cleanup, gc, tempDir } from '../unit/store/helpers.js'
import { bulkKey, bulkLoad } from '../unit/store/snapshot-fill.js'

const KEYS = 1_000_000
const MAX_GROWTH_MIB = 200

describe('big snapshot', () => {
  it(`streams and installs ${KEYS.toLocaleString('en-US')} keys with rss growth < ${MAX_GROWTH_MIB} MiB`, async (t) => {
    const srcDir = tempDir('big-src')
    const dstDir = tempDir('big-dst')
    const src = await RaftStore.open(srcDir)
    const dst = await RaftStore.open(dstDir)
    try {
      let started = performance.now()
      await bulkLoad(src, KEYS, 200)
      const loadMs = performance.now() - started
      const meta = await src.createSnapshot()

      gc()
      const base = process.memoryUsage().rss
      let peak = base
      let chunks = 0
      started = performance.now()
      const reader = await src.openSnapshotReader()
      assert.equal(reader.meta.index, meta.index)
      async function * metered (): AsyncGenerator<Uint8Array> {
        for await (const c of reader) {
          chunks++
          peak = Math.max(peak, process.memoryUsage().rss)
          yield c
        }
      }
      await dst.installSnapshot(reader.meta, metered())
      peak = Math.max(peak, process.memoryUsage().rss)
      const streamMs = performance.now() - started
      const growth = (peak - base) / 2 ** 20
      t.diagnostic(`load ${KEYS} keys through persist: ${(loadMs / 1000).toFixed(1)} s; stream+install: ${(streamMs / 1000).toFixed(1)} s, ` +
        `${chunks} chunks, ${(reader.bytes / 2 ** 20).toFixed(1)} MiB; rss ${(base / 2 ** 20).toFixed(0)} -> peak ${(peak / 2 ** 20).toFixed(0)} MiB (growth ${growth.toFixed(1)} MiB)`)
      assert.equal(reader.keys, KEYS)
      assert.ok(growth < MAX_GROWTH_MIB, `rss grew ${growth.toFixed(1)} MiB`)

      started = performance.now()
      const [a, b] = [await src.kvHash(), await dst.kvHash()]
      t.diagnostic(`kvHash of both: ${((performance.now() - started) / 1000).toFixed(1)} s`)
      assert.deepStrictEqual(b, a)
      assert.deepStrictEqual(dst.stateHash(), src.stateHash())
      assert.deepStrictEqual((await dst.get(bulkKey(KEYS - 1)))?.value, new Uint8Array(Buffer.from(`v${KEYS - 1}`)))
    } finally {
      await src.close()
      await dst.close()
      cleanup(srcDir)
      cleanup(dstDir)
    }
  })
})
