// Serves kv.watch: a long poll over the store's change-event table. Each call answers the events of the watched
// range for whole revisions [fromRevision, nextRevision) in revision order, waiting (up to a bound) when nothing
// new has been applied; the client asks again from nextRevision, so a watch has no gaps and no repeats, and can
// resume on any member (revisions are Raft indexes, the same on every replica). Revisions below the retained
// window answer `compacted` with the oldest revision still available.
import type { WatchAnswer, WatchRequest } from '../api/codec.js'
import type { KvEvent, RevisionEvents } from '../api/kv.js'
import { inRange } from '../api/kv.js'
import { InvalidRequestError } from '../api/errors.js'
import { validateRange } from '../api/validate.js'
import { AspenError } from '../errors.js'
import { CompactedError } from '../store/index.js'

/** Longest a node holds one watch call when nothing new is applied. */
export const MAX_WATCH_WAIT_MS = 30_000
/** Events in one answer when the request names no limit, and the most it may name. */
export const DEFAULT_WATCH_EVENTS = 1000
export const MAX_WATCH_EVENTS = 10_000
/** Most revisions one call reads while looking for events of the range (then it answers with none, moving on). */
export const MAX_WATCH_SCAN_EVENTS = 50_000
/** Most watch calls a node holds at once. */
export const MAX_WATCH_CALLS = 1000

/** Too many watch calls are being held by this node; retry (or ask another member). */
export class WatchOverloadedError extends AspenError {
  readonly code = 'OVERLOADED'
}

/** What the service needs of the store. */
export interface WatchSource {
  status (): { applied: number, eventsFloor: number }
  events (fromRevision: number, limit?: number): Promise<{ revisions: RevisionEvents[], next: number }>
  onApplied (listener: (applied: number) => void): () => void
}

/** Long-poll watch calls over one store. */
export class WatchService {
  private calls = 0

  /** `hidden`: keys the cluster keeps for itself (never shown to clients, as reads do not show them). */
  constructor (private readonly store: WatchSource, private readonly hidden: (key: Uint8Array) => boolean = () => false) {}

  /** Calls being held now. */
  get active (): number {
    return this.calls
  }

  /**
   * Answers one watch call: matching events from `req.fromRevision` on, at once when some are applied already,
   * else after waiting up to min(req.waitMs, maxWaitMs) for new revisions (an empty answer moves nextRevision on).
   */
  async poll (req: WatchRequest, maxWaitMs: number, signal?: AbortSignal): Promise<WatchAnswer> {
    validateRange(req.start, req.end)
    if (!Number.isSafeInteger(req.fromRevision) || req.fromRevision < 1) throw new InvalidRequestError('fromRevision must be a positive integer')
    if (req.limit > MAX_WATCH_EVENTS) throw new InvalidRequestError(`watch limit ${req.limit} exceeds ${MAX_WATCH_EVENTS}`)
    if (this.calls >= MAX_WATCH_CALLS) throw new WatchOverloadedError(`node holds ${MAX_WATCH_CALLS} watch calls already; retry shortly`)
    this.calls++
    try {
      const limit = req.limit === 0 ? DEFAULT_WATCH_EVENTS : req.limit
      const deadline = performance.now() + Math.max(0, Math.min(req.waitMs, maxWaitMs, MAX_WATCH_WAIT_MS))
      let from = req.fromRevision
      while (true) {
        const { applied } = this.store.status()
        const r = await this.collect(req, from, limit)
        if (r.compacted !== undefined) return { events: [], nextRevision: from, compacted: true, oldestRevision: r.compacted, applied }
        from = r.next
        if (r.events.length > 0 || r.scanned >= MAX_WATCH_SCAN_EVENTS) return { events: r.events, nextRevision: from, compacted: false, oldestRevision: 0, applied: this.store.status().applied }
        const left = deadline - performance.now()
        if (left <= 0 || signal?.aborted === true) return { events: [], nextRevision: from, compacted: false, oldestRevision: 0, applied: this.store.status().applied }
        await this.appliedBeyond(from - 1, left, signal)
      }
    } finally {
      this.calls--
    }
  }

  /** Reads revisions from `from` up to the applied index, keeping the events of the range, until `limit` match. */
  private async collect (req: WatchRequest, from: number, limit: number): Promise<{ events: KvEvent[], next: number, scanned: number, compacted?: number }> {
    const events: KvEvent[] = []
    let next = from
    let scanned = 0
    while (events.length < limit && scanned < MAX_WATCH_SCAN_EVENTS && next <= this.store.status().applied) {
      let page
      try {
        page = await this.store.events(next, Math.min(1000, limit))
      } catch (err) {
        if (err instanceof CompactedError) return { events: [], next, scanned, compacted: err.oldestRevision }
        throw err
      }
      if (page.next === next) break
      for (const rev of page.revisions) {
        const matching = rev.events.filter((e) => inRange(e.kv.key, req.start, req.end) && !this.hidden(e.kv.key))
        // whole revisions only: a revision's events are never split between answers
        if (events.length > 0 && events.length + matching.length > limit) return { events, next: rev.revision, scanned }
        events.push(...matching)
        scanned += rev.events.length
      }
      next = page.next
    }
    return { events, next, scanned }
  }

  /** Resolves once the applied index exceeds `index`, or after `ms`, or when `signal` aborts. */
  private async appliedBeyond (index: number, ms: number, signal?: AbortSignal): Promise<void> {
    if (this.store.status().applied > index) return
    await new Promise<void>((resolve) => {
      let off = (): void => {}
      const done = (): void => {
        clearTimeout(timer)
        off()
        signal?.removeEventListener('abort', done)
        resolve()
      }
      const timer = setTimeout(done, ms)
      off = this.store.onApplied((applied) => { if (applied > index) done() })
      signal?.addEventListener('abort', done)
    })
  }
}
