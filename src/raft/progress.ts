// A leader's view of one follower (etcd's tracker.Progress): match/next and the replication state machine
//   probe     — one append per heartbeat interval until we learn where the follower's log matches;
//   replicate — optimistic pipelining bounded by Inflights;
//   snapshot  — waiting for a snapshot to be installed; no appends.

import { invariant } from '../errors.js'
import { Inflights } from './inflights.js'
import type { ProgressState } from './types.js'

/** Replication progress of one peer, as tracked by the leader. */
export class Progress {
  /** Highest index known to be replicated on the follower. */
  match: number
  /** Next index to send. Invariant: match < next. */
  next: number
  state: ProgressState = 'probe'
  /** Index of the snapshot being sent while in 'snapshot'. */
  pendingSnapshot = 0
  /** Set on any response; check-quorum clears it each election timeout. */
  recentActive: boolean
  /** In probe: one message sent, wait; in replicate: inflights full. */
  msgAppFlowPaused = false
  inflights: Inflights
  isLearner: boolean
  /** Highest commit index sent to this follower (to decide whether an empty append is worth sending). */
  sentCommit = 0
  /** Leader ticks since a message from this peer arrived. */
  ticksSinceContact = 0

  constructor (opts: { match: number, next: number, inflights: Inflights, isLearner: boolean, recentActive?: boolean }) {
    this.match = opts.match
    this.next = opts.next
    this.inflights = opts.inflights
    this.isLearner = opts.isLearner
    this.recentActive = opts.recentActive ?? false
    this.assertInvariant()
  }

  /** A deep copy (config changes work on copies). */
  clone (): Progress {
    const p = new Progress({ match: this.match, next: this.next, inflights: this.inflights.clone(), isLearner: this.isLearner, recentActive: this.recentActive })
    p.state = this.state
    p.pendingSnapshot = this.pendingSnapshot
    p.msgAppFlowPaused = this.msgAppFlowPaused
    p.sentCommit = this.sentCommit
    p.ticksSinceContact = this.ticksSinceContact
    return p
  }

  private assertInvariant (): void {
    invariant(this.match < this.next, () => `progress invariant match ${this.match} < next ${this.next} broken`)
  }

  private resetState (state: ProgressState): void {
    this.msgAppFlowPaused = false
    this.pendingSnapshot = 0
    this.state = state
    this.inflights.reset()
  }

  /** Back to probing from the last known match (or past a snapshot that was sent). */
  becomeProbe (): void {
    if (this.state === 'snapshot') {
      const pending = this.pendingSnapshot
      this.resetState('probe')
      this.next = Math.max(this.match + 1, pending + 1)
    } else {
      this.resetState('probe')
      this.next = this.match + 1
    }
    this.sentCommit = Math.min(this.sentCommit, this.next - 1)
    this.assertInvariant()
  }

  /** Optimistic replication from match + 1. */
  becomeReplicate (): void {
    this.resetState('replicate')
    this.next = this.match + 1
    this.assertInvariant()
  }

  /** A snapshot at snapshotIndex is being sent; appends pause until it is reported. */
  becomeSnapshot (snapshotIndex: number): void {
    this.resetState('snapshot')
    this.pendingSnapshot = snapshotIndex
    this.next = snapshotIndex + 1
    this.sentCommit = snapshotIndex
    this.assertInvariant()
  }

  /** An append with `entries` entries (`bytes` payload) was sent from next. */
  sentEntries (entries: number, bytes: number): void {
    switch (this.state) {
      case 'replicate':
        if (entries > 0) {
          this.next += entries
          this.inflights.add(this.next - 1, bytes)
        }
        this.msgAppFlowPaused = this.inflights.full()
        break
      case 'probe':
        if (entries > 0) this.msgAppFlowPaused = true
        break
      default:
        invariant(false, `sending append in state ${this.state}`)
    }
  }

  /** True if an append carrying only a newer commit index would tell the follower something. */
  canBumpCommit (index: number): boolean {
    return index > this.sentCommit && this.sentCommit < this.next - 1
  }

  /** The commit index carried by the last message sent. */
  sentCommitIndex (commit: number): void {
    this.sentCommit = commit
  }

  /** An acknowledgement up to n arrived; returns true if match moved. */
  maybeUpdate (n: number): boolean {
    if (n <= this.match) return false
    this.match = n
    this.next = Math.max(this.next, n + 1)
    this.msgAppFlowPaused = false
    return true
  }

  /**
   * An append at `rejected` was refused, the follower hints its log matches up to matchHint. Returns false if the
   * rejection is stale (already superseded).
   */
  maybeDecrTo (rejected: number, matchHint: number): boolean {
    if (this.state === 'replicate') {
      if (rejected <= this.match) return false
      this.next = this.match + 1
      this.sentCommit = Math.min(this.sentCommit, this.next - 1)
      return true
    }
    if (this.next - 1 !== rejected) return false
    this.next = Math.max(Math.min(rejected, matchHint + 1), this.match + 1)
    this.sentCommit = Math.min(this.sentCommit, this.next - 1)
    this.msgAppFlowPaused = false
    return true
  }

  /** True if no append may be sent now. */
  isPaused (): boolean {
    switch (this.state) {
      case 'probe': return this.msgAppFlowPaused
      case 'replicate': return this.msgAppFlowPaused
      case 'snapshot': return true
    }
  }

  /** Short description for logs. */
  toString (): string {
    return `${this.state} match=${this.match} next=${this.next}${this.isLearner ? ' learner' : ''}${this.isPaused() ? ' paused' : ''}` +
      `${this.pendingSnapshot > 0 ? ` pendingSnap=${this.pendingSnapshot}` : ''}${this.recentActive ? '' : ' inactive'}` +
      `${this.inflights.count() > 0 ? ` inflight=${this.inflights.count()}${this.inflights.full() ? '[full]' : ''}` : ''}`
  }
}
