// /aspen/client/1.0.0: request/response frames matched by request id, many requests in flight on one stream and
// answered out of order. Bodies are opaque bytes (the node and the client encode them with src/api codecs). Each
// stream has bounded in-flight work: when it is full the server stops reading that stream (yamux flow control
// then stops the client), so a slow or greedy client only ever slows itself, never Raft traffic.
import type { Stream } from '@libp2p/interface'
import type { NodeId } from '../raft/types.js'
import { AspenError } from '../errors.js'
import { dialProtocolStream } from './dial.js'
import type { PeerAddress, StreamHost } from './dial.js'
import { dialProtocols, protocolId, servedProtocols, WIRE_VERSION } from './protocol-version.js'
import type { WireVersion } from './protocol-version.js'
import { ConnectionClosedError, FrameDecodeError, OverloadedError, P2PConfigError, TimeoutError } from './errors.js'
import { encodeFrame, MAX_FRAME_BYTES } from './frame.js'
import { attachFrameReader } from './frame-stream.js'
import { errText, silentLogger } from './logger.js'
import type { P2PLogger } from './logger.js'
import { createP2PMetrics } from './metrics.js'
import type { P2PMetrics } from './metrics.js'
import { ClientRequestFrame, ClientResponseFrame } from './wire/client.js'

/** The id of the wire version this build speaks (it also serves the previous minor: see protocol-version.ts). */
export const CLIENT_PROTOCOL = protocolId('client', WIRE_VERSION)
export const CLIENT_FRAME_VERSION = 1
/** Longest method name. */
export const MAX_METHOD_CHARS = 64
/** Longest deadline a request may carry. */
export const MAX_DEADLINE_MS = 10 * 60 * 1000

/** Where the leader is, so a client can retry there. */
export interface LeaderHint {
  nodeId: NodeId
  peerId?: string
  addrs?: string[]
}

/** A typed failure the handler reports to the client (e.g. code NOT_LEADER, NO_QUORUM, KEY_TOO_LARGE). */
export interface ClientErrorReply {
  code: string
  message: string
}

/** What a handler answers; also what the client receives. */
export interface ClientReply {
  body?: Uint8Array
  error?: ClientErrorReply
  leaderHint?: LeaderHint
}

/** A response as the client sees it (body always present, possibly empty). */
export interface ClientResponse {
  body: Uint8Array
  error?: ClientErrorReply
  leaderHint?: LeaderHint
}

/** One request as the server's handler sees it. */
export interface ClientCall {
  method: string
  body: Uint8Array
  peerId: string
  requestId: number
  /** What the client will wait for (ms), capped; 0 when it did not say. */
  deadlineMs: number
  /** Aborted when the deadline passes or the stream closes: nobody waits for the answer any more. */
  signal: AbortSignal
}

/** Serves client requests. Throwing answers with the error's `code` (AspenError) or INTERNAL. */
export type ClientRequestHandler = (call: ClientCall) => Promise<ClientReply>

export interface ClientServerLimits {
  /** Requests being handled per stream before the server stops reading it. */
  maxInFlightPerStream: number
  /** Request body bytes being handled per stream before the server stops reading it. */
  maxInFlightBytesPerStream: number
  maxFrameBytes: number
  /** Concurrent client streams per connection. */
  maxStreamsPerConnection: number
}

export const DEFAULT_CLIENT_SERVER_LIMITS: ClientServerLimits = {
  // One client connection pipelines all its callers on one stream; a window below the callers' concurrency would
  // cap the leader's group commit at this many requests per Ready.
  maxInFlightPerStream: 256,
  maxInFlightBytesPerStream: 16 * 1024 * 1024,
  maxFrameBytes: MAX_FRAME_BYTES,
  maxStreamsPerConnection: 16
}

export interface ClientServerOptions {
  host: StreamHost
  handler?: ClientRequestHandler
  metrics?: P2PMetrics
  logger?: P2PLogger
  limits?: Partial<ClientServerLimits>
  /** The wire version to speak (tests of rolling upgrades); default WIRE_VERSION. */
  wireVersion?: WireVersion
}

/** The server side of the client protocol (runs on every node). */
export class ClientServer {
  readonly metrics: P2PMetrics
  private readonly limits: ClientServerLimits
  private readonly log: P2PLogger
  private handler: ClientRequestHandler | undefined
  private readonly streams = new Set<Stream>()
  private started = false

  constructor (private readonly opts: ClientServerOptions) {
    this.metrics = opts.metrics ?? createP2PMetrics()
    this.limits = { ...DEFAULT_CLIENT_SERVER_LIMITS, ...opts.limits }
    this.log = opts.logger ?? silentLogger
    this.handler = opts.handler
  }

  /** Sets the request handler; until one is set every request is answered with code UNAVAILABLE. */
  setHandler (handler: ClientRequestHandler): void {
    this.handler = handler
  }

  /** Registers the protocol handler. */
  async start (): Promise<void> {
    if (this.started) return
    await this.opts.host.handle(servedProtocols('client', this.opts.wireVersion), (stream, connection) => {
      this.serve(stream, connection.remotePeer.toString())
    }, { runOnLimitedConnection: true, maxInboundStreams: this.limits.maxStreamsPerConnection })
    this.started = true
  }

  /** Unregisters the handler and closes client streams. */
  async stop (): Promise<void> {
    if (!this.started) return
    this.started = false
    await this.opts.host.unhandle(servedProtocols('client', this.opts.wireVersion)).catch(() => undefined)
    for (const s of this.streams) s.abort(new ConnectionClosedError('server stopping'))
    this.streams.clear()
  }

  private serve (stream: Stream, peerId: string): void {
    this.streams.add(stream)
    // While paused, the peer may still fill its current yamux window (≤ 16 MiB): room for that plus one frame.
    stream.maxReadBufferLength = 16 * 1024 * 1024 + this.limits.maxFrameBytes
    const lifetime = new AbortController()
    const limits = this.limits
    // Decoded requests not started yet: one network chunk can hold thousands of small frames.
    const backlog: ClientRequestFrame[] = []
    let inFlight = 0
    let inFlightBytes = 0
    let writeBlocked = false
    let paused = false
    const full = (): boolean => inFlight >= limits.maxInFlightPerStream || inFlightBytes >= limits.maxInFlightBytesPerStream || writeBlocked
    const regulate = (): void => {
      while (backlog.length > 0 && !full()) start(backlog.shift() as ClientRequestFrame)
      if (stream.status !== 'open') return
      const stop = full() || backlog.length > 0
      try {
        if (stop && !paused) {
          stream.pause()
          paused = true
        } else if (!stop && paused) {
          paused = false
          stream.resume()
        }
      } catch {
        // The stream is closing; nothing left to regulate.
      }
    }
    // Responses finished in the same turn of the event loop leave in one send: every send costs a yamux frame, a
    // noise seal and a socket write here, and a window update on the client.
    const out = new FrameBatcher((data) => {
      if (stream.writeStatus !== 'writable') return
      let ok: boolean
      try {
        ok = stream.send(data)
      } catch {
        return
      }
      if (!ok && !writeBlocked) {
        // The client is not reading its responses: start nothing new and stop reading until it does.
        writeBlocked = true
        stream.onDrain().then(() => {
          writeBlocked = false
          regulate()
        }, () => undefined)
      }
    })
    const respond = (frame: Partial<ClientResponseFrame>): void => {
      if (stream.writeStatus !== 'writable') return
      out.push(encodeFrame(ClientResponseFrame.encode({ version: CLIENT_FRAME_VERSION, ...frame })))
      this.metrics.clientResponsesOut++
    }
    const start = (req: ClientRequestFrame): void => {
      inFlight++
      inFlightBytes += req.body.byteLength
      void this.handle(req, peerId, lifetime.signal).then((reply) => {
        respond(replyToFrame(req.requestId, reply))
      }).finally(() => {
        inFlight--
        inFlightBytes -= req.body.byteLength
        regulate()
      })
    }
    attachFrameReader(stream, limits.maxFrameBytes, {
      onFrame: (payload) => {
        backlog.push(decodeRequest(payload))
        this.metrics.clientRequestsIn++
        regulate()
      },
      onProtocolError: (err) => {
        this.metrics.clientDecodeErrors++
        this.log.warn({ peerId, err: errText(err) }, 'closing client stream after a bad frame')
      },
      onEnd: () => {
        lifetime.abort()
        backlog.length = 0
        this.streams.delete(stream)
        if (stream.status === 'open') stream.close().catch(() => { stream.abort(new Error('client stream closed')) })
      }
    })
  }

  private async handle (req: ClientRequestFrame, peerId: string, lifetime: AbortSignal): Promise<ClientReply> {
    const handler = this.handler
    if (handler === undefined) return { error: { code: 'UNAVAILABLE', message: 'the node is not serving requests yet' } }
    const deadlineMs = Math.min(req.deadlineMs, MAX_DEADLINE_MS)
    // A plain controller and a timer cleared on completion: AbortSignal.timeout cannot be cancelled, so every request
    // used to leave a timer that fired seconds later and built a DOMException (visible in the leader's profile).
    const ctl = new AbortController()
    const onLifetimeAbort = (): void => { ctl.abort(lifetime.reason) }
    let timer: NodeJS.Timeout | undefined
    if (lifetime.aborted) ctl.abort(lifetime.reason)
    else lifetime.addEventListener('abort', onLifetimeAbort, { once: true })
    if (deadlineMs > 0) timer = setTimeout(() => { ctl.abort(new TimeoutError(`request deadline of ${deadlineMs} ms passed`)) }, deadlineMs)
    try {
      return await handler({ method: req.method, body: req.body, peerId, requestId: req.requestId, deadlineMs, signal: ctl.signal })
    } catch (e) {
      if (e instanceof AspenError) return { error: { code: e.code, message: e.message } }
      this.log.error({ peerId, method: req.method, err: errText(e) }, 'client request handler threw')
      return { error: { code: 'INTERNAL', message: 'internal error' } }
    } finally {
      clearTimeout(timer)
      lifetime.removeEventListener('abort', onLifetimeAbort)
    }
  }
}

export interface ClientConnectionOptions {
  dialTimeoutMs?: number
  /** Requests in flight on this connection before request() throws OverloadedError. */
  maxInFlight?: number
  maxFrameBytes?: number
  metrics?: P2PMetrics
  signal?: AbortSignal
  /** The wire version to speak; default WIRE_VERSION. */
  wireVersion?: WireVersion
}

export interface RequestOptions {
  /** Required: how long to wait for the response (ms). */
  deadlineMs: number
  signal?: AbortSignal
}

interface Pending {
  resolve: (r: ClientResponse) => void
  reject: (e: Error) => void
  timer: NodeJS.Timeout
}

/** Opens a client connection (one stream) to `target`. Throws DialError or TimeoutError. */
export async function openClientConnection (host: StreamHost, target: PeerAddress, opts: ClientConnectionOptions = {}): Promise<ClientConnection> {
  const stream = await dialProtocolStream(host, target, dialProtocols('client', opts.wireVersion), opts.dialTimeoutMs ?? 5000, opts.signal)
  return new ClientConnection(stream, target.peerId, opts)
}

/** One stream to one node carrying many concurrent requests. */
export class ClientConnection {
  private readonly pending = new Map<number, Pending>()
  private nextId = 1
  private closedError: Error | undefined
  private readonly maxInFlight: number
  private readonly metrics: P2PMetrics
  private readonly closeListeners: Array<(err?: Error) => void> = []
  /** Requests issued in the same turn of the event loop leave in one send (see FrameBatcher). */
  private readonly out: FrameBatcher

  constructor (private readonly stream: Stream, readonly peerId: string, opts: ClientConnectionOptions = {}) {
    this.maxInFlight = opts.maxInFlight ?? 1024
    this.metrics = opts.metrics ?? createP2PMetrics()
    this.out = new FrameBatcher((data) => {
      if (this.closedError !== undefined) return
      try {
        // A false return only means the stream is buffering; each request's deadline bounds the wait.
        this.stream.send(data)
      } catch (e) {
        this.fail(new ConnectionClosedError(`cannot send to ${this.peerId}: ${errText(e)}`, { cause: e }))
      }
    })
    attachFrameReader(stream, opts.maxFrameBytes ?? MAX_FRAME_BYTES, {
      onFrame: (payload) => {
        const res = decodeResponse(payload)
        const p = this.pending.get(res.requestId)
        if (p === undefined) return // answered after its deadline
        this.pending.delete(res.requestId)
        clearTimeout(p.timer)
        p.resolve(frameToResponse(res))
      },
      onProtocolError: () => { this.metrics.clientDecodeErrors++ },
      onEnd: (err) => {
        this.fail(new ConnectionClosedError(`connection to ${peerId} closed${err === undefined ? '' : `: ${err.message}`}`, { cause: err }))
      }
    })
  }

  /** True once the stream has closed; every later request() throws ConnectionClosedError. */
  get closed (): boolean {
    return this.closedError !== undefined
  }

  /** Requests awaiting a response. */
  get inFlight (): number {
    return this.pending.size
  }

  /** Called once when the connection closes. */
  onClose (listener: (err?: Error) => void): void {
    this.closeListeners.push(listener)
  }

  /**
   * Sends one request and waits for its response. Throws TimeoutError after `deadlineMs`, ConnectionClosedError,
   * OverloadedError (too many in flight). A response carrying `error` is returned, not thrown.
   */
  async request (method: string, body: Uint8Array, opts: RequestOptions): Promise<ClientResponse> {
    if (this.closedError !== undefined) throw this.closedError
    if (method.length === 0 || method.length > MAX_METHOD_CHARS) throw new P2PConfigError(`method name must be 1..${MAX_METHOD_CHARS} characters`)
    if (!(opts.deadlineMs > 0)) throw new TimeoutError('a request needs a positive deadlineMs')
    if (this.pending.size >= this.maxInFlight) {
      this.metrics.clientOverloaded++
      throw new OverloadedError(`${this.pending.size} requests already in flight to ${this.peerId}`)
    }
    if (opts.signal?.aborted === true) throw new TimeoutError(`request ${method} aborted before it was sent`)
    const requestId = this.nextId++
    const deadlineMs = Math.min(Math.ceil(opts.deadlineMs), MAX_DEADLINE_MS)
    const frame = encodeFrame(ClientRequestFrame.encode({ version: CLIENT_FRAME_VERSION, requestId, method, body: body as Uint8Array<ArrayBuffer>, deadlineMs }))
    return await new Promise<ClientResponse>((resolve, reject) => {
      const onAbort = (): void => { settle(new TimeoutError(`request ${method} aborted`)) }
      const settle = (e: Error): void => {
        const p = this.pending.get(requestId)
        if (p === undefined) return
        this.pending.delete(requestId)
        clearTimeout(p.timer)
        opts.signal?.removeEventListener('abort', onAbort)
        reject(e)
      }
      const timer = setTimeout(() => {
        this.metrics.clientTimeouts++
        settle(new TimeoutError(`no response to ${method} from ${this.peerId} within ${deadlineMs} ms`))
      }, deadlineMs)
      this.pending.set(requestId, {
        resolve: (r) => {
          opts.signal?.removeEventListener('abort', onAbort)
          resolve(r)
        },
        reject: (e) => {
          opts.signal?.removeEventListener('abort', onAbort)
          reject(e)
        },
        timer
      })
      opts.signal?.addEventListener('abort', onAbort)
      this.out.push(frame)
      this.metrics.clientRequestsOut++
    })
  }

  /** Closes the stream; requests still in flight fail with ConnectionClosedError. */
  async close (): Promise<void> {
    this.fail(new ConnectionClosedError('connection closed by the client'))
    await this.stream.close({ signal: AbortSignal.timeout(2000) }).catch(() => { this.stream.abort(new ConnectionClosedError('closed')) })
  }

  private fail (err: Error): void {
    if (this.closedError !== undefined) return
    this.closedError = err
    for (const [id, p] of this.pending) {
      clearTimeout(p.timer)
      this.pending.delete(id)
      p.reject(err)
    }
    for (const l of this.closeListeners) {
      try {
        l(err)
      } catch {
        // listeners must not break shutdown
      }
    }
  }
}

/** Bytes queued before a batch is sent at once instead of at the end of the turn. */
const MAX_BATCH_BYTES = 1024 * 1024

/**
 * Coalesces frames pushed during one turn of the event loop into one write (setImmediate: everything produced
 * while handling the current batch of I/O goes together). Order is kept; a batch over MAX_BATCH_BYTES leaves at once.
 */
class FrameBatcher {
  private frames: Uint8Array[] = []
  private bytes = 0
  private scheduled = false

  constructor (private readonly write: (data: Uint8Array) => void) {}

  push (frame: Uint8Array): void {
    this.frames.push(frame)
    this.bytes += frame.byteLength
    if (this.bytes >= MAX_BATCH_BYTES) { this.flush(); return }
    if (this.scheduled) return
    this.scheduled = true
    setImmediate(() => {
      this.scheduled = false
      this.flush()
    })
  }

  private flush (): void {
    if (this.frames.length === 0) return
    const data = this.frames.length === 1 ? this.frames[0] : Buffer.concat(this.frames, this.bytes)
    this.frames = []
    this.bytes = 0
    this.write(data)
  }
}

function replyToFrame (requestId: number, reply: ClientReply): Partial<ClientResponseFrame> {
  return {
    requestId,
    body: (reply.body ?? new Uint8Array(0)) as Uint8Array<ArrayBuffer>,
    ...(reply.error !== undefined ? { errorCode: reply.error.code || 'UNKNOWN', errorMessage: reply.error.message } : {}),
    ...(reply.leaderHint !== undefined
      ? { leaderHint: { nodeId: reply.leaderHint.nodeId, peerId: reply.leaderHint.peerId ?? '', addrs: reply.leaderHint.addrs ?? [] } }
      : {})
  }
}

function frameToResponse (f: ClientResponseFrame): ClientResponse {
  const out: ClientResponse = { body: f.body }
  if (f.errorCode !== '') out.error = { code: f.errorCode, message: f.errorMessage }
  if (f.leaderHint !== undefined) {
    out.leaderHint = { nodeId: f.leaderHint.nodeId }
    if (f.leaderHint.peerId !== '') out.leaderHint.peerId = f.leaderHint.peerId
    if (f.leaderHint.addrs.length > 0) out.leaderHint.addrs = f.leaderHint.addrs
  }
  return out
}

function decodeRequest (payload: Uint8Array): ClientRequestFrame {
  let f: ClientRequestFrame
  try {
    f = ClientRequestFrame.decode(payload)
  } catch (e) {
    throw new FrameDecodeError(`undecodable client request: ${errText(e)}`)
  }
  if (f.version !== CLIENT_FRAME_VERSION) throw new FrameDecodeError(`unsupported client frame version ${f.version}`)
  if (f.method.length === 0 || f.method.length > MAX_METHOD_CHARS) throw new FrameDecodeError('client request without a valid method')
  if (!Number.isSafeInteger(f.requestId)) throw new FrameDecodeError('client request id out of range')
  return f
}

function decodeResponse (payload: Uint8Array): ClientResponseFrame {
  let f: ClientResponseFrame
  try {
    f = ClientResponseFrame.decode(payload, { limits: { leaderHint: { addrs: 32 } } })
  } catch (e) {
    throw new FrameDecodeError(`undecodable client response: ${errText(e)}`)
  }
  if (f.version !== CLIENT_FRAME_VERSION) throw new FrameDecodeError(`unsupported client frame version ${f.version}`)
  return f
}
