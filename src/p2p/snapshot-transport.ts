// /aspen/raft-snapshot/1.0.0: streams a snapshot to a follower on its own stream, so heartbeats and appends on
// /aspen/raft never wait behind it. One snapshot per stream: OFFER (id + small metadata), then CHUNKs with a
// sequence number and CRC-32, each acknowledged once the receiver's consumer has taken it; at most `window`
// chunks are unacknowledged, so memory on both sides stays bounded and a slow installer slows the sender.
import { randomBytes } from 'node:crypto'
import { crc32 } from 'node:zlib'
import type { Stream } from '@libp2p/interface'
import type { NodeId } from '../raft/types.js'
import { dialProtocolStream, sendWithBackpressure } from './dial.js'
import type { PeerAddress, StreamHost } from './dial.js'
import { dialProtocols, protocolId, servedProtocols, WIRE_VERSION } from './protocol-version.js'
import type { WireVersion } from './protocol-version.js'
import { ConnectionClosedError, FrameDecodeError, PeerUnknownError, SnapshotTransferError, TimeoutError } from './errors.js'
import { encodeFrame } from './frame.js'
import { attachFrameReader } from './frame-stream.js'
import { errText, silentLogger } from './logger.js'
import type { P2PLogger } from './logger.js'
import { createP2PMetrics } from './metrics.js'
import type { P2PMetrics } from './metrics.js'
import type { InboundPeer, InboundVerdict } from './raft-transport.js'
import { SnapshotAck, SnapshotAckStatus, SnapshotFrame, SnapshotFrameKind } from './wire/snapshot.js'

/** The id of the wire version this build speaks (it also serves the previous minor: see protocol-version.ts). */
export const SNAPSHOT_PROTOCOL = protocolId('raft-snapshot', WIRE_VERSION)
export const SNAPSHOT_FRAME_VERSION = 1

export interface SnapshotTransportLimits {
  /**
   * Largest chunk a receiver accepts (protocol cap). Producer chunks cross unchanged, one per CHUNK frame: the
   * store's chunks are self-describing and checksummed, so the receiver must see exactly the chunks produced.
   */
  maxChunkBytes: number
  /** Largest metadata blob in the offer. */
  maxMetadataBytes: number
  /** Unacknowledged chunks in flight. */
  window: number
  /** The sender fails if the receiver makes no progress (ack or done) for this long. */
  progressTimeoutMs: number
  dialTimeoutMs: number
  /** Concurrent inbound snapshot streams per connection. */
  maxInboundStreams: number
}

export const DEFAULT_SNAPSHOT_LIMITS: SnapshotTransportLimits = {
  maxChunkBytes: 4 * 1024 * 1024,
  maxMetadataBytes: 1024 * 1024,
  window: 4,
  progressTimeoutMs: 60_000,
  dialTimeoutMs: 5000,
  // One transfer at a time is normal; the slack covers streams of failed transfers that are still closing.
  maxInboundStreams: 8
}

/** A snapshot arriving from a peer. `chunks` must be consumed to the end for the transfer to succeed. */
export interface IncomingSnapshot {
  from: InboundPeer
  snapshotId: string
  metadata: Uint8Array
  chunks: AsyncIterable<Uint8Array>
}

/** Consumes an incoming snapshot (e.g. installs it); resolving acknowledges it to the sender, throwing fails it. */
export type SnapshotHandler = (snapshot: IncomingSnapshot) => Promise<void>

export interface SnapshotSendOptions {
  signal?: AbortSignal
}

export interface SnapshotSendResult {
  snapshotId: string
  chunks: number
  bytes: number
}

export interface SnapshotTransportOptions {
  host: StreamHost
  resolvePeer: (nodeId: NodeId) => PeerAddress | undefined
  authorize: (peerId: string) => InboundVerdict
  metrics?: P2PMetrics
  logger?: P2PLogger
  limits?: Partial<SnapshotTransportLimits>
  /** The wire version to speak (tests of rolling upgrades); default WIRE_VERSION. */
  wireVersion?: WireVersion
}

/** Wakes waiters when something changes; fails them all once. */
class Progress {
  private waiters: Array<{ resolve: () => void, reject: (e: Error) => void }> = []
  error: Error | undefined

  notify (): void {
    const w = this.waiters
    this.waiters = []
    for (const x of w) x.resolve()
  }

  fail (e: Error): void {
    if (this.error !== undefined) return
    this.error = e
    const w = this.waiters
    this.waiters = []
    for (const x of w) x.reject(e)
  }

  /** Resolves at the next notify(); rejects on fail() or after `timeoutMs` (0 = no timeout). */
  async wait (timeoutMs: number, what: string): Promise<void> {
    if (this.error !== undefined) throw this.error
    await new Promise<void>((resolve, reject) => {
      let timer: NodeJS.Timeout | undefined
      const done = (): void => { if (timer !== undefined) clearTimeout(timer) }
      this.waiters.push({ resolve: () => { done(); resolve() }, reject: (e) => { done(); reject(e) } })
      if (timeoutMs > 0) {
        timer = setTimeout(() => { this.fail(new TimeoutError(`${what}: no progress for ${timeoutMs} ms`)) }, timeoutMs)
      }
    })
  }
}

/** Sends and receives snapshots. */
export class SnapshotTransport {
  readonly metrics: P2PMetrics
  private readonly limits: SnapshotTransportLimits
  private readonly log: P2PLogger
  private handler: SnapshotHandler | undefined
  private readonly streams = new Set<Stream>()
  private started = false

  constructor (private readonly opts: SnapshotTransportOptions) {
    this.metrics = opts.metrics ?? createP2PMetrics()
    this.limits = { ...DEFAULT_SNAPSHOT_LIMITS, ...opts.limits }
    this.log = opts.logger ?? silentLogger
  }

  /** Registers the protocol handler. */
  async start (): Promise<void> {
    if (this.started) return
    await this.opts.host.handle(servedProtocols('raft-snapshot', this.opts.wireVersion), (stream, connection) => {
      this.serve(stream, connection.remotePeer.toString())
    }, { runOnLimitedConnection: true, maxInboundStreams: this.limits.maxInboundStreams })
    this.started = true
  }

  /** Unregisters the handler and aborts transfers in progress. */
  async stop (): Promise<void> {
    if (!this.started) return
    this.started = false
    await this.opts.host.unhandle(servedProtocols('raft-snapshot', this.opts.wireVersion)).catch(() => undefined)
    for (const s of this.streams) s.abort(new SnapshotTransferError('snapshot transport stopped'))
    this.streams.clear()
  }

  /** Sets the consumer of incoming snapshots; without one, offers are rejected. */
  onSnapshot (handler: SnapshotHandler): void {
    this.handler = handler
  }

  /**
   * Streams a snapshot to `to`: `metadata` (small, opaque) then the bytes of `chunks`. Resolves once the receiver's
   * handler has finished with it. Throws PeerUnknownError, DialError, TimeoutError or SnapshotTransferError.
   */
  async send (to: NodeId, metadata: Uint8Array, chunks: AsyncIterable<Uint8Array>, opts: SnapshotSendOptions = {}): Promise<SnapshotSendResult> {
    if (metadata.byteLength > this.limits.maxMetadataBytes) throw new SnapshotTransferError(`snapshot metadata of ${metadata.byteLength} bytes exceeds ${this.limits.maxMetadataBytes}`)
    const target = this.opts.resolvePeer(to)
    if (target === undefined) throw new PeerUnknownError(`no address known for node ${to}`)
    const stream = await dialProtocolStream(this.opts.host, target, dialProtocols('raft-snapshot', this.opts.wireVersion), this.limits.dialTimeoutMs, opts.signal)
    this.streams.add(stream)
    const snapshotId = randomBytes(8).toString('hex')
    const progress = new Progress()
    let acked = -1
    let finished = false
    attachFrameReader(stream, 64 * 1024, {
      onFrame: (payload) => {
        const ack = decodeAck(payload)
        if (ack.status === SnapshotAckStatus.ACK_REJECTED) {
          progress.fail(new SnapshotTransferError(`node ${to} refused the snapshot: ${ack.errorMessage || 'not served'}`))
          return
        }
        if (ack.snapshotId !== snapshotId) throw new FrameDecodeError('snapshot ack for another snapshot')
        if (ack.status === SnapshotAckStatus.ACK_OK) {
          acked = Math.max(acked, ack.seq)
          progress.notify()
        } else if (ack.status === SnapshotAckStatus.ACK_DONE) {
          finished = true
          progress.notify()
        } else {
          progress.fail(new SnapshotTransferError(`node ${to} failed to take the snapshot: ${ack.errorMessage || 'unknown error'}`))
        }
      },
      onProtocolError: () => { this.metrics.snapshotDecodeErrors++ },
      onEnd: (err) => {
        if (!finished) progress.fail(new ConnectionClosedError(`snapshot stream to node ${to} closed early${err === undefined ? '' : `: ${err.message}`}`, { cause: err }))
      }
    })
    const onAbort = (): void => { progress.fail(new SnapshotTransferError('snapshot send aborted')) }
    opts.signal?.addEventListener('abort', onAbort)
    let seq = 0
    let bytes = 0
    const write = async (f: Partial<SnapshotFrame>): Promise<void> => {
      if (progress.error !== undefined) throw progress.error
      await sendWithBackpressure(stream, encodeFrame(SnapshotFrame.encode({ version: SNAPSHOT_FRAME_VERSION, snapshotId, ...f })), opts.signal)
    }
    const sendChunk = async (data: Uint8Array, last: boolean): Promise<void> => {
      while (seq - acked > this.limits.window) await progress.wait(this.limits.progressTimeoutMs, `snapshot to node ${to}`)
      await write({ kind: SnapshotFrameKind.CHUNK, seq, data: data as Uint8Array<ArrayBuffer>, checksum: crc32(data), last })
      this.metrics.snapshotChunksOut++
      this.metrics.snapshotBytesOut += data.byteLength
      bytes += data.byteLength
      seq++
    }
    try {
      await write({ kind: SnapshotFrameKind.OFFER, metadata: metadata as Uint8Array<ArrayBuffer> })
      // One chunk of lookahead so the final chunk can carry `last`.
      let held: Uint8Array | undefined
      for await (const chunk of chunks) {
        if (chunk.byteLength > this.limits.maxChunkBytes) {
          throw new SnapshotTransferError(`snapshot chunk of ${chunk.byteLength} bytes exceeds the protocol cap of ${this.limits.maxChunkBytes} bytes`)
        }
        if (held !== undefined) await sendChunk(held, false)
        held = chunk
        if (progress.error !== undefined) throw progress.error
      }
      await sendChunk(held ?? new Uint8Array(0), true)
      while (!finished) await progress.wait(this.limits.progressTimeoutMs, `snapshot to node ${to}`)
      this.metrics.snapshotsSent++
      await stream.close({ signal: AbortSignal.timeout(this.limits.dialTimeoutMs) }).catch(() => { stream.abort(new Error('snapshot stream closed')) })
      return { snapshotId, chunks: seq, bytes }
    } catch (e) {
      this.metrics.snapshotFailures++
      const err = progress.error ?? e
      progress.fail(err instanceof Error ? err : new SnapshotTransferError(String(err)))
      if (stream.status === 'open') {
        try {
          stream.send(encodeFrame(SnapshotFrame.encode({ version: SNAPSHOT_FRAME_VERSION, snapshotId, kind: SnapshotFrameKind.ABORT, errorMessage: 'sender gave up' })))
        } catch {
          // The stream is going away anyway.
        }
        stream.abort(new SnapshotTransferError('snapshot send failed'))
      }
      if (err instanceof SnapshotTransferError || err instanceof TimeoutError || err instanceof ConnectionClosedError) throw err
      throw new SnapshotTransferError(`snapshot to node ${to} failed: ${errText(err)}`, { cause: err })
    } finally {
      opts.signal?.removeEventListener('abort', onAbort)
      this.streams.delete(stream)
    }
  }

  private serve (stream: Stream, peerId: string): void {
    const verdict = safeAuthorize(this.opts.authorize, peerId)
    const handler = this.handler
    const reject = (snapshotId: string, why: string): void => {
      try {
        stream.send(encodeFrame(SnapshotAck.encode({ version: SNAPSHOT_FRAME_VERSION, snapshotId, status: SnapshotAckStatus.ACK_REJECTED, errorMessage: why })))
      } catch {
        // closing anyway
      }
      stream.close({ signal: AbortSignal.timeout(this.limits.dialTimeoutMs) }).catch(() => { stream.abort(new Error('snapshot stream closed')) })
    }
    if (verdict.kind !== 'allow' || handler === undefined) {
      reject('', verdict.kind !== 'allow' ? 'not a member' : 'not accepting snapshots')
      return
    }
    const from: InboundPeer = verdict.nodeId === undefined ? { peerId } : { peerId, nodeId: verdict.nodeId }
    this.streams.add(stream)
    const queue: SnapshotFrame[] = []
    const progress = new Progress()
    let offer: SnapshotFrame | undefined
    let nextSeq = 0
    let ended = false
    let sawLast = false
    let consumedLast = false
    const maxFrame = this.limits.maxChunkBytes + this.limits.maxMetadataBytes + 1024
    attachFrameReader(stream, maxFrame, {
      onFrame: (payload, wire) => {
        const f = decodeSnapshotFrame(payload)
        if (offer === undefined) {
          if (f.kind !== SnapshotFrameKind.OFFER || f.snapshotId === '') throw new FrameDecodeError('snapshot stream must start with an offer')
          offer = f
          void this.runHandler(stream, handler, from, f, chunks(), () => consumedLast, progress)
          return
        }
        if (f.snapshotId !== offer.snapshotId) throw new FrameDecodeError('snapshot frame for another snapshot')
        if (f.kind === SnapshotFrameKind.ABORT) {
          progress.fail(new SnapshotTransferError('the sender aborted the snapshot'))
          return
        }
        if (f.kind !== SnapshotFrameKind.CHUNK || sawLast) throw new FrameDecodeError('unexpected snapshot frame')
        if (f.seq !== nextSeq) throw new FrameDecodeError(`snapshot chunk ${f.seq} out of order (expected ${nextSeq})`)
        if (f.data.byteLength > this.limits.maxChunkBytes) throw new FrameDecodeError('snapshot chunk too large')
        if (crc32(f.data) !== f.checksum) throw new FrameDecodeError(`snapshot chunk ${f.seq} fails its checksum`)
        if (queue.length >= this.limits.window + 1) throw new FrameDecodeError('snapshot sender overran the window')
        nextSeq++
        sawLast = f.last
        this.metrics.snapshotChunksIn++
        this.metrics.snapshotBytesIn += wire
        queue.push(f)
        progress.notify()
      },
      onProtocolError: (err) => {
        this.metrics.snapshotDecodeErrors++
        progress.fail(new SnapshotTransferError(`bad snapshot stream from ${peerId}: ${err.message}`))
      },
      onEnd: (err) => {
        ended = true
        if (err !== undefined) progress.fail(new SnapshotTransferError(`snapshot stream from ${peerId} broke: ${err.message}`))
        else progress.notify()
        if (offer === undefined) {
          // No offer, so no handler will ever close the stream: close it here, or it stays half-open for good.
          this.streams.delete(stream)
          if (stream.status === 'open') stream.close({ signal: AbortSignal.timeout(this.limits.dialTimeoutMs) }).catch(() => { stream.abort(new Error('snapshot stream closed')) })
        }
      }
    })
    const sendAck = (status: SnapshotAckStatus, seq: number, errorMessage = ''): void => {
      if (stream.writeStatus !== 'writable') return
      stream.send(encodeFrame(SnapshotAck.encode({ version: SNAPSHOT_FRAME_VERSION, snapshotId: offer?.snapshotId ?? '', seq, status, errorMessage })))
    }
    async function * chunks (): AsyncGenerator<Uint8Array> {
      while (true) {
        const f = queue.shift()
        if (f !== undefined) {
          yield f.data
          // The consumer asked for more: it is done with chunk f.
          sendAck(SnapshotAckStatus.ACK_OK, f.seq)
          if (f.last) {
            consumedLast = true
            return
          }
          continue
        }
        if (progress.error !== undefined) throw progress.error
        if (ended) throw new SnapshotTransferError('snapshot stream ended before its last chunk')
        await progress.wait(0, 'snapshot receive')
      }
    }
  }

  private async runHandler (stream: Stream, handler: SnapshotHandler, from: InboundPeer, offer: SnapshotFrame,
    chunks: AsyncIterable<Uint8Array>, consumedAll: () => boolean, progress: Progress): Promise<void> {
    const ack = (status: SnapshotAckStatus, errorMessage = ''): void => {
      if (stream.writeStatus !== 'writable') return
      stream.send(encodeFrame(SnapshotAck.encode({ version: SNAPSHOT_FRAME_VERSION, snapshotId: offer.snapshotId, status, errorMessage })))
    }
    try {
      await handler({ from, snapshotId: offer.snapshotId, metadata: offer.metadata, chunks })
      if (!consumedAll()) throw new SnapshotTransferError('the snapshot handler returned before reading every chunk')
      this.metrics.snapshotsReceived++
      ack(SnapshotAckStatus.ACK_DONE)
      await stream.close({ signal: AbortSignal.timeout(this.limits.dialTimeoutMs) }).catch(() => { stream.abort(new Error('snapshot stream closed')) })
    } catch (e) {
      this.metrics.snapshotFailures++
      this.log.warn({ peerId: from.peerId, snapshotId: offer.snapshotId, err: errText(e) }, 'incoming snapshot failed')
      progress.fail(e instanceof Error ? e : new SnapshotTransferError(String(e)))
      try {
        ack(SnapshotAckStatus.ACK_ERROR, errText(e).slice(0, 200))
      } catch {
        // stream already gone
      }
      await stream.close({ signal: AbortSignal.timeout(this.limits.dialTimeoutMs) }).catch(() => { stream.abort(new Error('snapshot stream closed')) })
    } finally {
      this.streams.delete(stream)
    }
  }
}

function decodeSnapshotFrame (payload: Uint8Array): SnapshotFrame {
  let f: SnapshotFrame
  try {
    f = SnapshotFrame.decode(payload)
  } catch (e) {
    throw new FrameDecodeError(`undecodable snapshot frame: ${errText(e)}`)
  }
  if (f.version !== SNAPSHOT_FRAME_VERSION) throw new FrameDecodeError(`unsupported snapshot frame version ${f.version}`)
  return f
}

function decodeAck (payload: Uint8Array): SnapshotAck {
  let a: SnapshotAck
  try {
    a = SnapshotAck.decode(payload)
  } catch (e) {
    throw new FrameDecodeError(`undecodable snapshot ack: ${errText(e)}`)
  }
  if (a.version !== SNAPSHOT_FRAME_VERSION) throw new FrameDecodeError(`unsupported snapshot ack version ${a.version}`)
  return a
}

function safeAuthorize (authorize: (peerId: string) => InboundVerdict, peerId: string): InboundVerdict {
  try {
    return authorize(peerId)
  } catch {
    return { kind: 'deny' }
  }
}
