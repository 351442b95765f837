// The cluster under chaos: real `aspen` processes (the integration TestCluster) started for testing with the
// Raft fault-injection hook on, plus what the fault runner needs: who leads, SIGKILL/SIGSTOP/SIGCONT, partitions
// through the `testing.faults` client method, one membership step at a time, and the final convergence check.
import { connect, ClusterError, type AspenClient } from '../../src/client/index.js'
import type { NodeStatus } from '../../src/node/node.js'
import { encodeTicket, type PeerAddress } from '../../src/p2p/index.js'
import { TestCluster } from '../integration/harness.js'
import type { Rng } from '../sim/rng.js'
import type { PartitionShape, TargetRole } from './schedule.js'
import { formPatiently, startPatiently } from './slow-start.js'

export interface ChaosClusterOptions {
  /** Voters of the configuration (3 or 5). */
  voters: number
  /** Serve reads locally without ReadIndex (the negative test: the checker must catch it). */
  unsafeReads: boolean
  snapshotEvery: number
  logRetain: number
  /** Raft timing profile (default balanced, the production default). */
  profile?: 'fast' | 'balanced' | 'conservative'
  /** Progress lines (stderr of the CLI). */
  log: (line: string) => void
}

interface NodeFaults { dropTo: number[], dropFrom: number[] }

/** What the replicas hold once the cluster has healed. */
export interface Convergence {
  identical: boolean
  index: number
  members: number[]
  detail: Array<{ nodeId: number, applied: number, kvHash: string, stateHash: string }>
}

const stripP2p = (a: string): string => a.replace(/\/p2p\/[^/]+$/, '')

/** Most nodes one run may create (membership changes add a fresh node each cycle). */
export const MAX_NODES = 1000

const LIVE = new Set<ChaosCluster>()

/** SIGKILLs every node of every live chaos cluster (for a harness that is being interrupted). */
export function killAllNodes (): void {
  for (const c of LIVE) {
    for (const n of c.tc.nodes.values()) {
      n.proc?.kill('SIGCONT')
      n.proc?.kill('SIGKILL')
    }
  }
}

/** A chaos cluster; call `destroy()` when done. */
export class ChaosCluster {
  /** Node ids in the configuration as last seen (voters and learners). */
  readonly members = new Set<number>()
  readonly paused = new Set<number>()
  private readonly partitions = new Map<number, { id: number, shape: PartitionShape, pinned: boolean }>()
  private partitionSeq = 0
  /** What each node was last told (JSON), so unchanged nodes are not asked again. */
  private readonly pushed = new Map<number, string>()
  /** One control client, shared: a promise, so concurrent first calls cannot each open a host (one would leak). */
  private ctl: Promise<AspenClient> | undefined
  private nextId: number

  private constructor (readonly tc: TestCluster, readonly opts: ChaosClusterOptions) {
    this.nextId = opts.voters + 1
  }

  /** Starts `voters` nodes and forms the cluster. */
  static async create (opts: ChaosClusterOptions): Promise<ChaosCluster> {
    const toml = ['[testing]', 'fault_injection = true', `unsafe_local_reads = ${opts.unsafeReads ? 'true' : 'false'}`].join('\n')
    const tc = await TestCluster.create(opts.voters, { snapshotEvery: opts.snapshotEvery, logRetain: opts.logRetain, extraToml: toml, env: { ASPEN_PROFILE: opts.profile ?? 'balanced' } })
    const c = new ChaosCluster(tc, opts)
    LIVE.add(c)
    try {
      await formPatiently(tc)
      for (let id = 1; id <= opts.voters; id++) c.members.add(id)
    } catch (err) {
      await c.destroy()
      throw err
    }
    return c
  }

  get cookie (): string { return this.tc.cookie }

  running (id: number): boolean {
    return this.tc.nodes.get(id)?.proc !== undefined
  }

  /** Members that run and are not paused (they answer). */
  responsive (): number[] {
    return [...this.members].filter(id => this.running(id) && !this.paused.has(id))
  }

  peerOf (id: number): PeerAddress | undefined {
    const info = this.tc.runInfo(id)
    return info === undefined ? undefined : { peerId: info.peerId, addrs: info.addrs.map(stripP2p) }
  }

  /** A ticket naming the running members, `preferred` first (the client tries them in order). */
  ticket (preferred?: number): string {
    const ids = [...this.members].filter(id => this.running(id)).sort((a, b) => (a === preferred ? -1 : b === preferred ? 1 : a - b))
    const infos = ids.map(id => this.tc.runInfo(id)).filter(i => i !== undefined)
    if (infos.length === 0) throw new Error('no running member to put in a ticket')
    return encodeTicket({ clusterId: infos[0].clusterId, peers: infos.map(i => ({ peerId: i.peerId, addrs: i.addrs.map(stripP2p).slice(0, 8) })) })
  }

  /** A new client that knows the running members, `preferred` first. */
  async client (preferred?: number, timeoutMs = 2000): Promise<AspenClient> {
    return await connect({ ticket: this.ticket(preferred), cookie: this.cookie, timeoutMs })
  }

  private async controlClient (): Promise<AspenClient> {
    const p = this.ctl ?? this.client(undefined, 10_000)
    this.ctl = p
    try {
      return await p
    } catch (err) {
      if (this.ctl === p) this.ctl = undefined
      throw err
    }
  }

  /** Calls `method` on node `id` itself. A transport failure drops the control client (the next call redials). */
  async controlAt<T> (id: number, method: string, body: unknown = {}, timeoutMs = 2000): Promise<T> {
    const peer = this.peerOf(id)
    if (peer === undefined) throw new Error(`node ${id} has no run info`)
    const c = await this.controlClient()
    try {
      return await c.controlAt<T>(peer, method, body, { timeoutMs })
    } catch (err) {
      // The client already redials closed connections; a slow answer (TIMEOUT) is no reason for a new host.
      if (!(err instanceof ClusterError) || err.code === 'INTERNAL') {
        if (this.ctl !== undefined) void this.ctl.then((cur) => { if (cur === c) this.ctl = undefined }, () => {})
        void c.close().catch(() => {})
      }
      throw err
    }
  }

  async statusOf (id: number, timeoutMs = 3000): Promise<NodeStatus | undefined> {
    return await this.controlAt<NodeStatus>(id, 'cluster.status', {}, timeoutMs).catch(() => undefined)
  }

  /** The node that says it leads at the highest term, among those that answer. */
  async leaderStatus (): Promise<NodeStatus | undefined> {
    const st = await Promise.all(this.responsive().map(async id => await this.statusOf(id)))
    let best: NodeStatus | undefined
    for (const s of st) if (s !== undefined && s.role === 'leader' && (best === undefined || s.term > best.term)) best = s
    return best
  }

  /** Resolves a role to a node id (undefined when no member fits). */
  async pick (role: TargetRole, rng: Rng, exclude: readonly number[] = []): Promise<number | undefined> {
    const candidates = this.responsive().filter(id => !exclude.includes(id))
    if (candidates.length === 0) return undefined
    if (role === 'any') return rng.pick(candidates)
    const leader = (await this.leaderStatus())?.nodeId
    if (role === 'leader' && leader !== undefined && candidates.includes(leader)) return leader
    const followers = candidates.filter(id => id !== leader)
    return rng.pick(followers.length > 0 ? followers : candidates)
  }

  // ------------------------------------------------------------------------------------------------ faults

  /**
   * Cuts `id` off from every other node (shape decides the directions). A pinned partition survives `heal()`
   * (only `healAll()` lifts it). Returns a handle for `lift`.
   */
  async partition (id: number, shape: PartitionShape, pinned = false): Promise<number> {
    const handle = ++this.partitionSeq
    this.partitions.set(handle, { id, shape, pinned })
    await this.pushFaults()
    return handle
  }

  /** Lifts one partition. */
  async lift (handle: number): Promise<void> {
    if (this.partitions.delete(handle)) await this.pushFaults()
  }

  /** Removes every partition that is not pinned. */
  async heal (all = false): Promise<void> {
    for (const [h, p] of this.partitions) if (all || !p.pinned) this.partitions.delete(h)
    await this.pushFaults()
  }

  /** What each node must drop, from the partitions in place. */
  private wantedFaults (): Map<number, NodeFaults> {
    const out = new Map<number, NodeFaults>()
    const ids = [...this.tc.nodes.keys()]
    for (const id of ids) out.set(id, { dropTo: [], dropFrom: [] })
    const add = (id: number, to: number[], from: number[]): void => {
      const f = out.get(id) as NodeFaults
      for (const t of to) if (!f.dropTo.includes(t)) f.dropTo.push(t)
      for (const t of from) if (!f.dropFrom.includes(t)) f.dropFrom.push(t)
    }
    for (const { id, shape } of this.partitions.values()) {
      const others = ids.filter(o => o !== id)
      const deaf = shape === 'isolate' || shape === 'deaf'
      const mute = shape === 'isolate' || shape === 'mute'
      add(id, mute ? others : [], deaf ? others : [])
      for (const o of others) add(o, deaf ? [id] : [], mute ? [id] : [])
    }
    return out
  }

  /** Sends every node's wanted faults (a restarted or resumed node gets them again). */
  private async pushFaults (only?: number): Promise<void> {
    const wanted = this.wantedFaults()
    await Promise.all([...wanted.entries()].filter(([id]) => (only === undefined || id === only) && this.running(id) && !this.paused.has(id))
      .map(async ([id, f]) => {
        const prev = this.pushed.get(id)
        if (only === undefined && prev !== undefined && prev === JSON.stringify(f)) return
        for (let attempt = 0; attempt < 3; attempt++) {
          try {
            await this.controlAt(id, 'testing.faults', f, 5000)
            this.pushed.set(id, JSON.stringify(f))
            return
          } catch (err) {
            if (err instanceof ClusterError && err.code === 'TESTING_DISABLED') throw err
          }
        }
        this.pushed.delete(id)
        this.opts.log(`could not set faults on node ${id}`)
      }))
  }

  async kill (id: number): Promise<void> {
    this.paused.delete(id)
    this.pushed.delete(id)
    await this.tc.kill(id)
  }

  /** Restarts a stopped node and gives it the partitions it should be under. */
  async restart (id: number): Promise<void> {
    if (this.running(id)) return
    await this.startNode(id)
    await this.pushFaults(id)
  }

  /** Starts a node, allowing a slow start on a loaded machine. */
  async startNode (id: number): Promise<void> {
    await startPatiently(this.tc, id)
  }

  async pause (id: number): Promise<void> {
    if (!this.running(id)) return
    this.paused.add(id)
    await this.tc.signal(id, 'SIGSTOP')
  }

  async resume (id: number): Promise<void> {
    if (!this.paused.has(id)) return
    await this.tc.signal(id, 'SIGCONT')
    this.paused.delete(id)
    await this.pushFaults(id)
  }

  // ------------------------------------------------------------------------------------------------ membership

  /**
   * One step of the membership cycle, decided from the leader's current configuration: a voter too many → remove
   * one (seeded choice, the leader included); a learner → promote it; else start a fresh node and add it as a
   * learner. Returns what was done, or undefined when the step did not complete (refused, no leader, timeout).
   */
  async membershipStep (rng: Rng, timeoutMs: number): Promise<string | undefined> {
    const ls = await this.leaderStatus()
    if (ls === undefined) return undefined
    const { voters, learners } = ls.membership
    this.syncMembers([...voters, ...learners, ...ls.membership.votersOutgoing])
    if (ls.membership.votersOutgoing.length > 0) return undefined
    const leader = ls.nodeId
    const call = async (method: string, body: unknown): Promise<boolean> =>
      await this.controlAt(leader, method, body, timeoutMs).then(() => true, (err: unknown) => {
        this.opts.log(`membership ${method} ${JSON.stringify(body)}: ${err instanceof Error ? err.message.split('\n')[0] : String(err)}`)
        return false
      })
    if (voters.length > this.opts.voters) {
      const victim = rng.pick(voters)
      if (!await call('cluster.remove', { nodeId: victim })) return undefined
      this.members.delete(victim)
      // A removed node is done: its process goes, it never comes back under that id.
      if (this.running(victim)) await this.kill(victim)
      return `remove ${victim}`
    }
    if (learners.length > 0) {
      const l = learners[0]
      if (!this.running(l)) await this.restart(l)
      if (!await call('cluster.changeMembership', { voters: [...voters, l] })) return undefined
      return `promote ${l}`
    }
    let fresh = [...this.tc.nodes.keys()].find(id => id >= this.opts.voters + 1 && !this.members.has(id) && this.running(id))
    if (fresh === undefined) {
      if (this.nextId > MAX_NODES) return undefined
      fresh = this.nextId++
      await this.tc.addNode(fresh)
      await this.startNode(fresh)
    }
    const info = this.tc.runInfo(fresh)
    const addr = info?.addrs.find(a => a.includes('/tcp/') && a.includes('/p2p/'))
    if (!await call('cluster.addLearner', { nodeId: fresh, ...(addr !== undefined ? { addr } : {}) })) return undefined
    this.members.add(fresh)
    return `add-learner ${fresh}`
  }

  /** Adopts the configuration the leader reports (kills nodes that left it). */
  private syncMembers (ids: number[]): void {
    for (const id of ids) this.members.add(id)
    for (const id of [...this.members]) {
      if (!ids.includes(id)) {
        this.members.delete(id)
        if (this.running(id)) void this.kill(id)
      }
    }
  }

  // ------------------------------------------------------------------------------------------------ the end

  /** Heals every fault and restarts every member that is down. */
  async healAll (): Promise<void> {
    for (const id of [...this.paused]) await this.resume(id)
    await this.heal(true)
    for (const id of [...this.members]) if (!this.running(id)) await this.restart(id)
  }

  /**
   * Waits until every member has applied the leader's commit index and reports the same KV-table hash and state
   * hash there. `identical` is false if they still differ at the deadline.
   */
  async converge (timeoutMs: number): Promise<Convergence> {
    const deadline = performance.now() + timeoutMs
    let last: Convergence = { identical: false, index: 0, members: [], detail: [] }
    while (performance.now() < deadline) {
      const ls = await this.leaderStatus()
      if (ls !== undefined && ls.membership.votersOutgoing.length === 0) {
        const ids = [...ls.membership.voters, ...ls.membership.learners].sort((a, b) => a - b)
        this.syncMembers(ids)
        for (const id of ids) if (!this.running(id)) await this.restart(id).catch(() => {})
        const detail = await Promise.all(ids.map(async id => {
          const st = await this.statusOf(id)
          const kv = await this.controlAt<{ index: number, hash: string }>(id, 'node.kvHash', {}, 5000).catch(() => undefined)
          return { nodeId: id, applied: st?.appliedIndex ?? -1, kvIndex: kv?.index ?? -2, kvHash: kv?.hash ?? '', stateHash: st?.stateHash.hash ?? '' }
        }))
        const index = detail[0]?.applied ?? 0
        const same = detail.every(d => d.applied === index && d.kvIndex === index && d.kvHash === detail[0].kvHash && d.stateHash === detail[0].stateHash)
        last = { identical: same && index >= ls.commitIndex, index, members: ids, detail: detail.map(d => ({ nodeId: d.nodeId, applied: d.applied, kvHash: d.kvHash, stateHash: d.stateHash })) }
        if (last.identical) return last
      }
      await new Promise(resolve => setTimeout(resolve, 250))
    }
    return last
  }

  /** Node logs (tails) for a failure report. */
  logs (): string {
    return [...this.tc.nodes.keys()].map(id => `--- node ${id} log tail ---\n${this.tc.logs(id).slice(-2500)}`).join('\n')
  }

  async destroy (): Promise<void> {
    LIVE.delete(this)
    const ctl = this.ctl
    this.ctl = undefined
    await ctl?.then(async (c) => { await c.close() }).catch(() => {})
    await this.tc.destroy()
  }
}
