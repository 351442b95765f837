// SIGKILL of the leader (several times) while clients write concurrently: every write the cluster acknowledged
// is readable afterwards, and the replicas converge to the same state hash at the same applied index.
import { after, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { TestCluster, waitFor } from '../harness.js'
import type { AspenClient } from '../../../src/client/index.js'

const text = (b: Uint8Array | undefined): string => Buffer.from(b ?? []).toString()

describe('crash of the leader under load', () => {
  let cluster: TestCluster
  after(async () => { await cluster?.destroy() })

  it('loses no acknowledged write across three leader kills', async () => {
    cluster = await TestCluster.create(3)
    await cluster.explain(async () => {
      await cluster.form()
      const acked = new Map<string, string>()
      let stop = false
      let attempted = 0
      const writer = async (w: number, c: AspenClient): Promise<void> => {
        for (let i = 0; !stop; i++) {
          const k = `load/${w}/${i}`
          attempted++
          try {
            await c.put(k, `v${i}`, { timeoutMs: 2000 })
            acked.set(k, `v${i}`)
          } catch {
            // unknown outcome: not acknowledged, not checked
          }
        }
      }
      const clients = await Promise.all([0, 1, 2, 3].map(async () => await cluster.client(2000)))
      const writers = clients.map(async (c, w) => await writer(w, c))
      for (let round = 0; round < 3; round++) {
        const before = acked.size
        await waitFor('writes flowing', () => acked.size >= before + 20, 30_000)
        const leader = await cluster.leader()
        await cluster.kill(leader)
        await waitFor('a new leader', async () => { const l = await cluster.leader(); return l !== leader ? l : undefined }, 30_000)
        await cluster.start(leader)
      }
      stop = true
      await Promise.all(writers)
      assert.ok(acked.size >= 60, `only ${acked.size} of ${attempted} writes were acknowledged`)
      await cluster.leader()
      const c = await cluster.client()
      for (const [k, v] of acked) assert.equal(text((await c.get(k))?.value), v, `acknowledged write ${k} is missing`)
      // Replicas converge to the same state at the same applied index.
      await waitFor('replicas converge', async () => {
        const st = await Promise.all([1, 2, 3].map(async id => await cluster.status(id, c)))
        return st.every(s => s.stateHash.index === st[0].stateHash.index && s.stateHash.hash === st[0].stateHash.hash)
      }, 30_000)
    })
  })
})
