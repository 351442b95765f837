// /aspen/raft-snapshot/1.0.0 over real libp2p on 127.0.0.1: chunked transfer with per-chunk acks and a small
// window, checksums, failures on either side, membership gating, and heartbeats that keep flowing meanwhile.
import { describe, it, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { createHash } from 'node:crypto'
import type { AspenHost } from '../../../src/p2p/host.js'
import { RaftTransport } from '../../../src/p2p/raft-transport.js'
import type { InboundVerdict } from '../../../src/p2p/raft-transport.js'
import { SnapshotTransport } from '../../../src/p2p/snapshot-transport.js'
import type { IncomingSnapshot } from '../../../src/p2p/snapshot-transport.js'
import { PeerUnknownError, SnapshotTransferError } from '../../../src/p2p/errors.js'
import { addressOf, heartbeat, stopAll, testHost, waitFor } from './helpers.js'

const COOKIE = 'snapshot-transport-test'

async function * produce (chunks: number, size: number, onChunk?: (i: number) => void): AsyncGenerator<Uint8Array> {
  for (let i = 0; i < chunks; i++) {
    onChunk?.(i)
    yield new Uint8Array(size).fill(i & 0xff)
  }
}

describe('snapshot transport', () => {
  let a: AspenHost
  let b: AspenHost
  let sa: SnapshotTransport
  let sb: SnapshotTransport
  let verdict: InboundVerdict = { kind: 'allow', nodeId: 1 }
  before(async () => {
    a = await testHost(COOKIE)
    b = await testHost(COOKIE)
    sa = new SnapshotTransport({ host: a, resolvePeer: (id) => id === 2 ? addressOf(b) : undefined, authorize: () => ({ kind: 'allow' }) })
    sb = new SnapshotTransport({ host: b, resolvePeer: () => undefined, authorize: () => verdict })
    await sa.start()
    await sb.start()
  })
  after(async () => {
    await stopAll(sa, sb)
    await stopAll(a, b)
  })

  it('streams 8 MiB in acknowledged chunks, byte-exact, while heartbeats keep flowing on the Raft stream', async () => {
    const ra = new RaftTransport({ host: a, selfId: 1, resolvePeer: () => addressOf(b), authorize: () => ({ kind: 'allow' }) })
    const rb = new RaftTransport({ host: b, selfId: 2, resolvePeer: () => addressOf(a), authorize: () => ({ kind: 'allow' }) })
    await ra.start()
    await rb.start()
    let heartbeats = 0
    rb.onMessage((m) => { heartbeats += m.length })
    let receiving = false
    let heartbeatsDuring = 0
    const want = createHash('sha256')
    for await (const c of produce(32, 256 * 1024)) want.update(c)
    let got = ''
    let meta = ''
    sb.onSnapshot(async (s: IncomingSnapshot) => {
      meta = Buffer.from(s.metadata).toString()
      assert.deepEqual(s.from, { peerId: a.peerId.toString(), nodeId: 1 })
      const h = createHash('sha256')
      receiving = true
      const startBeats = heartbeats
      for await (const c of s.chunks) {
        assert.equal(c.byteLength, 256 * 1024, 'the receiver sees exactly the chunks produced')
        h.update(c)
        await new Promise((resolve) => setTimeout(resolve, 10)) // a slow installer
      }
      heartbeatsDuring = heartbeats - startBeats
      receiving = false
      got = h.digest('hex')
    })
    const beat = setInterval(() => { ra.send(2, [heartbeat(1, 2, Date.now())]) }, 10)
    try {
      const r = await sa.send(2, Buffer.from('index=42'), produce(32, 256 * 1024))
      assert.equal(r.bytes, 8 * 1024 * 1024)
      assert.equal(r.chunks, 32, 'one frame per producer chunk')
    } finally {
      clearInterval(beat)
      await stopAll(ra, rb)
    }
    assert.equal(receiving, false)
    assert.equal(meta, 'index=42')
    assert.equal(got, want.digest('hex'))
    assert.ok(heartbeatsDuring >= 10, `only ${heartbeatsDuring} heartbeats arrived during the transfer`)
    assert.equal(sb.metrics.snapshotsReceived, 1)
  })

  it('the receiver never holds more than the window: a stalled installer stalls the sender', async () => {
    let release: () => void = () => {}
    const gate = new Promise<void>((resolve) => { release = resolve })
    let produced = 0
    sb.onSnapshot(async (s) => {
      for await (const _c of s.chunks) await gate
    })
    const before = sa.metrics.snapshotChunksOut
    const sending = sa.send(2, new Uint8Array(), produce(40, 64 * 1024, () => { produced++ }))
    await waitFor(() => sa.metrics.snapshotChunksOut - before >= 4, 5000, 'the window to fill')
    await new Promise((resolve) => setTimeout(resolve, 300))
    // at most the window (4) of unacknowledged chunks, the one the consumer holds among them
    assert.ok(sa.metrics.snapshotChunksOut - before <= 4, `${sa.metrics.snapshotChunksOut - before} chunks sent to a stalled receiver`)
    assert.ok(produced <= 7, `producer ran ahead: ${produced}`)
    release()
    const r = await sending
    assert.equal(r.chunks, 40)
  })

  it('a failing installer fails the sender with SnapshotTransferError', async () => {
    sb.onSnapshot(async (s) => {
      let n = 0
      for await (const _c of s.chunks) if (++n === 3) throw new Error('disk full')
    })
    await assert.rejects(sa.send(2, new Uint8Array([1]), produce(10, 1024)), (e: unknown) => e instanceof SnapshotTransferError && /disk full/.test(e.message))
  })

  it('an installer that returns early fails the transfer', async () => {
    sb.onSnapshot(async () => {})
    await assert.rejects(sa.send(2, new Uint8Array([1]), produce(10, 1024)), SnapshotTransferError)
  })

  it('a failing producer aborts the transfer on both sides', async () => {
    let receiverError: unknown
    sb.onSnapshot(async (s) => {
      try {
        for await (const _c of s.chunks) { /* consume */ }
      } catch (e) {
        receiverError = e
        throw e
      }
    })
    async function * broken (): AsyncGenerator<Uint8Array> {
      yield new Uint8Array(1000)
      yield new Uint8Array(1000)
      throw new Error('snapshot iterator failed')
    }
    await assert.rejects(sa.send(2, new Uint8Array([1]), broken()), SnapshotTransferError)
    await waitFor(() => receiverError !== undefined, 5000, 'receiver to see the abort')
    assert.ok(receiverError instanceof SnapshotTransferError)
  })

  it('a producer chunk over the protocol cap fails the transfer with SnapshotTransferError naming both sizes', async () => {
    sb.onSnapshot(async (s: IncomingSnapshot) => { for await (const _ of s.chunks) { /* drain */ } })
    await assert.rejects(sa.send(2, new Uint8Array([1]), produce(1, 4 * 1024 * 1024 + 1)),
      (e: unknown) => e instanceof SnapshotTransferError && /4194305 bytes exceeds the protocol cap of 4194304/.test(e.message))
  })

  it('an empty snapshot is one empty last chunk', async () => {
    let chunks = -1
    sb.onSnapshot(async (s) => {
      chunks = 0
      for await (const _c of s.chunks) chunks++
    })
    const r = await sa.send(2, new Uint8Array([7]), produce(0, 0))
    assert.deepEqual([r.chunks, r.bytes, chunks], [1, 0, 1])
  })

  it('peers that are not served are refused, unknown nodes are a PeerUnknownError', async () => {
    sb.onSnapshot(async (s) => { for await (const _c of s.chunks) { /* consume */ } })
    verdict = { kind: 'deny' }
    try {
      await assert.rejects(sa.send(2, new Uint8Array(), produce(3, 10)), (e: unknown) => e instanceof SnapshotTransferError && /refused/.test(e.message))
    } finally {
      verdict = { kind: 'allow', nodeId: 1 }
    }
    await assert.rejects(sa.send(9, new Uint8Array(), produce(1, 1)), PeerUnknownError)
  })
})
