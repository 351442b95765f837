// /aspen/raft/1.0.0 over real libp2p (TCP, pnet, noise, yamux) on 127.0.0.1: delivery in order under load,
// per-tick coalescing, 4 MiB append cap, drop-oldest back-pressure, membership gating, "removed" notices,
// bad frames, the fault hook and reconnection.
import { describe, it, before, after } from 'node:test'
import assert from 'node:assert/strict'
import type { Message, NodeId } from '../../../src/raft/types.js'
import type { AspenHost } from '../../../src/p2p/host.js'
import { RAFT_PROTOCOL, RaftTransport } from '../../../src/p2p/raft-transport.js'
import type { InboundPeer, InboundVerdict, RaftTransportOptions } from '../../../src/p2p/raft-transport.js'
import { encodeFrame } from '../../../src/p2p/frame.js'
import { encodeRaftMessages } from '../../../src/p2p/raft-codec.js'
import { addressOf, appMsg, heartbeat, stopAll, testHost, waitFor } from './helpers.js'

const COOKIE = 'raft-transport-test'

interface Side {
  host: AspenHost
  t: RaftTransport
  got: Array<{ m: Message, from: InboundPeer }>
  verdict: InboundVerdict
}

async function pair (over: Partial<RaftTransportOptions> = {}): Promise<{ a: Side, b: Side, stop: () => Promise<void> }> {
  const ha = await testHost(COOKIE)
  const hb = await testHost(COOKIE)
  const mk = (host: AspenHost, selfId: NodeId, peerId: NodeId, peerHost: AspenHost): Side => {
    const side: Side = { host, t: undefined as unknown as RaftTransport, got: [], verdict: { kind: 'allow', nodeId: peerId } }
    side.t = new RaftTransport({
      host,
      selfId,
      resolvePeer: (id) => id === peerId ? addressOf(peerHost) : undefined,
      authorize: () => side.verdict,
      ...over
    })
    side.t.onMessage((msgs, from) => { for (const m of msgs) side.got.push({ m, from }) })
    return side
  }
  const a = mk(ha, 1, 2, hb)
  const b = mk(hb, 2, 1, ha)
  await a.t.start()
  await b.t.start()
  return { a, b, stop: async () => { await stopAll(a.t, b.t); await stopAll(ha, hb) } }
}

describe('raft transport', () => {
  let p: Awaited<ReturnType<typeof pair>>
  before(async () => { p = await pair() })
  after(async () => { await p.stop() })

  it('round-trips 10 000 messages under load, in order, coalescing each tick into one frame', async () => {
    const { a, b } = p
    // Warm up both directions: messages queued while a stream is being dialled are bounded by the queue.
    a.t.send(2, [heartbeat(1, 2, 0)])
    b.t.send(1, [heartbeat(2, 1, 0)])
    await waitFor(() => a.got.length === 1 && b.got.length === 1, 5000, 'both streams')
    a.got.length = 0
    b.got.length = 0
    // B answers every append, as a follower would.
    b.t.onMessage((msgs, from) => {
      for (const m of msgs) b.got.push({ m, from })
      b.t.send(1, msgs.map((m) => ({ ...appMsg(2, 1, m.index, 8), type: 'appResp' as const, entries: [] })))
    })
    const framesBefore = a.t.metrics.raftFramesOut
    const N = 10_000
    for (let i = 0; i < N; i += 500) {
      a.t.send(2, Array.from({ length: 500 }, (_, j) => appMsg(1, 2, i + j, 256)))
      await new Promise((resolve) => setImmediate(resolve))
    }
    await waitFor(() => a.got.length === N, 60_000, 'all responses')
    assert.deepEqual(b.got.map((x) => x.m.index), Array.from({ length: N }, (_, i) => i), 'delivered in order')
    assert.deepEqual(a.got.map((x) => x.m.index), Array.from({ length: N }, (_, i) => i))
    const sample = b.got[1234].m
    assert.deepEqual(sample, appMsg(1, 2, 1234, 256))
    assert.deepEqual(b.got[0].from, { peerId: a.host.peerId.toString(), nodeId: 1 })
    const frames = a.t.metrics.raftFramesOut - framesBefore
    assert.ok(frames <= N / 100, `expected per-tick coalescing, got ${frames} frames for ${N} messages`)
    assert.equal(a.t.metrics.raftDroppedQueueFull + b.t.metrics.raftDroppedQueueFull, 0)
    b.t.onMessage((msgs, from) => { for (const m of msgs) b.got.push({ m, from }) })
  })

  it('drops inbound messages that claim another sender or another receiver, and local-only types', async () => {
    const { a, b } = p
    b.got.length = 0
    const before = b.t.metrics.raftDroppedInvalid
    a.t.send(2, [appMsg(9, 2, 1), appMsg(1, 3, 2), { ...heartbeat(1, 2, 3), type: 'hup' }, appMsg(1, 2, 4)])
    await waitFor(() => b.got.length === 1, 5000, 'the one valid message')
    assert.equal(b.got[0].m.index, 4)
    assert.equal(b.t.metrics.raftDroppedInvalid - before, 3)
  })

  it('the fault hook drops traffic to and from chosen nodes (partitions)', async () => {
    const { a, b } = p
    b.got.length = 0
    a.t.setFaults({ dropTo: new Set([2]) })
    a.t.send(2, [appMsg(1, 2, 1)])
    b.t.setFaults({ dropFrom: new Set([1]) })
    a.t.setFaults({})
    a.t.send(2, [appMsg(1, 2, 2)])
    await waitFor(() => b.t.metrics.raftDroppedFault === 1, 5000, 'inbound fault drop')
    b.t.setFaults({})
    a.t.send(2, [appMsg(1, 2, 3)])
    await waitFor(() => b.got.length === 1, 5000, 'delivery after healing')
    assert.equal(b.got[0].m.index, 3)
    assert.equal(a.t.metrics.raftDroppedFault, 1)
  })

  it('an undecodable frame or a frame over 16 MiB closes that stream, is counted, and the node keeps serving', async () => {
    const { a, b } = p
    const garbage = await a.host.dialProtocol(b.host.peerId, RAFT_PROTOCOL, { runOnLimitedConnection: true })
    garbage.send(encodeFrame(new Uint8Array([0xff, 0xff, 0xff, 0x01, 0x02])))
    await waitFor(() => b.t.metrics.raftDecodeErrors === 1, 5000, 'decode error counted')
    await waitFor(() => garbage.status !== 'open', 5000, 'bad stream closed')
    const huge = await a.host.dialProtocol(b.host.peerId, RAFT_PROTOCOL, { runOnLimitedConnection: true })
    huge.send(new Uint8Array([0x81, 0x80, 0x80, 0x08])) // varint of 16 MiB + 1
    await waitFor(() => b.t.metrics.raftOversizeFrames === 1, 5000, 'oversize frame counted')
    await waitFor(() => huge.status !== 'open', 5000, 'oversized stream closed')
    const wrongVersion = await a.host.dialProtocol(b.host.peerId, RAFT_PROTOCOL, { runOnLimitedConnection: true })
    const v2 = encodeRaftMessages([appMsg(1, 2, 1)])
    wrongVersion.send(encodeFrame(Uint8Array.from([0x08, 0x02, ...v2.subarray(2)])))
    await waitFor(() => b.t.metrics.raftDecodeErrors === 2, 5000, 'wrong version counted')
    b.got.length = 0
    a.t.send(2, [appMsg(1, 2, 77)])
    await waitFor(() => b.got.length === 1, 5000, 'normal traffic still served')
  })

  it('reconnects after the connection is cut', async () => {
    const { a, b } = p
    b.got.length = 0
    const connects = a.t.metrics.raftConnects
    await b.host.hangUp(a.host.peerId)
    let seq = 0
    await waitFor(() => {
      a.t.send(2, [heartbeat(1, 2, seq++)])
      return b.got.length > 0
    }, 10_000, 'delivery after reconnect')
    assert.ok(a.t.metrics.raftConnects > connects)
  })
})

describe('raft transport back-pressure and membership', () => {
  it('splits an AppendEntries over the cap (4 MiB by default, 64 KiB here) into chained appends', async () => {
    const p = await pair({ limits: { maxAppendBytes: 64 * 1024 } })
    try {
      const entries = Array.from({ length: 10 }, (_, i) => ({ term: 2, index: 101 + i, type: 'normal' as const, data: new Uint8Array(30 * 1024).fill(i) }))
      p.a.t.send(2, [{ ...appMsg(1, 2, 100), logTerm: 1, entries }])
      await waitFor(() => p.b.got.reduce((n, x) => n + x.m.entries.length, 0) === 10, 20_000, 'all entries')
      assert.deepEqual(p.b.got.map((x) => [x.m.index, x.m.logTerm, x.m.entries.length]), [[100, 1, 2], [102, 2, 2], [104, 2, 2], [106, 2, 2], [108, 2, 2]])
      assert.deepEqual(p.b.got.flatMap((x) => x.m.entries.map((e) => e.data[0])), [0, 1, 2, 3, 4, 5, 6, 7, 8, 9])
    } finally {
      await p.stop()
    }
  })

  it('a full queue drops the OLDEST messages and counts them', async () => {
    const p = await pair({ limits: { maxQueueMessages: 50 } })
    try {
      p.a.t.send(2, [appMsg(1, 2, 0)])
      await waitFor(() => p.b.got.length === 1, 5000, 'connection')
      p.b.got.length = 0
      p.a.t.send(2, Array.from({ length: 1000 }, (_, i) => appMsg(1, 2, i)))
      await waitFor(() => p.b.got.length === 50, 5000, 'the newest 50')
      assert.deepEqual(p.b.got.map((x) => x.m.index), Array.from({ length: 50 }, (_, i) => 950 + i))
      assert.equal(p.a.t.metrics.raftDroppedQueueFull, 950)
    } finally {
      await p.stop()
    }
  })

  it('refuses peers that are not served, and tells a removed node once per stream', async () => {
    const p = await pair()
    try {
      const removed: InboundPeer[] = []
      p.a.t.onRemoved((peer) => removed.push(peer))
      p.b.verdict = { kind: 'deny' }
      let seq = 0
      await waitFor(() => {
        p.a.t.send(2, [heartbeat(1, 2, seq++)])
        return p.b.t.metrics.raftStreamsDenied >= 2
      }, 10_000, 'denied streams')
      assert.equal(p.b.got.length, 0)
      p.b.verdict = { kind: 'removed' }
      await waitFor(() => {
        p.a.t.send(2, [heartbeat(1, 2, seq++)])
        return removed.length > 0
      }, 10_000, 'removed notice')
      assert.deepEqual(removed[0], { peerId: p.b.host.peerId.toString(), nodeId: 2 })
      assert.equal(p.b.got.length, 0)
      assert.ok(p.b.t.metrics.raftRemovedSent >= 1)
      // Re-admitted: traffic flows again on a new stream.
      p.b.verdict = { kind: 'allow', nodeId: 1 }
      await waitFor(() => {
        p.a.t.send(2, [heartbeat(1, 2, seq++)])
        return p.b.got.length > 0
      }, 10_000, 'delivery after re-admission')
    } finally {
      await p.stop()
    }
  })

  it('an unreachable peer is reported, its queue dropped, and re-dialled with growing backoff', async () => {
    const ha = await testHost(COOKIE)
    const dead = await testHost(COOKIE)
    const deadAddr = addressOf(dead)
    await dead.stop()
    const unreachable: NodeId[] = []
    const t = new RaftTransport({ host: ha, selfId: 1, resolvePeer: () => deadAddr, authorize: () => ({ kind: 'allow' }), limits: { dialTimeoutMs: 1000 } })
    t.onUnreachable((id) => unreachable.push(id))
    await t.start()
    try {
      const start = Date.now()
      let seq = 0
      await waitFor(() => {
        t.send(5, [heartbeat(1, 5, seq++)])
        return unreachable.length >= 4
      }, 10_000, 'four failed dials')
      assert.ok(unreachable.every((id) => id === 5))
      assert.ok(t.metrics.raftDialFailures >= 4)
      assert.ok(t.metrics.raftDroppedUnresolvable > 0)
      // 50 + 100 + 200 ms of backoff (minus jitter) at least separate four attempts
      assert.ok(Date.now() - start >= 250, 'dials are spaced by backoff')
      assert.ok(seq > unreachable.length * 2, 'far fewer dials than sends')
    } finally {
      await t.stop()
      await ha.stop()
    }
  })

  it('a host with another cookie cannot open a raft stream', async () => {
    const good = await testHost(COOKIE)
    const other = await testHost('another-cookie', { dialTimeoutMs: 1500, addressDialTimeoutMs: 1500 })
    const got: Message[] = []
    const tg = new RaftTransport({ host: good, selfId: 2, resolvePeer: () => undefined, authorize: () => ({ kind: 'allow' }) })
    tg.onMessage((m) => got.push(...m))
    const unreachable: NodeId[] = []
    const to = new RaftTransport({ host: other, selfId: 1, resolvePeer: () => addressOf(good), authorize: () => ({ kind: 'allow' }), limits: { dialTimeoutMs: 1500 } })
    to.onUnreachable((id) => unreachable.push(id))
    await tg.start()
    await to.start()
    try {
      to.send(2, [heartbeat(1, 2, 1)])
      await waitFor(() => unreachable.length > 0, 8000, 'dial failure')
      assert.equal(got.length, 0)
      assert.equal(good.getConnections().length, 0)
    } finally {
      await stopAll(tg, to)
      await stopAll(good, other)
    }
  })
})
