// Node and cluster lifecycle on real processes (the seed's recommendations 3 and 4): a node restarts with the same
// identity and data and rejoins; a whole cluster stopped (gracefully or by SIGKILL) comes back in another order
// with every acknowledged write; a minority answers NO_QUORUM within the deadline while stale reads still work;
// a corrupt data dir refuses to start and names the entry, while the rest of the cluster keeps working.
import { after, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { ClassicLevel } from 'classic-level'
import { join } from 'node:path'
import { TestCluster, waitFor } from '../harness.js'
import { ClusterError } from '../../../src/client/index.js'
import { logKey, logIndexOf, LOG_END } from '../../../src/store/keys.js'

const text = (b: Uint8Array | undefined): string => Buffer.from(b ?? []).toString()

describe('node and cluster lifecycle', () => {
  let cluster: TestCluster
  after(async () => { await cluster?.destroy() })

  it('a restarted node keeps its node id, peer id and data, and rejoins without operator action', async () => {
    cluster = await TestCluster.create(3)
    await cluster.explain(async () => await restartOne(cluster))
  })
  async function restartOne (cluster: TestCluster): Promise<void> {
    const c = await cluster.form()
    for (let i = 0; i < 20; i++) await c.put(`life/${i}`, `v${i}`)
    const before = cluster.runInfo(3)!
    await cluster.stop(3)
    await c.put('life/while-down', 'x')
    await cluster.start(3)
    const after = cluster.runInfo(3)!
    assert.equal(after.peerId, before.peerId, 'same peer id after restart')
    assert.equal(after.nodeId, 3)
    const leaderCommit = (await cluster.status(await cluster.leader(), c)).commitIndex
    const st = await waitFor('node 3 catches up', async () => { const s = await cluster.status(3, c); return s.appliedIndex >= leaderCommit ? s : undefined })
    assert.notEqual(st.leaderId, null)
    const kv = await c.get('life/while-down', { consistency: 'stale' })
    assert.equal(text(kv?.value), 'x')
  }

  it('a whole cluster killed with SIGKILL comes back in another order with every acknowledged write', async () => { await cluster.explain(async () => {
    const c = await cluster.client()
    const acked: string[] = []
    for (let i = 0; i < 30; i++) { await c.put(`full/${i}`, `v${i}`); acked.push(`full/${i}`) }
    for (const id of [1, 2, 3]) await cluster.kill(id)
    // Only a minority first: writes and linearizable reads fail with NO_QUORUM within the deadline, stale reads work.
    await cluster.start(2)
    const minority = await cluster.client(1500)
    const t0 = performance.now()
    await assert.rejects(minority.put('full/minority', 'no'), (err: unknown) => err instanceof ClusterError && (err.code === 'NO_QUORUM' || err.code === 'TIMEOUT'))
    assert.ok(performance.now() - t0 < 5000, 'the minority answered within the deadline')
    await assert.rejects(minority.get('full/0'), (err: unknown) => err instanceof ClusterError && (err.code === 'NO_QUORUM' || err.code === 'TIMEOUT'))
    assert.equal(text((await minority.get('full/0', { consistency: 'stale' }))?.value), 'v0')
    // A majority is back: the cluster recovers and every acknowledged write is there.
    await cluster.start(3)
    await cluster.start(1)
    const c2 = await cluster.client()
    await waitFor('writes accepted again', async () => { await c2.put('full/after', 'yes'); return true })
    for (const k of acked) assert.equal(text((await c2.get(k))?.value), `v${k.split('/')[1]}`, `${k} survived`)
  }) })

  it('a whole cluster stopped gracefully restarts and serves', async () => { await cluster.explain(async () => {
    for (const id of [3, 1, 2]) assert.equal(await cluster.stop(id), 0, `node ${id} stopped cleanly`)
    for (const id of [1, 3, 2]) await cluster.start(id)
    const c = await cluster.client()
    assert.equal(text((await c.get('full/after'))?.value), 'yes')
  }) })

  it('a corrupt data dir refuses to start, naming the entry; the rest of the cluster keeps working', async () => { await cluster.explain(async () => {
    await cluster.stop(3)
    // Flip a byte in the payload of the newest log entry, as a bad disk would (LevelDB's own checksums pass).
    const db = new ClassicLevel<Buffer, Buffer>(join(cluster.node(3).dataDir, 'raft'), { keyEncoding: 'buffer', valueEncoding: 'buffer' })
    await db.open()
    let index = 0
    for await (const [k, v] of db.iterator({ gte: logKey(1), lt: LOG_END, reverse: true, limit: 1 })) {
      index = logIndexOf(k)
      v[v.length - 1] ^= 0x01
      await db.put(k, v)
    }
    await db.close()
    assert.ok(index > 0, 'found an entry to corrupt')
    await assert.rejects(cluster.start(3), (err: Error) => err.message.includes(`index ${index}`) && /corrupt/i.test(err.message))
    const c = await cluster.client()
    await c.put('corrupt/still-works', 'ok')
    assert.equal(text((await c.get('corrupt/still-works'))?.value), 'ok')
  }) })
})
