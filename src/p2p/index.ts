// Public API of the p2p layer. The node wires it to Raft and the store through callbacks (registry, resolvePeer,
// authorize, message sink, snapshot handler, client handler); the client uses the host, tickets and
// ClientConnection. Nothing here imports src/store, src/node or src/client.
export { startP2PNode } from './p2p-node.js'
export type { P2PNode, P2PNodeOptions } from './p2p-node.js'

export { loadOrCreateIdentity, privateKeyFromSecretHex, IDENTITY_FILE } from './identity.js'
export type { Identity, IdentityOptions } from './identity.js'

export { deriveClusterKeys } from './cookie.js'
export type { ClusterKeys } from './cookie.js'

export { createHost, createClientHost, DEFAULT_CONNECTION_MONITOR, FAST_CONNECTION_MONITOR, DEFAULT_DIAL_TIMEOUT_MS } from './host.js'
export type { AspenHost, AspenServices, ClientHostOptions, HostOptions, ConnectionMonitorOptions } from './host.js'

export { Discovery, DEFAULT_DISCOVERY_TIMING } from './discovery.js'
export type { DiscoveryOptions, DiscoveryTiming } from './discovery.js'
export { MemoryRegistry } from './registry.js'
export type { DiscoveredPeer, DiscoveryRegistry } from './registry.js'
export { AnnouncementVerifier, DEFAULT_MAX_SKEW_MS, DEFAULT_ANNOUNCEMENT_RATE } from './announcement-verifier.js'
export type { AnnouncementVerifierOptions, VerifiedAnnouncement, VerifyResult } from './announcement-verifier.js'
export { sealAnnouncement, openAnnouncement, MAX_ANNOUNCEMENT_BYTES } from './announcement.js'
export type { AnnouncementContent } from './announcement.js'
export { dialBootstrapPeers, parseBootstrap, PeerKeeper } from './bootstrap.js'
export type { BootstrapTarget, DialBootstrapOptions } from './bootstrap.js'

export { RaftTransport, RAFT_PROTOCOL, DEFAULT_RAFT_TRANSPORT_LIMITS } from './raft-transport.js'
export type { InboundPeer, InboundVerdict, RaftFaults, RaftMessageSink, RaftTransportLimits, RaftTransportOptions } from './raft-transport.js'
export { encodeRaftMessages, decodeRaftFrame, RAFT_FRAME_VERSION } from './raft-codec.js'
export type { DecodedRaftFrame } from './raft-codec.js'
export { MAX_APPEND_BYTES, splitAppend } from './raft-batching.js'

export { SnapshotTransport, SNAPSHOT_PROTOCOL, DEFAULT_SNAPSHOT_LIMITS } from './snapshot-transport.js'
export type { IncomingSnapshot, SnapshotHandler, SnapshotSendOptions, SnapshotSendResult, SnapshotTransportLimits } from './snapshot-transport.js'

export { ClientServer, ClientConnection, openClientConnection, CLIENT_PROTOCOL, DEFAULT_CLIENT_SERVER_LIMITS } from './client-transport.js'
export type {
  ClientCall, ClientConnectionOptions, ClientErrorReply, ClientReply, ClientRequestHandler, ClientResponse, ClientServerLimits,
  ClientServerOptions, LeaderHint, RequestOptions
} from './client-transport.js'

export { dialProtocolStream } from './dial.js'
export type { PeerAddress, StreamHost } from './dial.js'

export { encodeTicket, parseTicket, ticketMultiaddrs, TICKET_PREFIX, MAX_TICKET_PEERS, MAX_TICKET_ADDRS_PER_PEER } from './ticket.js'
export type { Ticket, TicketPeer } from './ticket.js'

export { FrameDecoder, encodeFrame, encodeFrames, MAX_FRAME_BYTES } from './frame.js'
export { createP2PMetrics, raftDrops, ANNOUNCEMENT_REJECT_REASONS } from './metrics.js'
export type { P2PMetrics, AnnouncementRejectReason } from './metrics.js'
export { silentLogger } from './logger.js'
export type { P2PLogger } from './logger.js'

export {
  ConnectionClosedError, CookieError, DialError, FrameDecodeError, FrameTooLargeError, IdentityError, NotAuthorizedError,
  OverloadedError, P2PConfigError, PeerUnknownError, SnapshotTransferError, TicketError, TimeoutError
} from './errors.js'
export {
  WIRE_VERSION, PROTOCOL_FAMILIES, IncompatibleVersionError, accepted, compatible, dialProtocols, formatVersion, incompatibility, negotiate,
  parseProtocolId, parseWireVersion, protocolId, servedProtocols
} from './protocol-version.js'
export type { ProtocolFamily, WireVersion } from './protocol-version.js'
