// A node whose data dir was wiped (same node id and key, new store UUID) must not vote until it is re-added:
// it could otherwise vote twice in one term. It stays out (an empty store never grants votes, and the leader's
// heartbeats name a commit beyond its empty log, which it reports as a lost log); `remove` + `add-learner` +
// promote brings it back.
import { after, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { rm } from 'node:fs/promises'
import { join } from 'node:path'
import { TestCluster, waitFor } from '../harness.js'

describe('wiped data dir', () => {
  let cluster: TestCluster
  after(async () => { await cluster?.destroy() })

  it('a node restarted with a wiped data dir is brought back by remove + add-learner + promote', async () => {
    cluster = await TestCluster.create(3)
    await cluster.explain(async () => {
      const c = await cluster.form()
      for (let i = 0; i < 10; i++) await c.put(`w/${i}`, `v${i}`)
      await cluster.kill(3)
      const dir = cluster.node(3).dataDir
      await rm(join(dir, 'raft'), { recursive: true, force: true })
      await rm(join(dir, 'meta'), { recursive: true, force: true })
      await cluster.start(3)
      // The cluster keeps working with the wiped node up; it holds nothing and so votes for no one.
      await c.put('w/after-wipe', 'ok')
      assert.equal((await cluster.status(3, c)).appliedIndex, 0)
      // The leader's heartbeats name a commit beyond its empty log: it knows its data was lost and says so.
      const lost = await waitFor('node 3 reports its lost log', async () => { const s = await cluster.status(3, c); return s.lostLog ? s : undefined }, 20_000)
      assert.equal(lost.votingRights, false)
      // Re-adding it with its new data dir restores its rights.
      await c.control('cluster.remove', { nodeId: 3, force: true }, { timeoutMs: 10_000 })
      await waitFor('node 3 re-added as learner', async () => await c.control('cluster.addLearner', { nodeId: 3 }, { timeoutMs: 5000 }).then(() => true), 30_000, 250)
      await waitFor('node 3 promoted', async () => await c.control('cluster.changeMembership', { voters: [1, 2, 3] }, { timeoutMs: 5000 }).then(() => true), 30_000, 250)
      const leaderCommit = (await cluster.status(await cluster.leader(), c)).commitIndex
      const st = await waitFor('node 3 caught up as a voter', async () => { const s = await cluster.status(3, c); return s.votingRights && !s.lostLog && s.appliedIndex >= leaderCommit ? s : undefined }, 30_000)
      assert.deepEqual(st.membership.voters.sort(), [1, 2, 3])
      assert.equal(Buffer.from((await c.get('w/after-wipe', { consistency: 'stale' }))?.value ?? []).toString(), 'ok')
    })
  })
})
