// RawNode: the application's handle on the Raft state machine. Inputs (tick, step, propose, ...) mutate it; ready()
// hands out what to persist, send and apply; advance(ready) acknowledges that the Ready was persisted and applied.
// Messages the node addresses to itself (its own vote, its own append acknowledgement) are held back and stepped in
// advance(): this is what makes a leader count itself only for persisted entries, and a candidate count its own vote
// only once that vote is durable.

import { encodeConfChange } from './confchange-codec.js'
import type { RaftConfig } from './config.js'
import { hardStatesEqual } from './conf-state.js'
import { InvalidMessageError, ProposalDroppedError, ReadyProtocolError, StepLocalMessageError } from './errors.js'
import { isLocalMessage, isResponseMessage, newMessage } from './message.js'
import { Raft } from './raft.js'
import { NONE } from './types.js'
import type { ConfChange, ConfState, Entry, HardState, Message, MessageType, NodeId, Ready, SoftState, Status } from './types.js'

const KNOWN_TYPES: ReadonlySet<MessageType> = new Set<MessageType>([
  'hup', 'beat', 'prop', 'app', 'appResp', 'vote', 'voteResp', 'preVote', 'preVoteResp', 'snap', 'heartbeat',
  'heartbeatResp', 'unreachable', 'snapStatus', 'checkQuorum', 'transferLeader', 'timeoutNow', 'readIndex', 'readIndexResp'
])

/** Upper bound on entries in one message from the network. */
export const MAX_ENTRIES_PER_MESSAGE = 1_000_000

function isIndex (v: unknown): v is number {
  return typeof v === 'number' && Number.isSafeInteger(v) && v >= 0
}

/** Throws InvalidMessageError unless m is structurally sound for the core (the network is not trusted to be). */
export function validateMessage (m: Message): void {
  const bad = (why: string): never => { throw new InvalidMessageError(`invalid ${String(m.type)} message from ${String(m.from)}: ${why}`) }
  if (!KNOWN_TYPES.has(m.type)) bad('unknown type')
  for (const k of ['to', 'from', 'term', 'logTerm', 'index', 'commit', 'rejectHint'] as const) {
    if (!isIndex(m[k])) bad(`${k} is not a non-negative safe integer`)
  }
  if (!Array.isArray(m.entries) || m.entries.length > MAX_ENTRIES_PER_MESSAGE) bad('bad entries list')
  if (!(m.context instanceof Uint8Array)) bad('context is not bytes')
  if (m.from === NONE) bad('no sender')
  for (let i = 0; i < m.entries.length; i++) {
    const e = m.entries[i]
    if (!isIndex(e.term) || !isIndex(e.index) || !(e.data instanceof Uint8Array) || (e.type !== 'normal' && e.type !== 'confChange')) bad(`malformed entry ${i}`)
  }
  // Proposals and read requests are forwarded without a term; every other message must carry one.
  if (m.type === 'prop' || m.type === 'readIndex') {
    if (m.term !== 0) bad('forwarded request must not carry a term')
  } else if (m.term === 0) {
    bad('missing term')
  }
  if (m.type === 'app') {
    if (m.term === 0) bad('append without term')
    let prevTerm = m.logTerm
    for (let i = 0; i < m.entries.length; i++) {
      const e = m.entries[i]
      if (e.index !== m.index + 1 + i) bad(`entry ${i} has index ${e.index}, expected ${m.index + 1 + i}`)
      if (e.term < prevTerm || e.term > m.term) bad(`entry ${e.index} has term ${e.term} outside [${prevTerm}, ${m.term}]`)
      prevTerm = e.term
    }
    if (m.logTerm > m.term) bad('logTerm above term')
  }
  if (m.type === 'snap') {
    const s = m.snapshot
    if (s === undefined || !isIndex(s.metadata.index) || !isIndex(s.metadata.term) || s.metadata.index === 0) bad('missing or empty snapshot')
  }
  if (m.type === 'prop' && m.entries.length === 0) bad('empty proposal')
}

/** The application's handle on one Raft node (see the Ready contract in types.ts). */
export class RawNode {
  private readonly raft: Raft
  private prevSoftState: SoftState
  private prevHardState: HardState
  /** Self-addressed messages of the outstanding Ready, stepped in advance(). */
  private stepsOnAdvance: Message[] = []
  private outstanding: Ready | undefined = undefined

  constructor (config: RaftConfig) {
    this.raft = new Raft(config)
    this.prevSoftState = this.raft.softState()
    this.prevHardState = this.raft.hardState()
  }

  /** The node's id. */
  get id (): NodeId {
    return this.raft.id
  }

  /** Advances logical time by one tick (election and heartbeat timeouts). */
  tick (): void {
    this.raft.tick()
  }

  /** Starts an election now (pre-vote first if enabled). */
  campaign (): void {
    this.raft.step(newMessage({ type: 'hup', from: this.raft.id }))
  }

  /** Proposes data to be appended; throws ProposalDroppedError if it cannot be (no leader, transfer, limits). */
  propose (data: Uint8Array): void {
    this.raft.step(newMessage({ type: 'prop', from: this.raft.id, entries: [{ term: 0, index: 0, type: 'normal', data }] }))
  }

  /** Proposes a configuration change; throws ProposalDroppedError if one is pending or it is invalid now (on the leader). */
  proposeConfChange (cc: ConfChange): void {
    const data = encodeConfChange(cc)
    this.raft.step(newMessage({ type: 'prop', from: this.raft.id, entries: [{ term: 0, index: 0, type: 'confChange', data }] }))
  }

  /** Applies a committed conf change entry (call when applying it); returns the new configuration to persist. */
  applyConfChange (cc: ConfChange): ConfState {
    return this.raft.applyConfChange(cc)
  }

  /**
   * Steps a message from the network. Throws StepLocalMessageError for local-only types and InvalidMessageError for
   * malformed ones; responses from untracked peers and dropped forwarded proposals are ignored.
   */
  step (m: Message): void {
    if (isLocalMessage(m.type)) throw new StepLocalMessageError(`cannot step local message type ${m.type} from the network`)
    validateMessage(m)
    if (m.to !== this.raft.id) throw new InvalidMessageError(`message for ${m.to} delivered to ${this.raft.id}`)
    // A response from a peer outside the configuration carries nothing we can use.
    if (isResponseMessage(m.type) && !this.raft.trk.progress.has(m.from)) return
    // A snapshot restored while a Ready is out would switch the configuration under committed entries the
    // application is still applying (found by the simulator, seed 1518). Drop it; the leader sends it again.
    if (m.type === 'snap' && this.outstanding !== undefined && this.outstanding.committedEntries.length > 0) return
    try {
      this.raft.step(m)
    } catch (err) {
      // A forwarded proposal the leader cannot take: the proposer times out and retries.
      if (err instanceof ProposalDroppedError) return
      throw err
    }
  }

  /** Requests a linearizable read; a ReadState with requestCtx = ctx appears in a later Ready. */
  /** The index a lease read may be served at now (leader with a valid lease), or undefined: use readIndex. */
  leaseReadIndex (): number | undefined {
    return this.raft.leaseReadIndex()
  }

  readIndex (ctx: Uint8Array): void {
    this.raft.step(newMessage({ type: 'readIndex', from: this.raft.id, context: ctx }))
  }

  /** Asks the leader to hand leadership to `to` (forwarded if this node is a follower). */
  transferLeader (to: NodeId): void {
    this.raft.step(newMessage({ type: 'transferLeader', from: to }))
  }

  /** The transport failed to deliver to `id`: a replicating follower goes back to probing. */
  reportUnreachable (id: NodeId): void {
    this.raft.step(newMessage({ type: 'unreachable', from: id }))
  }

  /** Outcome of sending a snapshot to `id`. */
  reportSnapshot (id: NodeId, status: 'finish' | 'failure'): void {
    this.raft.step(newMessage({ type: 'snapStatus', from: id, reject: status === 'failure' }))
  }

  /** True if ready() would return something to do; false while a Ready is outstanding. */
  hasReady (): boolean {
    if (this.outstanding !== undefined) return false
    const r = this.raft
    if (r.hasPending()) return true
    const ss = r.softState()
    if (ss.leader !== this.prevSoftState.leader || ss.role !== this.prevSoftState.role) return true
    if (!hardStatesEqual(r.hardState(), this.prevHardState)) return true
    if (r.raftLog.nextUnstableSnapshot() !== undefined) return true
    if (r.msgs.length > 0 || r.msgsAfterPersist.length > 0) return true
    if (r.raftLog.hasNextUnstableEnts() || r.raftLog.hasNextCommittedEnts()) return true
    return r.readStates.length > 0
  }

  /** What to persist, send and apply now (see the Ready contract in types.ts); call advance(ready) afterwards. */
  ready (): Ready {
    if (this.outstanding !== undefined) throw new ReadyProtocolError('ready() called again before advance() of the previous Ready')
    const r = this.raft
    r.flushPending()
    const entries = r.raftLog.nextUnstableEnts()
    const committedEntries = r.raftLog.nextCommittedEnts()
    const rd: Ready = {
      entries,
      committedEntries,
      messages: r.msgs,
      messagesAfterPersist: r.msgsAfterPersist.filter((m) => m.to !== r.id),
      readStates: r.readStates,
      mustSync: false
    }
    const ss = r.softState()
    if (ss.leader !== this.prevSoftState.leader || ss.role !== this.prevSoftState.role) {
      rd.softState = ss
      this.prevSoftState = ss
    }
    const hs = r.hardState()
    const prev = this.prevHardState
    if (!hardStatesEqual(hs, prev)) {
      rd.hardState = hs
      this.prevHardState = hs
    }
    const snap = r.raftLog.nextUnstableSnapshot()
    if (snap !== undefined) rd.snapshot = snap
    rd.mustSync = entries.length > 0 || snap !== undefined || hs.term !== prev.term || hs.vote !== prev.vote

    this.stepsOnAdvance = r.msgsAfterPersist.filter((m) => m.to === r.id)
    r.msgs = []
    r.msgsAfterPersist = []
    r.readStates = []
    r.raftLog.acceptUnstable()
    if (committedEntries.length > 0) r.raftLog.acceptApplying(committedEntries[committedEntries.length - 1].index)
    this.outstanding = rd
    return rd
  }

  /**
   * The Ready returned by the last ready() was persisted, its messages sent and its committed entries applied. The
   * argument may be that Ready or a copy of it; the core acknowledges what it handed out.
   */
  advance (_rd: Ready): void {
    const rd = this.outstanding
    if (rd === undefined) throw new ReadyProtocolError('advance() called without an outstanding Ready')
    this.outstanding = undefined
    const r = this.raft
    if (rd.entries.length > 0) {
      const last: Entry = rd.entries[rd.entries.length - 1]
      r.raftLog.stableTo(last.index, last.term)
    }
    if (rd.snapshot !== undefined) r.appliedSnap(rd.snapshot)
    if (rd.committedEntries.length > 0) {
      r.appliedTo(rd.committedEntries[rd.committedEntries.length - 1].index)
      r.reduceUncommittedSize(rd.committedEntries)
    }
    const steps = this.stepsOnAdvance
    this.stepsOnAdvance = []
    for (const m of steps) r.step(m)
  }

  /** Current state for monitoring and tests. */
  status (): Status {
    return this.raft.status()
  }

  /** The underlying state machine, for white-box tests only. */
  get raftForTesting (): Raft {
    return this.raft
  }
}
