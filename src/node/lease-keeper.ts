// The leader's side of leases. The state machine knows each lease's TTL but never a clock; WHEN a lease expires is
// decided here, on the leader, with its monotonic clock: keep-alives (answered by the leader only, not replicated)
// push a lease's deadline to now + TTL, and a lease whose deadline passed is ended by proposing a revoke entry, so
// every replica deletes the same keys at the same revision. A node that becomes leader (or leader again, in a new
// term) starts every lease at now + TTL + one election timeout: a deposed leader may have answered a keep-alive
// until its check-quorum noticed, so no client ever sees less time than it was promised.
import type { LeaseInfo, LeaseOp, TxnResponse } from '../api/kv.js'
import { LeaseNotFoundError } from '../api/errors.js'
import { validateLeaseOp } from '../api/validate.js'
import { NotLeaderError } from './raft-driver.js'

/** How often the leader looks for expired leases. */
export const LEASE_CHECK_INTERVAL_MS = 100

/** What the keeper needs of the node. */
export interface LeaseKeeperDeps {
  /** The leases as of the applied index (any order; read during one call only). */
  leases (): Iterable<Readonly<LeaseInfo>>
  lease (id: number): LeaseInfo | undefined
  /** This node's term while it is the leader; undefined otherwise. */
  leaderTerm (): number | undefined
  /** Proposes a lease command and resolves with its applied result (throws the refusal as a typed error). */
  propose (op: LeaseOp, timeoutMs: number): Promise<TxnResponse>
  /** Monotonic milliseconds. */
  now (): number
  electionTimeoutMs: number
  /** Deadline of a revoke the keeper proposes on expiry. */
  proposeTimeoutMs: number
  onError? (err: unknown, leaseId: number): void
  onExpired? (leaseId: number): void
}

/** A lease as a client sees it on the leader. */
export interface LeaseStatus {
  id: number
  ttlSeconds: number
  grantRevision: number
  /** Milliseconds until the leader ends it (at least what was promised; 0 when it is being ended). */
  remainingMs: number
}

/** Tracks lease deadlines while this node leads and ends expired leases through the log. */
export class LeaseKeeper {
  private readonly deadlines = new Map<number, number>()
  /** Leases whose revoke was proposed and has not been answered yet. */
  private readonly ending = new Set<number>()
  private term: number | undefined
  private timer: NodeJS.Timeout | undefined

  constructor (private readonly deps: LeaseKeeperDeps) {}

  /** Starts the periodic check. */
  start (intervalMs = LEASE_CHECK_INTERVAL_MS): void {
    if (this.timer !== undefined) return
    this.timer = setInterval(() => { this.tick() }, intervalMs)
    this.timer.unref()
  }

  /** Stops the periodic check. */
  stop (): void {
    if (this.timer !== undefined) clearInterval(this.timer)
    this.timer = undefined
  }

  /** True when this node leads; (re)starts every deadline with the failover margin on a new leader term. */
  private sync (): boolean {
    const term = this.deps.leaderTerm()
    if (term === undefined) {
      this.term = undefined
      this.deadlines.clear()
      return false
    }
    const now = this.deps.now()
    const fresh = this.term !== term
    if (fresh) {
      this.term = term
      this.deadlines.clear()
    }
    const live = new Set<number>()
    for (const l of this.deps.leases()) {
      live.add(l.id)
      // new leadership, or a lease granted through an earlier leader: full TTL plus the failover margin
      if (!this.deadlines.has(l.id)) this.deadlines.set(l.id, now + l.ttlSeconds * 1000 + this.deps.electionTimeoutMs)
    }
    for (const id of this.deadlines.keys()) if (!live.has(id)) this.deadlines.delete(id)
    return true
  }

  /** One check: end the leases whose deadline passed (and finish revokes that left keys behind). */
  tick (): void {
    if (!this.sync()) return
    const now = this.deps.now()
    for (const l of this.deps.leases()) {
      if (this.ending.has(l.id)) continue
      const due = l.revoking || (this.deadlines.get(l.id) ?? Infinity) <= now
      if (due) this.end(l.id, !l.revoking)
    }
  }

  private end (id: number, expired: boolean): void {
    this.ending.add(id)
    void (async () => {
      try {
        let more = true
        while (more) {
          const r = await this.deps.propose({ type: 'revoke', id, expired }, this.deps.proposeTimeoutMs)
          const d = r.responses[0]
          more = d?.type === 'deleteRange' && d.more
        }
        if (expired) this.deps.onExpired?.(id)
      } catch (err) {
        // not found: someone revoked it first; anything else is retried on the next tick while we still lead
        if ((err as { code?: unknown }).code !== 'LEASE_NOT_FOUND') this.deps.onError?.(err, id)
      } finally {
        this.ending.delete(id)
      }
    })()
  }

  private requireLeader (): void {
    if (!this.sync()) throw new NotLeaderError('leases are kept by the leader; ask it', 0)
  }

  /** Grants a lease (id 0: the cluster picks it) and starts its deadline; resolves with its id. */
  async grant (ttlSeconds: number, id: number, timeoutMs: number): Promise<{ id: number, ttlSeconds: number }> {
    const op: LeaseOp = { type: 'grant', id, ttlSeconds }
    validateLeaseOp(op)
    this.requireLeader()
    const r = await this.deps.propose(op, timeoutMs)
    const granted = id === 0 ? r.revision : id
    // the client's TTL starts when it gets this answer, after this point
    this.deadlines.set(granted, this.deps.now() + ttlSeconds * 1000)
    return { id: granted, ttlSeconds }
  }

  /** Pushes the deadline of lease `id` to now + TTL; LeaseNotFoundError when it is gone or being ended. */
  keepAlive (id: number): { id: number, ttlSeconds: number } {
    this.requireLeader()
    const l = this.deps.lease(id)
    const deadline = this.deadlines.get(id)
    if (l === undefined || l.revoking || this.ending.has(id) || (deadline !== undefined && deadline <= this.deps.now())) {
      throw new LeaseNotFoundError(id, `lease ${id} not found (expired or revoked)`)
    }
    this.deadlines.set(id, Math.max(deadline ?? 0, this.deps.now() + l.ttlSeconds * 1000))
    return { id, ttlSeconds: l.ttlSeconds }
  }

  /** Revokes lease `id` now, deleting its keys; resolves with how many keys were deleted. */
  async revoke (id: number, timeoutMs: number): Promise<{ id: number, deleted: number }> {
    validateLeaseOp({ type: 'revoke', id, expired: false })
    this.requireLeader()
    let deleted = 0
    let more = true
    while (more) {
      const r = await this.deps.propose({ type: 'revoke', id, expired: false }, timeoutMs)
      const d = r.responses[0]
      if (d?.type === 'deleteRange') deleted += d.deleted
      more = d?.type === 'deleteRange' && d.more
    }
    this.deadlines.delete(id)
    return { id, deleted }
  }

  /** Lease `id` with its remaining time; LeaseNotFoundError when it does not exist. */
  status (id: number): LeaseStatus {
    this.requireLeader()
    const l = this.deps.lease(id)
    if (l === undefined) throw new LeaseNotFoundError(id)
    return this.view(l)
  }

  /** Every lease with its remaining time. */
  list (): LeaseStatus[] {
    this.requireLeader()
    return [...this.deps.leases()].map((l) => this.view(l)).sort((a, b) => a.id - b.id)
  }

  private view (l: Readonly<LeaseInfo>): LeaseStatus {
    const deadline = this.deadlines.get(l.id)
    const remainingMs = l.revoking || this.ending.has(l.id) || deadline === undefined ? 0 : Math.max(0, Math.round(deadline - this.deps.now()))
    return { id: l.id, ttlSeconds: l.ttlSeconds, grantRevision: l.grantRevision, remainingMs }
  }
}
