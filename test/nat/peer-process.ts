// A peer of the NAT test, run inside a network namespace (`ip netns exec NS node dist/test/nat/peer-process.js`):
// a libp2p host from the p2p layer (relay server, or relay client behind NAT), cookie discovery and the Raft
// transport. It reads its configuration and then requests from stdin and answers on stdout (peer-protocol.ts).
// It exits when stdin closes, so it never outlives the test that started it.
import { privateKeyFromProtobuf } from '@libp2p/crypto/keys'
import type { Connection } from '@libp2p/interface'
import { peerIdFromString } from '@libp2p/peer-id'
import { multiaddr } from '@multiformats/multiaddr'
import { connect } from 'node:net'
import { createInterface } from 'node:readline'
import { setTimeout as delay } from 'node:timers/promises'
import {
  createHost, createP2PMetrics, deriveClusterKeys, Discovery, MemoryRegistry, RAFT_PROTOCOL, raftDrops, RaftTransport
} from '../../src/p2p/index.js'
import type { AspenHost, P2PLogger } from '../../src/p2p/index.js'
import type { Message, NodeId } from '../../src/raft/types.js'
import { MAX_LINE_BYTES, pathOf } from './peer-protocol.js'
import type { ConnectionInfo, PeerConfig, PeerEvent, PeerReply, PeerRequest, PeerStatus } from './peer-protocol.js'

/** Bound on the connection history kept for `status`. */
const MAX_CONNECTION_HISTORY = 256
/** Queue at most this many bytes ahead of the stream while sending (the transport's own bound is 64 MiB). */
const SEND_AHEAD_BYTES = 1024 * 1024
/** How long stopping may take once the test has gone (ms). */
const EXIT_GRACE_MS = 3000
/** How often the send loop looks at the queue (ms). */
const SEND_POLL_MS = 5

function emit (line: PeerEvent | PeerReply): void {
  process.stdout.write(JSON.stringify(line) + '\n')
}

/** The p2p layer's logs go to stderr (the test keeps the tail for failure reports); debug only with NAT_TEST_DEBUG. */
function stderrLogger (name: string): P2PLogger {
  const write = (level: string) => (obj: object, msg: string): void => {
    process.stderr.write(`${new Date().toISOString()} ${name} ${level} ${msg} ${JSON.stringify(obj)}\n`)
  }
  const debug = process.env.NAT_TEST_DEBUG !== undefined && process.env.NAT_TEST_DEBUG !== ''
  return { debug: debug ? write('debug') : () => {}, info: write('info'), warn: write('warn'), error: write('error') }
}

function errorText (e: unknown): string {
  return e instanceof Error ? `${e.name}: ${e.message}` : String(e)
}

function connectionInfo (c: Connection): ConnectionInfo {
  const remoteAddr = c.remoteAddr.toString()
  return {
    peerId: c.remotePeer.toString(),
    remoteAddr,
    relayed: remoteAddr.includes('/p2p-circuit'),
    limits: c.limits === undefined
      ? null
      : { ...(c.limits.bytes !== undefined ? { bytes: c.limits.bytes.toString() } : {}), ...(c.limits.seconds !== undefined ? { seconds: c.limits.seconds } : {}) },
    direction: c.direction,
    status: c.status,
    protocols: c.streams.map((s) => s.protocol)
  }
}

/** An AppendEntries carrying one entry of `bytes` bytes. */
function appMessage (from: NodeId, to: NodeId, index: number, bytes: number): Message {
  return {
    type: 'app', to, from, term: 1, logTerm: 1, index, commit: 0, reject: false, rejectHint: 0, context: new Uint8Array(0),
    entries: [{ term: 1, index: index + 1, type: 'normal', data: new Uint8Array(bytes) }]
  }
}

async function main (): Promise<void> {
  const lines = createInterface({ input: process.stdin, crlfDelay: Infinity })[Symbol.asyncIterator]()
  const first = await lines.next()
  if (first.done === true) process.exit(0)
  const cfg = JSON.parse(first.value) as PeerConfig

  const keys = deriveClusterKeys(cfg.cookie)
  const metrics = createP2PMetrics()
  const host: AspenHost = await createHost({
    privateKey: privateKeyFromProtobuf(Buffer.from(cfg.privateKeyHex, 'hex')),
    keys,
    listen: cfg.listen,
    relayServer: cfg.role === 'relay',
    relays: cfg.relays
  })
  const history: PeerStatus['connectionsEver'] = []
  host.addEventListener('connection:open', (evt) => {
    if (history.length >= MAX_CONNECTION_HISTORY) history.shift()
    const { peerId, remoteAddr, relayed } = connectionInfo(evt.detail)
    history.push({ peerId, remoteAddr, relayed })
  })

  const logger = stderrLogger(cfg.name)
  const registry = new MemoryRegistry()
  const raft = new RaftTransport({
    host,
    selfId: cfg.nodeId,
    metrics,
    logger,
    resolvePeer: (nodeId) => registry.resolve(nodeId),
    authorize: (peerId) => {
      const nodeId = registry.nodeIdOf(peerId)
      return nodeId === undefined ? { kind: 'deny' } : { kind: 'allow', nodeId }
    }
  })
  const receivedByPath: Record<string, number> = {}
  raft.onMessage((messages, from) => {
    // Attribute the bytes to the connection that carries an inbound Raft stream from this peer right now.
    const carriers = host.getConnections(peerIdFromString(from.peerId))
      .filter((c) => c.streams.some((s) => s.protocol === RAFT_PROTOCOL && s.direction === 'inbound'))
    const path = carriers.length === 1 ? pathOf(carriers[0].remoteAddr.toString()) : `ambiguous:${carriers.length}`
    let bytes = 0
    for (const m of messages) for (const e of m.entries) bytes += e.data.byteLength
    receivedByPath[path] = (receivedByPath[path] ?? 0) + bytes
  })
  await raft.start()
  const discovery = new Discovery({ host, keys, nodeId: cfg.nodeId, registry, metrics, logger, bootstrap: cfg.bootstrap })
  discovery.start()

  const status = (): PeerStatus => ({
    name: cfg.name,
    peerId: host.peerId.toString(),
    nodeId: cfg.nodeId,
    addrs: host.getMultiaddrs().map(String),
    registry: registry.all().map((p) => ({ nodeId: p.nodeId, peerId: p.peerId, addrs: p.addrs })),
    connections: host.getConnections().map(connectionInfo),
    connectionsEver: [...history],
    receivedByPath: { ...receivedByPath },
    raft: {
      bytesIn: metrics.raftBytesIn,
      bytesOut: metrics.raftBytesOut,
      framesIn: metrics.raftFramesIn,
      messagesIn: metrics.raftMessagesIn,
      connects: metrics.raftConnects,
      dialFailures: metrics.raftDialFailures,
      streamsDenied: metrics.raftStreamsDenied,
      drops: raftDrops(metrics)
    },
    discovery: {
      published: metrics.discoveryPublished,
      accepted: metrics.discoveryAccepted,
      bootstrapDials: metrics.bootstrapDials,
      bootstrapDialFailures: metrics.bootstrapDialFailures,
      bootstrapConnected: discovery.bootstrapConnected()
    }
  })

  let index = 0
  const send = async (to: NodeId, totalBytes: number, messageBytes: number, deadlineMs: number): Promise<unknown> => {
    const start = metrics.raftBytesOut
    const deadline = Date.now() + deadlineMs
    while (metrics.raftBytesOut - start < totalBytes) {
      if (Date.now() > deadline) throw new Error(`sent ${metrics.raftBytesOut - start} of ${totalBytes} bytes in ${deadlineMs} ms`)
      const queued = raft.peers().find((p) => p.nodeId === to)?.queuedBytes ?? 0
      // Messages queued while the dial fails are dropped by the transport; keep topping the queue up.
      if (queued < SEND_AHEAD_BYTES) raft.send(to, [0, 1, 2, 3].map(() => appMessage(cfg.nodeId, to, index++, messageBytes)))
      await delay(SEND_POLL_MS)
    }
    return { sentBytes: metrics.raftBytesOut - start }
  }

  const probe = async (hostName: string, port: number, timeoutMs: number): Promise<unknown> => await new Promise((resolve) => {
    const sock = connect({ host: hostName, port, timeout: timeoutMs })
    const done = (outcome: string): void => {
      sock.destroy()
      resolve({ outcome })
    }
    sock.once('connect', () => { done('connected') })
    sock.once('timeout', () => { done('timeout') })
    sock.once('error', (e: NodeJS.ErrnoException) => { done(e.code ?? e.message) })
  })

  const dial = async (addr: string, timeoutMs: number): Promise<unknown> => {
    const conn = await host.dial(multiaddr(addr), { signal: AbortSignal.timeout(timeoutMs) })
    return connectionInfo(conn)
  }

  let stopping: Promise<void> | undefined
  const stop = async (): Promise<void> => {
    stopping ??= (async () => {
      discovery.stop()
      try {
        await raft.stop()
        await host.stop()
      } catch {
        // exiting anyway
      }
    })()
    await stopping
  }

  emit({ event: 'ready', peerId: host.peerId.toString(), addrs: host.getMultiaddrs().map(String) })

  const handle = async (req: PeerRequest): Promise<unknown> => {
    switch (req.cmd) {
      case 'status': return status()
      case 'send': return await send(req.to, req.totalBytes, req.messageBytes, req.deadlineMs)
      case 'probe': return await probe(req.host, req.port, req.timeoutMs)
      case 'dial': return await dial(req.addr, req.timeoutMs)
      case 'stop':
        await stop()
        return { stopped: true }
    }
  }

  while (true) {
    const next = await lines.next()
    if (next.done === true) break
    if (next.value.length > MAX_LINE_BYTES) throw new Error(`request line of ${next.value.length} bytes`)
    const req = JSON.parse(next.value) as PeerRequest
    // Requests run concurrently: a long `send` must not hold up `status`.
    handle(req).then(
      (result) => {
        emit({ id: req.id, ok: true, result })
        if (req.cmd === 'stop') process.exit(0)
      },
      (e: unknown) => { emit({ id: req.id, ok: false, error: errorText(e) }) })
  }
  // stdin closed: the test is gone. Stop, but never linger if stopping hangs.
  setTimeout(() => { process.exit(0) }, EXIT_GRACE_MS).unref()
  await stop()
  process.exit(0)
}

main().catch((e: unknown) => {
  emit({ event: 'fatal', error: errorText(e) })
  process.exit(1)
})
