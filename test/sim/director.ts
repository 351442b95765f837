// The fault director: at random intervals it picks an action by the profile's weights — crash or pause a node
// (often the leader), partition the network (symmetric, asymmetric, leader isolation), make it lossy, slow a
// disk, force a snapshot, transfer leadership, change membership (add learner, promote through joint
// consensus, remove a voter or the leader itself) — or runs a scripted sequence (Raft paper Figure 8).

import type { ConfChange, NodeId } from '../../src/raft/types.js'
import type { Network } from './network.js'
import type { Rng } from './rng.js'
import type { SimParams } from './scenario.js'
import { pickAction } from './scenario.js'
import type { SimNode } from './sim-node.js'
import type { Trace } from './trace.js'
import type { Workload } from './workload.js'

/** Why an election is being measured. */
export type LeaderLoss = 'crash' | 'pause' | 'removed' | 'isolated'

/** What the director may do to the simulated world. */
export interface FaultHost {
  now(): number
  readonly params: SimParams
  readonly nodes: ReadonlyMap<NodeId, SimNode>
  readonly network: Network
  readonly trace: Trace
  readonly workload: Workload
  readonly stats: Record<string, number>
  /** The running node that believes it leads, with the highest term. */
  leader(): SimNode | undefined
  crash(n: SimNode, why: string, downMs?: number): void
  restart(id: NodeId): void
  pause(n: SimNode, ms: number): void
  transfer(lead: SimNode, to: NodeId): void
  /** Proposes a membership change on the leader; false if the core dropped it. */
  proposeConf(lead: SimNode, cc: ConfChange): boolean
  /** Starts a new, empty node with a fresh id (to be added as a learner); undefined when out of ids. */
  startJoiner(): SimNode | undefined
  /** Stops a node for good (a joiner whose addition was refused). */
  retire(n: SimNode, why: string): void
  /** Takes a snapshot and compacts the log of `n` now. */
  compact(n: SimNode): void
  /** Schedules a network heal. */
  healAt(at: number): void
  /** Restores the profile's network faults at `at`. */
  restoreNetworkAt(at: number): void
  /** Runs `fn` at `at` (skipped once the faulty phase is over). */
  at(at: number, fn: () => void): void
  /** Called with every node seen becoming leader, until cleared. */
  setLeaderHook(fn: ((n: SimNode) => void) | null): void
  /** Marks the running election measurement as disturbed by another fault. */
  disturb(): void
  /** Starts measuring an election: `leader` is being lost. */
  leaderLost(leader: SimNode, cause: LeaderLoss): void
}

const EMPTY = new Uint8Array(0)

/** Decides and applies the faults of one run. */
export class Director {
  /** A scripted sequence in progress; plain actions wait for it. */
  private script: string | null = null

  constructor (private readonly w: FaultHost, private readonly rng: Rng) {}

  /** One decision; returns the delay until the next one. */
  decide (): number {
    const p = this.w.params
    const r = this.rng
    const next = p.directorEveryMs * (0.5 + r.next())
    const action = pickAction(r, p.actions)
    if (this.script !== null) return next
    const w = this.w
    const lead = w.leader()
    const up = [...w.nodes.values()].filter(n => n.state === 'running')
    const ids = [...w.nodes.values()].filter(n => n.state !== 'retired').map(n => n.id)
    switch (action) {
      case 'crash': if (up.length > 0) w.crash(r.pick(up), 'crash'); break
      case 'crashLeader': if (lead !== undefined) w.crash(lead, 'crash'); break
      case 'pause': {
        const n = lead !== undefined && r.chance(0.5) ? lead : up.length > 0 ? r.pick(up) : undefined
        if (n !== undefined && w.now() >= n.pausedUntil) w.pause(n, 20 + r.next() * p.maxPauseMs)
        break
      }
      case 'partition': {
        const shuffled = [...ids].sort(() => r.next() - 0.5)
        const cut = 1 + r.int(Math.max(1, shuffled.length - 1))
        const a = shuffled.slice(0, cut)
        const b = shuffled.slice(cut)
        this.partition(() => w.network.partition([a, b]), `partition ${a.join(',')} | ${b.join(',')}`)
        break
      }
      case 'isolateLeader':
        if (lead !== undefined) {
          w.leaderLost(lead, 'isolated')
          this.partition(() => w.network.isolate(lead.id, ids), `isolate leader ${lead.id}`)
        }
        break
      case 'oneWay': {
        const a = r.pick(ids)
        const b = r.pick(ids)
        if (a !== b) this.partition(() => w.network.cutOneWay(a, b), `cut ${a} → ${b} (one way)`)
        break
      }
      case 'transfer':
      case 'transferIsolate':
        if (lead !== undefined) this.transfer(lead, ids, action === 'transferIsolate')
        break
      case 'addLearner': {
        if (lead === undefined) break
        const joiner = w.startJoiner()
        if (joiner === undefined) break
        if (!w.proposeConf(lead, { transition: 'auto', changes: [{ type: 'addLearner', nodeId: joiner.id }], context: EMPTY })) w.retire(joiner, 'its addition was refused')
        break
      }
      case 'promote': {
        if (lead === undefined || lead.confState.votersOutgoing.length > 0) break
        const learners = lead.confState.learners.filter(l => w.nodes.get(l)?.state === 'running')
        if (learners.length === 0) break
        const transition = r.pick(['auto', 'joint', 'jointExplicit'] as const)
        w.proposeConf(lead, { transition, changes: [{ type: 'addNode', nodeId: r.pick(learners) }], context: EMPTY })
        break
      }
      case 'removeVoter': {
        if (lead === undefined) break
        if (lead.confState.votersOutgoing.length > 0) {
          // An explicit joint configuration is left only when asked.
          if (!lead.confState.autoLeave) w.proposeConf(lead, { transition: 'auto', changes: [], context: EMPTY })
          break
        }
        if (lead.confState.voters.length <= 2) break
        const v = r.pick(lead.confState.voters)
        if (w.proposeConf(lead, { transition: r.pick(['auto', 'joint'] as const), changes: [{ type: 'removeNode', nodeId: v }], context: EMPTY })) {
          const n = w.nodes.get(v)
          if (n !== undefined) n.removing = true
        }
        break
      }
      case 'removeLeader':
        // The leader removes itself: it keeps leading until C-new commits, then steps down.
        if (lead === undefined || lead.confState.votersOutgoing.length > 0 || lead.confState.voters.length < 4) break
        if (w.proposeConf(lead, { transition: r.pick(['auto', 'joint'] as const), changes: [{ type: 'removeNode', nodeId: lead.id }], context: EMPTY })) {
          lead.removing = true
        }
        break
      case 'removeLearner': {
        if (lead === undefined || lead.confState.learners.length === 0) break
        w.proposeConf(lead, { transition: 'auto', changes: [{ type: 'removeNode', nodeId: r.pick(lead.confState.learners) }], context: EMPTY })
        break
      }
      case 'replace': {
        // Promote a learner and demote a voter in one joint change.
        if (lead === undefined || lead.confState.votersOutgoing.length > 0) break
        const learners = lead.confState.learners.filter(l => w.nodes.get(l)?.state === 'running')
        if (learners.length === 0 || lead.confState.voters.length < 2) break
        const changes = [{ type: 'addNode' as const, nodeId: r.pick(learners) }, { type: 'removeNode' as const, nodeId: r.pick(lead.confState.voters) }]
        w.proposeConf(lead, { transition: 'auto', changes, context: EMPTY })
        break
      }
      case 'snapshot':
        if (up.length > 0) w.compact(r.pick(up))
        break
      case 'slowDisk':
        if (up.length > 0) {
          const n = r.pick(up)
          n.slowDiskUntil = w.now() + 100 + r.next() * 500
          w.trace.record(w.now(), n.id, 'slowdisk', [], 'disk slows down')
        }
        break
      case 'netChange':
        w.disturb()
        w.network.faults = { ...p.faults, drop: r.pick([0.05, 0.15, 0.3]), duplicate: r.pick([0, 0.05, 0.1]), spike: r.pick([0.02, 0.05]), spikeMaxMs: 200 }
        w.restoreNetworkAt(w.now() + 100 + r.next() * 800)
        w.trace.record(w.now(), 0, 'net', [], `lossy network: drop ${w.network.faults.drop}, dup ${w.network.faults.duplicate}`)
        break
      case 'figure8':
        if (lead !== undefined) this.figure8(lead)
        break
      case 'nothing':
        break
    }
    return next
  }

  /** Ends any scripted sequence (the faulty phase is over). */
  stop (): void {
    this.script = null
    this.w.setLeaderHook(null)
  }

  private partition (apply: () => void, what: string, atMs = this.w.now(), healAfterMs?: number): void {
    const w = this.w
    w.stats.partitions++
    w.disturb()
    w.at(atMs, () => {
      apply()
      w.trace.record(w.now(), 0, 'partition', [], `${what}; cut: ${w.network.describeCuts()}`)
    })
    w.healAt(atMs + (healAfterMs ?? 50 + this.rng.next() * w.params.maxPartitionMs))
  }

  /**
   * Leadership transfer. With `deafen`, the old leader stops hearing anyone right after sending TimeoutNow while
   * half the clients keep reading from it: it must not serve lease reads once the new leader may be writing.
   */
  private transfer (lead: SimNode, ids: readonly NodeId[], deafen: boolean): void {
    const w = this.w
    const r = this.rng
    const voters = lead.confState.voters.filter(v => v !== lead.id && w.nodes.get(v)?.state === 'running')
    if (voters.length === 0) return
    const to = r.pick(voters)
    w.transfer(lead, to)
    if (!deafen) return
    const old = lead.id
    const others = ids.filter(i => i !== old)
    this.partition(() => { for (const o of others) w.network.cutOneWay(o, old) }, `deafen ${old} (inbound links cut)`, w.now() + 1 + r.next() * 10, 50 + r.next() * 300)
    w.workload.steer(c => c % 2 === 0 ? old : to)
  }

  /**
   * Raft paper Figure 8, with random timings. The leader L and one follower F build an uncommitted suffix in a
   * minority; L crashes and F is cut off; the others elect M, which is cut off the moment it wins (its no-op
   * stays on M alone) and crashes; L returns, L or F wins and brings the others up to date one entry at a time;
   * it crashes mid-way and M returns. A leader that commits the old suffix by counting replicas lets M overwrite it.
   */
  private figure8 (lead: SimNode): void {
    const w = this.w
    const r = this.rng
    const voters = lead.confState.voters
    if (voters.length < 3 || lead.confState.votersOutgoing.length > 0) return
    const L = lead.id
    const f = r.pick(voters.filter(v => v !== L))
    const rest = voters.filter(v => v !== L && v !== f)
    const all = [...w.nodes.keys()]
    const after = (ms: number, fn: () => void): void => w.at(w.now() + ms, fn)
    const step = (what: string): void => w.trace.record(w.now(), 0, 'figure8', [], what)
    this.script = 'figure8'
    const finish = (): void => this.stop()
    step(`figure 8: ${L} (leader) and ${f} cut off from ${rest.join(',')}`)
    w.network.partition([[L, f], rest])
    w.disturb()
    w.workload.steer(() => L)
    w.workload.burst(L, 3 + r.int(10))
    // Shorter than an election timeout, so the others keep following L and nobody else is elected meanwhile.
    after(30 + r.next() * 60, () => {
      w.crash(lead, 'figure 8: leader crashes', 60_000)
      w.network.heal()
      w.network.isolate(f, all)
      step(`figure 8: ${f} isolated while the others elect`)
      w.setLeaderHook((m) => {
        if (m.id === L || m.id === f) return
        w.setLeaderHook(null)
        w.network.isolate(m.id, all)
        step(`figure 8: new leader ${m.id} cut off at once`)
        after(1 + r.next() * 10, () => {
          w.crash(m, 'figure 8: new leader crashes before replicating', 60_000)
          w.network.heal()
          after(10 + r.next() * 100, () => {
            w.restart(L)
            w.setLeaderHook((x) => {
              if (x.id !== L && x.id !== f) return
              w.setLeaderHook(null)
              after(r.next() * 40, () => {
                if (x.state === 'running' && x.soft.role === 'leader') w.crash(x, 'figure 8: leader crashes mid catch-up', 100 + r.next() * 400)
                w.restart(m.id)
                finish()
              })
            })
            after(1500, () => { if (this.script !== null) { w.restart(m.id); finish() } })
          })
        })
      })
      after(1500, () => {
        if (this.script !== null && w.nodes.get(L)?.state === 'crashed') {
          w.network.heal()
          w.restart(L)
          finish()
        }
      })
    })
  }
}
