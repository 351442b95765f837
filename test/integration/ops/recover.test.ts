// Disaster recovery after the permanent loss of a quorum, on real processes: a 5-node cluster under write load is
// SIGKILLed (the leader first, so the followers hold entries whose commit they never heard of), three data dirs
// are destroyed (the leader's and the two least up-to-date followers'), `aspen recover --inspect` on the two
// survivors shows which is best, `recover --force-new-cluster` turns it into a one-voter cluster keeping its
// whole log, and every acknowledged write is there. The other survivor is wiped, re-initialised, re-added as a
// learner and promoted, and ends with the same state.
import { after, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { rm } from 'node:fs/promises'
import { TestCluster, waitFor } from '../harness.js'
import type { AspenClient } from '../../../src/client/index.js'

interface Inspect { nodeId: number, lastTerm: number, lastIndex: number, commitIndex: number, membership: { voters: number[] } | null, chainOk: boolean }

const text = (b: Uint8Array | undefined): string => Buffer.from(b ?? []).toString()
const newer = (a: Inspect, b: Inspect): boolean => a.lastTerm > b.lastTerm || (a.lastTerm === b.lastTerm && a.lastIndex > b.lastIndex)

describe('disaster recovery (force new cluster)', () => {
  let cluster: TestCluster
  after(async () => { await cluster?.destroy() })

  it('the best survivor of a 5-node cluster that lost 3 nodes keeps every acknowledged write', async (t) => {
    cluster = await TestCluster.create(5)
    await cluster.explain(async () => {
      await cluster.form()
      const acked = new Map<string, string>()
      let stop = false
      const writer = async (w: number, c: AspenClient): Promise<void> => {
        for (let i = 0; !stop; i++) {
          const k = `load/${w}/${i}`
          try {
            await c.put(k, `v${i}`, { timeoutMs: 2000 })
            acked.set(k, `v${i}`)
          } catch { /* outcome unknown: not checked */ }
        }
      }
      const clients = await Promise.all([0, 1, 2, 3].map(async () => await cluster.client(2000)))
      const writers = clients.map(async (c, w) => await writer(w, c))
      await waitFor('writes flowing', () => acked.size >= 150, 60_000)
      const leader = await cluster.leader()
      // The leader dies first, in the middle of the load: followers keep entries whose commit they never learnt.
      await cluster.kill(leader)
      await Promise.all([1, 2, 3, 4, 5].filter(id => id !== leader).map(async id => { await cluster.kill(id) }))
      stop = true
      await Promise.all(writers)

      const inspect = async (id: number): Promise<Inspect> => {
        const r = await cluster.cli(['recover', '--inspect', '--data-dir', cluster.node(id).dataDir, '--json'])
        assert.equal(r.code, 0, r.stderr)
        return JSON.parse(r.stdout) as Inspect
      }
      // The test destroys the leader and the two least up-to-date followers (it inspects them to know which).
      const followers = await Promise.all([1, 2, 3, 4, 5].filter(id => id !== leader).map(inspect))
      followers.sort((a, b) => newer(a, b) ? -1 : newer(b, a) ? 1 : 0)
      const destroyed = [leader, followers[2].nodeId, followers[3].nodeId]
      for (const id of destroyed) await rm(cluster.node(id).dataDir, { recursive: true, force: true })
      const survivors = [followers[0].nodeId, followers[1].nodeId]

      // What the operator does: inspect each survivor, pick the highest (last term, last index).
      const seen = await Promise.all(survivors.map(inspect))
      for (const s of seen) {
        assert.ok(s.chainOk)
        assert.deepEqual([...(s.membership?.voters ?? [])].sort(), [1, 2, 3, 4, 5])
      }
      const best = newer(seen[1], seen[0]) ? seen[1] : seen[0]
      const other = best === seen[0] ? seen[1] : seen[0]
      t.diagnostic(`survivor ${best.nodeId}: last ${best.lastTerm}/${best.lastIndex}, commit ${best.commitIndex} (${best.lastIndex - best.commitIndex} entries beyond commit); other ${other.nodeId}: ${other.lastTerm}/${other.lastIndex}`)

      const refused = await cluster.cli(['recover', '--data-dir', cluster.node(best.nodeId).dataDir])
      assert.equal(refused.code, 2, 'recover without --force-new-cluster is refused')
      assert.match(refused.stderr, /--force-new-cluster/)
      const rec = await cluster.cli(['recover', '--force-new-cluster', '--data-dir', cluster.node(best.nodeId).dataDir, '--json'])
      assert.equal(rec.code, 0, rec.stderr)
      const out = JSON.parse(rec.stdout) as { membership: { voters: number[] }, lastIndex: number, oldCommit: number, entriesKept: number, removed: number[] }
      assert.deepEqual(out.membership.voters, [best.nodeId])
      assert.equal(out.lastIndex, best.lastIndex)
      assert.equal(out.entriesKept, best.lastIndex - best.commitIndex)
      assert.deepEqual(out.removed, [1, 2, 3, 4, 5].filter(id => id !== best.nodeId))

      await cluster.start(best.nodeId)
      const c = await cluster.client(10_000)
      const st = await waitFor('the survivor leads alone', async () => {
        const s = await cluster.status(best.nodeId, c)
        return s.leaderId === best.nodeId && s.appliedIndex > best.lastIndex ? s : undefined
      }, 30_000)
      assert.deepEqual(st.membership.voters, [best.nodeId])
      // Its whole log was kept and applied: every acknowledged write is there.
      let missing = 0
      for (const [k, v] of acked) if (text((await c.get(k, { consistency: 'stale' }))?.value) !== v) missing++
      assert.equal(missing, 0, `${missing} of ${acked.size} acknowledged writes are missing`)
      await c.put('after-recovery', 'ok')

      // The other survivor: wiped, initialised again, re-added as a learner and promoted.
      await rm(cluster.node(other.nodeId).dataDir, { recursive: true, force: true })
      await cluster.addNode(other.nodeId)
      await cluster.start(other.nodeId)
      await waitFor(`node ${other.nodeId} added as learner`, async () => await c.control('cluster.addLearner', { nodeId: other.nodeId }, { timeoutMs: 5000 }).then(() => true), 30_000, 250)
      await waitFor(`node ${other.nodeId} promoted`, async () => await c.control('cluster.changeMembership', { voters: [best.nodeId, other.nodeId] }, { timeoutMs: 5000 }).then(() => true), 30_000, 250)
      await waitFor('both replicas hold the same state', async () => {
        const [a, b] = await Promise.all([best.nodeId, other.nodeId].map(async id => await cluster.status(id, c)))
        return a.stateHash.index === b.stateHash.index && a.stateHash.hash === b.stateHash.hash && b.votingRights
      }, 30_000)
      assert.equal(text((await c.get('after-recovery'))?.value), 'ok')
    })
  })
})
