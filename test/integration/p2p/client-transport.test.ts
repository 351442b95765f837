// /aspen/client/1.0.0 over real libp2p on 127.0.0.1: many requests in flight on one stream answered out of order,
// deadlines, typed error replies, connection loss, and a client that stops reading cannot stall Raft traffic.
import { describe, it, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { AspenError } from '../../../src/errors.js'
import { createClientHost } from '../../../src/p2p/host.js'
import type { AspenHost } from '../../../src/p2p/host.js'
import { deriveClusterKeys } from '../../../src/p2p/cookie.js'
import { ClientServer, CLIENT_PROTOCOL, openClientConnection } from '../../../src/p2p/client-transport.js'
import type { ClientCall, ClientConnection } from '../../../src/p2p/client-transport.js'
import { ConnectionClosedError, OverloadedError, TimeoutError } from '../../../src/p2p/errors.js'
import { encodeFrame } from '../../../src/p2p/frame.js'
import { RaftTransport } from '../../../src/p2p/raft-transport.js'
import { ClientRequestFrame } from '../../../src/p2p/wire/client.js'
import type { Message } from '../../../src/raft/types.js'
import { addressOf, heartbeat, heartbeatSeq, stopAll, testHost, waitFor } from './helpers.js'

const COOKIE = 'client-transport-test'

class NotLeaderError extends AspenError {
  readonly code = 'NOT_LEADER'
}

const sleep = async (ms: number): Promise<void> => { await new Promise((resolve) => setTimeout(resolve, ms)) }

describe('client transport', () => {
  let server: AspenHost
  let client: AspenHost
  let cs: ClientServer
  let conn: ClientConnection
  before(async () => {
    server = await testHost(COOKIE)
    client = await createClientHost({ keys: deriveClusterKeys(COOKIE) })
    cs = new ClientServer({ host: server })
    await cs.start()
    conn = await openClientConnection(client, addressOf(server))
  })
  after(async () => {
    await conn.close()
    await cs.stop()
    await stopAll(server, client)
  })

  it('answers before a handler is set with UNAVAILABLE', async () => {
    const r = await conn.request('get', new Uint8Array([1]), { deadlineMs: 2000 })
    assert.equal(r.error?.code, 'UNAVAILABLE')
  })

  it('carries 1 000 concurrent requests on one stream, answered out of order, each to its caller', async () => {
    cs.setHandler(async (call: ClientCall) => {
      const n = new DataView(call.body.buffer, call.body.byteOffset).getUint32(0)
      await sleep(n % 7) // finish out of order
      return { body: Uint8Array.from([...call.body, ...Buffer.from(call.method)]) }
    })
    const N = 1000
    const calls = Array.from({ length: N }, async (_, i) => {
      const body = new Uint8Array(4)
      new DataView(body.buffer).setUint32(0, i)
      const r = await conn.request(i % 2 === 0 ? 'put' : 'get', body, { deadlineMs: 20_000 })
      return { i, r }
    })
    for (const { i, r } of await Promise.all(calls)) {
      assert.equal(r.error, undefined)
      assert.equal(new DataView(r.body.buffer, r.body.byteOffset).getUint32(0), i)
      assert.equal(Buffer.from(r.body.subarray(4)).toString(), i % 2 === 0 ? 'put' : 'get')
    }
  })

  it('returns typed error replies and leader hints, maps handler exceptions to codes', async () => {
    cs.setHandler(async (call) => {
      if (call.method === 'hint') return { error: { code: 'NOT_LEADER', message: 'ask node 3' }, leaderHint: { nodeId: 3, peerId: 'p3', addrs: ['/ip4/127.0.0.1/tcp/9'] } }
      if (call.method === 'typed') throw new NotLeaderError('not the leader')
      throw new Error('secret internals')
    })
    const hint = await conn.request('hint', new Uint8Array(), { deadlineMs: 2000 })
    assert.deepEqual(hint.error, { code: 'NOT_LEADER', message: 'ask node 3' })
    assert.deepEqual(hint.leaderHint, { nodeId: 3, peerId: 'p3', addrs: ['/ip4/127.0.0.1/tcp/9'] })
    assert.deepEqual((await conn.request('typed', new Uint8Array(), { deadlineMs: 2000 })).error, { code: 'NOT_LEADER', message: 'not the leader' })
    const internal = await conn.request('boom', new Uint8Array(), { deadlineMs: 2000 })
    assert.equal(internal.error?.code, 'INTERNAL')
    assert.ok(!internal.error?.message.includes('secret'))
  })

  it('a request past its deadline throws TimeoutError; the handler sees the deadline; the connection stays usable', async () => {
    let seenDeadline = 0
    let aborted = false
    cs.setHandler(async (call) => {
      if (call.method === 'slow') {
        seenDeadline = call.deadlineMs
        await new Promise<void>((resolve) => { call.signal.addEventListener('abort', () => { aborted = true; resolve() }) })
        return { body: new Uint8Array([9]) }
      }
      return { body: new Uint8Array([1]) }
    })
    const t0 = Date.now()
    await assert.rejects(conn.request('slow', new Uint8Array(), { deadlineMs: 300 }), TimeoutError)
    assert.ok(Date.now() - t0 >= 290)
    assert.equal(seenDeadline, 300)
    await waitFor(() => aborted, 2000, 'server-side deadline signal')
    assert.deepEqual((await conn.request('fast', new Uint8Array(), { deadlineMs: 2000 })).body, new Uint8Array([1]))
  })

  it('refuses more than maxInFlight requests with OverloadedError', async () => {
    cs.setHandler(async () => { await sleep(200); return {} })
    const small = await openClientConnection(client, addressOf(server), { maxInFlight: 4 })
    try {
      const ok = Array.from({ length: 4 }, async () => await small.request('x', new Uint8Array(), { deadlineMs: 5000 }))
      await assert.rejects(small.request('x', new Uint8Array(), { deadlineMs: 5000 }), OverloadedError)
      await Promise.all(ok)
    } finally {
      await small.close()
    }
  })

  it('in-flight requests fail with ConnectionClosedError when the server goes away', async () => {
    const h = await testHost(COOKIE)
    const s = new ClientServer({ host: h, handler: async (call) => { await new Promise((resolve) => call.signal.addEventListener('abort', resolve)); return {} } })
    await s.start()
    const c = await openClientConnection(client, addressOf(h))
    try {
      const pending = assert.rejects(c.request('x', new Uint8Array(), { deadlineMs: 20_000 }), ConnectionClosedError)
      await sleep(50)
      await h.stop()
      await pending
      assert.equal(c.closed, true)
      await assert.rejects(c.request('x', new Uint8Array(), { deadlineMs: 1000 }), ConnectionClosedError)
    } finally {
      await s.stop()
    }
  })
})

describe('client transport isolation', () => {
  it('a client that stops reading only stalls itself: the server stops reading it and Raft traffic keeps flowing', async () => {
    const a = await testHost(COOKIE)
    const b = await testHost(COOKIE)
    let handled = 0
    const cs = new ClientServer({ host: b, handler: async () => { handled++; return { body: new Uint8Array(256 * 1024) } } })
    const ta = new RaftTransport({ host: a, selfId: 1, resolvePeer: () => addressOf(b), authorize: () => ({ kind: 'allow', nodeId: 2 }) })
    const tb = new RaftTransport({ host: b, selfId: 2, resolvePeer: () => addressOf(a), authorize: () => ({ kind: 'allow', nodeId: 1 }) })
    await Promise.all([cs.start(), ta.start(), tb.start()])
    tb.onMessage((msgs) => { tb.send(1, msgs.map((m) => ({ ...m, type: 'heartbeatResp' as const, to: 1, from: 2 }))) })
    const rtts: number[] = []
    const sentAt = new Map<number, number>()
    ta.onMessage((msgs: Message[]) => { for (const m of msgs) rtts.push(Date.now() - (sentAt.get(heartbeatSeq(m)) ?? 0)) })
    try {
      // Warm up: both Raft streams open and answering.
      sentAt.set(-1, Date.now())
      ta.send(2, [heartbeat(1, 2, -1)])
      await waitFor(() => rtts.length === 1, 10_000, 'raft streams to open')
      rtts.length = 0
      // A greedy client on the same connection: 2 000 requests, each answered with 256 KiB, never read.
      const greedy = await a.dialProtocol(b.getMultiaddrs(), CLIENT_PROTOCOL, { runOnLimitedConnection: true })
      greedy.pause()
      const frames: Uint8Array[] = []
      for (let i = 1; i <= 2000; i++) frames.push(encodeFrame(ClientRequestFrame.encode({ version: 1, requestId: i, method: 'get', body: new Uint8Array(16), deadlineMs: 60_000 })))
      greedy.send(Buffer.concat(frames))
      // Meanwhile heartbeats round-trip on the Raft stream of the same connection.
      for (let seq = 0; seq < 100; seq++) {
        sentAt.set(seq, Date.now())
        ta.send(2, [heartbeat(1, 2, seq)])
        await sleep(20)
      }
      await waitFor(() => rtts.length === 100, 10_000, 'every heartbeat answered')
      const worst = Math.max(...rtts)
      // Generous: a loaded 2-core CI box is slow, but Raft must never wait for the stalled client.
      assert.ok(worst < 5000, `heartbeat round trip took ${worst} ms while a client stalled`)
      // The server stopped reading the greedy stream: most of its requests were never even handled.
      assert.ok(handled < 400, `server handled ${handled} requests of a client that reads nothing`)
      assert.ok(handled >= 1)
    } finally {
      await stopAll(cs, ta, tb)
      await stopAll(a, b)
    }
  })
})
