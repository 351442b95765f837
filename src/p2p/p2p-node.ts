// One node's whole p2p stack, assembled in the right order: identity → cookie keys → host → Raft, snapshot and
// client protocols → discovery (+ bootstrap keeper). The node layer wires it to Raft and the store through the
// callbacks in the options; nothing here knows about either.
import type { NodeId } from '../raft/types.js'
import type { ClusterKeys } from './cookie.js'
import { deriveClusterKeys } from './cookie.js'
import { ClientServer } from './client-transport.js'
import type { ClientServerLimits } from './client-transport.js'
import type { PeerAddress } from './dial.js'
import { Discovery } from './discovery.js'
import type { DiscoveryTiming } from './discovery.js'
import { createHost } from './host.js'
import type { AspenHost, ConnectionMonitorOptions } from './host.js'
import { loadOrCreateIdentity } from './identity.js'
import type { Identity } from './identity.js'
import { errText, silentLogger } from './logger.js'
import type { P2PLogger } from './logger.js'
import { createP2PMetrics } from './metrics.js'
import type { P2PMetrics } from './metrics.js'
import { RaftTransport } from './raft-transport.js'
import type { InboundVerdict, RaftTransportLimits } from './raft-transport.js'
import type { DiscoveryRegistry } from './registry.js'
import { SnapshotTransport } from './snapshot-transport.js'
import type { SnapshotTransportLimits } from './snapshot-transport.js'
import { encodeTicket } from './ticket.js'
import { incompatibility, PROTOCOL_FAMILIES, WIRE_VERSION } from './protocol-version.js'
import type { WireVersion } from './protocol-version.js'

export interface P2PNodeOptions {
  /** DATA_DIR: identity.key lives here. */
  dataDir: string
  /** Config `secret_key` (hex), overriding identity.key. See IdentityOptions.secretKey. */
  secretKey?: string | null
  /** An identity the caller already loaded (the node checks it against its store first); skips loading. */
  identity?: Identity
  /** The cluster cookie (secret; only derived keys are kept). */
  cookie: string
  nodeId: NodeId
  listen: readonly string[]
  announce?: readonly string[]
  /** Multiaddrs with /p2p/<id>, or aspen1 tickets. */
  bootstrap?: readonly string[]
  /** Serve as a circuit relay (unlimited relayed connections for cluster peers). */
  relayServer?: boolean
  /** Relays to reserve a slot on (multiaddrs ending in /p2p/<relay id>). */
  relays?: readonly string[]
  /** Discovery writes here; bindingFor() answers from Raft membership. */
  registry: DiscoveryRegistry
  /** Node id → peer id + addresses (registry lookup) for outbound Raft and snapshot streams. */
  resolvePeer: (nodeId: NodeId) => PeerAddress | undefined
  /** Which peers the Raft and snapshot protocols serve. */
  authorize: (peerId: string) => InboundVerdict
  logger?: P2PLogger
  clock?: () => number
  connectionMonitor?: Partial<ConnectionMonitorOptions>
  autonat?: boolean
  dialTimeoutMs?: number
  discoveryTiming?: Partial<DiscoveryTiming>
  raftLimits?: Partial<RaftTransportLimits>
  snapshotLimits?: Partial<SnapshotTransportLimits>
  clientLimits?: Partial<ClientServerLimits>
  /** The wire version to speak (tests of rolling upgrades); default WIRE_VERSION. */
  wireVersion?: WireVersion
}

export interface P2PNode {
  readonly identity: Identity
  readonly peerId: string
  /** Public cluster id derived from the cookie. */
  readonly clusterId: string
  readonly host: AspenHost
  readonly raft: RaftTransport
  readonly snapshots: SnapshotTransport
  /** Set its handler with clientServer.setHandler(); until then requests get UNAVAILABLE. */
  readonly clientServer: ClientServer
  readonly discovery: Discovery
  readonly metrics: P2PMetrics
  /** Our dialable multiaddrs, each ending in /p2p/<peerId>. */
  addrs (): string[]
  /** A ticket naming this node (and `others`, up to 16 peers in all). */
  ticket (others?: ReadonlyArray<{ peerId: string, addrs: string[] }>): string
  /** Stops discovery, the protocols and the host. */
  stop (): Promise<void>
}

/** Loads the identity and starts the whole p2p stack of a node. Throws IdentityError, CookieError, P2PConfigError. */
export async function startP2PNode (opts: P2PNodeOptions): Promise<P2PNode> {
  const log = opts.logger ?? silentLogger
  const identity = opts.identity ?? await loadOrCreateIdentity(opts.dataDir, { secretKey: opts.secretKey ?? null })
  if (opts.identity === undefined) for (const w of identity.warnings) log.warn({}, w)
  const keys: ClusterKeys = deriveClusterKeys(opts.cookie)
  const metrics = createP2PMetrics()
  const host = await createHost({
    privateKey: identity.privateKey,
    keys,
    listen: opts.listen,
    ...(opts.announce !== undefined ? { announce: opts.announce } : {}),
    ...(opts.relayServer === true ? { relayServer: true } : {}),
    ...(opts.relays !== undefined ? { relays: opts.relays } : {}),
    ...(opts.connectionMonitor !== undefined ? { connectionMonitor: opts.connectionMonitor } : {}),
    ...(opts.autonat !== undefined ? { autonat: opts.autonat } : {}),
    ...(opts.dialTimeoutMs !== undefined ? { dialTimeoutMs: opts.dialTimeoutMs } : {})
  })
  const parts: { raft?: RaftTransport, snapshots?: SnapshotTransport, clientServer?: ClientServer, discovery?: Discovery } = {}
  try {
    const raft = parts.raft = new RaftTransport({
      host, selfId: opts.nodeId, resolvePeer: opts.resolvePeer, authorize: opts.authorize, metrics, logger: log,
      ...(opts.wireVersion !== undefined ? { wireVersion: opts.wireVersion } : {}),
      ...(opts.raftLimits !== undefined ? { limits: opts.raftLimits } : {}),
      ...(opts.clock !== undefined ? { now: opts.clock } : {})
    })
    const snapshots = parts.snapshots = new SnapshotTransport({
      host, resolvePeer: opts.resolvePeer, authorize: opts.authorize, metrics, logger: log,
      ...(opts.wireVersion !== undefined ? { wireVersion: opts.wireVersion } : {}),
      ...(opts.snapshotLimits !== undefined ? { limits: opts.snapshotLimits } : {})
    })
    const clientServer = parts.clientServer = new ClientServer({
      host, metrics, logger: log, ...(opts.clientLimits !== undefined ? { limits: opts.clientLimits } : {}),
      ...(opts.wireVersion !== undefined ? { wireVersion: opts.wireVersion } : {})
    })
    await raft.start()
    await snapshots.start()
    await clientServer.start()
    const discovery = parts.discovery = new Discovery({
      host, keys, nodeId: opts.nodeId, registry: opts.registry, metrics, logger: log,
      // Relays are kept connected like bootstrap peers: when one comes back, the '/p2p-circuit' listener reserves
      // a slot on it again (the circuit transport re-reserves on connected relays, not on configured addresses).
      bootstrap: [...(opts.bootstrap ?? []), ...(opts.relays ?? [])],
      ...(opts.clock !== undefined ? { clock: opts.clock } : {}),
      ...(opts.discoveryTiming !== undefined ? { timing: opts.discoveryTiming } : {}),
      ...(opts.dialTimeoutMs !== undefined ? { dialTimeoutMs: opts.dialTimeoutMs } : {})
    })
    discovery.start()
    watchPeerVersions(host, opts.wireVersion ?? WIRE_VERSION, log)
    const peerId = identity.peerId.toString()
    log.info({ peerId, clusterId: keys.clusterId, addrs: host.getMultiaddrs().map(String) }, 'p2p host started')
    let stopped = false
    return {
      identity,
      peerId,
      clusterId: keys.clusterId,
      host,
      raft,
      snapshots,
      clientServer,
      discovery,
      metrics,
      addrs: () => host.getMultiaddrs().map(String),
      ticket: (others = []) => encodeTicket({
        clusterId: keys.clusterId,
        peers: [{ peerId, addrs: discovery.announceAddrs().slice(0, 8) }, ...others.map((o) => ({ peerId: o.peerId, addrs: o.addrs.slice(0, 8) }))].slice(0, 16)
      }),
      stop: async () => {
        if (stopped) return
        stopped = true
        await stopParts(parts, host, log)
      }
    }
  } catch (e) {
    await stopParts(parts, host, log)
    throw e
  }
}

/** Most peers remembered as already reported incompatible (a bound on the memory of a long-running node). */
const MAX_REPORTED_PEERS = 1000

/**
 * Logs, once per peer and version, a peer whose identify shows it speaks only versions of our protocols that this
 * node cannot talk to: the listening side of a refused rolling-upgrade step says why, not only the dialer.
 */
function watchPeerVersions (host: AspenHost, local: WireVersion, log: P2PLogger): void {
  const reported = new Map<string, string>()
  host.addEventListener('peer:identify', (evt) => {
    const peerId = evt.detail.peerId.toString()
    for (const family of PROTOCOL_FAMILIES) {
      const refusal = incompatibility(peerId, family, local, evt.detail.protocols)
      if (refusal === undefined) continue
      if (reported.get(peerId) === refusal.message) return
      if (reported.size >= MAX_REPORTED_PEERS) reported.clear()
      reported.set(peerId, refusal.message)
      log.error({ peerId, code: refusal.code }, refusal.message)
      return
    }
  })
}

async function stopParts (parts: { raft?: RaftTransport, snapshots?: SnapshotTransport, clientServer?: ClientServer, discovery?: Discovery },
  host: AspenHost, log: P2PLogger): Promise<void> {
  parts.discovery?.stop()
  for (const p of [parts.raft, parts.snapshots, parts.clientServer]) {
    try {
      await p?.stop()
    } catch (e) {
      log.warn({ err: errText(e) }, 'p2p protocol stop failed')
    }
  }
  try {
    await host.stop()
  } catch (e) {
    log.warn({ err: errText(e) }, 'libp2p host stop failed')
  }
}
