// Discovery by cookie with real nodes on 127.0.0.1: four nodes find each other from one bootstrap address, a host
// with another cookie can neither connect nor appear anywhere, forged announcements (tampered, replayed, relayed,
// claiming a member's node id) are rejected, and the publish interval backs off while the view is stable.
import { describe, it, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { randomBytes } from 'node:crypto'
import type { Message as GossipMessage } from '@libp2p/gossipsub'
import { startP2PNode } from '../../../src/p2p/p2p-node.js'
import type { P2PNode, P2PNodeOptions } from '../../../src/p2p/p2p-node.js'
import { MemoryRegistry } from '../../../src/p2p/registry.js'
import { deriveClusterKeys } from '../../../src/p2p/cookie.js'
import { sealAnnouncement } from '../../../src/p2p/announcement.js'
import { Announcement } from '../../../src/p2p/wire/discovery.js'
import type { AspenHost } from '../../../src/p2p/host.js'
import type { Message } from '../../../src/raft/types.js'
import { heartbeat, LOOPBACK, stopAll, testHost, waitFor } from './helpers.js'

const COOKIE = 'discovery-test-cookie'
const keys = deriveClusterKeys(COOKIE)

interface TestNode {
  nodeId: number
  node: P2PNode
  registry: MemoryRegistry
  got: Message[]
}

async function startNode (root: string, nodeId: number, cookie: string, bootstrap: string[], over: Partial<P2PNodeOptions> = {}): Promise<TestNode> {
  const registry = new MemoryRegistry()
  const node = await startP2PNode({
    dataDir: join(root, `n${nodeId}`),
    cookie,
    nodeId,
    listen: LOOPBACK,
    bootstrap,
    registry,
    resolvePeer: (id) => registry.resolve(id),
    authorize: (peerId) => {
      const id = registry.nodeIdOf(peerId)
      return id === undefined ? { kind: 'deny' } : { kind: 'allow', nodeId: id }
    },
    autonat: false,
    dialTimeoutMs: 2000,
    ...over
  })
  const t: TestNode = { nodeId, node, registry, got: [] }
  node.raft.onMessage((msgs) => t.got.push(...msgs))
  return t
}

describe('discovery by cookie', () => {
  let root: string
  const nodes: TestNode[] = []
  let rogue: TestNode
  let attacker: AspenHost
  let attacker2: AspenHost
  before(async () => {
    root = await mkdtemp(join(tmpdir(), 'aspen-discovery-'))
    nodes.push(await startNode(root, 1, COOKIE, []))
    const boot = nodes[0].node.addrs()[0]
    for (let id = 2; id <= 4; id++) nodes.push(await startNode(root, id, COOKIE, [boot]))
    rogue = await startNode(root, 99, 'not-the-cookie', [boot])
  })
  after(async () => {
    await stopAll(attacker, attacker2, rogue?.node, ...nodes.map((n) => n.node))
    await rm(root, { recursive: true, force: true })
  })

  it('four nodes discover each other from one bootstrap address and the cookie; all registries converge', async () => {
    await waitFor(() => nodes.every((n) => nodes.every((m) => m === n || n.registry.get(m.nodeId)?.peerId === m.node.peerId)), 20_000, 'registries to converge')
    for (const n of nodes) {
      for (const m of nodes) {
        if (m === n) continue
        const entry = n.registry.get(m.nodeId)
        assert.ok(entry !== undefined)
        // the announced addresses are the node's real listen addresses
        assert.deepEqual(entry.addrs.map((a) => `${a}/p2p/${m.node.peerId}`).sort(), m.node.addrs().sort())
      }
    }
    for (const n of nodes) assert.equal(n.node.metrics.discoveryRejected['bad-hmac'], 0)
  })

  it('a node with another cookie can neither connect (pnet) nor appear in any registry', async () => {
    await waitFor(() => rogue.node.metrics.bootstrapDialFailures >= 1, 10_000, 'the rogue bootstrap dial to fail')
    for (const n of nodes) {
      assert.equal(n.registry.get(99), undefined)
      assert.equal(n.registry.nodeIdOf(rogue.node.peerId), undefined)
      assert.equal(n.node.host.getConnections().filter((c) => c.remotePeer.toString() === rogue.node.peerId).length, 0)
    }
    assert.deepEqual(rogue.registry.all(), [])
    assert.equal(rogue.node.host.getConnections().length, 0)
  })

  it('keeps its bootstrap peer: a dropped bootstrap connection is re-dialled', async () => {
    const [n1, n2] = nodes
    const dials = n2.node.metrics.bootstrapDials
    await n1.node.host.hangUp(n2.node.host.peerId)
    await waitFor(() => n2.node.metrics.bootstrapDials > dials && n2.node.discovery.bootstrapConnected() === 1, 10_000, 'the bootstrap connection to come back')
  })

  it('Raft traffic reaches a node known only through discovery', async () => {
    const [, n2, , n4] = nodes
    n4.got.length = 0
    n2.node.raft.send(4, [heartbeat(2, 4, 1)])
    await waitFor(() => n4.got.length === 1, 10_000, 'delivery 2 → 4')
    assert.equal(n4.got[0].from, 2)
  })

  it('rejects tampered, relayed, replayed and member-impersonating announcements', async () => {
    const [n1, , n3] = nodes
    n1.registry.bind(3, n3.node.peerId)
    // Two insiders (they hold the cookie) that are not members; two, so that neither exceeds its rate limit.
    attacker = await testHost(COOKIE)
    attacker2 = await testHost(COOKIE)
    const captured: GossipMessage[] = []
    attacker.services.pubsub.addEventListener('message', (evt) => {
      if (evt.detail.type === 'signed' && evt.detail.from.toString() === n1.node.peerId) captured.push(evt.detail)
    })
    for (const h of [attacker, attacker2]) {
      h.services.pubsub.subscribe(keys.topic)
      await h.dial(n1.node.host.getMultiaddrs()[0])
      await waitFor(() => h.services.pubsub.getSubscribers(keys.topic).some((p) => p.toString() === n1.node.peerId), 10_000, 'attacker to join the topic')
    }
    // Node 1 announces itself to the new subscriber: capture it to replay.
    await waitFor(() => captured.length > 0, 15_000, 'an announcement of node 1')
    const rejected = (): Record<string, number> => ({ ...n1.node.metrics.discoveryRejected })
    const before = rejected()
    const content = (h: AspenHost, nodeId: number): Parameters<typeof sealAnnouncement>[0] =>
      ({ clusterId: keys.clusterId, nodeId, peerId: h.peerId.toString(), addrs: ['/ip4/127.0.0.1/tcp/1'], timestampMs: Date.now(), nonce: randomBytes(16) })

    // 1. tampered body (the HMAC no longer matches)
    const sealed = Announcement.decode(sealAnnouncement(content(attacker, 50), keys.hmacKey))
    const body = Uint8Array.from(sealed.body)
    body[body.length - 20] ^= 0x01
    await attacker.services.pubsub.publish(keys.topic, Announcement.encode({ body, hmac: sealed.hmac }))
    // 2. node 1's genuine announcement, re-published by someone else
    await attacker.services.pubsub.publish(keys.topic, captured[0].data)
    // 3. a genuine announcement claiming member node 3
    await attacker.services.pubsub.publish(keys.topic, sealAnnouncement(content(attacker, 3), keys.hmacKey))
    // 4. a valid announcement, then the very same bytes again (a new gossip message id, the same nonce)
    const valid = sealAnnouncement(content(attacker2, 51), keys.hmacKey)
    await attacker2.services.pubsub.publish(keys.topic, valid)
    await waitFor(() => n1.registry.get(51)?.peerId === attacker2.peerId.toString(), 10_000, 'the valid announcement')
    await attacker2.services.pubsub.publish(keys.topic, valid)
    await waitFor(() => {
      const r = rejected()
      return r['bad-hmac'] > before['bad-hmac'] && r['peer-mismatch'] > before['peer-mismatch'] &&
        r['binding-conflict'] > before['binding-conflict'] && r.replayed > before.replayed
    }, 10_000, 'four rejections at node 1')

    assert.equal(n1.registry.get(50), undefined)
    assert.equal(n1.registry.get(3)?.peerId, n3.node.peerId, 'the member binding still wins')
    assert.equal(n1.registry.get(1), undefined, 'a replayed announcement of node 1 does not enter its own registry')
    for (const n of nodes.slice(1)) assert.equal(n.registry.get(1)?.peerId, n1.node.peerId)
  })
})

describe('discovery publish schedule', () => {
  it('backs off to the maximum interval while the view is stable, and returns to the minimum when it changes', async () => {
    const root = await mkdtemp(join(tmpdir(), 'aspen-discovery-timing-'))
    const timing = { minIntervalMs: 150, maxIntervalMs: 1200, debounceMs: 20 }
    const started: TestNode[] = []
    try {
      const a = await startNode(root, 1, COOKIE, [], { discoveryTiming: timing })
      started.push(a)
      const b = await startNode(root, 2, COOKIE, [a.node.addrs()[0]], { discoveryTiming: timing })
      started.push(b)
      await waitFor(() => a.registry.get(2) !== undefined && b.registry.get(1) !== undefined, 10_000, 'two nodes to meet')
      await waitFor(() => a.node.discovery.publishIntervalMs === 1200, 10_000, 'the interval to reach its maximum')
      const c = await startNode(root, 3, COOKIE, [a.node.addrs()[0]], { discoveryTiming: timing })
      started.push(c)
      await waitFor(() => a.registry.get(3) !== undefined, 10_000, 'the third node')
      assert.ok(a.node.discovery.publishIntervalMs < 1200, 'a new peer resets the interval')
      await waitFor(() => c.registry.get(2) !== undefined, 10_000, 'the newcomer to learn of node 2')
    } finally {
      await stopAll(...started.map((n) => n.node))
      await rm(root, { recursive: true, force: true })
    }
  })
})
