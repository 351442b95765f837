// Identity is the peer id, not the address: a 3-node cluster is stopped and every node comes back on another
// loopback IP and another port (as containers do after `docker compose down && up`). Node 1 gets no bootstrap
// address at all, nodes 2 and 3 only node 1's new one; the registry, cookie discovery and dialing by peer id let
// them find each other again. The cluster elects a leader, every acknowledged write is there, and no node left
// the membership by being stopped or restarted.
import { after, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { TestCluster, waitFor } from '../harness.js'

const text = (b: Uint8Array | undefined): string => Buffer.from(b ?? []).toString()

describe('restart when every address changed', () => {
  let cluster: TestCluster
  after(async () => { await cluster?.destroy() })

  it('a stopped 3-node cluster restarted on new IPs and ports re-forms with every acknowledged write', async () => {
    cluster = await TestCluster.create(3)
    await cluster.explain(async () => {
      const c = await cluster.form()
      const acked = new Map<string, string>()
      for (let i = 0; i < 60; i++) {
        await c.put(`addr/${i}`, `v${i}`)
        acked.set(`addr/${i}`, `v${i}`)
      }
      const oldAddrs = new Map([1, 2, 3].map(id => [id, cluster.runInfo(id)?.addrs ?? []]))
      for (const id of [3, 2, 1]) assert.equal(await cluster.stop(id), 0, `node ${id} stops cleanly`)

      // New IP and new port for everyone; one bootstrap address in all (node 1's new one).
      await cluster.start(1, ['--listen', '/ip4/127.0.0.2/tcp/0'], { bootstrap: [] })
      const boot = (cluster.runInfo(1)?.addrs ?? []).filter(a => a.includes('/ip4/127.0.0.2/tcp/')).slice(0, 1)
      assert.equal(boot.length, 1, 'node 1 listens on 127.0.0.2')
      await cluster.start(2, ['--listen', '/ip4/127.0.0.3/tcp/0'], { bootstrap: boot })
      await cluster.start(3, ['--listen', '/ip4/127.0.0.4/tcp/0'], { bootstrap: boot })
      for (const [id, ip] of [[1, '127.0.0.2'], [2, '127.0.0.3'], [3, '127.0.0.4']] as const) {
        const addrs = cluster.runInfo(id)?.addrs ?? []
        assert.ok(addrs.every(a => a.includes(`/ip4/${ip}/`)), `node ${id} listens only on ${ip}: ${addrs.join(' ')}`)
        assert.ok(addrs.every(a => !(oldAddrs.get(id) ?? []).includes(a)), `node ${id} has new addresses`)
      }

      const leader = await cluster.leader(60_000)
      const d = await cluster.client(10_000)
      for (const [k, v] of acked) assert.equal(text((await d.get(k))?.value), v, `acknowledged write ${k} is missing`)
      await d.put('addr/after-restart', 'ok')
      // Every node is still a voter (stopping or restarting removes nobody), and every node reaches every other.
      for (const id of [1, 2, 3]) {
        const st = await waitFor(`node ${id} sees all three voters reachable`, async () => {
          const s = await cluster.status(id, d)
          return s.membership.voters.length === 3 && s.appliedIndex >= 1 ? s : undefined
        }, 30_000)
        assert.deepEqual([...st.membership.voters].sort(), [1, 2, 3])
      }
      await waitFor('the leader reaches both followers', async () => {
        const s = await cluster.status(leader, d)
        return s.members.every(m => m.reachable)
      }, 30_000)
      // Followers talk to each other too: hand leadership away from node 1 and write again.
      const next = leader === 2 ? 3 : 2
      await d.control('cluster.transferLeader', { nodeId: next }, { timeoutMs: 10_000 })
      await d.put('addr/after-transfer', 'ok')
      assert.equal(text((await d.get('addr/after-transfer'))?.value), 'ok')
    })
  })
})
