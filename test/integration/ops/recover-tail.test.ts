// --force-new-cluster keeps the whole log tail, deterministically: a data dir is built whose log runs five entries
// past its commit index (one of them a pending conf change adding a learner). etcd's --force-new-cluster would
// drop those five; after our recovery the node, started as a real process, has applied all of them, the pending
// learner is removed with the lost voters, and the node leads alone.
import { after, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { encodeCommand } from '../../../src/api/codec.js'
import { ops } from '../../../src/api/kv.js'
import { bootstrapState, encodeConfChange } from '../../../src/raft/index.js'
import type { Entry } from '../../../src/raft/types.js'
import { RaftStore } from '../../../src/store/index.js'
import { loadConfig } from '../../../src/node/config.js'
import { encodeContext } from '../../../src/node/members.js'
import { forceNewCluster, inspectDataDir } from '../../../src/node/recover.js'
import { TestCluster, waitFor } from '../harness.js'

const enc = new TextEncoder()
const text = (b: Uint8Array | undefined): string => Buffer.from(b ?? []).toString()

function put (index: number): Entry {
  return { index, term: 2, type: 'normal', data: encodeCommand({ requestId: randomBytes(16), txn: ops.put(enc.encode(`tail/${index}`), enc.encode(`v${index}`)) }) }
}

describe('force-new-cluster keeps the log tail', () => {
  let cluster: TestCluster
  after(async () => { await cluster?.destroy() })

  it('entries beyond the commit index become committed and applied in the new one-voter cluster', async () => {
    cluster = await TestCluster.create(1)
    const dir = cluster.node(1).dataDir
    // A member of voters {1,2,3}: entries 2..11 in term 2, commit 6 (applied), a learner addition pending at 8.
    const store = await RaftStore.open(dir, { nodeId: 1 })
    const { snapshot, hardState } = bootstrapState([1, 2, 3])
    await store.bootstrap(snapshot.metadata, hardState)
    const entries: Entry[] = []
    for (let i = 2; i <= 11; i++) {
      if (i === 8) {
        const context = encodeContext({ v: 1, at: Date.now(), voterChange: false, bindings: [{ nodeId: 4, peerId: '12D3KooWPending', storeId: 'pending-store', addrs: [] }], released: [], forced: [] })
        entries.push({ index: i, term: 2, type: 'confChange', data: encodeConfChange({ transition: 'auto', changes: [{ type: 'addLearner', nodeId: 4 }], context }) })
      } else {
        entries.push(put(i))
      }
    }
    await store.persist({ entries, hardState: { term: 2, vote: 2, commit: 6 }, committedEntries: entries.slice(0, 5) })
    await store.close()

    const before = await inspectDataDir(dir, null)
    assert.deepEqual({ lastTerm: before.lastTerm, lastIndex: before.lastIndex, commit: before.commitIndex, applied: before.appliedIndex }, { lastTerm: 2, lastIndex: 11, commit: 6, applied: 6 })
    assert.deepEqual(before.membership?.voters, [1, 2, 3])
    assert.deepEqual(before.membershipAtLastIndex?.learners, [4])

    const r = await forceNewCluster(loadConfig(dir, {}, {}))
    assert.deepEqual(r.membership.voters, [1])
    assert.deepEqual(r.removed, [2, 3, 4])
    assert.equal(r.entriesKept, 5)
    const after = await inspectDataDir(dir, null)
    assert.equal(after.commitIndex, after.lastIndex, 'everything the node holds is committed')
    assert.equal(after.lastIndex, 11 + 3)
    assert.deepEqual(after.membershipAtLastIndex, { voters: [1], learners: [], votersOutgoing: [] })

    await cluster.explain(async () => {
      await cluster.start(1)
      const c = await cluster.client(10_000)
      const st = await waitFor('node 1 leads alone with the whole tail applied', async () => {
        const s = await cluster.status(1, c)
        return s.leaderId === 1 && s.appliedIndex > 14 ? s : undefined
      }, 30_000)
      assert.deepEqual(st.membership, { voters: [1], learners: [], votersOutgoing: [] })
      for (let i = 2; i <= 11; i++) if (i !== 8) assert.equal(text((await c.get(`tail/${i}`))?.value), `v${i}`, `entry ${i} was kept`)
      await c.put('tail/new', 'ok')
    })
  })
})
