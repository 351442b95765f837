// A 3-node cluster of real processes forms from one init + two learners promoted, and replicates writes.
import { after, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { TestCluster, waitFor } from '../harness.js'

describe('cluster formation', () => {
  let cluster: TestCluster
  after(async () => { await cluster?.destroy() })

  it('init, add two learners, promote them, and every node applies the same writes', async () => {
    cluster = await TestCluster.create(3)
    const c = await cluster.form()
    for (let i = 0; i < 50; i++) await c.put(`k${i}`, `v${i}`)
    const kv = await c.get('k49')
    assert.equal(Buffer.from(kv?.value ?? []).toString(), 'v49')
    const st = await cluster.status(1, c)
    assert.deepEqual(st.membership.voters.sort(), [1, 2, 3])
    await waitFor('all nodes apply the last write', async () => {
      const s = await Promise.all([1, 2, 3].map(async id => await cluster.status(id, c)))
      return s.every(x => x.appliedIndex >= kv!.modRevision)
    })
    const stale = await c.get('k10', { consistency: 'stale' })
    assert.equal(Buffer.from(stale?.value ?? []).toString(), 'v10')
  })

  it('lease reads are answered by the leader from its lease, without a ReadIndex round', async () => {
    const c = await cluster.client()
    await c.put('lease/k', 'v1')
    const leaseReads = async (): Promise<{ lease: number, readIndex: number }> => {
      let lease = 0
      let readIndex = 0
      for (const id of [1, 2, 3]) {
        const body = (await fetch(`http://${cluster.runInfo(id)?.http}/metrics`).then(async r => await r.text()))
        lease += Number(/^aspen_reads_total\{path="lease"\} (\d+)/m.exec(body)?.[1] ?? 0)
        readIndex += Number(/^aspen_reads_total\{path="readIndex"\} (\d+)/m.exec(body)?.[1] ?? 0)
      }
      return { lease, readIndex }
    }
    const before = await leaseReads()
    for (let i = 0; i < 20; i++) assert.equal(Buffer.from((await c.get('lease/k', { consistency: 'lease' }))?.value ?? []).toString(), 'v1')
    await c.put('lease/k', 'v2')
    assert.equal(Buffer.from((await c.get('lease/k', { consistency: 'lease' }))?.value ?? []).toString(), 'v2', 'a lease read sees an acknowledged write')
    const after = await leaseReads()
    // A lease can lapse between heartbeat rounds under load; such a read falls back to ReadIndex and is still correct.
    assert.ok(after.lease - before.lease >= 1, `lease reads were served from the lease (${JSON.stringify({ before, after })})`)
    assert.equal((after.lease - before.lease) + (after.readIndex - before.readIndex), 21, 'every lease read is counted once')
  })

  it('serves /healthz, /readyz, /status and /metrics over HTTP, with no secret in them', async () => {
    const http = cluster.runInfo(2)?.http
    assert.ok(http !== undefined, 'node 2 reports its http address')
    const get = async (path: string): Promise<{ status: number, body: string }> => {
      const r = await fetch(`http://${http}${path}`)
      return { status: r.status, body: await r.text() }
    }
    assert.equal((await get('/healthz')).status, 200)
    assert.equal((await waitFor('ready', async () => { const r = await get('/readyz'); return r.status === 200 ? r : undefined })).body, 'ready\n')
    const status = JSON.parse((await get('/status')).body) as { nodeId: number, leaderId: number | null, membership: { voters: number[] } }
    assert.equal(status.nodeId, 2)
    assert.notEqual(status.leaderId, null)
    assert.deepEqual(status.membership.voters.sort(), [1, 2, 3])
    const metrics = (await get('/metrics')).body
    assert.match(metrics, /^aspen_raft_term \d+/m)
    assert.match(metrics, /^aspen_raft_applied_index \d+/m)
    for (const body of [metrics, JSON.stringify(status)]) assert.ok(!body.includes(cluster.cookie), 'the cookie never appears')
    assert.equal((await get('/nope')).status, 404)
  })
})
