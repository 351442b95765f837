// Raft traffic from peers that must not change anything (Raft §3.3 terms, §5.1 membership): the cookie admits a
// peer to the deployment, not to the cluster's membership. A cookie holder that is not a member, a member's own
// peer speaking with a stale term or claiming another member's id, and a peer of another cluster (its cluster id is
// derived from another cookie) must leave every node's term, leader, log, commit, applied index and state as they were.
import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { isDeepStrictEqual } from 'node:util'
import { join } from 'node:path'
import { encodeCommand } from '../../../src/api/codec.js'
import type { AspenClient } from '../../../src/client/index.js'
import { encodeSnapshotEnvelope } from '../../../src/node/snapshot-envelope.js'
import type { RunInfo } from '../../../src/node/run-info.js'
import { loadOrCreateIdentity } from '../../../src/p2p/identity.js'
import { encodeFrame } from '../../../src/p2p/frame.js'
import { encodeRaftMessages } from '../../../src/p2p/raft-codec.js'
import { RAFT_PROTOCOL } from '../../../src/p2p/raft-transport.js'
import { SnapshotTransport } from '../../../src/p2p/snapshot-transport.js'
import { CLIENT_PROTOCOL } from '../../../src/p2p/client-transport.js'
import type { Message, MessageType } from '../../../src/raft/types.js'
import { RaftStore } from '../../../src/store/index.js'
import { TestCluster, waitFor } from '../harness.js'
import { FuzzPeer, targetOf } from './fuzz-peer.js'
import { observe, type Observed } from './node-state.js'

const enc = new TextEncoder()
/** Two election timeouts of the `balanced` profile (500–1000 ms): long enough for a disturbed node to act. */
const QUIET_WINDOW_MS = 2000

function msg (type: MessageType, to: number, from: number, term: number, over: Partial<Message> = {}): Message {
  return { type, to, from, term, logTerm: 0, index: 0, entries: [], commit: 0, reject: false, rejectHint: 0, context: new Uint8Array(0), ...over }
}

/** What a hostile sender would try: win elections, force one, append and commit an entry, move the commit index. */
function attack (to: number, from: number, s: Observed, term: number): Message[] {
  const put = encodeCommand({ requestId: new Uint8Array(0), txn: { compare: [], success: [{ type: 'put', key: enc.encode('evil'), value: enc.encode('x') }], failure: [] } })
  return [
    msg('preVote', to, from, term, { logTerm: term, index: 1_000_000 }),
    msg('vote', to, from, term, { logTerm: term, index: 1_000_000 }),
    msg('app', to, from, term, { logTerm: s.term, index: s.lastIndex, commit: s.lastIndex + 1, entries: [{ term, index: s.lastIndex + 1, type: 'normal', data: put }] }),
    msg('heartbeat', to, from, term, { commit: s.lastIndex + 1 }),
    msg('timeoutNow', to, from, term),
    msg('transferLeader', to, from, term),
    msg('readIndex', to, from, term, { context: new Uint8Array([1, 2, 3]) })
  ]
}

describe('Raft traffic that must change nothing (§3.3, §5.1)', () => {
  let cluster: TestCluster
  let client: AspenClient
  let leader: number
  const peers: FuzzPeer[] = []

  async function all (ids: number[]): Promise<Map<number, Observed>> {
    return new Map(await Promise.all(ids.map(async id => [id, await observe(cluster, id, client)] as const)))
  }

  /** Waits until the live nodes agree on leader, term and applied index; returns their states. */
  async function converged (ids: number[]): Promise<Map<number, Observed>> {
    return await waitFor('the nodes to agree', async () => {
      const s = await all(ids)
      const v = [...s.values()]
      return v.every(o => o.leaderId !== null && o.leaderId === v[0].leaderId && o.term === v[0].term && o.appliedIndex === v[0].appliedIndex && o.stateHash === v[0].stateHash && o.appliedIndex === o.commitIndex && o.commitIndex === o.lastIndex) ? s : undefined
    }, 15_000, 50)
  }

  /** Asserts that every node keeps exactly `before` for the whole quiet window (it would act within it). */
  async function staysUnchanged (before: Map<number, Observed>, what: string): Promise<void> {
    const until = performance.now() + QUIET_WINDOW_MS
    do {
      for (const [id, o] of before) {
        assert.ok(cluster.node(id).proc !== undefined, `node ${id} exited (${what})`)
        assert.deepEqual(await observe(cluster, id, client), o, `node ${id} changed (${what})`)
      }
      await new Promise(resolve => setTimeout(resolve, 100))
    } while (performance.now() < until)
  }

  async function rejectedCount (id: number): Promise<number> {
    const r = await client.controlAt<{ text: string }>(targetOf(cluster.runInfo(id) as RunInfo), 'cluster.metrics', {}, { timeoutMs: 3000 })
    const m = /^aspen_raft_rejected_peer_total (\d+)/m.exec(r.text)
    return m === null ? 0 : Number(m[1])
  }

  before(async () => {
    cluster = await TestCluster.create(3, { profile: 'balanced' })
    client = await cluster.form([1, 2, 3])
    for (let i = 0; i < 10; i++) await client.put(`nm/${i}`, `v${i}`)
    leader = await cluster.leader()
  })
  after(async () => {
    for (const p of peers) await p.stop().catch(() => {})
    await cluster?.destroy()
  })

  it('a cookie holder that is not a member: votes, appends, heartbeats and TimeoutNow it sends in any name are dropped', async () => {
    await cluster.explain(async () => {
      const rogue = await FuzzPeer.create(cluster.cookie)
      peers.push(rogue)
      const before = await converged([1, 2, 3])
      const follower = [1, 2, 3].find(id => id !== leader) as number
      for (const to of [leader, follower]) {
        const s = before.get(to) as Observed
        const other = [1, 2, 3].find(id => id !== to) as number
        const msgs = [other, 99, to].flatMap(from => attack(to, from, s, s.term + 50))
        const r0 = await rejectedCount(to)
        const ex = await rogue.exchange(targetOf(cluster.runInfo(to) as RunInfo), RAFT_PROTOCOL, encodeFrame(encodeRaftMessages(msgs)), 0)
        assert.equal(ex.end, 'closed')
        // done when the node counted them all as refused, or (the failure) when its state moved
        await waitFor(`node ${to} to refuse ${msgs.length} messages`, async () =>
          await rejectedCount(to) >= r0 + msgs.length || !isDeepStrictEqual(await observe(cluster, to, client), s), 10_000, 50)
      }
      await staysUnchanged(before, 'non-member raft messages')
    })
  })

  it('a cookie holder that is not a member: a complete, valid snapshot of another store is refused', async () => {
    await cluster.explain(async () => {
      const rogue = await FuzzPeer.create(cluster.cookie)
      peers.push(rogue)
      const before = await converged([1, 2, 3])
      const dir = await mkdtemp(join(tmpdir(), 'aspen-foreign-'))
      const store = await RaftStore.open(dir, { nodeId: 99 })
      try {
        const index = (before.get(leader) as Observed).commitIndex + 10_000
        const confState = { voters: [99], learners: [], votersOutgoing: [], learnersNext: [], autoLeave: false }
        await store.bootstrap({ index, term: 1, confState }, { term: 1, vote: 0, commit: index })
        const e = { term: 1, index: index + 1, type: 'normal' as const, data: encodeCommand({ requestId: new Uint8Array(0), txn: { compare: [], success: [{ type: 'put', key: enc.encode('evil'), value: enc.encode('x') }], failure: [] } }) }
        await store.persist({ entries: [e], hardState: { term: 1, vote: 0, commit: index + 1 }, committedEntries: [e] })
        const reader = await store.openSnapshotReader()
        const meta = reader.meta
        const env = encodeSnapshotEnvelope({
          meta,
          message: msg('snap', leader, 99, 1, { snapshot: { metadata: { index: meta.index, term: meta.term, confState: meta.confState }, data: new Uint8Array(0) } }),
          bindings: [{ nodeId: 99, peerId: rogue.host.peerId.toString(), storeId: store.storeId, addrs: [] }]
        })
        const sender = new SnapshotTransport({ host: rogue.host, resolvePeer: () => targetOf(cluster.runInfo(leader) as RunInfo), authorize: () => ({ kind: 'deny' }) })
        await assert.rejects(sender.send(leader, env, reader.chunks()), /UNAUTHORIZED_PEER|refused/)
        await reader.close()
      } finally {
        await store.close()
        await rm(dir, { recursive: true, force: true })
      }
      await staysUnchanged(before, 'non-member snapshot')
    })
  })

  it('a peer of another cluster (another cookie, so another cluster id and pnet key) cannot even open a stream', async () => {
    await cluster.explain(async () => {
      const stranger = await FuzzPeer.create(cluster.cookie + '-other')
      peers.push(stranger)
      const before = await converged([1, 2, 3])
      const s = before.get(leader) as Observed
      for (const protocol of [RAFT_PROTOCOL, CLIENT_PROTOCOL]) {
        await assert.rejects(stranger.exchange(targetOf(cluster.runInfo(leader) as RunInfo), protocol, encodeFrame(encodeRaftMessages(attack(leader, 99, s, s.term + 50))), 0, 3000))
      }
      await staysUnchanged(before, 'other cluster')
    })
  })

  it("a member's own peer with a stale term, or claiming another member's id, changes nothing", async () => {
    await cluster.explain(async () => {
      // Impersonate a stopped follower with its own key: the node binds that peer to that node id.
      const victim = [1, 2, 3].find(id => id !== leader) as number
      const bystander = [1, 2, 3].find(id => id !== leader && id !== victim) as number
      await cluster.kill(victim)
      const before = await converged([leader, bystander])
      const s = before.get(leader) as Observed
      assert.ok(s.term >= 2, `term ${s.term} leaves room for a stale term`)
      const { privateKey } = await loadOrCreateIdentity(cluster.node(victim).dataDir)
      const imp = await FuzzPeer.create(cluster.cookie, privateKey)
      peers.push(imp)
      for (const to of [leader, bystander]) {
        const t = before.get(to) as Observed
        const stale = attack(to, victim, t, t.term - 1).concat([msg('appResp', to, victim, t.term - 1, { index: t.lastIndex + 100 }), msg('heartbeatResp', to, victim, t.term - 1)])
        const spoofed = attack(to, [leader, bystander].find(id => id !== to) as number, t, t.term + 50)
        const ex = await imp.exchange(targetOf(cluster.runInfo(to) as RunInfo), RAFT_PROTOCOL, encodeFrame(encodeRaftMessages([...stale, ...spoofed])), 0)
        assert.equal(ex.end, 'closed')
      }
      await staysUnchanged(before, 'stale term / spoofed id from a member peer')
    })
  })
})
