// Assembles the libp2p 3 host every Aspen node (and client) runs: TCP + circuit-relay transport, pnet sealed with
// the cookie-derived key, noise, yamux, identify, ping, gossipsub, DCUtR, AutoNAT, and, for `--relay` nodes, a
// circuit relay server that gives cluster peers unlimited relayed connections.
import { FaultTolerance } from '@libp2p/interface'
import { autoNAT } from '@libp2p/autonat'
import { circuitRelayServer, circuitRelayTransport } from '@libp2p/circuit-relay-v2'
import type { CircuitRelayService } from '@libp2p/circuit-relay-v2'
import { dcutr } from '@libp2p/dcutr'
import { gossipsub } from '@libp2p/gossipsub'
import type { GossipSub } from '@libp2p/gossipsub'
import { identify } from '@libp2p/identify'
import type { Identify } from '@libp2p/identify'
import { generateKeyPair } from '@libp2p/crypto/keys'
import type { Libp2p, PrivateKey } from '@libp2p/interface'
import { noise } from '@libp2p/noise'
import { ping } from '@libp2p/ping'
import type { Ping } from '@libp2p/ping'
import { tcp } from '@libp2p/tcp'
import { yamux } from '@libp2p/yamux'
import { multiaddr } from '@multiformats/multiaddr'
import { createLibp2p } from 'libp2p'
import type { ClusterKeys } from './cookie.js'
import { P2PConfigError } from './errors.js'
import { privateNetwork } from './pnet.js'

/** Services on every Aspen host. `relay` is present only on hosts started as relay servers. */
export interface AspenServices extends Record<string, unknown> {
  identify: Identify
  ping: Ping
  pubsub: GossipSub
  dcutr: unknown
  autonat?: unknown
  relay?: CircuitRelayService
}

/** The libp2p node type the rest of src/p2p works with. */
export type AspenHost = Libp2p<AspenServices>

export interface ConnectionMonitorOptions {
  /** How often every connection is pinged (ms). */
  pingIntervalMs: number
  /** Adaptive ping timeout bounds (ms); a ping slower than this aborts the connection. */
  pingTimeoutMinMs: number
  pingTimeoutMaxMs: number
}

/**
 * Pings every 1 s with a 2.5 s timeout: a frozen (SIGSTOP) peer is noticed in ~3 s instead of libp2p's ~14 s.
 * A 500 ms timeout (what NOTES measured, ~1.2 s detection) aborted healthy connections in our tests whenever the
 * event loop was busy for a moment (1 000 concurrent client requests in one process, or a loaded 2-core machine),
 * which resets every stream on the connection. Raft's own timeouts detect dead leaders; this only has to clean
 * up dead connections. FAST_CONNECTION_MONITOR keeps the aggressive option for quiet, dedicated machines.
 */
export const DEFAULT_CONNECTION_MONITOR: ConnectionMonitorOptions = { pingIntervalMs: 1000, pingTimeoutMinMs: 2500, pingTimeoutMaxMs: 5000 }
/** ~1.2 s failure detection; risks false disconnects when the event loop stalls for > 0.5 s. */
export const FAST_CONNECTION_MONITOR: ConnectionMonitorOptions = { pingIntervalMs: 1000, pingTimeoutMinMs: 500, pingTimeoutMaxMs: 1000 }
/** Whole-dial and per-address dial limits (ms). A pnet mismatch can hang until they fire. */
export const DEFAULT_DIAL_TIMEOUT_MS = 5000
export const DEFAULT_ADDRESS_DIAL_TIMEOUT_MS = 3000
/** New inbound connections accepted per second from one IP address. */
export const INBOUND_CONNECTIONS_PER_SECOND_PER_IP = 100
/** Inbound connections allowed to be in their handshake at once. */
export const MAX_PENDING_INBOUND_HANDSHAKES = 100

/** Default relay reservations (the libp2p default of 15 is too small for a cluster). */
export const DEFAULT_MAX_RELAY_RESERVATIONS = 256

export interface HostOptions {
  privateKey: PrivateKey
  /** Keys derived from the cookie: the pnet key seals every connection. */
  keys: ClusterKeys
  /** Multiaddrs to listen on, e.g. /ip4/0.0.0.0/tcp/4001. Empty for a dial-only client. */
  listen: readonly string[]
  /** Replace the advertised addresses (e.g. a public address in front of NAT). */
  announce?: readonly string[]
  /** Serve as a circuit relay with unlimited data and duration for relayed connections. */
  relayServer?: boolean | { maxReservations?: number }
  /** Relay multiaddrs (each ending in /p2p/<relay peer id>) to reserve a slot on; several are fine. */
  relays?: readonly string[]
  connectionMonitor?: Partial<ConnectionMonitorOptions>
  dialTimeoutMs?: number
  addressDialTimeoutMs?: number
  maxConnections?: number
  /** AutoNAT (default on); tests on loopback may turn it off to keep connection counts deterministic. */
  autonat?: boolean
  /** Start listening at once (default true). */
  start?: boolean
}

/** Creates (and by default starts) the libp2p host. Throws P2PConfigError for unusable addresses. */
export async function createHost (opts: HostOptions): Promise<AspenHost> {
  const listen = [...opts.listen]
  for (const relay of opts.relays ?? []) {
    const ma = parseAddr(relay, 'relays')
    if (!ma.getComponents().some((c) => c.name === 'p2p')) throw new P2PConfigError(`relay address ${relay} must end in /p2p/<relay peer id>`)
    listen.push(`${ma.toString()}/p2p-circuit`)
  }
  if ((opts.relays ?? []).length > 0 && !listen.includes('/p2p-circuit')) listen.push('/p2p-circuit')
  for (const a of [...opts.listen, ...(opts.announce ?? [])]) parseAddr(a, 'listen/announce')
  const mon = { ...DEFAULT_CONNECTION_MONITOR, ...opts.connectionMonitor }
  const relay = opts.relayServer
  const services = {
    identify: identify(),
    // The connection monitor opens a ping stream every second; the default limits (1 outbound, 2 inbound) make
    // a new ping fail while the previous stream is still closing on a busy connection, and the monitor then
    // aborts a healthy connection (seen under load in our tests).
    ping: ping({ maxOutboundStreams: 8, maxInboundStreams: 8, runOnLimitedConnection: true }),
    pubsub: gossipsub({ allowPublishToZeroTopicPeers: true, emitSelf: false }),
    dcutr: dcutr(),
    ...(opts.autonat === false ? {} : { autonat: autoNAT() }),
    ...(relay === undefined || relay === false
      ? {}
      : {
          relay: circuitRelayServer({
            reservations: {
              // Unlimited data and time for relayed cluster traffic: the defaults (~2 min / 128 KiB) cut Raft streams.
              applyDefaultLimit: false,
              maxReservations: (typeof relay === 'object' ? relay.maxReservations : undefined) ?? DEFAULT_MAX_RELAY_RESERVATIONS
            }
          })
        })
  }
  return await createLibp2p<AspenServices>({
    privateKey: opts.privateKey,
    start: opts.start ?? true,
    addresses: { listen, ...(opts.announce !== undefined && opts.announce.length > 0 ? { announce: [...opts.announce] } : {}) },
    transports: [tcp(), circuitRelayTransport()],
    connectionProtector: privateNetwork({ psk: opts.keys.psk }),
    // A relay that is down at start-up must not stop the node: it keeps the addresses that work (failover).
    transportManager: { faultTolerance: FaultTolerance.NO_FATAL },
    connectionEncrypters: [noise()],
    streamMuxers: [yamux()],
    connectionManager: {
      // libp2p's defaults (5 new connections per second per remote IP, 10 handshakes pending) refuse a burst of
      // CLI invocations or application clients behind one address (one NAT, one container host, loopback) with
      // a TCP reset before pnet is even reached; a KV server must accept them. pnet still gates every byte.
      inboundConnectionThreshold: INBOUND_CONNECTIONS_PER_SECOND_PER_IP,
      maxIncomingPendingConnections: MAX_PENDING_INBOUND_HANDSHAKES,
      dialTimeout: opts.dialTimeoutMs ?? DEFAULT_DIAL_TIMEOUT_MS,
      addressDialTimeout: opts.addressDialTimeoutMs ?? DEFAULT_ADDRESS_DIAL_TIMEOUT_MS,
      ...(opts.maxConnections !== undefined ? { maxConnections: opts.maxConnections } : {})
    },
    connectionMonitor: {
      pingInterval: mon.pingIntervalMs,
      pingTimeout: { minTimeout: mon.pingTimeoutMinMs, maxTimeout: mon.pingTimeoutMaxMs }
    },
    services
  })
}

function parseAddr (s: string, what: string): ReturnType<typeof multiaddr> {
  try {
    return multiaddr(s)
  } catch (e) {
    throw new P2PConfigError(`${what}: "${s}" is not a multiaddr (${e instanceof Error ? e.message : 'unparseable'})`)
  }
}

export interface ClientHostOptions {
  keys: ClusterKeys
  /** Defaults to a fresh Ed25519 key (clients need no stable identity). */
  privateKey?: PrivateKey
  dialTimeoutMs?: number
}

/** A dial-only host for clients and CLI commands: same pnet/noise/yamux stack, no listeners, no AutoNAT. */
export async function createClientHost (opts: ClientHostOptions): Promise<AspenHost> {
  return await createHost({
    privateKey: opts.privateKey ?? await generateKeyPair('Ed25519'),
    keys: opts.keys,
    listen: [],
    autonat: false,
    ...(opts.dialTimeoutMs !== undefined ? { dialTimeoutMs: opts.dialTimeoutMs } : {})
  })
}
