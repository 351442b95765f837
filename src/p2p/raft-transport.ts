// /aspen/raft/1.0.0: carries Raft messages between nodes. One long-lived outbound stream per destination; every
// message queued for a peer in the same event-loop tick goes out as one frame in one send() (per-send overhead
// dominates on libp2p streams). Per-peer queues are bounded and drop their OLDEST messages (Raft tolerates
// drops). Inbound streams are served only for peers the node layer allows; a removed node is told so once.
import type { Stream } from '@libp2p/interface'
import { Uint8ArrayList } from 'uint8arraylist'
import type { Message, NodeId } from '../raft/types.js'
import { Backoff, DEFAULT_BACKOFF } from './backoff.js'
import type { BackoffPolicy } from './backoff.js'
import { dialProtocolStream } from './dial.js'
import type { PeerAddress, StreamHost } from './dial.js'
import { DropOldestQueue } from './drop-oldest-queue.js'
import { FrameTooLargeError, NotAuthorizedError } from './errors.js'
import { encodeFrame, encodeLengthPrefix, MAX_FRAME_BYTES } from './frame.js'
import { attachFrameReader } from './frame-stream.js'
import { errText, silentLogger } from './logger.js'
import type { P2PLogger } from './logger.js'
import { createP2PMetrics } from './metrics.js'
import type { P2PMetrics } from './metrics.js'
import { decodeRaftFrame, encodeRaftMessages, encodeRaftRemoved, LOCAL_MESSAGE_TYPES } from './raft-codec.js'
import { estimateMessageBytes, MAX_APPEND_BYTES, splitAppend } from './raft-batching.js'
import { dialProtocols, IncompatibleVersionError, protocolId, servedProtocols, WIRE_VERSION } from './protocol-version.js'
import type { WireVersion } from './protocol-version.js'

/** The id of the wire version this build speaks (it also serves the previous minor: see protocol-version.ts). */
export const RAFT_PROTOCOL = protocolId('raft', WIRE_VERSION)

/** The node layer's decision about an inbound peer. */
export type InboundVerdict =
  /** Serve it. With `nodeId`, messages whose `from` differs are dropped (a peer cannot speak for another node). */
  | { kind: 'allow', nodeId?: NodeId }
  /** It was a member and has been removed: tell it once, then close. */
  | { kind: 'removed' }
  /** Unknown: refuse the stream. */
  | { kind: 'deny' }

/** Who sent inbound messages. */
export interface InboundPeer {
  peerId: string
  nodeId?: NodeId
}

/** Receives every batch of valid inbound messages (in order per sending peer). */
export type RaftMessageSink = (messages: Message[], from: InboundPeer) => void

/** Test-only fault injection (partitions): drop everything to / from the given node ids. */
export interface RaftFaults {
  dropTo?: ReadonlySet<NodeId>
  dropFrom?: ReadonlySet<NodeId>
}

export interface RaftTransportLimits {
  /** Per-peer queue bound in messages; the oldest are dropped beyond it. */
  maxQueueMessages: number
  /** Per-peer queue bound in estimated bytes. */
  maxQueueBytes: number
  /** Largest frame accepted or produced. */
  maxFrameBytes: number
  /** Entry bytes per AppendEntries on the wire (larger ones are split). */
  maxAppendBytes: number
  /** Estimated bytes per frame; one flush writes at most one frame before looking at back-pressure again. */
  maxBatchBytes: number
  /** Deadline of one dial + protocol negotiation. */
  dialTimeoutMs: number
  /** Concurrent inbound Raft streams per connection. */
  maxInboundStreams: number
  /** A stream that lived this long counts as healthy: its close resets the backoff. */
  healthyStreamMs: number
  backoff: BackoffPolicy
}

export const DEFAULT_RAFT_TRANSPORT_LIMITS: RaftTransportLimits = {
  maxQueueMessages: 8192,
  // Bounds the memory one slow peer can pin (16 MiB per peer; a frame is at most MAX_FRAME_BYTES).
  maxQueueBytes: 16 * 1024 * 1024,
  maxFrameBytes: MAX_FRAME_BYTES,
  maxAppendBytes: MAX_APPEND_BYTES,
  maxBatchBytes: 4 * 1024 * 1024,
  dialTimeoutMs: 5000,
  // One per peer is normal; the slack covers replaced streams that are still closing.
  maxInboundStreams: 8,
  healthyStreamMs: 2000,
  backoff: DEFAULT_BACKOFF
}


export interface RaftTransportOptions {
  host: StreamHost
  /** This node's id: inbound messages addressed to another node are dropped. */
  selfId: NodeId
  /** Maps a destination node id to its peer (from the registry / membership); undefined = unknown. */
  resolvePeer: (nodeId: NodeId) => PeerAddress | undefined
  /** Decides whether an inbound peer is served; asked when a stream opens and again for every frame. */
  authorize: (peerId: string) => InboundVerdict
  metrics?: P2PMetrics
  logger?: P2PLogger
  limits?: Partial<RaftTransportLimits>
  /** Injected randomness (backoff jitter). */
  random?: () => number
  /** Injected clock (ms). */
  now?: () => number
  /** The wire version to speak (tests of rolling upgrades); default WIRE_VERSION. */
  wireVersion?: WireVersion
}

/** Per-destination outbound state. */
class PeerLink {
  readonly queue: DropOldestQueue<Message>
  readonly backoff: Backoff
  stream: Stream | undefined
  streamPeer: string | undefined
  openedAt = 0
  connecting = false
  /** The last version refusal logged for this peer. */
  refusal: string | undefined
  writing = false
  flushScheduled = false
  nextAttemptAt = 0
  retryTimer: NodeJS.Timeout | undefined

  constructor (readonly nodeId: NodeId, limits: RaftTransportLimits, random: () => number) {
    this.queue = new DropOldestQueue<Message>(limits.maxQueueMessages, limits.maxQueueBytes, estimateMessageBytes)
    this.backoff = new Backoff(limits.backoff, random)
  }
}

/** The Raft message transport of one node. */
export class RaftTransport {
  readonly metrics: P2PMetrics
  private readonly limits: RaftTransportLimits
  private readonly log: P2PLogger
  private readonly random: () => number
  private readonly now: () => number
  private readonly links = new Map<NodeId, PeerLink>()
  private readonly inbound = new Set<Stream>()
  private sink: RaftMessageSink | undefined
  private removedListeners: Array<(peer: InboundPeer) => void> = []
  private unreachableListeners: Array<(nodeId: NodeId) => void> = []
  private faults: RaftFaults = {}
  private started = false

  constructor (private readonly opts: RaftTransportOptions) {
    this.metrics = opts.metrics ?? createP2PMetrics()
    this.limits = { ...DEFAULT_RAFT_TRANSPORT_LIMITS, ...opts.limits }
    this.log = opts.logger ?? silentLogger
    this.random = opts.random ?? Math.random
    this.now = opts.now ?? Date.now
  }

  /** Registers the protocol handler. */
  async start (): Promise<void> {
    if (this.started) return
    await this.opts.host.handle(servedProtocols('raft', this.opts.wireVersion), (stream, connection) => {
      this.serveInbound(stream, connection.remotePeer.toString())
    }, { runOnLimitedConnection: true, maxInboundStreams: this.limits.maxInboundStreams })
    this.started = true
  }

  /** Unregisters the handler, closes every stream and drops every queue. */
  async stop (): Promise<void> {
    if (!this.started) return
    this.started = false
    await this.opts.host.unhandle(servedProtocols('raft', this.opts.wireVersion)).catch(() => undefined)
    for (const link of this.links.values()) this.closeLink(link)
    this.links.clear()
    for (const s of this.inbound) s.abort(new Error('raft transport stopped'))
    this.inbound.clear()
  }

  /** Sets the receiver of inbound messages (replaces any earlier one). */
  onMessage (sink: RaftMessageSink): void {
    this.sink = sink
  }

  /** Called when a peer tells us we were removed from the cluster (the node should stop campaigning). */
  onRemoved (listener: (peer: InboundPeer) => void): void {
    this.removedListeners.push(listener)
  }

  /** Called when a destination could not be reached (the node reports it to Raft: etcd's ReportUnreachable). */
  onUnreachable (listener: (nodeId: NodeId) => void): void {
    this.unreachableListeners.push(listener)
  }

  /** Test-only: drop all traffic to / from the given nodes (simulated partitions). */
  setFaults (faults: RaftFaults): void {
    this.faults = { dropTo: faults.dropTo, dropFrom: faults.dropFrom }
  }

  /** Test-only: true while traffic to `to` is being dropped (the node also holds back snapshots then). */
  dropsTo (to: NodeId): boolean {
    return this.faults.dropTo?.has(to) === true
  }

  /** Test-only: true while traffic from `from` is being dropped. */
  dropsFrom (from: NodeId): boolean {
    return this.faults.dropFrom?.has(from) === true
  }

  /** Queues messages for `to`; they leave in one frame at the end of this tick. Never blocks, never throws. */
  send (to: NodeId, messages: readonly Message[]): void {
    if (!this.started || messages.length === 0) return
    if (this.faults.dropTo?.has(to) === true) {
      this.metrics.raftDroppedFault += messages.length
      return
    }
    let link = this.links.get(to)
    if (link === undefined) {
      link = new PeerLink(to, this.limits, this.random)
      this.links.set(to, link)
    }
    const maxMessageBytes = this.limits.maxFrameBytes - 1024
    for (const m of messages) {
      for (const piece of splitAppend(m, this.limits.maxAppendBytes)) {
        if (estimateMessageBytes(piece) > maxMessageBytes) {
          this.metrics.raftDroppedOversize++
          this.log.warn({ to, type: piece.type, bytes: estimateMessageBytes(piece) }, 'raft message too large for one frame; dropped')
          continue
        }
        this.metrics.raftDroppedQueueFull += link.queue.push(piece)
      }
    }
    this.scheduleFlush(link)
  }

  /** Closes the stream to `to` and forgets its queue (e.g. after the node was removed). */
  disconnect (to: NodeId): void {
    const link = this.links.get(to)
    if (link === undefined) return
    this.closeLink(link)
    this.links.delete(to)
  }

  /** Per-destination state for status pages and tests. */
  peers (): Array<{ nodeId: NodeId, connected: boolean, peerId?: string, queued: number, queuedBytes: number }> {
    return [...this.links.values()].map((l) => ({
      nodeId: l.nodeId,
      connected: l.stream !== undefined,
      ...(l.streamPeer !== undefined ? { peerId: l.streamPeer } : {}),
      queued: l.queue.length,
      queuedBytes: l.queue.bytes
    }))
  }

  private scheduleFlush (link: PeerLink): void {
    if (link.flushScheduled) return
    link.flushScheduled = true
    // setImmediate, not a microtask: everything the node queues while handling this batch of I/O is coalesced.
    setImmediate(() => {
      link.flushScheduled = false
      this.pump(link)
    })
  }

  /** Moves queued messages onto the stream, dialling first if needed. */
  private pump (link: PeerLink): void {
    if (!this.started || link.writing || link.connecting || link.queue.length === 0) return
    if (this.links.get(link.nodeId) !== link) return
    const stream = link.stream
    if (stream === undefined || stream.writeStatus !== 'writable') {
      if (stream !== undefined) this.dropStream(link, stream)
      const wait = link.nextAttemptAt - this.now()
      if (wait > 0) {
        link.retryTimer ??= setTimeout(() => {
          link.retryTimer = undefined
          this.pump(link)
        }, wait)
        return
      }
      void this.connect(link)
      return
    }
    while (link.queue.length > 0) {
      const batch = link.queue.take(this.limits.maxBatchBytes)
      const payload = encodeRaftMessages(batch)
      if (payload.byteLength > this.limits.maxFrameBytes) {
        // Estimates are conservative, so this is a bug; drop rather than send a frame the peer must refuse.
        this.metrics.raftDroppedOversize += batch.length
        this.log.error({ to: link.nodeId, bytes: payload.byteLength }, 'raft frame over the limit; dropped')
        continue
      }
      // Prefix and payload as one list: one send() and no copy of a possibly multi-MiB payload.
      const frame = new Uint8ArrayList(encodeLengthPrefix(payload.byteLength), payload)
      let more: boolean
      try {
        more = stream.send(frame)
      } catch (e) {
        this.log.debug({ to: link.nodeId, err: errText(e) }, 'raft stream send failed')
        this.dropStream(link, stream)
        this.scheduleFlush(link)
        return
      }
      this.metrics.raftFramesOut++
      this.metrics.raftMessagesOut += batch.length
      this.metrics.raftBytesOut += frame.byteLength
      if (!more) {
        link.writing = true
        stream.onDrain().then(() => {
          link.writing = false
          this.pump(link)
        }, () => {
          link.writing = false
          this.dropStream(link, stream)
          this.pump(link)
        })
        return
      }
    }
  }

  private async connect (link: PeerLink): Promise<void> {
    link.connecting = true
    let target: PeerAddress | undefined
    try {
      target = this.opts.resolvePeer(link.nodeId)
    } catch (e) {
      this.log.warn({ to: link.nodeId, err: errText(e) }, 'resolvePeer threw')
    }
    try {
      if (target === undefined) {
        this.metrics.raftDroppedUnresolvable += link.queue.clear()
        this.failAttempt(link)
        return
      }
      const stream = await dialProtocolStream(this.opts.host, target, dialProtocols('raft', this.opts.wireVersion), this.limits.dialTimeoutMs)
      if (!this.started || this.links.get(link.nodeId) !== link) {
        stream.abort(new Error('raft transport stopped'))
        return
      }
      this.adoptStream(link, stream, target.peerId)
    } catch (e) {
      this.metrics.raftDialFailures++
      if (e instanceof IncompatibleVersionError) {
        // Said once per peer and version pair, not at every retry of the backoff.
        if (link.refusal !== e.message) this.log.error({ to: link.nodeId, code: e.code }, e.message)
        link.refusal = e.message
      } else this.log.debug({ to: link.nodeId, err: errText(e) }, 'raft dial failed')
      // Queued messages are stale by the time a retry succeeds; Raft resends what still matters.
      this.metrics.raftDroppedUnresolvable += link.queue.clear()
      this.failAttempt(link)
    } finally {
      link.connecting = false
      if (link.queue.length > 0) this.scheduleFlush(link)
    }
  }

  private failAttempt (link: PeerLink): void {
    link.nextAttemptAt = this.now() + link.backoff.next()
    for (const l of this.unreachableListeners) {
      try {
        l(link.nodeId)
      } catch (e) {
        this.log.warn({ err: errText(e) }, 'unreachable listener threw')
      }
    }
  }

  private adoptStream (link: PeerLink, stream: Stream, peerId: string): void {
    link.stream = stream
    link.streamPeer = peerId
    link.openedAt = this.now()
    this.metrics.raftConnects++
    // The remote only ever writes control frames on our outbound stream ("removed").
    attachFrameReader(stream, this.limits.maxFrameBytes, {
      onFrame: (payload, wire) => {
        this.metrics.raftBytesIn += wire
        const frame = decodeRaftFrame(payload)
        if (frame.kind === 'removed') {
          this.metrics.raftRemovedReceived++
          this.log.warn({ to: link.nodeId, peerId }, 'peer says this node was removed from the cluster')
          for (const l of this.removedListeners) {
            try {
              l({ peerId, nodeId: link.nodeId })
            } catch (e) {
              this.log.warn({ err: errText(e) }, 'removed listener threw')
            }
          }
        } else {
          this.metrics.raftDroppedInvalid += frame.messages.length
        }
      },
      onProtocolError: (err) => { this.countProtocolError(err) },
      onEnd: (err) => {
        this.log.debug({ to: link.nodeId, err: err === undefined ? undefined : errText(err) }, 'raft outbound stream ended')
        this.dropStream(link, stream)
        if (link.queue.length > 0) this.scheduleFlush(link)
      }
    })
  }

  /** Forgets a broken or finished stream and arms the backoff for the next dial. */
  private dropStream (link: PeerLink, stream: Stream): void {
    if (link.stream !== stream) return
    link.stream = undefined
    link.streamPeer = undefined
    if (stream.status === 'open') stream.abort(new Error('raft stream replaced'))
    if (this.now() - link.openedAt >= this.limits.healthyStreamMs) link.backoff.reset()
    link.nextAttemptAt = this.now() + link.backoff.next()
  }

  private closeLink (link: PeerLink): void {
    if (link.retryTimer !== undefined) clearTimeout(link.retryTimer)
    link.retryTimer = undefined
    link.queue.clear()
    const s = link.stream
    link.stream = undefined
    if (s !== undefined) s.close().catch(() => { s.abort(new Error('raft stream closed')) })
  }

  private serveInbound (stream: Stream, peerId: string): void {
    const verdict = this.authorizeSafe(peerId)
    if (verdict.kind !== 'allow') {
      this.refuse(stream, peerId, verdict.kind)
      return
    }
    this.inbound.add(stream)
    let from: InboundPeer = verdict.nodeId === undefined ? { peerId } : { peerId, nodeId: verdict.nodeId }
    attachFrameReader(stream, this.limits.maxFrameBytes, {
      onFrame: (payload, wire) => {
        this.metrics.raftFramesIn++
        this.metrics.raftBytesIn += wire
        const frame = decodeRaftFrame(payload)
        // Membership can change while a stream is open: ask again for every frame (a cheap callback).
        const v = this.authorizeSafe(peerId)
        if (v.kind !== 'allow') {
          this.inbound.delete(stream)
          this.refuse(stream, peerId, v.kind)
          return
        }
        if (v.nodeId !== from.nodeId) from = v.nodeId === undefined ? { peerId } : { peerId, nodeId: v.nodeId }
        if (frame.kind === 'messages') this.deliver(frame.messages, from)
      },
      onProtocolError: (err) => {
        this.countProtocolError(err)
        this.log.warn({ peerId, err: errText(err) }, 'closing raft stream after a bad frame')
      },
      onEnd: () => {
        this.inbound.delete(stream)
        if (stream.status === 'open') stream.close().catch(() => { stream.abort(new Error('raft stream closed')) })
      }
    })
  }

  private deliver (messages: Message[], from: InboundPeer): void {
    const ok: Message[] = []
    for (const m of messages) {
      if (LOCAL_MESSAGE_TYPES.has(m.type) || m.to !== this.opts.selfId || (from.nodeId !== undefined && m.from !== from.nodeId)) {
        this.metrics.raftDroppedInvalid++
      } else if (this.faults.dropFrom?.has(m.from) === true) {
        this.metrics.raftDroppedFault++
      } else {
        ok.push(m)
      }
    }
    if (ok.length === 0) return
    const sink = this.sink
    if (sink === undefined) {
      this.metrics.raftDroppedInvalid += ok.length
      return
    }
    this.metrics.raftMessagesIn += ok.length
    try {
      sink(ok, from)
    } catch (e) {
      this.log.error({ peerId: from.peerId, err: errText(e) }, 'raft message sink threw')
    }
  }

  private refuse (stream: Stream, peerId: string, kind: 'removed' | 'deny'): void {
    if (kind === 'deny') {
      this.metrics.raftStreamsDenied++
      this.log.debug({ peerId }, 'refusing raft stream from a peer that is not served')
      stream.abort(new NotAuthorizedError('not a member of this cluster'))
      return
    }
    this.metrics.raftRemovedSent++
    this.log.info({ peerId }, 'telling a removed node that it was removed')
    try {
      stream.send(encodeFrame(encodeRaftRemoved()))
      stream.close({ signal: AbortSignal.timeout(this.limits.dialTimeoutMs) }).catch(() => { stream.abort(new Error('raft stream closed')) })
    } catch {
      stream.abort(new Error('raft stream closed'))
    }
  }

  private authorizeSafe (peerId: string): InboundVerdict {
    try {
      return this.opts.authorize(peerId)
    } catch (e) {
      this.log.error({ peerId, err: errText(e) }, 'authorize callback threw; refusing the peer')
      return { kind: 'deny' }
    }
  }

  private countProtocolError (err: Error): void {
    if (err instanceof FrameTooLargeError) this.metrics.raftOversizeFrames++
    else this.metrics.raftDecodeErrors++
  }
}

