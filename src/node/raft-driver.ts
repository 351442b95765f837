// The driver loop: it turns the pure Raft core into a running replica. One Ready at a time:
// send the leader's replication traffic at once (in parallel with its own fsync), persist entries + hard state +
// the application of committed entries in ONE synced batch, then send what promised durable state, answer the
// proposals and reads that became ready, and advance. Proposals and messages that arrive while a batch is on disk
// pile up in the core and leave together in the next Ready: that is the group commit.
import { decodeConfChange, InvalidMessageError, StepLocalMessageError } from '../raft/index.js'
import type { RawNode, MemoryStorage } from '../raft/index.js'
import type { ConfChange, ConfState, Entry, HardState, Message, ReadState, Ready, Snapshot } from '../raft/types.js'
import { AspenError, invariant } from '../errors.js'
import type { CommandResult } from '../api/codec.js'

/** Outcome of applying one committed, non-empty normal entry, as the store reports it. */
export type AppliedResult = { index: number, requestId: Uint8Array } & CommandResult

/** The durable side the driver needs (the store adapter implements it). */
export interface DriverStore {
  /** One synced batch: entries (truncating a conflicting suffix), hard state, committed entries applied, conf state. */
  persist (rd: { entries: Entry[], hardState?: HardState, committedEntries: Entry[], confState?: ConfState, confChanges?: Array<{ entry: Entry, cc: ConfChange }> }): Promise<AppliedResult[]>
  /** Index of the last entry applied to the state machine. */
  applied (): number
}

export interface DriverHooks {
  /** Hands messages to the transport (snapshots included: the node streams them). */
  send (msgs: Message[]): void
  /** A committed conf change was applied by the core (the node updates bindings, progress, metrics). */
  onConfChange? (entry: Entry, cc: ConfChange, cs: ConfState): void
  /** After each Ready was fully handled. */
  onAdvance? (info: { persistMs: number, entries: number, committed: number }): void
  /** The core handed out a snapshot to restore (a follower that was too far behind). */
  onSnapshot? (snap: Snapshot): void
  /** A fatal error: the node must stop (a failed synced write leaves memory and disk out of step). */
  onFatal (err: unknown): void
}

/** Proposal that was dropped by the core (no leader, transfer in progress, ...). */
export class NotLeaderError extends AspenError {
  readonly code = 'NOT_LEADER'
  constructor (message: string, readonly leaderHint: number) { super(message) }
}

/** The request's deadline passed; for writes the outcome is unknown (it may still commit). */
export class RequestTimeoutError extends AspenError {
  readonly code = 'TIMEOUT'
}

/** The node is stopping. */
export class StoppingError extends AspenError {
  readonly code = 'STOPPING'
}

interface Waiter {
  resolve: (r: AppliedResult) => void
  reject: (err: unknown) => void
  timer: NodeJS.Timeout
}

interface ReadWaiter {
  resolve: () => void
  reject: (err: unknown) => void
  timer: NodeJS.Timeout
}

/** Limits that bound the driver's memory. */
export const MAX_PENDING_PROPOSALS = 100_000
export const MAX_PENDING_READS = 100_000

/** Runs a RawNode against a DriverStore and a transport; owns proposal/read waiters. */
export class RaftDriver {
  private readonly proposals = new Map<string, Waiter>()
  /** Reads waiting for their readIndex round (by context), then for apply (by index). */
  private readonly readRounds = new Map<string, ReadWaiter[]>()
  private readonly readsAwaitingApply: Array<{ index: number, waiters: ReadWaiter[] }> = []
  private pendingReadBatch: ReadWaiter[] = []
  private readSeq = 0
  private running = false
  private scheduled = false
  private stopped = false
  private paused = 0

  constructor (
    readonly rawNode: RawNode,
    private readonly memStorage: MemoryStorage,
    private readonly store: DriverStore,
    private readonly hooks: DriverHooks
  ) {}

  /** Advances the core's logical clock by one tick. */
  tick (): void {
    if (this.stopped) return
    this.rawNode.tick()
    this.kick()
  }

  /** Delivers a message from a peer. */
  step (m: Message): void {
    if (this.stopped) return
    try {
      this.rawNode.step(m)
    } catch (err) {
      // A message the core refuses as malformed or local-only changes nothing; anything else is a bug to surface.
      if (err instanceof InvalidMessageError || err instanceof StepLocalMessageError) return
      throw err
    }
    this.kick()
  }

  /** Proposes an encoded command; resolves when it was applied (with the store's result). */
  propose (requestId: Uint8Array, data: Uint8Array, timeoutMs: number): Promise<AppliedResult> {
    if (this.stopped) return Promise.reject(new StoppingError('node is stopping; retry on another node'))
    if (this.proposals.size >= MAX_PENDING_PROPOSALS) return Promise.reject(new NotLeaderError('too many proposals in flight; retry later', this.leader()))
    const key = Buffer.from(requestId).toString('hex')
    return new Promise<AppliedResult>((resolve, reject) => {
      try {
        this.rawNode.propose(data)
      } catch (err) {
        reject(new NotLeaderError(`proposal not accepted: ${err instanceof Error ? err.message : String(err)}`, this.leader()))
        return
      }
      const timer = setTimeout(() => {
        this.proposals.delete(key)
        reject(new RequestTimeoutError(`no result within ${timeoutMs} ms; the write may or may not have been applied`))
      }, timeoutMs)
      this.proposals.set(key, { resolve, reject, timer })
      this.kick()
    })
  }

  /** Resolves once a linearizable read may be served from the local state machine (ReadIndex, batched per tick). */
  readBarrier (timeoutMs: number): Promise<void> {
    if (this.stopped) return Promise.reject(new StoppingError('node is stopping; retry on another node'))
    return this.readWaiter(timeoutMs, `read not confirmed within ${timeoutMs} ms (no quorum?)`, (w) => {
      this.pendingReadBatch.push(w)
      this.kick()
    })
  }

  /**
   * Resolves when a read that accepts the leader lease may be served: at once (or after apply catches up) while
   * this node leads with a valid lease, otherwise through a ReadIndex round like readBarrier.
   */
  async leaseReadBarrier (timeoutMs: number): Promise<'lease' | 'readIndex'> {
    if (this.stopped) throw new StoppingError('node is stopping; retry on another node')
    const index = this.rawNode.leaseReadIndex()
    if (index === undefined) {
      await this.readBarrier(timeoutMs)
      return 'readIndex'
    }
    if (index > this.store.applied()) {
      await this.readWaiter(timeoutMs, `read not applied within ${timeoutMs} ms`, (w) => { this.readsAwaitingApply.push({ index, waiters: [w] }) })
    }
    return 'lease'
  }

  /** A read waiter handed to `enqueue`, rejected with RequestTimeoutError(`timeoutMessage`) after `timeoutMs`. */
  private readWaiter (timeoutMs: number, timeoutMessage: string, enqueue: (w: ReadWaiter) => void): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      // Every way out clears the timer; a waiter settled by its timeout may still be released later (a no-op).
      const timer = setTimeout(() => { w.reject(new RequestTimeoutError(timeoutMessage)) }, timeoutMs)
      const w: ReadWaiter = {
        resolve: () => { clearTimeout(timer); resolve() },
        reject: (e) => { clearTimeout(timer); reject(e) },
        timer
      }
      enqueue(w)
    })
  }

  /** Current leader id as the core knows it (0 = none). */
  leader (): number {
    return this.rawNode.status().softState.leader
  }

  /** Schedules a Ready pass on the next turn of the event loop (coalescing everything that arrives meanwhile). */
  kick (): void {
    if (this.scheduled || this.running || this.stopped || this.paused > 0) return
    this.scheduled = true
    setImmediate(() => {
      this.scheduled = false
      void this.run()
    })
  }

  /** Resolves once no Ready is being handled. */
  async idle (): Promise<void> {
    while (this.running) await new Promise(resolve => setImmediate(resolve))
  }

  /** Runs `fn` while no Ready is handled (e.g. installing a snapshot under the store); resumes afterwards. */
  async pause<T> (fn: () => Promise<T>): Promise<T> {
    this.paused++
    try {
      await this.idle()
      return await fn()
    } finally {
      this.paused--
      this.kick()
    }
  }

  /** Stops processing; every waiter gets StoppingError. */
  stop (): void {
    this.stopped = true
    const err = new StoppingError('node is stopping; retry on another node')
    for (const w of this.proposals.values()) { clearTimeout(w.timer); w.reject(err) }
    this.proposals.clear()
    for (const ws of this.readRounds.values()) for (const w of ws) w.reject(err)
    this.readRounds.clear()
    for (const r of this.readsAwaitingApply) for (const w of r.waiters) w.reject(err)
    this.readsAwaitingApply.length = 0
    for (const w of this.pendingReadBatch) w.reject(err)
    this.pendingReadBatch = []
  }

  private issueReadRound (): void {
    if (this.pendingReadBatch.length === 0) return
    const ctx = new Uint8Array(12)
    const dv = new DataView(ctx.buffer)
    dv.setUint32(0, 0x52454144) // "READ"
    dv.setFloat64(4, ++this.readSeq)
    const key = Buffer.from(ctx).toString('hex')
    this.readRounds.set(key, this.pendingReadBatch)
    this.pendingReadBatch = []
    this.rawNode.readIndex(ctx)
  }

  private onReadStates (states: ReadState[], applied: number): void {
    for (const rs of states) {
      const key = Buffer.from(rs.requestCtx).toString('hex')
      const waiters = this.readRounds.get(key)
      if (waiters === undefined) continue
      this.readRounds.delete(key)
      if (rs.index <= applied) { for (const w of waiters) w.resolve() } else this.readsAwaitingApply.push({ index: rs.index, waiters })
    }
  }

  private releaseReads (applied: number): void {
    let i = 0
    while (i < this.readsAwaitingApply.length) {
      const r = this.readsAwaitingApply[i]
      if (r.index <= applied) {
        for (const w of r.waiters) w.resolve()
        this.readsAwaitingApply.splice(i, 1)
      } else i++
    }
  }

  private async run (): Promise<void> {
    if (this.running || this.stopped || this.paused > 0) return
    this.running = true
    try {
      this.issueReadRound()
      while (!this.stopped && this.rawNode.hasReady()) {
        await this.handleReady(this.rawNode.ready())
        this.issueReadRound()
      }
    } catch (err) {
      this.stopped = true
      this.hooks.onFatal(err)
    } finally {
      this.running = false
    }
    if (!this.stopped && (this.rawNode.hasReady() || this.pendingReadBatch.length > 0)) this.kick()
  }

  private async handleReady (rd: Ready): Promise<void> {
    // 1. The leader's replication traffic leaves before its own fsync (it counts itself only after advance()).
    if (rd.messages.length > 0) this.hooks.send(rd.messages)

    // 2. Conf changes among the committed entries: the core computes the new ConfState; it is persisted in the same batch.
    let confState: ConfState | undefined
    const confChanges: Array<{ entry: Entry, cc: ConfChange }> = []
    for (const e of rd.committedEntries) {
      if (e.type !== 'confChange' || e.index <= this.store.applied()) continue
      const cc = decodeConfChange(e.data)
      confState = this.rawNode.applyConfChange(cc)
      confChanges.push({ entry: e, cc })
    }

    if (rd.snapshot !== undefined) this.hooks.onSnapshot?.(rd.snapshot)

    // 3. One synced batch.
    const t0 = performance.now()
    const results = await this.store.persist({ entries: rd.entries, hardState: rd.hardState, committedEntries: rd.committedEntries, confState, confChanges })
    const persistMs = performance.now() - t0

    // 4. Mirror what is now durable into the core's storage view.
    if (rd.snapshot !== undefined) this.memStorage.applySnapshot(rd.snapshot)
    if (rd.entries.length > 0) this.memStorage.append(rd.entries)
    if (rd.hardState !== undefined) this.memStorage.setHardState(rd.hardState)

    // 5. Now what promised durable state may leave.
    if (rd.messagesAfterPersist.length > 0) this.hooks.send(rd.messagesAfterPersist)

    for (const { entry, cc } of confChanges) this.hooks.onConfChange?.(entry, cc, confState as ConfState)

    // 6. Answer proposals and reads.
    for (const r of results) {
      if (r.requestId.length === 0) continue
      const key = Buffer.from(r.requestId).toString('hex')
      const w = this.proposals.get(key)
      if (w === undefined) continue
      this.proposals.delete(key)
      clearTimeout(w.timer)
      w.resolve(r)
    }
    const applied = this.store.applied()
    invariant(rd.committedEntries.length === 0 || applied >= rd.committedEntries[rd.committedEntries.length - 1].index,
      'store did not apply every committed entry of the Ready')
    this.onReadStates(rd.readStates, applied)
    this.releaseReads(applied)

    this.rawNode.advance(rd)
    this.hooks.onAdvance?.({ persistMs, entries: rd.entries.length, committed: rd.committedEntries.length })
  }
}
