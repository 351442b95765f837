// Simulated clients: closed-loop put / get / compare-and-set on a few keys, each op sent to the node the client
// believes is leader, recorded with invocation and response times (a global sequence, so real-time order is
// exact) into the history the linearizability checker reads. Timed-out writes have unknown outcomes; requests
// refused before they could execute (no leader, node down) are left out of the history.

import type { NodeId } from '../../src/raft/types.js'
import { describeCommand } from './describe.js'
import type { KvCommand } from './kv-state-machine.js'
import type { KvOperation } from './linearizability.js'
import type { Rng } from './rng.js'
import type { SimParams } from './scenario.js'
import type { Trace } from './trace.js'

/** A client request on its way to, or waiting at, a node. */
export interface PendingOp {
  id: string
  client: number
  cmd: KvCommand
  /** Writes and some gets go through the log; other gets use ReadIndex (or a lease). */
  via: 'log' | 'readIndex' | 'lease'
  record: KvOperation
  node: NodeId
  done: boolean
}

interface ClientState {
  id: number
  seq: number
  leaderGuess: NodeId
  current: PendingOp | null
  lastSeen: Map<string, string | null>
  /** Issues one operation and stops (scripted bursts). */
  oneShot: boolean
}

/** What the workload needs from the simulator. */
export interface WorkloadHost {
  now(): number
  /** Delivers the request to its node after `delayMs`. */
  sendRequest(op: PendingOp, delayMs: number): void
  /** Calls back after `delayMs` (think time, timeouts). */
  later(delayMs: number, fn: () => void): void
  /** A node that is not retired, chosen at random. */
  randomNode(): NodeId
  isRunning(id: NodeId): boolean
  /** The leader `id` believes in (0: none). */
  leaderHint(id: NodeId): NodeId
}

export type Finish = 'ok' | 'fail' | 'refused' | 'timeout'

/** The clients of one run and the history they record. */
export class Workload {
  readonly history: KvOperation[] = []
  private readonly clients: ClientState[] = []
  /** Values ever written, so a cas may expect an old one. */
  private readonly written: string[] = []
  private hseq = 0
  private stopped = false
  readonly counts = { acked: 0, unknown: 0, refused: 0 }

  constructor (
    private readonly params: SimParams,
    private readonly rng: Rng,
    private readonly trace: Trace,
    private readonly host: WorkloadHost
  ) {}

  /** Creates the closed-loop clients; they start within the first 50 ms. */
  start (firstGuess: NodeId): void {
    for (let c = 0; c < this.params.clients; c++) {
      const client: ClientState = { id: c + 1, seq: 0, leaderGuess: firstGuess, current: null, lastSeen: new Map(), oneShot: false }
      this.clients.push(client)
      this.host.later(this.rng.next() * 50, () => this.next(client))
    }
  }

  /** Clients stop issuing new operations (the settle phase). */
  stop (): void {
    this.stopped = true
  }

  /** True while some operation has no outcome yet. */
  get busy (): boolean {
    return this.clients.some(c => c.current !== null)
  }

  /** The client's operation with this id, if it is still waiting for an answer. */
  waiting (client: number, opId: string): PendingOp | undefined {
    const op = this.clients[client - 1]?.current
    return op !== null && op !== undefined && op.id === opId && !op.done ? op : undefined
  }

  /** Points every client at a node of `choose`'s choice (scripted faults steer traffic). */
  steer (choose: (clientId: number) => NodeId): void {
    for (const c of this.clients) c.leaderGuess = choose(c.id)
  }

  /** A node refused the request (it certainly did not execute); the client tries the leader it names. */
  refuse (op: PendingOp, leaderHint: NodeId): void {
    this.clients[op.client - 1].leaderGuess = leaderHint !== 0 ? leaderHint : this.host.randomNode()
    this.finish(op, 'refused')
  }

  /** `count` one-shot clients each send a put to `target` at once (a burst of proposals). */
  burst (target: NodeId, count: number): void {
    for (let i = 0; i < count; i++) {
      const c: ClientState = { id: this.clients.length + 1, seq: 1, leaderGuess: target, current: null, lastSeen: new Map(), oneShot: true }
      this.clients.push(c)
      const id = `c${c.id}.1`
      this.issue(c, { id, op: 'put', key: `k${this.rng.int(this.params.keys)}`, value: id }, 'log', target)
    }
  }

  /** Operations still in flight when the run ends get unknown outcomes. */
  closeAll (): void {
    for (const c of this.clients) {
      if (c.current !== null) this.finish(c.current, 'timeout')
    }
  }

  /** Records the outcome of an operation; `value` is what a get read or what a failed cas saw. */
  finish (op: PendingOp, how: Finish, value?: string | null): void {
    if (op.done) return
    op.done = true
    const c = this.clients[op.client - 1]
    c.current = null
    const rec = op.record
    if (how === 'refused') {
      this.counts.refused++
      this.trace.record(this.host.now(), op.node, 'refused', [op.client], () => `client ${op.client}: ${op.id} refused`)
    } else if (how === 'timeout') {
      rec.outcome = 'unknown'
      rec.return = null
      this.counts.unknown++
      this.history.push(rec)
      c.leaderGuess = this.host.randomNode()
      this.trace.record(this.host.now(), op.node, 'timeout', [op.client], () => `client ${op.client}: ${op.id} timed out`)
    } else {
      rec.outcome = how
      rec.return = this.hseq++
      if (value !== undefined && (op.cmd.op === 'get' || how === 'fail')) rec.value = value
      if (how === 'ok') this.counts.acked++
      this.history.push(rec)
      if (value !== undefined) c.lastSeen.set(op.cmd.key, value)
      const hint = this.host.leaderHint(op.node)
      if (hint !== 0) c.leaderGuess = hint
      this.trace.record(this.host.now(), op.node, 'return', [op.client, how === 'ok' ? 1 : 0, value === null ? -1 : value === undefined ? -2 : value.length],
        () => `client ${op.client}: ${describeCommand(op.cmd)} → ${how}${value !== undefined ? ` ${JSON.stringify(value)}` : ''}`)
    }
    if (!this.stopped && !c.oneShot) {
      const p = this.params
      this.host.later(p.thinkMinMs + this.rng.next() * (p.thinkMaxMs - p.thinkMinMs), () => this.next(c))
    }
  }

  private next (c: ClientState): void {
    if (this.stopped || c.current !== null) return
    const p = this.params
    const r = this.rng
    const key = `k${r.int(p.keys)}`
    const id = `c${c.id}.${++c.seq}`
    const x = r.next()
    let cmd: KvCommand
    let via: PendingOp['via'] = 'log'
    if (x < 0.3) {
      cmd = { id, op: 'put', key, value: id }
    } else if (x < 0.55) {
      const y = r.next()
      const expected = y < 0.6 ? (c.lastSeen.get(key) ?? null) : y < 0.8 || this.written.length === 0 ? null : r.pick(this.written)
      cmd = { id, op: 'cas', key, expected, value: id }
    } else {
      cmd = { id, op: 'get', key }
      if (r.chance(p.readIndexShare)) via = p.leaseReadShare > 0 && r.chance(p.leaseReadShare) ? 'lease' : 'readIndex'
    }
    let target = c.leaderGuess
    if (r.chance(0.1) || !this.host.isRunning(target)) target = this.host.randomNode()
    this.issue(c, cmd, via, target)
  }

  private issue (c: ClientState, cmd: KvCommand, via: PendingOp['via'], target: NodeId): void {
    const key = cmd.key
    if (cmd.op !== 'get') this.written.push(cmd.id)
    const input: KvOperation['input'] = cmd.op === 'put'
      ? { op: 'put', key, value: cmd.value }
      : cmd.op === 'cas' ? { op: 'cas', key, expected: cmd.expected, value: cmd.value } : { op: 'get', key }
    const record: KvOperation = { client: c.id, input, call: this.hseq++, return: null, outcome: 'unknown' }
    const op: PendingOp = { id: cmd.id, client: c.id, cmd, via, record, node: target, done: false }
    c.current = op
    this.trace.record(this.host.now(), target, 'invoke', [c.id, c.seq], () => `client ${c.id} → n${target}: ${describeCommand(cmd)} via ${via}`)
    this.host.sendRequest(op, 0.2)
    this.host.later(this.params.clientTimeoutMs, () => { if (c.current === op) this.finish(op, 'timeout') })
  }
}
