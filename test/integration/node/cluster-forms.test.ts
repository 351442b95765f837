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
})
