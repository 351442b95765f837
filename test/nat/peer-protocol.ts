// The line protocol between the NAT test and the peer processes it runs inside network namespaces: the first stdin
// line is the peer's configuration (it carries the cookie and the private key, so neither appears in argv or `ps`),
// every later stdin line is a request; stdout carries one JSON object per line (events and replies).
import type { NodeId } from '../../src/raft/types.js'

/** Longest line either side accepts; a status reply is a few KiB. */
export const MAX_LINE_BYTES = 1024 * 1024

export type PeerRole = 'relay' | 'node'

/** What a peer process runs. Secrets (cookie, key) travel on stdin only. */
export interface PeerConfig {
  role: PeerRole
  /** Shown in diagnostics only. */
  name: string
  cookie: string
  /** libp2p protobuf encoding of the Ed25519 private key, hex. */
  privateKeyHex: string
  nodeId: NodeId
  listen: string[]
  /** Relay multiaddrs ending in /p2p/<relay id> (relay client). */
  relays: string[]
  /** Multiaddrs with /p2p/<id> that discovery dials and keeps. */
  bootstrap: string[]
}

export type PeerRequest =
  | { id: number, cmd: 'status' }
  /** Queue app messages of `messageBytes` for `to` until `totalBytes` of Raft frames left on the stream. */
  | { id: number, cmd: 'send', to: NodeId, totalBytes: number, messageBytes: number, deadlineMs: number }
  /** Open (and close) a plain TCP connection: is `host:port` reachable at the network level? */
  | { id: number, cmd: 'probe', host: string, port: number, timeoutMs: number }
  /** Dial a multiaddr with libp2p (connection only, no protocol). */
  | { id: number, cmd: 'dial', addr: string, timeoutMs: number }
  | { id: number, cmd: 'stop' }

export type PeerReply =
  | { id: number, ok: true, result: unknown }
  | { id: number, ok: false, error: string }

export type PeerEvent =
  | { event: 'ready', peerId: string, addrs: string[] }
  | { event: 'fatal', error: string }

/** One libp2p connection as a peer sees it. */
export interface ConnectionInfo {
  peerId: string
  remoteAddr: string
  /** The remote address goes through a circuit relay. */
  relayed: boolean
  /** Relay limits as text (`undefined` in libp2p means unlimited: reported as null). */
  limits: { bytes?: string, seconds?: number } | null
  direction: string
  status: string
  /** Protocols of the streams open on it. */
  protocols: string[]
}

/** Reply to `status`. */
export interface PeerStatus {
  name: string
  peerId: string
  nodeId: NodeId
  addrs: string[]
  registry: Array<{ nodeId: NodeId, peerId: string, addrs: string[] }>
  connections: ConnectionInfo[]
  /** Every connection opened since start (bounded), including closed ones. */
  connectionsEver: Array<Pick<ConnectionInfo, 'peerId' | 'remoteAddr' | 'relayed'>>
  /** Entry bytes of Raft app messages delivered to the sink, by the path their stream used ("relay:<id>" / "direct"). */
  receivedByPath: Record<string, number>
  raft: {
    bytesIn: number
    bytesOut: number
    framesIn: number
    messagesIn: number
    connects: number
    dialFailures: number
    streamsDenied: number
    drops: number
  }
  discovery: { published: number, accepted: number, bootstrapDials: number, bootstrapDialFailures: number, bootstrapConnected: number }
}

/** The relay peer id a circuit address goes through, or undefined for a direct address. */
export function relayOf (addr: string): string | undefined {
  const parts = addr.split('/')
  const circuit = parts.indexOf('p2p-circuit')
  if (circuit < 2 || parts[circuit - 2] !== 'p2p') return undefined
  return parts[circuit - 1]
}

/** The path a connection with `remoteAddr` takes: "relay:<relay id>", "relay:?" or "direct". */
export function pathOf (remoteAddr: string): string {
  if (!remoteAddr.includes('/p2p-circuit')) return 'direct'
  return `relay:${relayOf(remoteAddr) ?? '?'}`
}
