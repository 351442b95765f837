// Process-level crash recovery on real nodes (SIGKILL: no shutdown code runs). The leader-crash scenario is in
// kill-under-load.test.ts; these are the others: a crash while transaction batches are being written, a crash of
// every node right after a commit was acknowledged, and twenty kill/restart cycles of one node under load.
// Every acknowledged write must be readable afterwards and the replicas must converge to the same state.
import { after, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { TestCluster, waitFor } from '../harness.js'
import { ops, type Txn } from '../../../src/api/kv.js'
import type { AspenClient } from '../../../src/client/index.js'
import { formPatiently, startPatiently } from '../../chaos/slow-start.js'

const enc = new TextEncoder()
const text = (b: Uint8Array | undefined): string => Buffer.from(b ?? []).toString()

/** Keys written by one transaction of the batch scenario. */
const TXN_KEYS = 64

function batchTxn (w: number, i: number): Txn {
  const success = []
  for (let j = 0; j < TXN_KEYS; j++) success.push(...ops.put(enc.encode(`tx/${w}/${i}/${String(j).padStart(2, '0')}`), enc.encode(`v${i}.${j}`)).success)
  return { compare: [], success, failure: [] }
}

/** A read retried through elections (a loaded machine may hold one right when the test checks). */
async function settled<T> (what: string, read: () => Promise<T>): Promise<T> {
  return await waitFor(what, async () => await read().then(v => ({ v })), 60_000, 200).then(r => r.v)
}

async function converged (cluster: TestCluster, c: AspenClient, ids: number[]): Promise<void> {
  await waitFor('replicas converge to one state hash at one applied index', async () => {
    const st = await Promise.all(ids.map(async id => await cluster.status(id, c)))
    return st.every(s => s.stateHash.index === st[0].stateHash.index && s.stateHash.hash === st[0].stateHash.hash)
  }, 60_000, 200)
}

describe('crash recovery of real nodes', () => {
  let cluster: TestCluster
  after(async () => { await cluster?.destroy() })

  it('SIGKILL of the leader while transaction batches are written: acknowledged ones are whole, none is half applied', { timeout: 300_000 }, async () => {
    cluster = await TestCluster.create(3)
    await cluster.explain(async () => {
      await formPatiently(cluster)
      const acked: Array<[number, number]> = []
      const tried: Array<[number, number]> = []
      let stop = false
      const clients = await Promise.all([0, 1, 2].map(async () => await cluster.client(3000)))
      const writers = clients.map(async (c, w) => {
        for (let i = 0; !stop; i++) {
          tried.push([w, i])
          try {
            await c.txn(batchTxn(w, i), { timeoutMs: 3000 })
            acked.push([w, i])
          } catch { /* unknown outcome: checked for atomicity only */ }
        }
      })
      for (let round = 0; round < 2; round++) {
        const before = acked.length
        await waitFor('batches flowing', () => acked.length >= before + 5, 60_000)
        const leader = await cluster.leader(30_000)
        await cluster.kill(leader)
        await waitFor('a new leader', async () => { const l = await cluster.leader(); return l !== leader ? l : undefined }, 30_000)
        await startPatiently(cluster, leader)
      }
      stop = true
      await Promise.all(writers)
      assert.ok(acked.length >= 10, `only ${acked.length} of ${tried.length} batches acknowledged`)
      const c = await cluster.client(10_000)
      await converged(cluster, c, [1, 2, 3])
      const ackedSet = new Set(acked.map(([w, i]) => `${w}/${i}`))
      for (const [w, i] of tried) {
        const r = await settled(`batch ${w}/${i}`, async () => await c.scan(`tx/${w}/${i}/`, { limit: TXN_KEYS + 1, timeoutMs: 5000 }))
        const n = r.kvs.length
        if (ackedSet.has(`${w}/${i}`)) assert.equal(n, TXN_KEYS, `acknowledged batch ${w}/${i} has ${n} of ${TXN_KEYS} keys`)
        else assert.ok(n === 0 || n === TXN_KEYS, `batch ${w}/${i} is half applied: ${n} of ${TXN_KEYS} keys`)
        if (n > 0) assert.equal(text(r.kvs[TXN_KEYS - 1].value), `v${i}.${TXN_KEYS - 1}`)
      }
    })
  })

  it('SIGKILL of every node right after a commit was acknowledged: the write survives', { timeout: 300_000 }, async () => {
    await cluster.explain(async () => {
      for (let round = 0; round < 2; round++) {
        await cluster.leader(30_000)
        const c = await cluster.client(5000)
        const key = `commit/${round}`
        await waitFor(`${key} acknowledged`, async () => await c.put(key, `v${round}`, { timeoutMs: 3000 }).then(() => true), 30_000, 100)
        // No pause between the acknowledgement and the kill: only what was fsynced before the ack survives.
        await Promise.all([1, 2, 3].map(async id => { await cluster.kill(id) }))
        for (const id of [1, 2, 3]) await startPatiently(cluster, id)
        await cluster.leader(30_000)
        const c2 = await cluster.client(5000)
        const got = await waitFor(`${key} readable`, async () => await c2.get(key, { timeoutMs: 3000 }), 30_000, 100)
        assert.equal(text(got?.value), `v${round}`)
      }
    })
  })

  it('twenty SIGKILL/restart cycles of the same node under load lose no acknowledged write', { timeout: 600_000 }, async () => {
    await cluster.explain(async () => {
      await cluster.leader(30_000)
      const acked = new Map<string, string>()
      let stop = false
      const clients = await Promise.all([0, 1, 2].map(async () => await cluster.client(3000)))
      const writers = clients.map(async (c, w) => {
        for (let i = 0; !stop; i++) {
          const k = `cycle/${w}/${i}`
          try {
            await c.put(k, `v${i}`, { timeoutMs: 3000 })
            acked.set(k, `v${i}`)
          } catch { /* unknown outcome: not checked */ }
        }
      })
      const victim = 3
      for (let cycle = 0; cycle < 20; cycle++) {
        const before = acked.size
        await waitFor(`writes flowing before kill ${cycle + 1}`, () => acked.size >= before + 3, 60_000)
        await cluster.kill(victim)
        await startPatiently(cluster, victim)
      }
      stop = true
      await Promise.all(writers)
      const c = await cluster.client(10_000)
      await converged(cluster, c, [1, 2, 3])
      for (const [k, v] of acked) assert.equal(text((await settled(k, async () => await c.get(k, { timeoutMs: 5000 })))?.value), v, `acknowledged write ${k} is missing`)
      assert.ok(acked.size >= 60, `only ${acked.size} writes acknowledged`)
    })
  })
})
