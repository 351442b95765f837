// Decides whether a received announcement is believed: size cap, per-peer rate limit, HMAC, cluster id, sender
// (gossipsub's StrictSign `from` must be the peer the announcement is about), freshness within ±maxSkew of our
// clock, replay (nonces remembered for as long as they could still pass the freshness check, and nothing older
// than what was already accepted from that peer), and the membership binding node id → peer id.
import type { NodeId } from '../raft/types.js'
import { MAX_ANNOUNCEMENT_BYTES, openAnnouncement } from './announcement.js'
import type { AnnouncementRejectReason } from './metrics.js'
import { KeyedRateLimiter } from './rate-limiter.js'
import type { RateLimit } from './rate-limiter.js'

/** Freshness window: announcements whose timestamp is further than this from our clock are stale. */
export const DEFAULT_MAX_SKEW_MS = 2 * 60 * 1000
/** Per sending peer: burst 3, 12 per minute. */
export const DEFAULT_ANNOUNCEMENT_RATE: RateLimit = { burst: 3, perMinute: 12 }
/** Nonces remembered per peer (far above what the rate limit lets through in a freshness window). */
const MAX_NONCES_PER_PEER = 128

export interface VerifiedAnnouncement {
  nodeId: NodeId
  peerId: string
  addrs: string[]
  timestampMs: number
}

export type VerifyResult =
  | { ok: true, announcement: VerifiedAnnouncement }
  | { ok: false, reason: AnnouncementRejectReason, nodeId?: NodeId, peerId?: string }

export interface AnnouncementVerifierOptions {
  clusterId: string
  hmacKey: Uint8Array
  /** Our own peer id: our own announcements echoed back are ignored. */
  selfPeerId: string
  clock: () => number
  /** The peer id Raft membership binds to a node id, if it is a member (or being added). */
  bindingFor?: (nodeId: NodeId) => string | undefined
  maxSkewMs?: number
  rate?: RateLimit
  /** Peers whose rate/replay state is tracked at once (least recently seen are forgotten). */
  maxTrackedPeers?: number
}

interface PeerReplayState {
  lastTimestamp: number
  /** nonce hex → expiry (ms on our clock) */
  nonces: Map<string, number>
}

/** Stateful verifier of announcements (one per node). */
export class AnnouncementVerifier {
  private readonly limiter: KeyedRateLimiter
  private readonly replay = new Map<string, PeerReplayState>()
  private readonly maxSkewMs: number
  private readonly maxTrackedPeers: number

  constructor (private readonly opts: AnnouncementVerifierOptions) {
    this.maxSkewMs = opts.maxSkewMs ?? DEFAULT_MAX_SKEW_MS
    this.maxTrackedPeers = opts.maxTrackedPeers ?? 4096
    this.limiter = new KeyedRateLimiter(opts.rate ?? DEFAULT_ANNOUNCEMENT_RATE, opts.clock, this.maxTrackedPeers)
  }

  /** Verifies `data` published by `from` (the gossipsub-signed sender; undefined for an unsigned message). */
  verify (data: Uint8Array, from: string | undefined): VerifyResult {
    if (data.byteLength > MAX_ANNOUNCEMENT_BYTES) return { ok: false, reason: 'too-large' }
    if (from === undefined) return { ok: false, reason: 'unsigned' }
    if (from === this.opts.selfPeerId) return { ok: false, reason: 'self' }
    // Before any crypto: a flood costs us one map lookup per message.
    if (!this.limiter.tryTake(from)) return { ok: false, reason: 'rate-limited', peerId: from }
    const opened = openAnnouncement(data, this.opts.hmacKey)
    if (!opened.ok) return { ok: false, reason: opened.reason, peerId: from }
    const c = opened.content
    if (c.clusterId !== this.opts.clusterId) return { ok: false, reason: 'wrong-cluster', nodeId: c.nodeId, peerId: from }
    if (c.peerId !== from) return { ok: false, reason: 'peer-mismatch', nodeId: c.nodeId, peerId: from }
    const now = this.opts.clock()
    if (Math.abs(now - c.timestampMs) > this.maxSkewMs) return { ok: false, reason: 'stale', nodeId: c.nodeId, peerId: from }
    const state = this.replayState(from, now)
    const nonce = Buffer.from(c.nonce).toString('hex')
    if (state.nonces.has(nonce) || c.timestampMs < state.lastTimestamp) return { ok: false, reason: 'replayed', nodeId: c.nodeId, peerId: from }
    const bound = this.opts.bindingFor?.(c.nodeId)
    if (bound !== undefined && bound !== from) return { ok: false, reason: 'binding-conflict', nodeId: c.nodeId, peerId: from }
    // Remember the nonce as long as a replay of it could still look fresh.
    state.nonces.set(nonce, c.timestampMs + this.maxSkewMs)
    if (state.nonces.size > MAX_NONCES_PER_PEER) {
      const oldest = state.nonces.keys().next().value
      if (oldest !== undefined) state.nonces.delete(oldest)
    }
    state.lastTimestamp = c.timestampMs
    return { ok: true, announcement: { nodeId: c.nodeId, peerId: from, addrs: c.addrs, timestampMs: c.timestampMs } }
  }

  private replayState (peerId: string, now: number): PeerReplayState {
    let s = this.replay.get(peerId)
    if (s === undefined) {
      s = { lastTimestamp: 0, nonces: new Map() }
      if (this.replay.size >= this.maxTrackedPeers) {
        const oldest = this.replay.keys().next().value
        if (oldest !== undefined) this.replay.delete(oldest)
      }
    } else {
      this.replay.delete(peerId)
      for (const [n, expiry] of s.nonces) if (expiry < now) s.nonces.delete(n)
    }
    this.replay.set(peerId, s)
    return s
  }
}
