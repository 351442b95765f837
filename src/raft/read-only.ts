// ReadIndex state of a leader (Raft thesis §6.4). Every heartbeat broadcast is a numbered "round" carrying its
// number as context; followers echo it. Once a quorum acknowledged round r, the leader knows it was still
// leader when round r was sent, which confirms every read registered before round r was sent (safe reads).
//
// Lease reads reuse the same rounds: a follower that received round r ignores (pre)votes for a full election
// timeout after it, so no other leader can exist before sentAt(r) + (electionTick - 1) * tickMs (one tick is lost
// because a follower's first tick may come right after the heartbeat), minus a clock drift bound. Until then the
// leader may answer reads from its commit index without a round trip. The lease is revoked for the rest of the
// term by a leadership transfer (TimeoutNow makes the target campaign without waiting for the lease).

import { invariant } from '../errors.js'
import type { ReadOnlyOption } from './config.js'
import { jointCommittedIndex } from './quorum.js'
import type { JointConfig } from './quorum.js'
import type { NodeId } from './types.js'

/** A read waiting for confirmation: who asked, with what context, at which commit index. */
export interface PendingRead {
  from: NodeId
  ctx: Uint8Array
  index: number
  /** The round whose quorum acknowledgement confirms this read. */
  round: number
}

/** Rounds whose send time is remembered for the lease; older acknowledgements cannot extend it. */
export const MAX_TRACKED_ROUNDS = 256
/** Bound on reads waiting for a round; more are dropped (the client times out and retries). */
export const MAX_PENDING_READS = 65536

/** Encodes a round number as heartbeat context (8 bytes little-endian). */
export function encodeRound (round: number): Uint8Array {
  const b = new Uint8Array(8)
  const v = new DataView(b.buffer)
  v.setUint32(0, round % 0x1_0000_0000, true)
  v.setUint32(4, Math.floor(round / 0x1_0000_0000), true)
  return b
}

/** Decodes a heartbeat context; undefined if it is not a round number. */
export function decodeRound (ctx: Uint8Array): number | undefined {
  if (ctx.byteLength !== 8) return undefined
  const v = new DataView(ctx.buffer, ctx.byteOffset, 8)
  const r = v.getUint32(0, true) + v.getUint32(4, true) * 0x1_0000_0000
  return Number.isSafeInteger(r) ? r : undefined
}

/** Heartbeat rounds, pending reads and the lease of a leader. */
export class ReadOnly {
  /** Last round number sent; never reset so stale acknowledgements can never match a newer round. */
  private lastRound = 0
  private readonly sentAt = new Map<number, number>()
  private acks = new Map<NodeId, number>()
  private confirmedRound = 0
  private pending: PendingRead[] = []
  private roundWanted = false
  private leaseExpiry = Number.NEGATIVE_INFINITY
  private leaseRevoked = false

  constructor (readonly option: ReadOnlyOption) {}

  /** Forgets everything of the current leadership (term change, step down). */
  reset (): void {
    this.sentAt.clear()
    this.acks = new Map()
    this.confirmedRound = this.lastRound
    this.pending = []
    this.roundWanted = false
    this.leaseExpiry = Number.NEGATIVE_INFINITY
    this.leaseRevoked = false
  }

  /** Registers a read at commit index `index`; it is confirmed by the next round. Returns false if too many are pending. */
  addRequest (index: number, from: NodeId, ctx: Uint8Array): boolean {
    if (this.pending.length >= MAX_PENDING_READS) return false
    this.pending.push({ from, ctx, index, round: this.lastRound + 1 })
    this.roundWanted = true
    return true
  }

  /** True if reads wait for a round that has not been sent yet. */
  needsRound (): boolean {
    return this.roundWanted
  }

  /** Starts a new round sent at `now` by `self` (which acknowledges it at once); returns the heartbeat context. */
  startRound (self: NodeId, now: number): Uint8Array {
    this.lastRound++
    this.sentAt.set(this.lastRound, now)
    if (this.sentAt.size > MAX_TRACKED_ROUNDS) {
      const oldest = this.sentAt.keys().next().value
      if (oldest !== undefined) this.sentAt.delete(oldest)
    }
    this.acks.set(self, this.lastRound)
    this.roundWanted = false
    return encodeRound(this.lastRound)
  }

  /** Records that `from` acknowledged the round in ctx (and so every earlier one). */
  recvAck (from: NodeId, ctx: Uint8Array): void {
    const r = decodeRound(ctx)
    if (r === undefined || r > this.lastRound) return
    if ((this.acks.get(from) ?? 0) < r) this.acks.set(from, r)
  }

  /**
   * Recomputes the quorum-acknowledged round; returns the reads it confirms (in order) and extends the lease by
   * `leaseMs` from the confirmed round's send time (unless revoked or leaseMs ≤ 0).
   */
  advance (voters: JointConfig, leaseMs: number): PendingRead[] {
    const q = jointCommittedIndex(voters, (id) => this.acks.get(id))
    if (!Number.isFinite(q) || q <= this.confirmedRound) return []
    invariant(q <= this.lastRound, () => `confirmed round ${q} beyond last round ${this.lastRound}`)
    this.confirmedRound = q
    const sent = this.sentAt.get(q)
    if (sent !== undefined && leaseMs > 0 && !this.leaseRevoked) {
      this.leaseExpiry = Math.max(this.leaseExpiry, sent + leaseMs)
    }
    let n = 0
    while (n < this.pending.length && this.pending[n].round <= q) n++
    const done = this.pending.slice(0, n)
    this.pending = this.pending.slice(n)
    return done
  }

  /** True if reads may be answered from the lease at time `now`. */
  leaseValid (now: number): boolean {
    return !this.leaseRevoked && now < this.leaseExpiry
  }

  /** Ends the lease for the rest of this leadership (transfer started, TimeoutNow). */
  revokeLease (): void {
    this.leaseRevoked = true
    this.leaseExpiry = Number.NEGATIVE_INFINITY
  }

  /** Lease expiry in the caller's clock (−∞ when none). */
  leaseExpiresAt (): number {
    return this.leaseExpiry
  }

  /** Number of reads waiting for confirmation. */
  pendingCount (): number {
    return this.pending.length
  }
}
