// One simulated node: a RawNode plus what a real node keeps around it. The split between durable and
// volatile state is the point: `storage`, `sm` and `confState` model the disk (they only change when a write
// is persisted), everything else is lost on a crash.

import { bootstrapState, MemoryStorage, RawNode } from '../../src/raft/index.js'
import type { RaftBug, Storage } from '../../src/raft/index.js'
import type { ConfState, Entry, HardState, NodeId, ReadState, Ready, Snapshot, SoftState } from '../../src/raft/types.js'
import { KvStateMachine } from './kv-state-machine.js'
import type { Rng } from './rng.js'
import type { SimParams } from './scenario.js'

/**
 * The Storage a restarted node reads: the persisted log, plus the configuration as of the persisted applied
 * index (the real store keeps "applied index + membership" in the same batch; a MemoryStorage only knows the
 * configuration of its last snapshot).
 */
export class DurableStorage implements Storage {
  constructor (
    readonly inner: MemoryStorage,
    private readonly appliedConf: ConfState,
    /** The snapshot to send a follower, built from the applied state (see snapshot()). */
    private readonly fresh: () => Snapshot | undefined
  ) {}

  /** Hard state and the configuration as of the applied index. */
  initialState (): { hardState: HardState, confState: ConfState } {
    return { hardState: this.inner.initialState().hardState, confState: this.appliedConf }
  }

  /** Entries in [lo, hi). */
  entries (lo: number, hi: number, maxSizeBytes: number): Entry[] {
    return this.inner.entries(lo, hi, maxSizeBytes)
  }

  /** Term of entry i. */
  term (i: number): number {
    return this.inner.term(i)
  }

  /** First readable index. */
  firstIndex (): number {
    return this.inner.firstIndex()
  }

  /** Last index. */
  lastIndex (): number {
    return this.inner.lastIndex()
  }

  /**
   * The snapshot the core sends to a follower that lacks entries. Like etcd's server (a "merged" snapshot) it
   * describes the current applied state, not the last one written for compaction: a learner added after that
   * snapshot would otherwise receive a configuration that does not contain it, and refuse it forever.
   */
  snapshot (): Snapshot {
    return this.fresh() ?? this.inner.snapshot()
  }
}

/** A pending client request on a node (volatile: lost on crash). */
export interface Waiter {
  opId: string
  client: number
}

export type NodeState = 'running' | 'crashed' | 'retired'

/** Everything the simulator tracks about one node id across its incarnations. */
export class SimNode {
  state: NodeState = 'running'
  /** Bumped on every crash so events addressed to an earlier incarnation are discarded. */
  incarnation = 0
  pausedUntil = 0
  slowDiskUntil = 0
  /** Identifies the live tick chain; older queued ticks are ignored. */
  tickToken = 0
  /** Set when the director proposed this node's removal. */
  removing = false

  // ---- durable ("disk") ----
  storage: MemoryStorage
  sm: KvStateMachine
  confState: ConfState
  /** Index of the storage's latest snapshot (kept to avoid copying it to ask). */
  snapshotIndex: number

  // ---- volatile ----
  raw!: RawNode
  pending: Ready | null = null
  soft: SoftState = { leader: 0, role: 'follower' }
  /** Last hard state handed out by this incarnation (for monotonicity checks). */
  hard: HardState
  readQueue: ReadState[] = []
  /** The last few configurations this incarnation had (a leader may have won under one it then left). */
  recentConfs: ConfState[] = []
  /** Writes and log reads waiting to be applied, by command id. */
  waiters = new Map<string, Waiter>()
  /** ReadIndex reads waiting for their read state, by context. */
  readWaiters = new Map<string, Waiter & { key: string }>()

  constructor (
    readonly id: NodeId,
    /** The node's clock: local ms = offset + simTime × rate. */
    readonly clockOffset: number,
    readonly clockRate: number,
    storage: MemoryStorage,
    sm: KvStateMachine,
    confState: ConfState
  ) {
    this.storage = storage
    this.sm = sm
    this.confState = confState
    this.hard = storage.initialState().hardState
    this.snapshotIndex = storage.snapshot().metadata.index
  }

  /** Remembers a configuration the node switched to. */
  noteConf (cs: ConfState): void {
    this.recentConfs.push(cs)
    if (this.recentConfs.length > 4) this.recentConfs.shift()
  }

  /** The node's monotonic clock at simulated time `t` (ms). */
  localTime (t: number): number {
    return this.clockOffset + t * this.clockRate
  }

  /** True when the node is up and not paused at time `t`. */
  active (t: number): boolean {
    return this.state === 'running' && t >= this.pausedUntil
  }

  /** Starts a fresh RawNode over the durable state (first boot or restart). */
  boot (p: SimParams, rng: Rng, bugs: ReadonlySet<RaftBug>, now: () => number): void {
    this.storage = copyStorage(this.storage)
    this.pending = null
    this.soft = { leader: 0, role: 'follower' }
    this.hard = this.storage.initialState().hardState
    this.readQueue = []
    this.waiters = new Map()
    this.readWaiters = new Map()
    this.recentConfs = [this.confState]
    const random = (): number => rng.next()
    this.raw = new RawNode({
      id: this.id,
      electionTick: p.electionTick,
      heartbeatTick: p.heartbeatTick,
      storage: new DurableStorage(this.storage, this.confState, () => this.appliedSnapshot()),
      applied: this.sm.applied,
      maxSizePerMsg: p.maxSizePerMsg,
      maxInflightMsgs: p.maxInflightMsgs,
      checkQuorum: p.checkQuorum,
      preVote: p.preVote,
      readOnlyOption: p.readOnly,
      leaseReads: p.leaseReadShare > 0,
      random,
      now,
      tickMs: p.tickMs,
      leaseDriftMs: p.leaseDriftMs,
      bugs
    })
  }

  /** A snapshot of the applied state machine, if its last entry is still in the durable log. */
  appliedSnapshot (): Snapshot | undefined {
    const index = this.sm.applied
    if (index < this.storage.firstIndex() - 1 || index > this.storage.lastIndex()) return undefined
    const term = this.storage.term(index)
    return { metadata: { index, term, confState: { ...this.confState } }, data: this.image() }
  }

  private cachedImage: { sm: KvStateMachine, applied: number, bytes: Uint8Array } | undefined

  /** The state machine's serialized image (cached: the leader may ask for it many times at one index). */
  image (): Uint8Array {
    const c = this.cachedImage
    if (c !== undefined && c.sm === this.sm && c.applied === this.sm.applied) return c.bytes
    const bytes = this.sm.serialize()
    this.cachedImage = { sm: this.sm, applied: this.sm.applied, bytes }
    return bytes
  }

  /** Term of entry i in this node's log including the Ready being handed out; undefined if unknown. */
  termOf (i: number, unstable: readonly Entry[]): number | undefined {
    if (unstable.length > 0 && i >= unstable[0].index) return unstable[i - unstable[0].index]?.term
    if (i < this.storage.firstIndex() - 1 || i > this.storage.lastIndex()) return undefined
    return this.storage.term(i)
  }
}

/** A deep-enough copy of a MemoryStorage: the dead incarnation's object is never shared with the new one. */
export function copyStorage (s: MemoryStorage): MemoryStorage {
  const out = new MemoryStorage()
  const snap = s.snapshot()
  if (snap.metadata.index > 0 || snap.metadata.confState.voters.length > 0) out.applySnapshot(snap)
  out.setHardState(s.initialState().hardState)
  const first = s.firstIndex()
  const last = s.lastIndex()
  if (last >= first) out.append(s.entries(first, last + 1, Number.MAX_SAFE_INTEGER))
  return out
}

/** The durable state every founding member starts from: a snapshot at index 1 holding the initial configuration. */
export function bootstrapStorage (voters: NodeId[], learners: NodeId[]): { storage: MemoryStorage, sm: KvStateMachine, confState: ConfState } {
  const { snapshot, hardState } = bootstrapState(voters, learners)
  const sm = new KvStateMachine()
  sm.applied = snapshot.metadata.index
  const storage = new MemoryStorage()
  storage.applySnapshot({ metadata: snapshot.metadata, data: sm.serialize() })
  storage.setHardState(hardState)
  return { storage, sm, confState: snapshot.metadata.confState }
}

/** The durable state of a node that joins later: nothing at all; it learns everything from a snapshot. */
export function emptyStorage (): { storage: MemoryStorage, sm: KvStateMachine, confState: ConfState } {
  return {
    storage: new MemoryStorage(),
    sm: new KvStateMachine(),
    confState: { voters: [], learners: [], votersOutgoing: [], learnersNext: [], autoLeave: false }
  }
}
