// The deterministic simulator: N RawNodes in one process, a discrete-event loop on simulated time, a seeded
// network, a disk per node that loses whatever was not persisted when the node crashes, simulated clients
// recording a history (workload.ts) and a fault director (director.ts). Every step is followed by the safety
// checks of safety.ts; the run ends with a settle phase (faults healed, every member must converge) and a
// linearizability check of the history.
//
// The Ready contract (src/raft/types.ts) is followed literally, because it is what the sim verifies:
// `messages` leave when the Ready is handed out, the Ready is persisted as one atomic write after a disk
// latency, then `messagesAfterPersist` leave, committed entries are applied (in the same atomic write) and
// read states answered, and only then advance(). A crash before the write completes loses all of it.

import { decodeConfChange, ProposalDroppedError } from '../../src/raft/index.js'
import type { RaftBug } from '../../src/raft/index.js'
import type { ConfChange, ConfState, Entry, Message, NodeId, Ready } from '../../src/raft/types.js'
import { describeConfChange, describeMessage, describeReady, typeCode } from './describe.js'
import { Director } from './director.js'
import type { FaultHost, LeaderLoss } from './director.js'
import { EventQueue } from './event-queue.js'
import { encodeCommand, KvStateMachine } from './kv-state-machine.js'
import type { KvCommand, KvResult } from './kv-state-machine.js'
import { checkKvHistory, formatReport } from './linearizability.js'
import type { CheckReport } from './linearizability.js'
import { Network, quietFaults } from './network.js'
import { Rng } from './rng.js'
import { SafetyMonitor, SafetyViolation } from './safety.js'
import type { SimParams } from './scenario.js'
import { bootstrapStorage, emptyStorage, SimNode } from './sim-node.js'
import { Trace } from './trace.js'
import { Workload } from './workload.js'
import type { PendingOp } from './workload.js'

/** Bugs the simulator can inject: the core's, plus one in the sim's own node driver. */
export type SimBug = RaftBug | 'applyBeforePersist'

export const SIM_BUGS: readonly SimBug[] = ['countOldTermVotes', 'commitPriorTermByCounting', 'applyBeforePersist', 'leaderSelfAckBeforePersist', 'leaseReadAfterTimeoutNow']

/** Time from losing a leader to the next leader, in election timeouts. */
export interface ElectionSample {
  cause: LeaderLoss
  timeouts: number
  /**
   * Nothing else went wrong while the election ran: the remaining voters were all up and could form a quorum,
   * no partition, no lossy-network phase, no other crash, pause or membership change.
   */
  clean: boolean
}

export interface SimFailure {
  kind: string
  message: string
  timeMs: number
}

export interface SimOutcome {
  seed: number
  profile: string
  ok: boolean
  failure?: SimFailure
  traceHash: string
  /** The last events of the run, oldest first. */
  trace: string[]
  events: number
  elections: ElectionSample[]
  history: number
  linearizability: CheckReport['result']
  stats: Record<string, number>
}

type Ev =
  | { k: 'tick', node: NodeId, token: number }
  | { k: 'deliver', msg: Message }
  | { k: 'persist', node: NodeId, inc: number, rd: Ready }
  | { k: 'report', node: NodeId, inc: number, to: NodeId, what: 'snapOk' | 'snapFail' | 'unreachable' }
  | { k: 'director' }
  | { k: 'restart', node: NodeId }
  | { k: 'resume', node: NodeId }
  | { k: 'heal' }
  | { k: 'netRestore' }
  | { k: 'request', node: NodeId, op: PendingOp }
  | { k: 'retire', node: NodeId }
  | { k: 'converge' }
  /** A callback; `faultsOnly` ones are skipped once the faulty phase is over. */
  | { k: 'call', fn: () => void, faultsOnly: boolean }

/** Failure raised by the settle phase when the healed cluster does not converge. */
export class LivenessFailure extends SafetyViolation {}

/** Election timeouts the healed cluster gets to converge after the faulty phase. */
const SETTLE_TIMEOUTS = 80

const decoder = new TextDecoder()
const encoder = new TextEncoder()

/** One seeded run. */
export class Simulation implements FaultHost {
  readonly rng: Rng
  private readonly netRng: Rng
  private readonly diskRng: Rng
  private readonly queue = new EventQueue<Ev>()
  readonly network: Network
  readonly monitor = new SafetyMonitor()
  readonly trace: Trace
  readonly nodes = new Map<NodeId, SimNode>()
  readonly workload: Workload
  private readonly director: Director
  private readonly raftBugs: ReadonlySet<RaftBug>
  private readonly applyBeforePersist: boolean
  private time = 0
  private nextId = 1
  private settling = false
  private converged = false
  readonly elections: ElectionSample[] = []
  /** An open leader-loss episode being measured. */
  private lost: { since: number, term: number, leader: NodeId, cause: LeaderLoss, clean: boolean } | null = null
  private leaderHook: ((n: SimNode) => void) | null = null
  readonly stats: Record<string, number> = {
    messages: 0, dropped: 0, crashes: 0, restarts: 0, pauses: 0, partitions: 0, transfers: 0, confChanges: 0,
    snapshotsTaken: 0, snapshotsInstalled: 0, leaders: 0, readsOk: 0, leaseReads: 0
  }

  constructor (readonly seed: number, readonly params: SimParams, bugs: readonly SimBug[] = [], traceCapacity = 200, live?: (line: string) => void) {
    this.rng = new Rng(seed)
    this.netRng = this.rng.fork('net')
    this.diskRng = this.rng.fork('disk')
    this.network = new Network(this.netRng, { ...params.faults })
    this.trace = new Trace(traceCapacity, live)
    this.director = new Director(this, this.rng.fork('director'))
    this.workload = new Workload(params, this.rng.fork('clients'), this.trace, {
      now: () => this.time,
      sendRequest: (op, delayMs) => this.queue.push(this.time + delayMs, { k: 'request', node: op.node, op }),
      later: (delayMs, fn) => this.queue.push(this.time + delayMs, { k: 'call', fn, faultsOnly: false }),
      randomNode: () => this.randomNode(),
      isRunning: (id) => this.nodes.get(id)?.state === 'running',
      leaderHint: (id) => this.nodes.get(id)?.soft.leader ?? 0
    })
    this.raftBugs = new Set(bugs.filter((b): b is RaftBug => b !== 'applyBeforePersist'))
    this.applyBeforePersist = bugs.includes('applyBeforePersist')
  }

  /** Runs the scenario, the settle phase and the final checks. */
  run (): SimOutcome {
    let failure: SimFailure | undefined
    let lin: CheckReport | undefined
    const history = this.workload.history
    try {
      this.setup()
      this.loop(this.params.durationMs)
      this.startSettle()
      this.loop(this.params.durationMs + SETTLE_TIMEOUTS * this.electionTimeoutMs())
      if (!this.converged) this.failConvergence()
      this.workload.closeAll()
      lin = checkKvHistory(history)
      if (lin.result === 'illegal') {
        for (const line of formatReport(lin)) this.trace.record(this.time, 0, 'history', [], line)
        throw new SafetyViolation('linearizability', `history of key ${lin.problems[0]?.key} is not linearizable`)
      }
    } catch (err) {
      failure = toFailure(err, this.time)
      this.trace.record(this.time, 0, 'FAILURE', [], `${failure.kind}: ${failure.message}`)
    }
    this.trace.mix(JSON.stringify(history))
    const stats = { ...this.stats, ...this.workload.counts, historyOps: history.length }
    return {
      seed: this.seed,
      profile: this.params.profile,
      ok: failure === undefined,
      ...(failure !== undefined ? { failure } : {}),
      traceHash: this.trace.hash(),
      trace: this.trace.lines(),
      events: this.trace.count,
      elections: this.elections,
      history: history.length,
      linearizability: lin?.result ?? 'unknown',
      stats
    }
  }

  /** Simulated time in ms. */
  now (): number {
    return this.time
  }

  private electionTimeoutMs (): number {
    return this.params.electionTick * this.params.tickMs
  }

  // ---- setup and the event loop ----------------------------------------------------------------------------

  private setup (): void {
    const p = this.params
    const voters: NodeId[] = []
    const learners: NodeId[] = []
    for (let i = 0; i < p.initialVoters; i++) voters.push(this.nextId++)
    for (let i = 0; i < p.initialLearners; i++) learners.push(this.nextId++)
    for (const id of [...voters, ...learners]) {
      const d = bootstrapStorage(voters, learners)
      this.addNode(id, d.storage, d.sm, d.confState)
    }
    this.trace.record(0, 0, 'setup', [p.initialVoters, p.initialLearners], () =>
      `profile ${p.profile}; voters ${voters.join(',')} learners ${learners.join(',') || '-'}; ${p.readOnly} reads, preVote ${p.preVote}, checkQuorum ${p.checkQuorum}, ` +
      `tick ${p.tickMs}ms, heartbeat ${p.heartbeatTick}/election ${p.electionTick} ticks, maxMsg ${p.maxSizePerMsg}B, inflight ${p.maxInflightMsgs}, clock drift ${(p.clockDrift * 100).toFixed(1)}%`)
    this.workload.start(voters[0])
    this.queue.push(p.directorEveryMs, { k: 'director' })
  }

  private addNode (id: NodeId, storage: SimNode['storage'], sm: KvStateMachine, confState: ConfState): SimNode {
    const rate = 1 + (this.rng.next() * 2 - 1) * this.params.clockDrift
    const node = new SimNode(id, this.rng.next() * 1000, rate, storage, sm, confState)
    this.nodes.set(id, node)
    this.bootNode(node)
    return node
  }

  private bootNode (n: SimNode): void {
    n.state = 'running'
    n.pausedUntil = 0
    n.boot(this.params, this.rng.fork(`raft${n.id}.${n.incarnation}`), this.raftBugs, () => n.localTime(this.time))
    this.scheduleTick(n)
  }

  private loop (until: number): void {
    while (this.queue.peekTime() <= until && !(this.settling && this.converged)) {
      const ev = this.queue.pop()
      if (ev === undefined) break
      this.time = ev.time
      this.handle(ev.value)
    }
  }

  private handle (ev: Ev): void {
    switch (ev.k) {
      case 'tick': return this.onTick(ev.node, ev.token)
      case 'deliver': return this.onDeliver(ev.msg)
      case 'persist': return this.onPersist(ev.node, ev.inc, ev.rd)
      case 'report': return this.onReport(ev)
      case 'director':
        if (!this.settling) this.queue.push(this.time + this.director.decide(), { k: 'director' })
        return
      case 'restart': return this.restart(ev.node)
      case 'resume': return this.onResume(ev.node)
      case 'heal':
        this.network.heal()
        this.trace.record(this.time, 0, 'heal', [], 'network healed')
        return
      case 'netRestore':
        this.network.faults = { ...this.params.faults }
        return
      case 'request': return this.onRequest(ev.node, ev.op)
      case 'retire': return this.onRetire(ev.node)
      case 'converge': return this.onConverge()
      case 'call':
        if (!ev.faultsOnly || !this.settling) ev.fn()
    }
  }

  /** Re-queues an event for a paused node at its resume time; true if it was deferred. */
  private deferIfPaused (n: SimNode, ev: Ev): boolean {
    if (n.state === 'running' && this.time < n.pausedUntil) {
      this.queue.push(n.pausedUntil, ev)
      return true
    }
    return false
  }

  // ---- ticks, messages, Ready ------------------------------------------------------------------------------

  private scheduleTick (n: SimNode): void {
    const tickMs = this.params.tickMs
    const nextLocal = (Math.floor(n.localTime(this.time) / tickMs) + 1) * tickMs
    const at = (nextLocal - n.clockOffset) / n.clockRate
    // One tick chain per node: rescheduling (resume, restart) supersedes any tick already queued.
    this.queue.push(Math.max(at, this.time + 1e-6), { k: 'tick', node: n.id, token: ++n.tickToken })
  }

  private onTick (id: NodeId, token: number): void {
    const n = this.nodes.get(id)
    if (n === undefined || n.state !== 'running' || n.tickToken !== token) return
    if (this.time < n.pausedUntil) return // a stopped process misses its timers; resume reschedules
    n.raw.tick()
    this.pump(n)
    this.scheduleTick(n)
  }

  private report (from: NodeId, to: NodeId, what: 'snapOk' | 'snapFail' | 'unreachable'): void {
    const inc = this.nodes.get(from)?.incarnation ?? -1
    this.queue.push(this.time + 1, { k: 'report', node: from, inc, to, what })
  }

  private send (msgs: readonly Message[]): void {
    for (const m of msgs) {
      this.stats.messages++
      if (m.type === 'voteResp' && !m.reject) this.monitor.onVote(m.from, m.term, m.to)
      const delays = this.network.route(m.from, m.to)
      if (delays.length === 0) {
        this.stats.dropped++
        // A transport notices a broken connection (not a lost packet) and tells Raft.
        if (m.type === 'snap') this.report(m.from, m.to, 'snapFail')
        else if (!this.network.connected(m.from, m.to) && this.netRng.chance(0.3)) this.report(m.from, m.to, 'unreachable')
        continue
      }
      delays.forEach((d, i) => this.queue.push(this.time + d, { k: 'deliver', msg: i === 0 ? m : { ...m } }))
    }
  }

  private onDeliver (m: Message): void {
    const n = this.nodes.get(m.to)
    if (n === undefined || n.state !== 'running') {
      // The connection to a dead process fails: the sender's transport notices.
      if (m.type === 'snap') this.report(m.from, m.to, 'snapFail')
      else if (this.netRng.chance(0.3)) this.report(m.from, m.to, 'unreachable')
      return
    }
    if (this.deferIfPaused(n, { k: 'deliver', msg: m })) return
    if (!this.network.connected(m.from, m.to)) {
      // Cut while in flight.
      if (m.type === 'snap') this.report(m.from, m.to, 'snapFail')
      return
    }
    this.trace.record(this.time, m.to, 'recv', [typeCode(m.type), m.from, m.term, m.index, m.logTerm, m.commit, m.entries.length, m.reject ? 1 : 0], () => describeMessage(m))
    n.raw.step(m)
    if (m.type === 'snap') this.report(m.from, m.to, 'snapOk')
    this.pump(n)
  }

  private onReport (ev: Extract<Ev, { k: 'report' }>): void {
    const n = this.nodes.get(ev.node)
    if (n === undefined || n.state !== 'running' || n.incarnation !== ev.inc) return
    if (this.deferIfPaused(n, ev)) return
    if (ev.what === 'unreachable') n.raw.reportUnreachable(ev.to)
    else n.raw.reportSnapshot(ev.to, ev.what === 'snapOk' ? 'finish' : 'failure')
    this.pump(n)
  }

  /** Hands out a Ready if the node has one and none is in flight; its write completes after a disk latency. */
  private pump (n: SimNode): void {
    if (n.state !== 'running' || n.pending !== null || this.time < n.pausedUntil) return
    if (!n.raw.hasReady()) return
    const rd = n.raw.ready()
    n.pending = rd
    this.trace.record(this.time, n.id, 'ready', [rd.entries.length, rd.committedEntries.length, rd.messages.length, rd.messagesAfterPersist.length, rd.hardState?.term ?? -1, rd.hardState?.commit ?? -1],
      () => describeReady(rd))
    if (rd.hardState !== undefined) {
      this.monitor.onHardState(n.id, n.hard, rd.hardState)
      n.hard = { ...rd.hardState }
    }
    if (rd.softState !== undefined) this.onSoftState(n, rd)
    this.send(rd.messages)
    if (this.applyBeforePersist) {
      // Injected bug: the state machine (durable) moves before the log and hard state are written.
      this.applyEntries(n, rd.committedEntries)
    }
    const p = this.params
    let latency = p.diskMinMs + this.diskRng.next() * (p.diskMaxMs - p.diskMinMs)
    if (this.time < n.slowDiskUntil || this.diskRng.chance(p.diskSlowChance)) latency += this.diskRng.next() * p.diskSlowMaxMs
    this.queue.push(this.time + latency, { k: 'persist', node: n.id, inc: n.incarnation, rd })
  }

  private onSoftState (n: SimNode, rd: Ready): void {
    const soft = rd.softState
    if (soft === undefined) return
    const wasLeader = n.soft.role === 'leader'
    n.soft = { ...soft }
    if (soft.role === 'leader' && !wasLeader) {
      const term = n.hard.term
      this.stats.leaders++
      const last = n.storage.lastIndex()
      this.trace.record(this.time, n.id, 'LEADER', [term], () => `became leader of term ${term} (durable log to ${last}, ${rd.entries.length} unpersisted)`)
      this.monitor.onLeader(n.id, term, { term: (i) => n.termOf(i, rd.entries) }, [...n.recentConfs, n.raw.status().confState])
      if (this.leaderHook !== null) this.leaderHook(n)
      if (this.lost !== null && term > this.lost.term) {
        this.elections.push({ cause: this.lost.cause, timeouts: (this.time - this.lost.since) / this.electionTimeoutMs(), clean: this.lost.clean })
        this.lost = null
      }
    } else if (wasLeader && soft.role !== 'leader') {
      this.trace.record(this.time, n.id, 'stepdown', [], `stepped down (now ${soft.role}, leader ${soft.leader})`)
    }
  }

  private onPersist (id: NodeId, inc: number, rd: Ready): void {
    const n = this.nodes.get(id)
    if (n === undefined || n.state !== 'running' || n.incarnation !== inc) return
    if (this.deferIfPaused(n, { k: 'persist', node: id, inc, rd })) return
    // One atomic write: snapshot, entries, hard state and the application of committed entries.
    if (rd.snapshot !== undefined && rd.snapshot.metadata.index > 0) {
      const meta = rd.snapshot.metadata
      n.storage.applySnapshot(rd.snapshot)
      n.snapshotIndex = meta.index
      n.sm = KvStateMachine.deserialize(rd.snapshot.data)
      n.confState = meta.confState
      n.noteConf(n.confState)
      this.stats.snapshotsInstalled++
      this.monitor.onApplied(n.id, n.sm.applied, undefined, n.sm.chain)
      this.trace.record(this.time, id, 'snapshot', [meta.index, meta.term], `installed snapshot at ${meta.index} (term ${meta.term})`)
    }
    if (rd.entries.length > 0) {
      n.storage.append(rd.entries)
      for (const e of rd.entries) this.monitor.onPersisted(n.id, e, n.termOf(e.index - 1, []))
    }
    if (rd.hardState !== undefined) {
      n.storage.setHardState(rd.hardState)
      this.monitor.onVote(n.id, rd.hardState.term, rd.hardState.vote)
    }
    if (!this.applyBeforePersist) this.applyEntries(n, rd.committedEntries)
    const applied = n.sm.applied
    const hs = rd.hardState
    this.trace.record(this.time, id, 'persisted', [rd.entries.length, hs?.commit ?? -1, applied],
      () => `persisted ${rd.entries.length} entries${hs !== undefined ? ` hs(t${hs.term} v${hs.vote} c${hs.commit})` : ''}; applied ${applied}`)
    this.send(rd.messagesAfterPersist)
    for (const rs of rd.readStates) n.readQueue.push(rs)
    this.serveReads(n)
    n.raw.advance(rd)
    n.pending = null
    this.maybeCompact(n, false)
    this.pump(n)
  }

  private applyEntries (n: SimNode, entries: readonly Entry[]): void {
    const nodeTerm = entries.length > 0 ? n.raw.status().hardState.term : 0
    for (const e of entries) {
      const r = n.sm.apply(e)
      if (e.type === 'confChange') this.applyConfChange(n, e)
      this.monitor.onApplied(n.id, e.index, e.term, n.sm.chain, nodeTerm)
      if (r !== undefined) this.answerApplied(n, e, r.cmd, r.result)
    }
  }

  private applyConfChange (n: SimNode, e: Entry): void {
    const cc = decodeConfChange(e.data)
    const cs = n.raw.applyConfChange(cc)
    n.confState = cs
    n.noteConf(cs)
    this.stats.confChanges++
    this.trace.record(this.time, n.id, 'conf', [e.index], () => `applied conf change at ${e.index}: ${describeConfChange(cc)} → voters ${cs.voters.join(',')}${cs.votersOutgoing.length > 0 ? ` & ${cs.votersOutgoing.join(',')}` : ''} learners ${cs.learners.join(',') || '-'}`)
    if (!isMember(cs, n.id)) {
      if (n.soft.role === 'leader') this.leaderLost(n, 'removed')
      this.queue.push(this.time + 2 * this.electionTimeoutMs(), { k: 'retire', node: n.id })
    }
  }

  private maybeCompact (n: SimNode, force: boolean): void {
    const p = this.params
    const applied = n.sm.applied
    const first = n.storage.firstIndex()
    if (applied < first || applied > n.storage.lastIndex() || n.snapshotIndex >= applied) return
    if (!force && applied - (first - 1) < p.snapshotEvery) return
    n.storage.createSnapshot(applied, n.confState, n.image())
    n.snapshotIndex = applied
    const compactTo = applied - p.snapshotKeep
    if (compactTo >= first) n.storage.compact(compactTo)
    this.stats.snapshotsTaken++
    this.trace.record(this.time, n.id, 'compact', [applied, compactTo], `snapshot at ${applied}, log compacted to ${compactTo}`)
  }

  // ---- client requests on a node ---------------------------------------------------------------------------

  private onRequest (id: NodeId, op: PendingOp): void {
    const n = this.nodes.get(id)
    if (n === undefined || n.state !== 'running') {
      // Connection refused: certainly not executed.
      this.workload.refuse(op, 0)
      return
    }
    if (this.deferIfPaused(n, { k: 'request', node: id, op })) return
    if (op.done) return
    try {
      if (op.via === 'readIndex' || op.via === 'lease') {
        n.readWaiters.set(op.id, { opId: op.id, client: op.client, key: op.cmd.key })
        // A lease read is answered at the index the leader's lease allows, once applied; else it takes a round.
        const leaseIndex = op.via === 'lease' ? n.raw.leaseReadIndex() : undefined
        if (leaseIndex === undefined) n.raw.readIndex(encoder.encode(op.id))
        else {
          this.stats.leaseReads++
          n.readQueue.push({ index: leaseIndex, requestCtx: encoder.encode(op.id) })
          this.serveReads(n)
        }
      } else {
        n.waiters.set(op.id, { opId: op.id, client: op.client })
        n.raw.propose(encodeCommand(op.cmd))
      }
    } catch (err) {
      if (!(err instanceof ProposalDroppedError)) throw err
      n.waiters.delete(op.id)
      n.readWaiters.delete(op.id)
      this.workload.refuse(op, n.soft.leader)
      return
    }
    this.pump(n)
  }

  private answerApplied (n: SimNode, e: Entry, cmd: KvCommand, result: KvResult): void {
    const w = n.waiters.get(cmd.id)
    if (w === undefined) return
    n.waiters.delete(cmd.id)
    const op = this.workload.waiting(w.client, cmd.id)
    if (op === undefined) return
    if (cmd.op !== 'get' && result.ok) this.monitor.onAcked(cmd.id, e.index)
    this.workload.finish(op, result.ok ? 'ok' : 'fail', result.value)
  }

  /** Answers ReadIndex reads whose index the state machine has reached. */
  private serveReads (n: SimNode): void {
    if (n.readQueue.length === 0) return
    const keep = []
    for (const rs of n.readQueue) {
      if (rs.index > n.sm.applied) {
        keep.push(rs)
        continue
      }
      const id = decoder.decode(rs.requestCtx)
      const w = n.readWaiters.get(id)
      if (w === undefined) continue
      n.readWaiters.delete(id)
      const op = this.workload.waiting(w.client, id)
      if (op === undefined) continue
      this.stats.readsOk++
      this.workload.finish(op, 'ok', n.sm.get(w.key))
    }
    n.readQueue = keep
  }

  private randomNode (): NodeId {
    const ids = [...this.nodes.values()].filter(n => n.state !== 'retired').map(n => n.id)
    return ids.length === 0 ? 1 : this.rng.pick(ids)
  }

  // ---- what the fault director may do (FaultHost) ----------------------------------------------------------

  /** The running node that believes it leads, with the highest term. */
  leader (): SimNode | undefined {
    let best: SimNode | undefined
    for (const n of this.nodes.values()) {
      if (n.state !== 'running' || n.soft.role !== 'leader') continue
      if (best === undefined || n.hard.term > best.hard.term) best = n
    }
    return best
  }

  /** Kills a node: everything not persisted is gone; it restarts from its disk after `downMs`. */
  crash (n: SimNode, why: string, downMs?: number): void {
    if (n.state !== 'running') return
    this.disturb()
    if (n.soft.role === 'leader') this.leaderLost(n, 'crash')
    n.state = 'crashed'
    n.incarnation++
    n.pending = null
    this.stats.crashes++
    this.trace.record(this.time, n.id, 'CRASH', [], `${why}; unpersisted state lost (durable log ${n.storage.firstIndex()}..${n.storage.lastIndex()}, applied ${n.sm.applied})`)
    this.queue.push(this.time + (downMs ?? 5 + this.rng.next() * this.params.maxDownMs), { k: 'restart', node: n.id })
  }

  /** Restarts a crashed node from its durable state (a node removed while down stays down). */
  restart (id: NodeId): void {
    const n = this.nodes.get(id)
    if (n === undefined || n.state !== 'crashed') return
    const lead = this.leader()
    if (n.removing && lead !== undefined && !isMember(lead.confState, id)) {
      this.retire(n, 'removed while down: not restarted')
      return
    }
    const hs = n.storage.initialState().hardState
    this.monitor.onRecovered(id, n.sm.applied, Math.max(hs.commit, n.snapshotIndex), n.storage.lastIndex())
    this.stats.restarts++
    this.bootNode(n)
    this.trace.record(this.time, id, 'restart', [n.sm.applied, hs.term, hs.commit], `restarted from disk: term ${hs.term}, commit ${hs.commit}, applied ${n.sm.applied}, log ${n.storage.firstIndex()}..${n.storage.lastIndex()}`)
    this.pump(n)
  }

  /** Stops a process (SIGSTOP) for `ms`: it handles nothing, but its monotonic clock keeps running. */
  pause (n: SimNode, ms: number): void {
    this.disturb()
    if (n.soft.role === 'leader') this.leaderLost(n, 'pause')
    n.pausedUntil = this.time + ms
    this.stats.pauses++
    this.queue.push(n.pausedUntil, { k: 'resume', node: n.id })
    this.trace.record(this.time, n.id, 'pause', [Math.round(ms)], `paused (SIGSTOP) for ${ms.toFixed(0)}ms`)
  }

  /** Asks the leader to hand leadership to `to`. */
  transfer (lead: SimNode, to: NodeId): void {
    this.stats.transfers++
    this.disturb()
    this.trace.record(this.time, lead.id, 'transfer', [to], `transfer leadership to ${to}`)
    lead.raw.transferLeader(to)
    this.pump(lead)
  }

  /** Proposes a membership change on the leader; false if the core dropped it. */
  proposeConf (lead: SimNode, cc: ConfChange): boolean {
    this.disturb()
    try {
      lead.raw.proposeConfChange(cc)
    } catch (err) {
      if (!(err instanceof ProposalDroppedError)) throw err
      this.trace.record(this.time, lead.id, 'conf?', [], () => `conf change dropped: ${err.message}`)
      return false
    }
    this.trace.record(this.time, lead.id, 'propconf', [], () => `propose ${describeConfChange(cc)}`)
    this.pump(lead)
    return true
  }

  /** Starts an empty node with a fresh id, to be added as a learner. */
  startJoiner (): SimNode | undefined {
    if (this.nextId > this.params.maxNodes) return undefined
    const d = emptyStorage()
    const n = this.addNode(this.nextId++, d.storage, d.sm, d.confState)
    this.trace.record(this.time, n.id, 'start', [], 'started empty, to join as a learner')
    return n
  }

  /** Stops a node for good. */
  retire (n: SimNode, why: string): void {
    if (n.state === 'retired') return
    n.state = 'retired'
    n.incarnation++
    this.trace.record(this.time, n.id, 'retired', [], why)
  }

  /** Snapshot and log compaction on `n` now (if it is idle). */
  compact (n: SimNode): void {
    if (n.pending === null && this.time >= n.pausedUntil) this.maybeCompact(n, true)
  }

  healAt (at: number): void {
    this.queue.push(at, { k: 'heal' })
  }

  restoreNetworkAt (at: number): void {
    this.queue.push(at, { k: 'netRestore' })
  }

  at (at: number, fn: () => void): void {
    this.queue.push(at, { k: 'call', fn, faultsOnly: true })
  }

  setLeaderHook (fn: ((n: SimNode) => void) | null): void {
    this.leaderHook = fn
  }

  /** Any fault while an election runs makes that sample unrepresentative of a clean leader loss. */
  disturb (): void {
    if (this.lost !== null) this.lost.clean = false
  }

  /** Starts timing the election that replaces `leader` (unless one is already being timed). */
  leaderLost (leader: SimNode, cause: LeaderLoss): void {
    if (this.lost !== null) return
    // Clean: the voters left can elect without the lost leader, and nothing else is wrong.
    const cs = leader.confState
    const up = (v: NodeId): boolean => v !== leader.id && this.nodes.get(v)?.active(this.time) === true
    const quorumUp = (ids: readonly NodeId[]): boolean => ids.length === 0 || ids.filter(up).length * 2 > ids.length
    const allUp = [...cs.voters, ...cs.votersOutgoing].every(v => v === leader.id || up(v))
    const quiet = !this.network.partitioned && this.network.faults.drop <= this.params.faults.drop
    const clean = allUp && quorumUp(cs.voters) && quorumUp(cs.votersOutgoing) && quiet
    this.lost = { since: this.time, term: leader.hard.term, leader: leader.id, cause, clean }
  }

  private onResume (id: NodeId): void {
    const n = this.nodes.get(id)
    if (n === undefined || n.state !== 'running' || this.time < n.pausedUntil) return
    this.trace.record(this.time, id, 'resume', [], 'resumed (SIGCONT)')
    // Nobody replaced the paused leader: no election to measure.
    if (this.lost !== null && this.lost.leader === id && this.lost.cause === 'pause') this.lost = null
    // A stopped process's timer fires once on resume.
    n.raw.tick()
    this.pump(n)
    this.scheduleTick(n)
  }

  /** Stops a node once the leader's configuration no longer has it. */
  private onRetire (id: NodeId): void {
    const n = this.nodes.get(id)
    if (n === undefined || n.state === 'retired') return
    const lead = this.leader()
    if (lead === undefined || isMember(lead.confState, id)) {
      if (!this.settling) this.queue.push(this.time + 2 * this.electionTimeoutMs(), { k: 'retire', node: id })
      return
    }
    this.retire(n, 'removed from the cluster; stopped')
  }

  // ---- settle phase ----------------------------------------------------------------------------------------

  private startSettle (): void {
    this.settling = true
    this.director.stop()
    this.workload.stop()
    this.network.heal()
    this.network.faults = quietFaults()
    this.trace.record(this.time, 0, 'settle', [], 'faults stop: network healed, crashed members restart')
    for (const n of this.nodes.values()) {
      n.slowDiskUntil = 0
      if (n.state === 'running' && this.time < n.pausedUntil) {
        n.pausedUntil = this.time
        this.queue.push(this.time, { k: 'resume', node: n.id })
      }
      if (n.state === 'crashed') this.queue.push(this.time + 1, { k: 'restart', node: n.id })
    }
    this.queue.push(this.time + 10, { k: 'converge' })
  }

  /** Converged: one leader, every member of its configuration applied its commit index, no client waiting. */
  private onConverge (): void {
    this.queue.push(this.time + 20, { k: 'converge' })
    const lead = this.leader()
    if (lead === undefined) return
    const members = membersOf(lead.confState)
    const commit = lead.hard.commit
    for (const id of members) {
      const n = this.nodes.get(id)
      if (n === undefined || n.state !== 'running') return
      if (n.sm.applied !== commit || n.hard.term !== lead.hard.term) return
    }
    if (this.workload.busy) return
    this.monitor.checkAckedWrites(lead.id, (id) => lead.sm.resultOf(id)?.ok === true)
    this.converged = true
    this.trace.record(this.time, lead.id, 'converged', [commit], `all members (${members.join(',')}) applied ${commit}`)
  }

  private failConvergence (): never {
    const lead = this.leader()
    const desc = [...this.nodes.values()].map(n => `n${n.id}:${n.state}/${n.soft.role} t${n.hard.term} c${n.hard.commit} a${n.sm.applied}`).join(' ')
    throw new LivenessFailure('liveness', `cluster did not converge within ${SETTLE_TIMEOUTS} election timeouts after faults stopped (leader ${lead?.id ?? 'none'}): ${desc}`)
  }
}

function isMember (cs: ConfState, id: NodeId): boolean {
  return cs.voters.includes(id) || cs.learners.includes(id) || cs.votersOutgoing.includes(id) || cs.learnersNext.includes(id)
}

function membersOf (cs: ConfState): NodeId[] {
  return [...new Set([...cs.voters, ...cs.learners, ...cs.votersOutgoing, ...cs.learnersNext])].sort((a, b) => a - b)
}

function toFailure (err: unknown, timeMs: number): SimFailure {
  if (err instanceof SafetyViolation) return { kind: err.property, message: err.detail, timeMs }
  if (err instanceof Error) {
    const code = (err as { code?: unknown }).code
    return { kind: typeof code === 'string' ? code : err.name, message: `${err.message}\n${err.stack?.split('\n').slice(1, 6).join('\n') ?? ''}`, timeMs }
  }
  return { kind: 'thrown', message: String(err), timeMs }
}
