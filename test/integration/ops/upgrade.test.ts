// Rolling upgrade on real processes: a 3-node cluster at wire 1.0 keeps working while one node restarts speaking
// 1.1 (the next minor), also with that node as leader; a node restarted speaking 2.0 (another major) is refused by
// its peers and refuses them, each side logging INCOMPATIBLE_VERSION with both versions, while the other two keep
// serving. A data dir holding a newer store format is refused at start with both versions named, unchanged.
import { after, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { join } from 'node:path'
import { ClassicLevel } from 'classic-level'
import { TestCluster, waitFor } from '../harness.js'
import { META } from '../../../src/store/keys.js'
import { encodeFormatVersion, STORE_FORMAT_VERSION } from '../../../src/store/format-version.js'

const text = (b: Uint8Array | undefined): string => Buffer.from(b ?? []).toString()

describe('rolling upgrade', () => {
  let cluster: TestCluster
  after(async () => { await cluster?.destroy() })

  it('a node one minor ahead joins the cluster and may lead it; a node of another major is refused with INCOMPATIBLE_VERSION on both sides', async () => {
    cluster = await TestCluster.create(3)
    await cluster.explain(async () => {
      const c = await cluster.form()
      await c.put('up/1', 'a')

      // Step 1: node 3 is "upgraded" to wire 1.1 and restarted; replication to and from it works.
      await cluster.kill(3)
      cluster.opts.env = { ASPEN_TEST_WIRE_VERSION: '1.1' }
      await cluster.start(3)
      cluster.opts.env = {}
      await c.put('up/2', 'b')
      const commit = (await cluster.status(await cluster.leader(), c)).commitIndex
      await waitFor('node 3 (1.1) applies what the 1.0 leader commits', async () => (await cluster.status(3, c)).appliedIndex >= commit, 30_000, 100)
      assert.match(cluster.logs(3), /speaking wire version 1\.1/)

      // The 1.1 node leads the 1.0 nodes: it dials them on the id they serve (1.0.0).
      await waitFor('node 3 becomes leader', async () => (await c.control<{ leaderId: number }>('cluster.transferLeader', { nodeId: 3 }, { timeoutMs: 5000 })).leaderId === 3, 30_000, 200)
      await c.put('up/3', 'c')
      const commit3 = (await cluster.status(3, c)).commitIndex
      for (const id of [1, 2]) await waitFor(`node ${id} (1.0) applies what the 1.1 leader commits`, async () => (await cluster.status(id, c)).appliedIndex >= commit3, 30_000, 100)
      assert.equal(text((await c.get('up/3'))?.value), 'c')

      // Step 2 gone wrong: node 2 restarts speaking 2.0. Both sides say why, and the cluster keeps its quorum (1, 3).
      await cluster.kill(2)
      cluster.opts.env = { ASPEN_TEST_WIRE_VERSION: '2.0' }
      await cluster.start(2)
      cluster.opts.env = {}
      await c.put('up/4', 'd')
      await waitFor('node 2 logs the refusal', () => /INCOMPATIBLE_VERSION/.test(cluster.logs(2)) && /speaks \/aspen\/raft 1\.\d(, 1\.\d)? but this node speaks 2\.0/.test(cluster.logs(2)), 30_000, 100)
      await waitFor('a 1.x node logs the refusal', () => [1, 3].some(id => /speaks \/aspen\/raft 2\.0 but this node speaks 1\.\d.*major versions differ/.test(cluster.logs(id))), 30_000, 100)
      assert.equal(text((await c.get('up/4'))?.value), 'd')
    })
  })

  it('a data dir with a newer store format is refused at start, naming both versions, and left unchanged', async () => {
    await cluster.explain(async () => {
      await cluster.kill(1)
      const dir = join(cluster.node(1).dataDir, 'raft')
      const newer = STORE_FORMAT_VERSION + 1
      const db = new ClassicLevel<Buffer, Buffer>(dir, { keyEncoding: 'buffer', valueEncoding: 'buffer' })
      await db.open()
      await db.put(META.formatVersion, encodeFormatVersion(newer))
      const before = (await db.iterator().all()).length
      await db.close()
      const run = await cluster.cli(['start', '--data-dir', cluster.node(1).dataDir])
      assert.notEqual(run.code, 0)
      assert.match(run.stderr, new RegExp(`store format version ${newer}, newer than version ${STORE_FORMAT_VERSION}`))
      const after = new ClassicLevel<Buffer, Buffer>(dir, { keyEncoding: 'buffer', valueEncoding: 'buffer' })
      await after.open()
      try {
        assert.equal((await after.get(META.formatVersion))?.readUInt32BE(0), newer)
        assert.equal((await after.iterator().all()).length, before)
      } finally { await after.close() }
    })
  })
})
