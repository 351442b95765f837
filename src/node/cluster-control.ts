// Cluster control on the leader: init, add-learner, promote / change-membership (joint consensus), remove,
// transfer-leader. The safety rules (membership-safety.ts) are checked here, on the leader, before anything is
// proposed; `force` turns a refusal into a logged override recorded in the conf change itself.
import type { ConfChange, ConfChangeSingle, ConfState, NodeId } from '../raft/types.js'
import { openClientConnection } from '../p2p/index.js'
import type { PeerAddress } from '../p2p/index.js'
import { AspenError } from '../errors.js'
import { checkMembershipChange, type PeerFacts, type SafetyViolation } from './membership-safety.js'
import { encodeContext, type MemberBinding } from './members.js'
import type { AspenNode } from './node.js'
import { NotLeaderError, RequestTimeoutError } from './raft-driver.js'
import { METHODS, parseJsonBody } from './client-api.js'

/** A membership change was refused by a safety rule (override with --force). */
export class UnsafeChangeError extends AspenError {
  readonly code = 'UNSAFE_CHANGE'
  constructor (readonly violations: SafetyViolation[]) {
    super(`refused: ${violations.map(v => `${v.message} [${v.rule}]`).join('; ')}; pass --force to override`)
  }
}

/** The node to add could not be found or does not answer as that node id. */
export class NodeUnreachableError extends AspenError {
  readonly code = 'NODE_UNREACHABLE'
}

/** The request names a node that is not in the cluster (or is already in it). */
export class MembershipError extends AspenError {
  readonly code = 'MEMBERSHIP'
}

export interface MembershipView { voters: number[], learners: number[], votersOutgoing: number[] }

const view = (cs: ConfState): MembershipView => ({ voters: [...cs.voters].sort((a, b) => a - b), learners: [...cs.learners].sort((a, b) => a - b), votersOutgoing: [...cs.votersOutgoing].sort((a, b) => a - b) })

/** How long promotion may count a learner as caught up after it last matched the leader fully. */
const RECENT_MATCH_WINDOW_MS = 1000

/** Leader-side cluster control for one node. */
export class ClusterControl {
  private pendingChange = false

  constructor (private readonly node: AspenNode) {}

  private requireLeader (): void {
    const st = this.node.rawNode.status()
    if (st.softState.role !== 'leader') throw new NotLeaderError(`node ${this.node.nodeId} is not the leader`, st.softState.leader)
  }

  /** Called by the node for every applied conf change. */
  onConfChangeApplied (_index: number): void {
    this.pendingChange = false
  }

  /** Polls `cond` every tick until it holds or the deadline passes. */
  private async until (cond: () => boolean, timeoutMs: number, what: string): Promise<void> {
    const deadline = performance.now() + timeoutMs
    const tick = this.node.config.raft.timing.tickMs
    while (!cond()) {
      if (performance.now() > deadline) throw new RequestTimeoutError(`${what} did not complete within ${timeoutMs} ms; check \`aspen cluster status\``)
      await new Promise(resolve => setTimeout(resolve, tick))
    }
  }

  /** Makes this node the first voter of a new cluster and waits until it leads. */
  async init (timeoutMs: number): Promise<{ clusterId: string, leaderId: number, membership: MembershipView, ticket: string }> {
    await this.node.bootstrapCluster()
    await this.until(() => this.node.rawNode.status().softState.role === 'leader', timeoutMs, 'becoming leader of the new cluster')
    // The leader's no-op of its term must commit before it serves reads or conf changes.
    await this.until(() => this.node.store.status().applied >= this.node.rawNode.status().hardState.commit && this.node.rawNode.status().hardState.commit > 1, timeoutMs, 'committing the first entry')
    return { clusterId: this.node.p2p.clusterId, leaderId: this.node.nodeId, membership: view(this.node.rawNode.status().confState), ticket: this.node.ticket() }
  }

  /** Facts about every peer the rules need. */
  private peerFacts (): Map<NodeId, PeerFacts> {
    const st = this.node.rawNode.status()
    const out = new Map<NodeId, PeerFacts>()
    const t = performance.now()
    const window = this.node.electionTimeoutMs()
    for (const [id, p] of st.progress ?? new Map()) {
      if (id === this.node.nodeId) continue
      const contact = this.node.lastContact.get(id)
      out.set(id, { match: p.match, reachable: p.recentActive && contact !== undefined && t - contact < window * 2, lastFullyMatchedAt: this.node.lastFullyMatched.get(id) })
    }
    return out
  }

  private check (voters: number[], learners: number[], force: boolean): string[] {
    const st = this.node.rawNode.status()
    const s = this.node.config.safety
    const violations = checkMembershipChange({
      current: st.confState,
      voters,
      learners,
      leaderId: this.node.nodeId,
      leaderLastIndex: st.lastIndex,
      peers: this.peerFacts(),
      lastVoterChangeAt: this.node.lastVoterChangeAt,
      nowWallMs: Date.now(),
      nowMonoMs: performance.now(),
      pendingChange: this.pendingChange
    }, { cooldownMs: s.cooldownS * 1000, maxVoters: s.maxVoters, promoteMaxLag: s.promoteMaxLag, recentMatchWindowMs: RECENT_MATCH_WINDOW_MS })
    if (violations.length === 0) return []
    if (!force) throw new UnsafeChangeError(violations)
    this.node.log.warn({ violations }, `membership change forced past: ${violations.map(v => v.rule).join(', ')}`)
    return violations.map(v => v.rule)
  }

  private async propose (changes: ConfChangeSingle[], ctx: { voterChange: boolean, bindings: MemberBinding[], released: number[], forced: string[] }, target: (cs: ConfState) => boolean, timeoutMs: number): Promise<{ membership: MembershipView }> {
    const cc: ConfChange = {
      // one change applies directly; several go through joint consensus and leave it automatically
      transition: 'auto',
      changes,
      context: encodeContext({ v: 1, at: Date.now(), ...ctx })
    }
    this.pendingChange = true
    try {
      this.node.rawNode.proposeConfChange(cc)
    } catch (err) {
      this.pendingChange = false
      throw new MembershipError(`the change was not accepted: ${err instanceof Error ? err.message : String(err)}`)
    }
    this.node.driver.kick()
    await this.until(() => {
      const cs = this.node.rawNode.status().confState
      return target(cs) && cs.votersOutgoing.length === 0
    }, timeoutMs, 'the membership change')
    return { membership: view(this.node.rawNode.status().confState) }
  }

  /** Asks a node for its identity over the client protocol (proves it is reachable and is who it says). */
  private async fetchNodeInfo (target: PeerAddress, timeoutMs: number): Promise<{ nodeId: number, peerId: string, storeId: string, addrs: string[] }> {
    const conn = await openClientConnection(this.node.host, target, { dialTimeoutMs: Math.min(timeoutMs, 5000) })
    try {
      const res = await conn.request(METHODS.nodeInfo, new Uint8Array(0), { deadlineMs: Math.min(timeoutMs, 5000) })
      if (res.error !== undefined) throw new NodeUnreachableError(`node at ${target.peerId} answered: ${res.error.message}`)
      const o = parseJsonBody(res.body)
      return { nodeId: Number(o.nodeId), peerId: String(o.peerId), storeId: String(o.storeId), addrs: Array.isArray(o.addrs) ? o.addrs.map(String) : [] }
    } finally {
      await conn.close().catch(() => {})
    }
  }

  /** Adds a learner: found through discovery (or `addr`), asked for its identity, then added with its binding. */
  async addLearner (nodeId: number, addr: string | undefined, force: boolean, timeoutMs: number): Promise<{ membership: MembershipView }> {
    this.requireLeader()
    const cs = this.node.rawNode.status().confState
    // Idempotent for scripts that retry: adding an existing learner succeeds without a change.
    if (cs.learners.includes(nodeId)) return { membership: view(cs) }
    if (cs.voters.includes(nodeId)) throw new MembershipError(`node ${nodeId} is already a voter`)
    let target: PeerAddress | undefined
    if (addr !== undefined) {
      const m = /\/p2p\/([^/]+)$/.exec(addr)
      if (m === null) throw new MembershipError(`--addr ${addr} must end with /p2p/<peer id>`)
      target = { peerId: m[1], addrs: [addr.slice(0, addr.length - m[0].length)] }
    } else {
      target = this.node.resolvePeer(nodeId)
    }
    if (target === undefined) {
      throw new NodeUnreachableError(`node ${nodeId} is not known here: start it with the cluster cookie and a bootstrap address so discovery finds it, or pass --addr <multiaddr>/p2p/<peer id>`)
    }
    const info = await this.fetchNodeInfo(target, timeoutMs)
    if (info.nodeId !== nodeId) throw new NodeUnreachableError(`the peer ${info.peerId} is node ${info.nodeId}, not node ${nodeId}`)
    const binding: MemberBinding = { nodeId, peerId: info.peerId, storeId: info.storeId, addrs: info.addrs }
    const forced = this.check(cs.voters, [...cs.learners, nodeId], force)
    await this.node.recordBinding(binding)
    return await this.propose([{ type: 'addLearner', nodeId }], { voterChange: false, bindings: [binding], released: [], forced },
      c => c.learners.includes(nodeId), timeoutMs)
  }

  /** Moves the cluster to exactly these voters and learners through joint consensus. */
  async changeMembership (voters: number[], learners: number[] | undefined, force: boolean, timeoutMs: number): Promise<{ membership: MembershipView }> {
    this.requireLeader()
    const cs = this.node.rawNode.status().confState
    const wantVoters = [...new Set(voters)]
    const known = new Set([...cs.voters, ...cs.learners])
    const wantLearners = learners !== undefined
      ? [...new Set(learners)]
      : [...known].filter(id => !wantVoters.includes(id) && cs.learners.includes(id))
    for (const id of [...wantVoters, ...wantLearners]) {
      if (!known.has(id)) throw new MembershipError(`node ${id} is not in the cluster; add it with \`aspen cluster add-learner ${id}\` first`)
    }
    if (wantLearners.some(id => wantVoters.includes(id))) throw new MembershipError('a node cannot be both voter and learner')
    const forced = this.check(wantVoters, wantLearners, force)
    const changes: ConfChangeSingle[] = []
    for (const id of wantVoters) if (!cs.voters.includes(id)) changes.push({ type: 'addNode', nodeId: id })
    for (const id of wantLearners) if (!cs.learners.includes(id)) changes.push({ type: 'addLearner', nodeId: id })
    const released: number[] = []
    for (const id of known) {
      if (!wantVoters.includes(id) && !wantLearners.includes(id)) { changes.push({ type: 'removeNode', nodeId: id }); released.push(id) }
    }
    if (changes.length === 0) return { membership: view(cs) }
    const same = (a: readonly number[], b: readonly number[]): boolean => a.length === b.length && a.every(x => b.includes(x))
    return await this.propose(changes, { voterChange: !same(cs.voters, wantVoters), bindings: [], released, forced },
      c => same(c.voters, wantVoters) && same(c.learners, wantLearners), timeoutMs)
  }

  /** Removes a node (voter or learner) from the cluster and releases its node id. */
  async remove (nodeId: number, force: boolean, timeoutMs: number): Promise<{ membership: MembershipView }> {
    this.requireLeader()
    const cs = this.node.rawNode.status().confState
    if (!cs.voters.includes(nodeId) && !cs.learners.includes(nodeId)) throw new MembershipError(`node ${nodeId} is not in the cluster`)
    return await this.changeMembership(cs.voters.filter(id => id !== nodeId), cs.learners.filter(id => id !== nodeId), force, timeoutMs)
  }

  /** Hands leadership to `to` (or the most caught-up reachable voter) and waits until it leads. */
  async transferLeader (to: number | undefined, timeoutMs: number): Promise<{ leaderId: number }> {
    this.requireLeader()
    const target = to ?? this.bestSuccessor()
    if (target === undefined) throw new MembershipError('no other reachable voter to hand leadership to')
    const cs = this.node.rawNode.status().confState
    if (!cs.voters.includes(target)) throw new MembershipError(`node ${target} is not a voter`)
    if (target === this.node.nodeId) return { leaderId: target }
    this.node.rawNode.transferLeader(target)
    this.node.driver.kick()
    await this.until(() => this.node.driver.leader() === target, timeoutMs, `leadership transfer to node ${target}`)
    return { leaderId: target }
  }

  private bestSuccessor (): number | undefined {
    const st = this.node.rawNode.status()
    let best: { id: number, match: number } | undefined
    const facts = this.peerFacts()
    for (const id of st.confState.voters) {
      if (id === this.node.nodeId) continue
      const f = facts.get(id)
      if (f === undefined || !f.reachable) continue
      if (best === undefined || f.match > best.match) best = { id, match: f.match }
    }
    return best?.id
  }

  /** On graceful stop: if leading a multi-voter cluster, hand leadership over (bounded wait). */
  async handOverLeadership (timeoutMs: number): Promise<void> {
    const st = this.node.rawNode.status()
    if (st.softState.role !== 'leader' || st.confState.voters.length < 2) return
    const target = this.bestSuccessor()
    if (target === undefined) return
    await this.transferLeader(target, timeoutMs).catch(() => {})
  }
}
