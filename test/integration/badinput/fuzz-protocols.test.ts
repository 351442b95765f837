// Bad input against a RUNNING node (a real `aspen` process, real libp2p over TCP): a peer holding the cookie sends
// random bytes, well-framed random payloads and mutated valid frames on the client, Raft and snapshot protocols.
// The node must never crash, must answer with typed errors or close the stream (never hang it), must not change
// its replicated state (term, leader, log, commit, applied index, state hash), and must keep serving afterwards.
import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import fc from 'fast-check'
import type { AspenClient } from '../../../src/client/index.js'
import { CLIENT_PROTOCOL } from '../../../src/p2p/client-transport.js'
import { RAFT_PROTOCOL } from '../../../src/p2p/raft-transport.js'
import { SNAPSHOT_PROTOCOL } from '../../../src/p2p/snapshot-transport.js'
import type { PeerAddress } from '../../../src/p2p/dial.js'
import { ClientResponseFrame } from '../../../src/p2p/wire/client.js'
import { SnapshotAck, SnapshotAckStatus } from '../../../src/p2p/wire/snapshot.js'
import type { RunInfo } from '../../../src/node/run-info.js'
import { TestCluster } from '../harness.js'
import { clientStreamArb, planClient, raftStreamArb, READ_ONLY_METHODS, snapshotStreamArb, splitFrames } from './frames.js'
import { FuzzPeer, targetOf } from './fuzz-peer.js'
import { assertUnchanged, observe, type Observed } from './node-state.js'

const RUNS = { client: 120, raft: 120, snapshot: 80 }
const seed = Number(process.env.ASPEN_FUZZ_SEED ?? Math.floor(Math.random() * 2 ** 31))
const TYPED_CODE = /^[A-Z][A-Z0-9_]*$/

describe('bad input: fuzzing the protocols of a running node', () => {
  let cluster: TestCluster
  let client: AspenClient
  let peer: FuzzPeer
  let target: PeerAddress
  let base: Observed

  before(async () => {
    console.log(`# fuzz seed=${seed} (repeat with ASPEN_FUZZ_SEED=${seed})`)
    cluster = await TestCluster.create(1, { profile: 'fast' })
    client = await cluster.form([1])
    for (let i = 0; i < 20; i++) await client.put(`fuzz/${i}`, `value-${i}`)
    target = targetOf(cluster.runInfo(1) as RunInfo)
    peer = await FuzzPeer.create(cluster.cookie)
    base = await observe(cluster, 1, client)
    assert.equal(base.leaderId, 1)
  })
  after(async () => {
    await peer?.stop()
    await cluster?.destroy()
  })

  it('client protocol: every answer is a typed error or a read result, or the stream is closed; state unchanged', async () => {
    await cluster.explain(async () => {
      let sent = 0
      let answered = 0
      let closedEarly = 0
      await fc.assert(fc.asyncProperty(clientStreamArb, async (bytes) => {
        const plan = planClient(bytes)
        fc.pre(!plan.unsafe) // a decodable write would legitimately change the state we compare
        sent++
        const ex = await peer.exchange(target, CLIENT_PROTOCOL, bytes, plan.requests.length)
        assert.notEqual(ex.end, 'hung', 'the node neither answered nor closed the stream')
        assert.equal(ex.badFraming, undefined)
        const ids = new Set(plan.requests.map(r => r.requestId))
        for (const payload of ex.frames) {
          const r = ClientResponseFrame.decode(payload)
          assert.ok(ids.has(r.requestId), `answer to a request id we did not send (${r.requestId})`)
          const method = plan.requests.find(q => q.requestId === r.requestId)?.method as string
          if (r.errorCode === '') assert.ok(READ_ONLY_METHODS.has(method), `${method} succeeded`)
          else {
            assert.match(r.errorCode, TYPED_CODE)
            assert.notEqual(r.errorCode, 'INTERNAL', `untyped failure for ${method}: ${r.errorMessage}`)
          }
        }
        if (plan.clean) assert.equal(ex.frames.length, plan.requests.length, 'a well-formed request went unanswered')
        else closedEarly++
        answered += ex.frames.length
        await assertUnchanged(cluster, 1, client, base, 'client fuzz')
      }), { numRuns: RUNS.client, seed })
      console.log(`# client fuzz: streams=${sent} answers=${answered} malformed=${closedEarly}`)
    })
  })

  it('raft protocol: random and mutated frames from a peer that is not a member change nothing', async () => {
    await cluster.explain(async () => {
      await fc.assert(fc.asyncProperty(raftStreamArb(1, [1, 2, 3, 99], base.term), async (bytes) => {
        const ex = await peer.exchange(target, RAFT_PROTOCOL, bytes, 0)
        assert.notEqual(ex.end, 'hung', 'the node did not close the stream')
        assert.equal(ex.frames.length, 0, 'the node answers Raft on its own streams, not on ours')
        await assertUnchanged(cluster, 1, client, base, 'raft fuzz')
      }), { numRuns: RUNS.raft, seed })
    })
  })

  it('snapshot protocol: offers and chunks from a peer that is not a member are refused; state unchanged', async () => {
    await cluster.explain(async () => {
      await fc.assert(fc.asyncProperty(snapshotStreamArb(2, 1, base.term), async (bytes) => {
        const expect = splitFrames(bytes).payloads.length > 0 ? 1 : 0
        const t0 = performance.now()
        const ex = await peer.exchange(target, SNAPSHOT_PROTOCOL, bytes, expect)
        if (process.env.FUZZ_DEBUG !== undefined) console.log(`# snap ${Math.round(performance.now() - t0)}ms frames=${ex.frames.length} end=${ex.end} expect=${expect} ${Buffer.from(bytes.subarray(0, 40)).toString('hex')}`)
        assert.notEqual(ex.end, 'hung', 'the node did not close the stream')
        for (const payload of ex.frames) {
          const a = SnapshotAck.decode(payload)
          assert.ok(a.status === SnapshotAckStatus.ACK_REJECTED || a.status === SnapshotAckStatus.ACK_ERROR, `unexpected ack ${a.status}`)
        }
        await assertUnchanged(cluster, 1, client, base, 'snapshot fuzz')
      }), { numRuns: RUNS.snapshot, seed })
    })
  })

  it('the node keeps serving after the fuzzing: writes and linearizable reads work', async () => {
    await cluster.explain(async () => {
      assert.ok(cluster.node(1).proc !== undefined, 'node 1 is still running')
      await client.put('fuzz/after', 'ok')
      const kv = await client.get('fuzz/after')
      assert.equal(new TextDecoder().decode(kv?.value), 'ok')
      const now = await observe(cluster, 1, client)
      assert.equal(now.term, base.term)
      assert.equal(now.leaderId, 1)
      assert.ok(now.appliedIndex > base.appliedIndex)
    })
  })
})
