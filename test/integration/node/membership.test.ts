// Cluster control on real processes: safety rules refused with a typed error and accepted with force, leadership
// transfer, removal, a node that was down while the cluster compacted catching up by snapshot, and bad input
// (oversized values, a client with the wrong cookie) getting clear errors while nothing is lost.
import { after, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { TestCluster, waitFor } from '../harness.js'
import { ClusterError, connect } from '../../../src/client/index.js'

const text = (b: Uint8Array | undefined): string => Buffer.from(b ?? []).toString()
const isCode = (code: string) => (err: unknown): boolean => err instanceof ClusterError && err.code === code

describe('cluster control', () => {
  let cluster: TestCluster
  after(async () => { await cluster?.destroy() })

  it('refuses an unsafe change with the rule that blocks it, and accepts it with force', async () => {
    cluster = await TestCluster.create(4, { snapshotEvery: 50, logRetain: 10 })
    await cluster.explain(async () => {
      const c = await cluster.form([1, 2, 3])
      await cluster.start(4)
      await waitFor('node 4 added as learner', async () => await c.control('cluster.addLearner', { nodeId: 4 }).then(() => true), 20_000, 200)
      // Node 4 is stopped: promoting it is refused (not connected), and would leave 4 voters with one down.
      await cluster.stop(4)
      await waitFor('leader notices node 4 is gone', async () => {
        const st = await cluster.status(await cluster.leader(), c)
        return st.members.find(m => m.nodeId === 4)?.reachable === false
      })
      await assert.rejects(c.control('cluster.changeMembership', { voters: [1, 2, 3, 4] }), (err: unknown) =>
        isCode('UNSAFE_CHANGE')(err) && (err as Error).message.includes('LEARNER_NOT_CONNECTED'))
      const forced = await c.control<{ membership: { voters: number[] } }>('cluster.changeMembership', { voters: [1, 2, 3, 4], force: true }, { timeoutMs: 10_000 })
      assert.deepEqual(forced.membership.voters, [1, 2, 3, 4])
    })
  })

  it('a node down while the cluster compacted its log catches up by snapshot', async () => {
    await cluster.explain(async () => {
      const c = await cluster.client()
      for (let i = 0; i < 150; i++) await c.put(`snap/${i}`, `v${i}`)
      // Values near the 1 MiB limit make store snapshot chunks larger than the 1 MiB chunk target.
      const big = (i: number): Uint8Array => new Uint8Array(900 * 1024).fill(i)
      for (let i = 0; i < 3; i++) await c.put(`snap/big/${i}`, big(i))
      const leader = await cluster.leader()
      const st = await cluster.status(leader, c)
      await cluster.start(4)
      await waitFor('node 4 caught up', async () => (await cluster.status(4, c)).appliedIndex >= st.commitIndex, 30_000)
      assert.equal(text((await c.get('snap/149', { consistency: 'stale', timeoutMs: 3000 }))?.value), 'v149')
      const node4 = await cluster.clientOf(4)
      for (let i = 0; i < 3; i++) assert.deepEqual((await node4.get(`snap/big/${i}`, { consistency: 'stale', timeoutMs: 3000 }))?.value, big(i))
      const info = cluster.runInfo(leader)!
      const m = await c.controlAt<{ text: string }>({ peerId: info.peerId, addrs: info.addrs.map(a => a.replace(/\/p2p\/[^/]+$/, '')) }, 'cluster.metrics')
      assert.match(m.text, /^aspen_snapshots_sent_total [1-9]/m, 'the leader brought node 4 up to date with a snapshot')
    })
  })

  it('transfers leadership, then removes a node', async () => {
    await cluster.explain(async () => {
      const c = await cluster.client()
      const leader = await cluster.leader()
      const target = [1, 2, 3, 4].find(id => id !== leader)!
      const r = await c.control<{ leaderId: number }>('cluster.transferLeader', { nodeId: target }, { timeoutMs: 10_000 })
      assert.equal(r.leaderId, target)
      assert.equal(await cluster.leader(), target)
      const victim = [1, 2, 3, 4].find(id => id !== target)!
      const m = await c.control<{ membership: { voters: number[] } }>('cluster.remove', { nodeId: victim }, { timeoutMs: 10_000 })
      assert.ok(!m.membership.voters.includes(victim))
      await c.put('after/remove', 'ok')
      assert.equal(text((await c.get('after/remove'))?.value), 'ok')
    })
  })

  it('rejects oversized values with a typed error and changes nothing', async () => {
    const c = await cluster.client()
    await assert.rejects(c.put('big', new Uint8Array(1024 * 1024 + 1)), isCode('VALUE_TOO_LARGE'))
    await assert.rejects(c.put(new Uint8Array(1025), 'x'), isCode('KEY_TOO_LARGE'))
    assert.equal(await c.get('big'), undefined)
  })

  it('a client with the wrong cookie cannot reach the cluster', async () => {
    const info = cluster.runInfo(1)!
    await assert.rejects(connect({ bootstrap: [info.addrs[0]], cookie: 'not-the-cluster-cookie-at-all', timeoutMs: 3000 }))
  })
})
