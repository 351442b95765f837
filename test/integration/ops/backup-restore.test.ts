// Backup and restore on real processes: `aspen cluster backup` streams a consistent snapshot from the leader of
// a 3-node cluster while clients keep writing; `aspen restore` seeds node 1 of a fresh cluster (another cookie,
// hence another cluster id) with it; nodes 2 and 3 join as learners and are promoted; every key is equal to the
// source, byte for byte (full scans, and the kv hash of each replica equals the hash of the backup's records).
// Damaged, truncated and misplaced restores are refused with a typed error and write nothing.
import { after, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { createHash } from 'node:crypto'
import { createReadStream, existsSync, readdirSync } from 'node:fs'
import { readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { readBackup, type AspenClient, type KeyValue, type BackupHeader } from '../../../src/client/index.js'
import { decodeChunk, unpackRecords } from '../../../src/store/snapshot-stream.js'
import { TestCluster, waitFor } from '../harness.js'

const text = (b: Uint8Array | undefined): string => Buffer.from(b ?? []).toString()

/** Every key of the cluster (paged linearizable scans through the leader). */
async function fullScan (c: AspenClient): Promise<KeyValue[]> {
  const out: KeyValue[] = []
  let after: Uint8Array | undefined
  while (true) {
    const page = await c.scan('', { limit: 1000, after, timeoutMs: 10_000 })
    out.push(...page.kvs)
    if (!page.more || page.next === undefined) return out
    after = page.next
  }
}

const row = (kv: KeyValue): string => `${Buffer.from(kv.key).toString('hex')}=${Buffer.from(kv.value).toString('hex')}@${kv.createRevision}/${kv.modRevision}/${kv.version}`

/** The header of a backup file and the kv hash of its records (the same digest the store computes). */
async function backupDigest (path: string): Promise<{ header: BackupHeader, hash: string, keys: number }> {
  const h = createHash('sha256')
  const len = Buffer.allocUnsafe(8)
  let header: BackupHeader | undefined
  let keys = 0
  for await (const item of readBackup(createReadStream(path))) {
    if (item.kind === 'header') { header = item.header; continue }
    for (const r of unpackRecords(decodeChunk(item.bytes).records)) {
      len.writeUInt32BE(r.key.length, 0)
      len.writeUInt32BE(r.value.length, 4)
      h.update(len).update(r.key).update(r.value)
      keys++
    }
  }
  assert.ok(header !== undefined)
  return { header, hash: h.digest('hex'), keys }
}

describe('backup and restore', () => {
  let source: TestCluster | undefined
  let target: TestCluster | undefined
  let spare: TestCluster | undefined
  let backupFile = ''
  after(async () => { await source?.destroy(); await target?.destroy(); await spare?.destroy() })

  it('a backup taken under write load restores into a fresh 3-node cluster with every key equal', async () => {
    source = await TestCluster.create(3)
    const src = source
    backupFile = join(src.root, 'cluster.bak')
    await src.explain(async () => {
      const c = await src.form()
      // Binary values, overwrites (version > 1) and deletes: what a restore must carry exactly.
      for (let i = 0; i < 200; i++) await c.put(`data/${String(i).padStart(4, '0')}`, Buffer.from([i & 0xff, 0, 0xff, i >> 8]))
      for (let i = 0; i < 50; i++) await c.put(`data/${String(i).padStart(4, '0')}`, `second-${i}`)
      for (let i = 150; i < 170; i++) await c.del(`data/${String(i).padStart(4, '0')}`)
      await c.put('big', Buffer.alloc(600_000, 7))

      // Writes keep flowing during the backup: the cluster keeps serving.
      const ackedBefore = new Map<string, string>()
      let backupStarted = false
      let stop = false
      let duringBackup = 0
      const writer = (async () => {
        for (let i = 0; !stop; i++) {
          const k = `live/${String(i).padStart(6, '0')}`
          const started = backupStarted
          try {
            await c.put(k, `v${i}`, { timeoutMs: 3000 })
            if (!started) ackedBefore.set(k, `v${i}`)
            else duringBackup++
          } catch { /* outcome unknown: not counted */ }
        }
      })()
      await waitFor('live writes flowing', () => ackedBefore.size >= 20, 20_000)
      backupStarted = true
      const r = await src.cli(['cluster', 'backup', '--data-dir', src.node(2).dataDir, '--out', backupFile, '--json'])
      assert.equal(r.code, 0, r.stderr)
      const res = JSON.parse(r.stdout) as { path: string, bytes: number, index: number, clusterId: string }
      await waitFor('writes acknowledged while the backup ran', () => duringBackup >= 5, 20_000)
      stop = true
      await writer
      // Written atomically: the file and no temporary beside it.
      assert.equal(res.path, backupFile)
      assert.deepEqual(readdirSync(src.root).filter(f => f.includes('cluster.bak')), ['cluster.bak'])
      const digest = await backupDigest(backupFile)
      assert.equal(digest.header.index, res.index)
      assert.equal(digest.header.clusterId, src.runInfo(1)?.clusterId)
      assert.deepEqual([...digest.header.confState.voters].sort(), [1, 2, 3])
      const sourceRows = (await fullScan(c)).map(row)

      // Restore into node 1 of a new cluster (its own cookie, hence its own cluster id).
      target = await TestCluster.create(3)
      const dst = target
      await dst.explain(async () => {
        const rr = await dst.cli(['restore', '--from', backupFile, '--data-dir', dst.node(1).dataDir, '--json'])
        assert.equal(rr.code, 0, rr.stderr)
        const restored = JSON.parse(rr.stdout) as { index: number, keys: number, clusterId: string, sourceClusterId: string }
        assert.equal(restored.index, res.index)
        assert.equal(restored.keys, digest.keys)
        assert.notEqual(restored.clusterId, restored.sourceClusterId)
        await dst.start(1)
        const d = await dst.client(10_000)
        await waitFor('restored node 1 leads its new cluster', async () => (await dst.status(1, d)).leaderId === 1, 20_000)
        for (const id of [2, 3]) {
          await dst.start(id)
          await waitFor(`node ${id} added as learner`, async () => await d.control('cluster.addLearner', { nodeId: id }, { timeoutMs: 5000 }).then(() => true), 30_000, 200)
          await waitFor(`node ${id} promoted`, async () => await d.control('cluster.changeMembership', { voters: [1, ...[2, 3].filter(x => x <= id)] }, { timeoutMs: 5000 }).then(() => true), 30_000, 200)
        }
        const d2 = await dst.client(10_000)
        const restoredRows = (await fullScan(d2)).map(row)
        const isLive = (r: string): boolean => r.startsWith(Buffer.from('live/').toString('hex'))
        // Everything but the live prefix was quiet during the backup: equal, row for row (revisions included).
        assert.deepEqual(restoredRows.filter(r => !isLive(r)), sourceRows.filter(r => !isLive(r)))
        assert.equal(Buffer.from((await d2.get('big'))?.value ?? []).length, 600_000)
        // The live prefix: every write acknowledged before the backup started is there; nothing the source lacks.
        const srcLive = new Set(sourceRows.filter(isLive))
        for (const r of restoredRows.filter(isLive)) assert.ok(srcLive.has(r), `restored row ${r} is not in the source`)
        for (const [k, v] of ackedBefore) assert.equal(text((await d2.get(k, { consistency: 'stale' }))?.value), v, `write ${k} acknowledged before the backup is missing`)
        // Each replica holds exactly the backup's records.
        for (const id of [1, 2, 3]) {
          const info = dst.runInfo(id)
          assert.ok(info !== undefined)
          const peer = { peerId: info.peerId, addrs: info.addrs.map(a => a.replace(/\/p2p\/[^/]+$/, '')) }
          await waitFor(`node ${id} holds the backup's records`, async () => (await d2.controlAt<{ hash: string }>(peer, 'node.kvHash', {})).hash === digest.hash, 20_000, 100)
        }
        // The restored cluster takes writes.
        await d2.put('after-restore', 'yes')
        assert.equal(text((await d2.get('after-restore'))?.value), 'yes')
      })
    })
  })

  it('a truncated backup is refused with BACKUP_TRUNCATED and writes nothing', async () => {
    assert.ok(existsSync(backupFile), 'needs the backup of the first test')
    spare = await TestCluster.create(2)
    const bytes = await readFile(backupFile)
    const cut = join(spare.root, 'cut.bak')
    await writeFile(cut, bytes.subarray(0, Math.floor(bytes.length * 0.7)))
    const r = await spare.cli(['restore', '--from', cut, '--data-dir', spare.node(1).dataDir])
    assert.equal(r.code, 1)
    assert.match(r.stderr, /ends inside/)
    assert.match(r.stderr, /incomplete/)
    assert.equal(existsSync(join(spare.node(1).dataDir, 'raft')), false, 'nothing may be written for a refused backup')
  })

  it('a backup with one flipped byte is refused with BACKUP_CHECKSUM and writes nothing', async () => {
    assert.ok(existsSync(backupFile) && spare !== undefined, 'needs the backup of the first test')
    const bytes = Buffer.from(await readFile(backupFile))
    bytes[Math.floor(bytes.length / 2)] ^= 0x01
    const bad = join(spare.root, 'flipped.bak')
    await writeFile(bad, bytes)
    const r = await spare.cli(['restore', '--from', bad, '--data-dir', spare.node(1).dataDir, '--json'])
    assert.equal(r.code, 1)
    assert.match(r.stderr, /checksum|damaged/)
    assert.equal(existsSync(join(spare.node(1).dataDir, 'raft')), false)
  })

  it('a data dir that holds cluster data is refused without --force and replaced with it', async () => {
    assert.ok(existsSync(backupFile) && spare !== undefined, 'needs the backup of the first test')
    const s = spare
    const first = await s.cli(['restore', '--from', backupFile, '--data-dir', s.node(2).dataDir, '--json'])
    assert.equal(first.code, 0, first.stderr)
    const again = await s.cli(['restore', '--from', backupFile, '--data-dir', s.node(2).dataDir])
    assert.equal(again.code, 1)
    assert.match(again.stderr, /already holds cluster data/)
    assert.match(again.stderr, /--force/)
    const forced = await s.cli(['restore', '--from', backupFile, '--data-dir', s.node(2).dataDir, '--force', '--json'])
    assert.equal(forced.code, 0, forced.stderr)
    assert.equal((JSON.parse(forced.stdout) as { index: number }).index, (JSON.parse(first.stdout) as { index: number }).index)
  })
})
