// Plain counters of the p2p layer. The node maps them to Prometheus; the p2p layer only increments numbers, so it
// stays free of any metrics library. Counters only grow (reset by creating a new object).

/** Why a discovery announcement was not accepted (see announcement-verifier.ts). */
export type AnnouncementRejectReason =
  | 'too-large'
  | 'rate-limited'
  | 'undecodable'
  | 'bad-version'
  | 'bad-hmac'
  | 'wrong-cluster'
  | 'unsigned'
  | 'peer-mismatch'
  | 'stale'
  | 'replayed'
  | 'bad-address'
  | 'binding-conflict'
  | 'self'

export const ANNOUNCEMENT_REJECT_REASONS: readonly AnnouncementRejectReason[] = [
  'too-large', 'rate-limited', 'undecodable', 'bad-version', 'bad-hmac', 'wrong-cluster', 'unsigned', 'peer-mismatch',
  'stale', 'replayed', 'bad-address', 'binding-conflict', 'self'
]

export interface P2PMetrics {
  /** Raft frames written / read (one frame carries a batch of messages). */
  raftFramesOut: number
  raftFramesIn: number
  raftMessagesOut: number
  raftMessagesIn: number
  /** Payload bytes including length prefixes. */
  raftBytesOut: number
  raftBytesIn: number
  /** Oldest queued messages dropped because a peer's queue was full (back-pressure). */
  raftDroppedQueueFull: number
  /** Messages dropped because the node id did not resolve to a peer. */
  raftDroppedUnresolvable: number
  /** Messages dropped by the test fault hook (setFaults). */
  raftDroppedFault: number
  /** Messages too large for one frame even after splitting. */
  raftDroppedOversize: number
  /** Inbound messages dropped: local-only types, wrong `to`, `from` not matching the sending peer, no sink. */
  raftDroppedInvalid: number
  /** Inbound frames that did not decode (the stream is closed). */
  raftDecodeErrors: number
  /** Inbound frames whose length exceeded 16 MiB (the stream is closed). */
  raftOversizeFrames: number
  /** Inbound Raft streams refused (peer not served). */
  raftStreamsDenied: number
  /** "removed" notices sent to peers that are no longer members. */
  raftRemovedSent: number
  /** "removed" notices received. */
  raftRemovedReceived: number
  /** Outbound stream set-ups that failed / succeeded. */
  raftDialFailures: number
  raftConnects: number

  snapshotsSent: number
  snapshotsReceived: number
  snapshotFailures: number
  snapshotChunksOut: number
  snapshotChunksIn: number
  snapshotBytesOut: number
  snapshotBytesIn: number
  snapshotDecodeErrors: number

  clientRequestsIn: number
  clientResponsesOut: number
  clientRequestsOut: number
  clientTimeouts: number
  clientDecodeErrors: number
  /** Client requests refused because too many were in flight. */
  clientOverloaded: number

  discoveryPublished: number
  discoveryAccepted: number
  discoveryRejected: Record<AnnouncementRejectReason, number>
  bootstrapDials: number
  bootstrapDialFailures: number
}

/** A fresh set of zeroed counters. */
export function createP2PMetrics (): P2PMetrics {
  const discoveryRejected = {} as Record<AnnouncementRejectReason, number>
  for (const r of ANNOUNCEMENT_REJECT_REASONS) discoveryRejected[r] = 0
  return {
    raftFramesOut: 0,
    raftFramesIn: 0,
    raftMessagesOut: 0,
    raftMessagesIn: 0,
    raftBytesOut: 0,
    raftBytesIn: 0,
    raftDroppedQueueFull: 0,
    raftDroppedUnresolvable: 0,
    raftDroppedFault: 0,
    raftDroppedOversize: 0,
    raftDroppedInvalid: 0,
    raftDecodeErrors: 0,
    raftOversizeFrames: 0,
    raftStreamsDenied: 0,
    raftRemovedSent: 0,
    raftRemovedReceived: 0,
    raftDialFailures: 0,
    raftConnects: 0,
    snapshotsSent: 0,
    snapshotsReceived: 0,
    snapshotFailures: 0,
    snapshotChunksOut: 0,
    snapshotChunksIn: 0,
    snapshotBytesOut: 0,
    snapshotBytesIn: 0,
    snapshotDecodeErrors: 0,
    clientRequestsIn: 0,
    clientResponsesOut: 0,
    clientRequestsOut: 0,
    clientTimeouts: 0,
    clientDecodeErrors: 0,
    clientOverloaded: 0,
    discoveryPublished: 0,
    discoveryAccepted: 0,
    discoveryRejected,
    bootstrapDials: 0,
    bootstrapDialFailures: 0
  }
}

/** Sum of all Raft message drops (queue, unresolvable, fault, oversize, invalid). */
export function raftDrops (m: P2PMetrics): number {
  return m.raftDroppedQueueFull + m.raftDroppedUnresolvable + m.raftDroppedFault + m.raftDroppedOversize + m.raftDroppedInvalid
}
