// Concurrent chaos clients: put / get / CAS on a few shared keys (so histories conflict), plus writes to keys of
// their own whose loss is checked at the end. Each worker prefers one node (reads are served there, writes are
// forwarded by it) and reconnects with a fresh ticket when its node went away or the membership changed.
import { ClusterError, type AspenClient } from '../../src/client/index.js'
import { Rng } from '../sim/rng.js'
import type { ChaosCluster } from './chaos-cluster.js'
import type { ChaosOp, HistoryRecorder } from './history.js'

export interface WorkloadOptions {
  workers: number
  /** Shared register keys. */
  keys: number
  seed: number
  /** Per-operation deadline. */
  opTimeoutMs: number
}

/** Failures after which a worker redials with a fresh ticket (the client itself already reconnects and fails over). */
const REDIAL_CODES = new Set(['UNREACHABLE', 'NOT_MEMBER'])

/** Connecting (host start + handshake) is slow on a loaded machine; operations have their own deadline. */
const CONNECT_TIMEOUT_MS = 10_000
/** A replaced client is closed this long after, when requests still using it have timed out. */
const RETIRE_AFTER_MS = 5000

const text = (b: Uint8Array | undefined): string | null => b === undefined ? null : Buffer.from(b).toString()

/** Runs the workers until `stop()`; `done` resolves when they all returned. */
export class Workload {
  private stopping = false
  private readonly workers: Array<Promise<void>> = []
  /** Bumped by the runner after a membership change: workers reconnect so their tickets stay current. */
  generation = 0
  ok = 0
  private readonly pool = new Map<number, { gen: number, client: Promise<AspenClient | undefined> }>()
  private readonly retiring = new Set<Promise<AspenClient | undefined>>()

  constructor (private readonly cluster: ChaosCluster, private readonly history: HistoryRecorder, private readonly opts: WorkloadOptions) {}

  start (): void {
    for (let w = 0; w < this.opts.workers; w++) this.workers.push(this.worker(w))
  }

  async stop (): Promise<void> {
    this.stopping = true
    await Promise.all(this.workers)
    await this.closeAll()
  }

  /**
   * The shared client for workers preferring node `pref` (one libp2p host per node, not per worker: under load
   * the handshakes of many hosts are what starves the cluster). Rebuilt after a membership or address change.
   */
  private clientFor (pref: number): Promise<AspenClient | undefined> {
    const e = this.pool.get(pref)
    if (e !== undefined && e.gen === this.generation) return e.client
    if (e !== undefined) this.retire(e.client)
    const client = this.cluster.client(pref, CONNECT_TIMEOUT_MS).catch(() => undefined)
    this.pool.set(pref, { gen: this.generation, client })
    return client
  }

  /** Drops `client` from the pool (a worker found its node gone); closed once in-flight requests are over. */
  private invalidate (pref: number, client: AspenClient): void {
    const e = this.pool.get(pref)
    if (e === undefined) return
    void e.client.then((c) => {
      if (c === client && this.pool.get(pref) === e) {
        this.pool.delete(pref)
        this.retire(e.client)
      }
    })
  }

  private retire (p: Promise<AspenClient | undefined>): void {
    const t = setTimeout(() => { void p.then(async c => await c?.close()).catch(() => {}) }, RETIRE_AFTER_MS)
    this.retiring.add(p)
    t.unref()
  }

  private async closeAll (): Promise<void> {
    const all = [...this.retiring, ...[...this.pool.values()].map(e => e.client)]
    this.pool.clear()
    this.retiring.clear()
    await Promise.all(all.map(async p => { const c = await p; await c?.close().catch(() => {}) }))
  }

  private preferred (w: number): number {
    const ids = [...this.cluster.members].filter(id => this.cluster.running(id)).sort((a, b) => a - b)
    return ids[w % Math.max(1, ids.length)] ?? 0
  }

  private async worker (w: number): Promise<void> {
    const rng = new Rng(this.opts.seed).fork(`worker-${w}`)
    const seen = new Map<string, string | null>()
    let seq = 0
    while (!this.stopping && !this.history.full) {
      const via = this.preferred(w)
      const client = await this.clientFor(via)
      if (client === undefined) {
        const e = this.pool.get(via)
        if (e !== undefined) { this.pool.delete(via); this.retire(e.client) }
        await new Promise(resolve => setTimeout(resolve, 500))
        continue
      }
      const key = `k${rng.int(this.opts.keys)}`
      const value = `w${w}-${seq++}`
      const roll = rng.next()
      const t = this.opts.opTimeoutMs
      const call = performance.now()
      const base = { client: w, call, via }
      let op: ChaosOp
      try {
        if (roll < 0.35) {
          // Some reads ask for the leader lease: they must be just as linearizable as ReadIndex reads.
          const kv = await client.get(key, { timeoutMs: t, consistency: roll < 0.15 ? 'lease' : 'linearizable' })
          op = { ...base, input: { op: 'get', key }, return: performance.now(), outcome: 'ok', value: text(kv?.value) }
          seen.set(key, op.value ?? null)
        } else if (roll < 0.6) {
          await client.put(key, value, { timeoutMs: t })
          op = { ...base, input: { op: 'put', key, value }, return: performance.now(), outcome: 'ok' }
          seen.set(key, value)
        } else if (roll < 0.85) {
          const expected = seen.get(key) ?? null
          const r = await client.cas(key, expected ?? undefined, value, { timeoutMs: t })
          const now = performance.now()
          if (r.succeeded) {
            op = { ...base, input: { op: 'cas', key, expected, value }, return: now, outcome: 'ok' }
            seen.set(key, value)
          } else {
            const cur = text(r.current?.value)
            op = { ...base, input: { op: 'cas', key, expected, value }, return: now, outcome: 'fail', value: cur }
            seen.set(key, cur)
          }
        } else {
          const ukey = `u/${w}/${seq}`
          await client.put(ukey, value, { timeoutMs: t })
          op = { ...base, input: { op: 'put', key: ukey, value }, return: performance.now(), outcome: 'ok', unique: true }
        }
        this.ok++
      } catch (err) {
        const code = err instanceof ClusterError || (err instanceof Error && 'code' in err) ? String((err as { code: unknown }).code) : 'ERROR'
        const input = roll < 0.35
          ? { op: 'get' as const, key }
          : roll < 0.6
            ? { op: 'put' as const, key, value }
            : roll < 0.85 ? { op: 'cas' as const, key, expected: seen.get(key) ?? null, value } : { op: 'put' as const, key: `u/${w}/${seq}`, value }
        // Any failed write may still commit later: its outcome is unknown (reads with no answer change nothing).
        op = { ...base, input, return: null, outcome: 'unknown', error: code, ...(roll >= 0.85 ? { unique: true } : {}) }
        if (REDIAL_CODES.has(code)) this.invalidate(via, client)
      }
      this.history.record(op)
    }
  }
}
