// The Raft state machine (etcd-io/raft style): step(message) and tick() drive role transitions, replication,
// commitment and reads. Pure: no I/O, no timers; output is queued in `msgs` (leader replication traffic that may
// leave before the local fsync) and `msgsAfterPersist` (everything that promises persisted state, including
// messages to itself that RawNode delivers in advance()).

import { invariant } from '../errors.js'
import { resolveConfig } from './config.js'
import type { RaftBug, RaftConfig, RaftLogger, ResolvedConfig } from './config.js'
import { decodeConfChange, encodeConfChange } from './confchange-codec.js'
import { Changer, restoreConfig } from './confchange.js'
import type { ConfigAndProgress } from './confchange.js'
import { confStatesEqual, isEmptyHardState } from './conf-state.js'
import { payloadsSize } from './entry-size.js'
import { ConfChangeDecodeError, ConfChangeError, ErrCompacted, ProposalDroppedError, SnapshotTemporarilyUnavailable } from './errors.js'
import type { ProposalDropReason } from './errors.js'
import { Inflights } from './inflights.js'
import { RaftLog } from './log.js'
import { newMessage, voteResponseType } from './message.js'
import { Progress } from './progress.js'
import { MAX_PENDING_READS, ReadOnly } from './read-only.js'
import { ProgressTracker, describeConfig, isJoint } from './tracker.js'
import { NONE } from './types.js'
import type { ConfChange, ConfState, Entry, HardState, Message, MessageType, NodeId, ProgressStatus, ReadState, Role, Snapshot, SoftState, Status } from './types.js'

/** Why an election is started: pre-vote round, real election, or a leadership transfer (skips pre-vote and leases). */
export type CampaignType = 'preElection' | 'election' | 'transfer'

/** Context marking vote requests of a leadership transfer: receivers must not refuse them because of a leader lease. */
export const CAMPAIGN_TRANSFER_CONTEXT: Uint8Array = new TextEncoder().encode('CampaignTransfer')

/** Message types a leader may send before its own log is persisted (Raft thesis §10.2.1). */
const IMMEDIATE_TYPES: ReadonlySet<MessageType> = new Set<MessageType>(['app', 'heartbeat', 'snap', 'timeoutNow'])

function bytesEqual (a: Uint8Array, b: Uint8Array): boolean {
  if (a.byteLength !== b.byteLength) return false
  for (let i = 0; i < a.byteLength; i++) if (a[i] !== b[i]) return false
  return true
}

/** The Raft state machine of one node; driven through RawNode. */
export class Raft {
  readonly id: NodeId
  term = 0
  vote: NodeId = NONE
  readStates: ReadState[] = []
  readonly raftLog: RaftLog
  trk: ProgressTracker
  state: Role = 'follower'
  isLearner = false
  /** Leader replication traffic: may be sent before the local Ready is persisted. */
  msgs: Message[] = []
  /** Sent only after the Ready is persisted; messages addressed to this node are stepped in advance(). */
  msgsAfterPersist: Message[] = []
  lead: NodeId = NONE
  leadTransferee: NodeId = NONE
  /** Index ≥ the latest conf change in the log; a new one is accepted only once applied passes it. */
  pendingConfIndex = 0
  uncommittedSize = 0
  readOnly: ReadOnly
  electionElapsed = 0
  heartbeatElapsed = 0
  randomizedElectionTimeout = 0
  /** Ticks since this instance was created (restart guard for leader leases). */
  private ticksSinceStart = 0
  pendingReadIndexMessages: Message[] = []
  /** A leader owes its followers an append broadcast (sent by flushPending() when the next Ready is built). */
  private appendsWanted = false

  readonly cfg: ResolvedConfig
  readonly electionTimeout: number
  readonly heartbeatTimeout: number
  private readonly logger: RaftLogger

  constructor (config: RaftConfig) {
    const c = resolveConfig(config)
    this.cfg = c
    this.id = c.id
    this.logger = c.logger
    this.electionTimeout = c.electionTick
    this.heartbeatTimeout = c.heartbeatTick
    this.raftLog = new RaftLog(c.storage, c.maxCommittedSizePerReady)
    this.trk = new ProgressTracker(c.maxInflightMsgs, c.maxInflightBytes)
    this.readOnly = new ReadOnly(c.readOnlyOption)

    const { hardState, confState } = c.storage.initialState()
    const restored = restoreConfig(confState, this.raftLog.lastIndex(), c.maxInflightMsgs, c.maxInflightBytes)
    const cs = this.switchToConfig(restored)
    invariant(confStatesEqual(cs, confState), () => `restored config ${JSON.stringify(cs)} differs from stored ${JSON.stringify(confState)}`)

    if (!isEmptyHardState(hardState)) this.loadState(hardState)
    if (c.applied > 0) {
      invariant(c.applied <= this.raftLog.lastIndex(), () => `applied ${c.applied} beyond last index ${this.raftLog.lastIndex()}`)
      // Applied entries were committed: a commit index that was not synced cannot be behind them.
      this.raftLog.commitTo(c.applied)
      if (c.applied > this.raftLog.applied) this.raftLog.appliedTo(c.applied)
    }
    this.becomeFollower(this.term, NONE)
    this.logger.info(`raft ${this.id} started [voters: ${this.trk.voterNodes().join(',')}, term: ${this.term}, commit: ${this.raftLog.committed}, applied: ${this.raftLog.applied}, last: ${this.raftLog.lastIndex()}]`)
  }

  private bug (b: RaftBug): boolean {
    return this.cfg.bugs.has(b)
  }

  /** True if a leader is known. */
  hasLeader (): boolean {
    return this.lead !== NONE
  }

  /** Volatile state. */
  softState (): SoftState {
    return { leader: this.lead, role: this.state }
  }

  /** State to persist. */
  hardState (): HardState {
    return { term: this.term, vote: this.vote, commit: this.raftLog.committed }
  }

  // ---- sending -------------------------------------------------------------------------------------------------

  /** Queues m: leader replication traffic in msgs, everything else after persistence. */
  send (m: Message): void {
    if (m.from === NONE) m.from = this.id
    if (m.type === 'vote' || m.type === 'voteResp' || m.type === 'preVote' || m.type === 'preVoteResp') {
      invariant(m.term !== 0, () => `term must be set when sending ${m.type}`)
    } else {
      invariant(m.term === 0, () => `term must not be set when sending ${m.type} (was ${m.term})`)
      // Proposals and read requests are forwarded like local messages: no term.
      if (m.type !== 'prop' && m.type !== 'readIndex') m.term = this.term
    }
    if (IMMEDIATE_TYPES.has(m.type)) {
      invariant(m.to !== this.id, () => `${m.type} must not be addressed to self`)
      this.msgs.push(m)
    } else {
      this.msgsAfterPersist.push(m)
    }
  }

  /** Sends an append (possibly empty, to carry the commit index) to `to`. */
  sendAppend (to: NodeId): void {
    this.maybeSendAppend(to, true)
  }

  /** Sends an append to `to` if allowed by its flow control; returns true if a message was queued. */
  maybeSendAppend (to: NodeId, sendIfEmpty: boolean): boolean {
    const pr = this.trk.progress.get(to)
    if (pr === undefined || pr.isPaused()) return false
    const prevIndex = pr.next - 1
    const prevTerm = this.raftLog.termOrUndefined(prevIndex)
    // The log is compacted at or above next: only a snapshot can catch the follower up.
    if (prevTerm === undefined) return this.maybeSendSnapshot(to, pr)
    let ents: Entry[] = []
    // A throttled replicate stream sends empty appends only, so a full window of lost messages still recovers.
    if (pr.state !== 'replicate' || !pr.inflights.full()) {
      try {
        ents = this.raftLog.entries(pr.next, this.cfg.maxSizePerMsg)
      } catch (err) {
        if (err instanceof ErrCompacted) return this.maybeSendSnapshot(to, pr)
        throw err
      }
    }
    if (ents.length === 0 && !sendIfEmpty) return false
    this.send(newMessage({ type: 'app', to, index: prevIndex, logTerm: prevTerm, entries: ents, commit: this.raftLog.committed }))
    pr.sentEntries(ents.length, payloadsSize(ents))
    pr.sentCommitIndex(this.raftLog.committed)
    return true
  }

  private maybeSendSnapshot (to: NodeId, pr: Progress): boolean {
    if (!pr.recentActive) {
      this.logger.debug(`${this.id} not sending snapshot to ${to}: not recently active`)
      return false
    }
    let snapshot: Snapshot
    try {
      snapshot = this.raftLog.snapshot()
    } catch (err) {
      if (err instanceof SnapshotTemporarilyUnavailable) {
        this.logger.debug(`${this.id} failed to send snapshot to ${to}: temporarily unavailable`)
        return false
      }
      throw err
    }
    invariant(snapshot.metadata.index > 0, 'need a non-empty snapshot')
    pr.becomeSnapshot(snapshot.metadata.index)
    this.logger.debug(`${this.id} sent snapshot [index ${snapshot.metadata.index}, term ${snapshot.metadata.term}] to ${to} [${pr.toString()}]`)
    this.send(newMessage({ type: 'snap', to, snapshot }))
    return true
  }

  private sendHeartbeat (to: NodeId, ctx: Uint8Array): void {
    const pr = this.trk.progress.get(to)
    if (pr === undefined) return
    // Never tell a follower to commit beyond what it is known to hold.
    const commit = Math.min(pr.match, this.raftLog.committed)
    this.send(newMessage({ type: 'heartbeat', to, commit, context: ctx }))
    pr.sentCommitIndex(commit)
  }

  /** Sends appends to every peer that is behind. */
  bcastAppend (): void {
    this.trk.visit((id) => {
      if (id !== this.id) this.sendAppend(id)
    })
  }

  /** Sends a heartbeat round to every peer; the round confirms pending reads and extends the lease. */
  bcastHeartbeat (): void {
    const ctx = this.readOnly.startRound(this.id, this.cfg.now())
    this.trk.visit((id) => {
      if (id !== this.id) this.sendHeartbeat(id, ctx)
    })
    this.advanceReads()
  }

  /** True if flushPending() would send something. */
  hasPending (): boolean {
    return this.state === 'leader' && (this.appendsWanted || this.readOnly.needsRound())
  }

  /**
   * Sends what was deferred until the next Ready: one append broadcast for all proposals / commit advances since
   * the last one (filling each replicating follower's window), and one heartbeat round for all pending reads.
   */
  flushPending (): void {
    if (this.state !== 'leader') {
      this.appendsWanted = false
      return
    }
    if (this.appendsWanted) {
      this.appendsWanted = false
      this.trk.visit((id, pr) => {
        if (id === this.id) return
        this.sendAppend(id)
        if (pr.state === 'replicate') {
          while (this.maybeSendAppend(id, false)) { /* pipeline up to the inflight window */ }
        }
      })
    }
    if (this.readOnly.needsRound()) this.bcastHeartbeat()
  }

  private leaseMs (): number {
    if (!this.cfg.leaseReads) return 0
    return (this.electionTimeout - 1) * this.cfg.tickMs - this.cfg.leaseDriftMs
  }

  private advanceReads (): void {
    for (const rs of this.readOnly.advance(this.trk.config.voters, this.leaseMs())) {
      this.respondToRead(rs.from, rs.ctx, rs.index)
    }
  }

  // ---- applying ------------------------------------------------------------------------------------------------

  /** The application applied up to index; a leader in an auto-leave joint config proposes leaving it. */
  appliedTo (index: number): void {
    const newApplied = Math.max(index, this.raftLog.applied)
    this.raftLog.appliedTo(newApplied)
    if (this.trk.config.autoLeave && newApplied >= this.pendingConfIndex && this.state === 'leader') {
      // An empty conf change leaves the joint config. It can be refused during a leader transfer; it is retried on
      // every later advance.
      const m = newMessage({ type: 'prop', from: this.id, entries: [{ term: 0, index: 0, type: 'confChange', data: encodeLeaveJoint() }] })
      try {
        this.step(m)
        this.logger.info(`${this.id} initiating automatic transition out of joint configuration ${describeConfig(this.trk.config)}`)
      } catch (err) {
        if (!(err instanceof ProposalDroppedError)) throw err
        this.logger.debug(`${this.id} not initiating automatic transition out of joint configuration: ${err.message}`)
      }
    }
  }

  /** A snapshot was persisted and applied. */
  appliedSnap (snap: Snapshot): void {
    this.raftLog.stableSnapTo(snap.metadata.index)
    this.appliedTo(snap.metadata.index)
  }

  /** Tries to advance the commit index from the quorum's match indexes; true if it moved. */
  maybeCommit (): boolean {
    const idx = this.trk.committed()
    if (!Number.isFinite(idx)) return false
    if (this.bug('commitPriorTermByCounting')) {
      // Injected bug: commits whatever a quorum holds, even entries of earlier terms (Raft paper Figure 8).
      return this.raftLog.maybeCommit(idx, this.raftLog.termOrZero(idx))
    }
    // §5.4.2: only entries of the current term are committed by counting replicas.
    return this.raftLog.maybeCommit(idx, this.term)
  }

  // ---- role transitions ----------------------------------------------------------------------------------------

  private reset (term: number): void {
    invariant(term >= this.term, () => `term must never decrease (${this.term} -> ${term})`)
    if (this.term !== term) {
      this.term = term
      this.vote = NONE
    }
    this.lead = NONE
    this.electionElapsed = 0
    this.heartbeatElapsed = 0
    this.resetRandomizedElectionTimeout()
    this.abortLeaderTransfer()
    this.trk.resetVotes()
    const last = this.raftLog.lastIndex()
    // The leader's own match counts only what is persisted (its self-ack arrives in advance()).
    const selfMatch = this.bug('leaderSelfAckBeforePersist') ? last : Math.min(last, this.raftLog.stableLastIndex())
    this.trk.visit((id, pr) => {
      const fresh = new Progress({
        match: id === this.id ? selfMatch : 0,
        next: last + 1,
        inflights: new Inflights(this.trk.maxInflight, this.trk.maxInflightBytes),
        isLearner: pr.isLearner
      })
      this.trk.progress.set(id, fresh)
    })
    this.pendingConfIndex = 0
    this.uncommittedSize = 0
    this.appendsWanted = false
    this.readOnly.reset()
    this.pendingReadIndexMessages = []
  }

  /** Appends entries of the current term to the leader's log; false if the uncommitted limit refuses them. */
  appendEntry (es: Entry[]): boolean {
    const li = this.raftLog.lastIndex()
    const ents = es.map((e, i): Entry => ({ term: this.term, index: li + 1 + i, type: e.type, data: e.data }))
    if (!this.increaseUncommittedSize(ents)) {
      this.logger.warn(`${this.id} appending new entries would exceed the uncommitted entry size limit; dropping proposal`)
      return false
    }
    const newLast = this.raftLog.append(ents)
    invariant(newLast === li + ents.length, 'a leader never truncates its own log')
    if (this.bug('leaderSelfAckBeforePersist')) {
      // Injected bug: the leader counts itself before its entries are durable.
      this.trk.progress.get(this.id)?.maybeUpdate(newLast)
      this.maybeCommit()
    }
    // Self-acknowledgement, delivered by RawNode.advance() once the Ready holding these entries is persisted.
    this.send(newMessage({ type: 'appResp', to: this.id, index: newLast }))
    return true
  }

  private tickElection (): void {
    this.electionElapsed++
    if (this.promotable() && this.pastElectionTimeout()) {
      this.electionElapsed = 0
      this.step(newMessage({ type: 'hup', from: this.id }))
    }
  }

  private tickHeartbeat (): void {
    this.heartbeatElapsed++
    this.electionElapsed++
    for (const [id, pr] of this.trk.progress) if (id !== this.id) pr.ticksSinceContact++
    if (this.electionElapsed >= this.electionTimeout) {
      this.electionElapsed = 0
      if (this.cfg.checkQuorum) this.step(newMessage({ type: 'checkQuorum', from: this.id }))
      // A transfer that did not finish within an election timeout is abandoned; we keep leading.
      if (this.state === 'leader' && this.leadTransferee !== NONE) this.abortLeaderTransfer()
    }
    if (this.state !== 'leader') return
    if (this.heartbeatElapsed >= this.heartbeatTimeout) {
      this.heartbeatElapsed = 0
      this.step(newMessage({ type: 'beat', from: this.id }))
    }
  }

  /** Advances logical time by one tick. */
  tick (): void {
    this.ticksSinceStart++
    if (this.state === 'leader') this.tickHeartbeat()
    else this.tickElection()
  }

  /** Becomes a follower of `lead` (or of nobody) in `term`. */
  becomeFollower (term: number, lead: NodeId): void {
    this.reset(term)
    this.lead = lead
    this.state = 'follower'
    this.logger.info(`${this.id} became follower at term ${this.term}`)
  }

  /** Becomes a candidate in the next term, voting for itself. */
  becomeCandidate (): void {
    invariant(this.state !== 'leader', 'invalid transition [leader -> candidate]')
    this.reset(this.term + 1)
    this.vote = this.id
    this.state = 'candidate'
    this.logger.info(`${this.id} became candidate at term ${this.term}`)
  }

  /** Becomes a pre-candidate: same term and vote, only polls whether an election could be won. */
  becomePreCandidate (): void {
    invariant(this.state !== 'leader', 'invalid transition [leader -> pre-candidate]')
    this.trk.resetVotes()
    this.lead = NONE
    this.state = 'preCandidate'
    this.logger.info(`${this.id} became pre-candidate at term ${this.term}`)
  }

  /** Becomes leader of the current term and appends the term's no-op entry. */
  becomeLeader (): void {
    invariant(this.state !== 'follower', 'invalid transition [follower -> leader]')
    this.reset(this.term)
    this.lead = this.id
    this.state = 'leader'
    const pr = this.trk.progress.get(this.id)
    invariant(pr !== undefined, 'a leader must be in its own configuration')
    pr.becomeReplicate()
    pr.recentActive = true
    // Conservative: there may be an unapplied conf change anywhere in the log.
    this.pendingConfIndex = this.raftLog.lastIndex()
    const ok = this.appendEntry([{ term: 0, index: 0, type: 'normal', data: new Uint8Array(0) }])
    invariant(ok, 'the empty entry of a new leader was dropped')
    this.logger.info(`${this.id} became leader at term ${this.term}`)
  }

  private hup (t: CampaignType): void {
    if (this.state === 'leader') {
      this.logger.debug(`${this.id} ignoring hup because already leader`)
      return
    }
    if (!this.promotable()) {
      this.logger.warn(`${this.id} is unpromotable and can not campaign`)
      return
    }
    if (this.hasUnappliedConfChanges()) {
      this.logger.warn(`${this.id} cannot campaign at term ${this.term} since there are still pending configuration changes to apply`)
      return
    }
    this.logger.info(`${this.id} is starting a new election at term ${this.term}`)
    this.campaign(t)
  }

  private hasUnappliedConfChanges (): boolean {
    if (this.raftLog.applied >= this.raftLog.committed) return false
    return this.raftLog.hasConfChangeIn(this.raftLog.applied + 1, this.raftLog.committed + 1)
  }

  /** Starts a (pre-)election; the self-vote is counted only once persisted (it arrives in advance()). */
  campaign (t: CampaignType): void {
    let term: number
    let voteMsg: 'vote' | 'preVote'
    if (t === 'preElection') {
      this.becomePreCandidate()
      voteMsg = 'preVote'
      // Pre-votes are requested for the term we would campaign in, without incrementing ours.
      term = this.term + 1
    } else {
      this.becomeCandidate()
      voteMsg = 'vote'
      term = this.term
    }
    const last = this.raftLog.lastEntryId()
    for (const id of this.trk.voterNodes()) {
      if (id === this.id) {
        this.send(newMessage({ type: voteResponseType(voteMsg), to: id, term }))
        continue
      }
      this.logger.info(`${this.id} [logterm: ${last.term}, index: ${last.index}] sent ${voteMsg} request to ${id} at term ${this.term}`)
      this.send(newMessage({
        type: voteMsg,
        to: id,
        term,
        index: last.index,
        logTerm: last.term,
        context: t === 'transfer' ? CAMPAIGN_TRANSFER_CONTEXT : new Uint8Array(0)
      }))
    }
  }

  private poll (id: NodeId, t: MessageType, granted: boolean): { granted: number, rejected: number, result: 'pending' | 'lost' | 'won' } {
    this.logger.info(`${this.id} received ${t}${granted ? '' : ' rejection'} from ${id} at term ${this.term}`)
    this.trk.recordVote(id, granted)
    return this.trk.tallyVotes()
  }

  private inLease (): boolean {
    if (!this.cfg.checkQuorum) return false
    if (this.lead !== NONE && this.electionElapsed < this.electionTimeout) return true
    // After a restart we cannot know whether we promised a lease just before crashing: honour one for a full
    // election timeout (only matters to lease-based reads).
    return this.cfg.leaseReads && this.ticksSinceStart < this.electionTimeout
  }

  // ---- step ----------------------------------------------------------------------------------------------------

  /** Advances the state machine with m. Throws ProposalDroppedError for a proposal that cannot be accepted. */
  step (m: Message): void {
    if (m.term === 0) {
      // local message (or a forwarded proposal / read request)
    } else if (m.term > this.term) {
      if (m.type === 'vote' || m.type === 'preVote') {
        const force = bytesEqual(m.context, CAMPAIGN_TRANSFER_CONTEXT)
        if (!force && this.inLease()) {
          // §6 (thesis 4.2.3): within the minimum election timeout of hearing from a leader, do not update the
          // term or grant a vote: this keeps removed or partitioned nodes from disrupting the cluster.
          const last = this.raftLog.lastEntryId()
          this.logger.info(`${this.id} [logterm: ${last.term}, index: ${last.index}, vote: ${this.vote}] ignored ${m.type} from ${m.from} [logterm: ${m.logTerm}, index: ${m.index}] at term ${this.term}: lease is not expired (remaining ticks: ${this.electionTimeout - this.electionElapsed})`)
          return
        }
      }
      if (m.type === 'preVote') {
        // Never change our term in response to a pre-vote.
      } else if (m.type === 'preVoteResp' && !m.reject) {
        // A granted pre-vote carries the term we will campaign in; the term is bumped once we win.
      } else {
        this.logger.info(`${this.id} [term: ${this.term}] received a ${m.type} message with higher term from ${m.from} [term: ${m.term}]`)
        if (m.type === 'app' || m.type === 'heartbeat' || m.type === 'snap') this.becomeFollower(m.term, m.from)
        else this.becomeFollower(m.term, NONE)
      }
    } else if (m.term < this.term) {
      const staleVoteForBug = this.bug('countOldTermVotes') &&
        ((m.type === 'voteResp' && this.state === 'candidate') || (m.type === 'preVoteResp' && this.state === 'preCandidate'))
      if (!staleVoteForBug) {
        if ((this.cfg.checkQuorum || this.cfg.preVote) && (m.type === 'heartbeat' || m.type === 'app')) {
          // A leader of an older term: tell it our term so it steps down (a node that advanced its term in a
          // partition could otherwise never rejoin, because check-quorum makes others ignore its votes).
          this.send(newMessage({ type: 'appResp', to: m.from }))
        } else if (m.type === 'preVote') {
          // Reject so that a pre-candidate with a stale term learns ours instead of waiting forever.
          const last = this.raftLog.lastEntryId()
          this.logger.info(`${this.id} [logterm: ${last.term}, index: ${last.index}, vote: ${this.vote}] rejected ${m.type} from ${m.from} [logterm: ${m.logTerm}, index: ${m.index}] at term ${this.term}`)
          this.send(newMessage({ type: 'preVoteResp', to: m.from, term: this.term, reject: true }))
        } else {
          this.logger.debug(`${this.id} [term: ${this.term}] ignored a ${m.type} message with lower term from ${m.from} [term: ${m.term}]`)
        }
        return
      }
      // Injected bug: a vote response from an older term is counted as if it were for this term.
    }

    switch (m.type) {
      case 'hup':
        this.hup(this.cfg.preVote ? 'preElection' : 'election')
        return
      case 'vote':
      case 'preVote':
        this.handleVoteRequest(m)
        return
      default:
        switch (this.state) {
          case 'leader': this.stepLeader(m); return
          case 'candidate':
          case 'preCandidate': this.stepCandidate(m); return
          case 'follower': this.stepFollower(m)
        }
    }
  }

  private handleVoteRequest (m: Message): void {
    const canVote = this.vote === m.from ||
      // ...we have not voted and we do not think there is a leader yet in this term...
      (this.vote === NONE && this.lead === NONE) ||
      // ...or this is a pre-vote for a future term...
      (m.type === 'preVote' && m.term > this.term)
    const last = this.raftLog.lastEntryId()
    // §5.4.1: grant only to a candidate whose log is at least as up to date as ours. Learners may vote too: a
    // learner may have been promoted without knowing it yet.
    if (canVote && this.raftLog.isUpToDate(m.index, m.logTerm)) {
      this.logger.info(`${this.id} [logterm: ${last.term}, index: ${last.index}, vote: ${this.vote}] cast ${m.type} for ${m.from} [logterm: ${m.logTerm}, index: ${m.index}] at term ${this.term}`)
      // Respond with the message's term: for pre-votes ours may be older and the candidate would ignore it.
      this.send(newMessage({ type: voteResponseType(m.type as 'vote' | 'preVote'), to: m.from, term: m.term }))
      if (m.type === 'vote') {
        invariant(m.term === this.term, 'a vote is only granted in the current term')
        this.electionElapsed = 0
        this.vote = m.from
      }
    } else {
      this.logger.info(`${this.id} [logterm: ${last.term}, index: ${last.index}, vote: ${this.vote}] rejected ${m.type} from ${m.from} [logterm: ${m.logTerm}, index: ${m.index}] at term ${this.term}`)
      this.send(newMessage({ type: voteResponseType(m.type as 'vote' | 'preVote'), to: m.from, term: this.term, reject: true }))
    }
  }

  private dropProposal (m: Message, reason: ProposalDropReason, msg: string): never {
    this.logger.debug(`${this.id} dropping proposal from ${m.from}: ${msg}`)
    throw new ProposalDroppedError(reason, msg)
  }

  private stepLeader (m: Message): void {
    switch (m.type) {
      case 'beat':
        this.bcastHeartbeat()
        return
      case 'checkQuorum':
        if (!this.trk.quorumActive()) {
          this.logger.warn(`${this.id} stepped down to follower since quorum is not active`)
          this.becomeFollower(this.term, NONE)
        }
        // Mark everyone (but ourselves) inactive for the next check.
        this.trk.visit((id, pr) => {
          if (id !== this.id) pr.recentActive = false
        })
        return
      case 'prop':
        this.leaderPropose(m)
        return
      case 'readIndex':
        if (!this.committedEntryInCurrentTerm()) {
          // A new leader does not know the commit index until its own term's entry commits.
          if (this.pendingReadIndexMessages.length >= MAX_PENDING_READS) {
            this.logger.warn(`${this.id} too many reads waiting for the first commit of term ${this.term}; dropping read from ${m.from}`)
            return
          }
          this.pendingReadIndexMessages.push(m)
          return
        }
        this.handleReadIndex(m)
        return
      case 'timeoutNow':
        // Only a stale message can reach a leader; still, a TimeoutNow means someone may campaign without the lease.
        if (!this.bug('leaseReadAfterTimeoutNow')) this.readOnly.revokeLease()
        return
    }

    const pr = this.trk.progress.get(m.from)
    if (pr === undefined) {
      this.logger.debug(`${this.id} no progress available for ${m.from}`)
      return
    }
    switch (m.type) {
      case 'appResp':
        pr.recentActive = true
        pr.ticksSinceContact = 0
        if (m.reject) this.handleAppendRejection(m, pr)
        else this.handleAppendSuccess(m, pr)
        return
      case 'heartbeatResp':
        pr.recentActive = true
        pr.ticksSinceContact = 0
        pr.msgAppFlowPaused = false
        // Also unsticks a full window whose messages were all lost, and moves a caught-up prober back to replicate.
        if (pr.match < this.raftLog.lastIndex() || pr.state === 'probe') this.sendAppend(m.from)
        if (m.context.byteLength > 0) {
          this.readOnly.recvAck(m.from, m.context)
          this.advanceReads()
        }
        return
      case 'snapStatus':
        if (pr.state !== 'snapshot') return
        if (m.reject) {
          // Order matters: forget the snapshot first, or probing would start from its index.
          pr.pendingSnapshot = 0
        }
        pr.becomeProbe()
        this.logger.debug(`${this.id} snapshot ${m.reject ? 'failed' : 'succeeded'}, resumed sending replication messages to ${m.from} [${pr.toString()}]`)
        // After success wait for the follower's appResp; after failure wait a heartbeat before retrying.
        pr.msgAppFlowPaused = true
        return
      case 'unreachable':
        // Optimistic replication probably lost messages: probe again.
        if (pr.state === 'replicate') pr.becomeProbe()
        this.logger.debug(`${this.id} failed to send message to ${m.from} because it is unreachable [${pr.toString()}]`)
        return
      case 'transferLeader':
        this.handleTransferLeader(m, pr)
    }
  }

  private leaderPropose (m: Message): void {
    invariant(m.entries.length > 0, () => `${this.id} stepped empty proposal`)
    const local = m.from === this.id || m.from === NONE
    if (!this.trk.progress.has(this.id)) {
      // Removed from the configuration while leading: nothing new may be appended.
      this.dropProposal(m, 'removedFromConfig', 'this leader is no longer a member of the configuration')
    }
    if (this.trk.config.voters.outgoing.size > 0 && !this.trk.config.voters.incoming.has(this.id) && m.entries.some(e => e.type === 'normal')) {
      // Leaving the configuration: entries appended now would be replicated to C-new only partly when we step
      // down, and can leave C-new and joint voters refusing each other's votes for ever (sim seed 392).
      this.dropProposal(m, 'removedFromConfig', 'this leader is leaving the configuration; retry on the next leader')
    }
    if (this.leadTransferee !== NONE) {
      this.dropProposal(m, 'transferInProgress', `transfer of leadership to ${this.leadTransferee} is in progress`)
    }
    const entries = m.entries.slice()
    const confIndexes: number[] = []
    for (let i = 0; i < entries.length; i++) {
      const e = entries[i]
      if (e.type !== 'confChange') continue
      const failed = this.checkConfChangeProposal(e.data, confIndexes.length > 0)
      if (failed !== undefined) {
        if (local) throw new ProposalDroppedError(failed.reason, failed.message)
        // A forwarded change cannot be refused to its proposer: it becomes an empty entry.
        this.logger.info(`${this.id} ignoring forwarded conf change from ${m.from}: ${failed.message}`)
        entries[i] = { term: 0, index: 0, type: 'normal', data: new Uint8Array(0) }
      } else {
        confIndexes.push(i)
      }
    }
    const li = this.raftLog.lastIndex()
    if (!this.appendEntry(entries)) {
      this.dropProposal(m, 'uncommittedLimit', 'the uncommitted entry size limit is reached')
    }
    for (const i of confIndexes) this.pendingConfIndex = li + i + 1
    // Deferred to the next Ready: every proposal accepted until then leaves in one append per follower.
    this.appendsWanted = true
  }

  /** Why a conf change proposal cannot be accepted now, or undefined if it can. */
  private checkConfChangeProposal (data: Uint8Array, anotherInBatch: boolean): { reason: ProposalDropReason, message: string } | undefined {
    let cc: ConfChange
    try {
      cc = decodeConfChange(data)
    } catch (err) {
      if (err instanceof ConfChangeDecodeError) return { reason: 'confChangeInvalid', message: err.message }
      throw err
    }
    if (anotherInBatch || this.pendingConfIndex > this.raftLog.applied) {
      return { reason: 'confChangePending', message: `possible unapplied conf change at index ${this.pendingConfIndex} (applied to ${this.raftLog.applied})` }
    }
    const joint = isJoint(this.trk.config)
    const wantsLeave = cc.changes.length === 0
    if (joint && !wantsLeave) return { reason: 'confChangeInvalid', message: 'must transition out of joint config first' }
    if (!joint && wantsLeave) return { reason: 'confChangeInvalid', message: 'not in joint state; refusing empty conf change' }
    // Every earlier conf change is applied, so the current configuration is exactly what cc will apply to.
    try {
      new Changer(this.trk, this.raftLog.lastIndex(), this.trk.maxInflight, this.trk.maxInflightBytes).apply(cc)
    } catch (err) {
      if (err instanceof ConfChangeError) return { reason: 'confChangeInvalid', message: err.message }
      throw err
    }
    return undefined
  }

  private handleAppendRejection (m: Message, pr: Progress): void {
    // rejectHint is the follower's guess of the last matching index and logTerm its term there. Skipping every
    // index whose term in our log is above that term probes at most once per term (see etcd's raft.go).
    this.logger.debug(`${this.id} received appResp(rejected, hint: (index ${m.rejectHint}, term ${m.logTerm})) from ${m.from} for index ${m.index}`)
    let nextProbeIdx = m.rejectHint
    if (m.logTerm > 0) nextProbeIdx = this.raftLog.findConflictByTerm(m.rejectHint, m.logTerm).index
    if (pr.maybeDecrTo(m.index, nextProbeIdx)) {
      this.logger.debug(`${this.id} decreased progress of ${m.from} to [${pr.toString()}]`)
      if (pr.state === 'replicate') pr.becomeProbe()
      this.sendAppend(m.from)
    }
  }

  private handleAppendSuccess (m: Message, pr: Progress): void {
    // Also move a probing peer that is caught up back to replicate (it may have been probed after unreachable).
    if (!(pr.maybeUpdate(m.index) || (pr.match === m.index && pr.state === 'probe'))) return
    if (pr.state === 'probe') {
      pr.becomeReplicate()
    } else if (pr.state === 'snapshot' && pr.match + 1 >= this.raftLog.firstIndex()) {
      // Caught up from the log again, whichever snapshot got it there.
      this.logger.debug(`${this.id} recovered from needing snapshot, resumed sending replication messages to ${m.from} [${pr.toString()}]`)
      pr.becomeProbe()
      pr.becomeReplicate()
    } else if (pr.state === 'replicate') {
      pr.inflights.freeLE(m.index)
    }
    if (this.maybeCommit()) {
      // The commit index moved in this term: queued reads can be served now. Followers learn the new commit index
      // in the next Ready (several acknowledgements arriving together cause one broadcast).
      this.releasePendingReadIndexMessages()
      this.appendsWanted = true
    } else if (m.from !== this.id && pr.canBumpCommit(this.raftLog.committed)) {
      this.sendAppend(m.from)
    }
    // Flow control may have opened up: send as much as allowed without empty messages.
    if (m.from !== this.id) {
      while (this.maybeSendAppend(m.from, false)) { /* keep filling the window */ }
    }
    if (m.from === this.leadTransferee && pr.match === this.raftLog.lastIndex()) {
      this.logger.info(`${this.id} sent timeoutNow to ${m.from} after it caught up`)
      this.sendTimeoutNow(m.from)
    }
  }

  private handleTransferLeader (m: Message, pr: Progress): void {
    if (pr.isLearner) {
      this.logger.debug(`${this.id} ignored transferring leadership to learner ${m.from}`)
      return
    }
    const transferee = m.from
    if (this.leadTransferee !== NONE) {
      if (this.leadTransferee === transferee) {
        this.logger.info(`${this.id} [term ${this.term}] transfer of leadership to ${transferee} is in progress, ignoring request to the same node`)
        return
      }
      this.logger.info(`${this.id} [term ${this.term}] aborting previous transfer of leadership to ${this.leadTransferee}`)
      this.abortLeaderTransfer()
    }
    if (transferee === this.id) {
      this.logger.debug(`${this.id} is already leader; ignored transferring leadership to self`)
      return
    }
    this.logger.info(`${this.id} [term ${this.term}] starts to transfer leadership to ${transferee}`)
    // The transfer must finish within an election timeout.
    this.electionElapsed = 0
    this.leadTransferee = transferee
    // The transferee will campaign without honouring leases: ours ends now, for the rest of this term.
    if (!this.bug('leaseReadAfterTimeoutNow')) this.readOnly.revokeLease()
    if (pr.match === this.raftLog.lastIndex()) {
      this.sendTimeoutNow(transferee)
      this.logger.info(`${this.id} sends timeoutNow to ${transferee} immediately as it already has an up-to-date log`)
    } else {
      this.sendAppend(transferee)
    }
  }

  private stepCandidate (m: Message): void {
    // Only responses of our own kind count (a candidate may still receive stale pre-vote responses).
    const myVoteResp: MessageType = this.state === 'preCandidate' ? 'preVoteResp' : 'voteResp'
    switch (m.type) {
      case 'prop':
        this.dropProposal(m, 'noLeader', `no leader at term ${this.term}`)
        return
      case 'app':
        this.becomeFollower(m.term, m.from)
        this.handleAppendEntries(m)
        return
      case 'heartbeat':
        this.becomeFollower(m.term, m.from)
        this.handleHeartbeat(m)
        return
      case 'snap':
        this.becomeFollower(m.term, m.from)
        this.handleSnapshot(m)
        return
      case 'timeoutNow':
        this.logger.debug(`${this.id} [term ${this.term} state ${this.state}] ignored timeoutNow from ${m.from}`)
        return
    }
    if (m.type !== myVoteResp) return
    const { granted, rejected, result } = this.poll(m.from, m.type, !m.reject)
    this.logger.info(`${this.id} has received ${granted} ${m.type} votes and ${rejected} vote rejections`)
    if (result === 'won') {
      if (this.state === 'preCandidate') {
        this.campaign('election')
      } else {
        this.becomeLeader()
        this.bcastAppend()
      }
    } else if (result === 'lost') {
      // A pre-vote response may carry a future term; stay in ours.
      this.becomeFollower(this.term, NONE)
    }
  }

  private stepFollower (m: Message): void {
    switch (m.type) {
      case 'prop':
        if (this.lead === NONE) this.dropProposal(m, 'noLeader', `no leader at term ${this.term}`)
        if (this.cfg.disableProposalForwarding) this.dropProposal(m, 'forwardingDisabled', `not forwarding to leader ${this.lead} at term ${this.term}`)
        this.send({ ...m, to: this.lead, term: 0 })
        return
      case 'app':
        this.electionElapsed = 0
        this.lead = m.from
        this.handleAppendEntries(m)
        return
      case 'heartbeat':
        this.electionElapsed = 0
        this.lead = m.from
        this.handleHeartbeat(m)
        return
      case 'snap':
        this.electionElapsed = 0
        this.lead = m.from
        this.handleSnapshot(m)
        return
      case 'transferLeader':
        if (this.lead === NONE) {
          this.logger.info(`${this.id} no leader at term ${this.term}; dropping leader transfer message`)
          return
        }
        this.send({ ...m, to: this.lead, term: 0 })
        return
      case 'timeoutNow':
        // A transfer never uses pre-vote: we know we are not recovering from a partition.
        this.logger.info(`${this.id} [term ${this.term}] received timeoutNow from ${m.from} and starts an election to get leadership`)
        this.hup('transfer')
        return
      case 'readIndex':
        if (this.lead === NONE) {
          this.logger.info(`${this.id} no leader at term ${this.term}; dropping read index message`)
          return
        }
        this.send({ ...m, to: this.lead, term: 0 })
        return
      case 'readIndexResp':
        this.readStates.push({ index: m.index, requestCtx: m.context })
    }
  }

  handleAppendEntries (m: Message): void {
    if (m.index < this.raftLog.committed) {
      this.send(newMessage({ type: 'appResp', to: m.from, index: this.raftLog.committed }))
      return
    }
    const lastNew = this.raftLog.maybeAppend(m.index, m.logTerm, m.commit, m.entries)
    if (lastNew !== undefined) {
      this.send(newMessage({ type: 'appResp', to: m.from, index: lastNew }))
      return
    }
    this.logger.debug(`${this.id} [logterm: ${this.raftLog.termOrZero(m.index)}, index: ${m.index}] rejected app [logterm: ${m.logTerm}, index: ${m.index}] from ${m.from}`)
    // Hint the largest (index, term) with term ≤ the leader's term at m.index: it skips our divergent tail.
    const hint = this.raftLog.findConflictByTerm(Math.min(m.index, this.raftLog.lastIndex()), m.logTerm)
    this.send(newMessage({ type: 'appResp', to: m.from, index: m.index, reject: true, rejectHint: hint.index, logTerm: hint.term }))
  }

  private handleHeartbeat (m: Message): void {
    this.raftLog.commitTo(m.commit)
    this.send(newMessage({ type: 'heartbeatResp', to: m.from, context: m.context }))
  }

  private handleSnapshot (m: Message): void {
    const s = m.snapshot
    if (s === undefined) {
      this.logger.warn(`${this.id} ignored snap message without snapshot from ${m.from}`)
      return
    }
    if (this.restore(s)) {
      this.logger.info(`${this.id} [commit: ${this.raftLog.committed}] restored snapshot [index: ${s.metadata.index}, term: ${s.metadata.term}]`)
      this.send(newMessage({ type: 'appResp', to: m.from, index: this.raftLog.lastIndex() }))
    } else {
      this.logger.info(`${this.id} [commit: ${this.raftLog.committed}] ignored snapshot [index: ${s.metadata.index}, term: ${s.metadata.term}]`)
      this.send(newMessage({ type: 'appResp', to: m.from, index: this.raftLog.committed }))
    }
  }

  /** Installs a snapshot into the log and configuration; false if it is stale or not for us. */
  restore (s: Snapshot): boolean {
    if (s.metadata.index <= this.raftLog.committed) return false
    if (this.state !== 'follower') {
      // Defense in depth: never restore as leader/candidate.
      this.logger.warn(`${this.id} attempted to restore snapshot as ${this.state}; should never happen`)
      this.becomeFollower(this.term + 1, NONE)
      return false
    }
    const cs = s.metadata.confState
    if (!cs.voters.includes(this.id) && !cs.learners.includes(this.id) && !cs.votersOutgoing.includes(this.id)) {
      // Normal for a node added after the snapshot was taken (e.g. the bootstrap snapshot): it learns of its own
      // membership from the conf change entries that follow. Until then it is a non-voting follower.
      this.logger.info(`${this.id} restoring snapshot [index ${s.metadata.index}] whose configuration does not include it yet`)
    }
    if (this.raftLog.matchTerm(s.metadata.index, s.metadata.term)) {
      // We already hold the snapshot's last entry: only the commit index moves.
      this.raftLog.commitTo(s.metadata.index)
      return false
    }
    this.raftLog.restore(s)
    this.trk = new ProgressTracker(this.trk.maxInflight, this.trk.maxInflightBytes)
    const restored = restoreConfig(cs, this.raftLog.lastIndex(), this.trk.maxInflight, this.trk.maxInflightBytes)
    const got = this.switchToConfig(restored)
    invariant(confStatesEqual(got, cs), 'restored snapshot config differs from its ConfState')
    return true
  }

  /** True if this node may campaign: a voter with no pending snapshot. */
  promotable (): boolean {
    const pr = this.trk.progress.get(this.id)
    return pr !== undefined && !pr.isLearner && !this.raftLog.hasNextOrInProgressSnapshot()
  }

  /** Applies a committed conf change; returns the new configuration. */
  applyConfChange (cc: ConfChange): ConfState {
    const next = new Changer(this.trk, this.raftLog.lastIndex(), this.trk.maxInflight, this.trk.maxInflightBytes).apply(cc)
    return this.switchToConfig(next)
  }

  /** Installs a configuration and reacts as leader (step down if removed, commit with the new quorum, probe new peers). */
  switchToConfig (next: ConfigAndProgress): ConfState {
    this.trk.config = next.config
    this.trk.progress = next.progress
    this.logger.info(`${this.id} switched to configuration ${describeConfig(this.trk.config)}`)
    const cs = this.trk.confState()
    const pr = this.trk.progress.get(this.id)
    this.isLearner = pr !== undefined && pr.isLearner
    if ((pr === undefined || this.isLearner) && this.state === 'leader') {
      // Removed (or demoted): C-new is committed and applied. Tell everyone the commit index, then stop leading so
      // the remaining voters elect a new leader after an election timeout.
      this.maybeCommit()
      this.bcastAppend()
      this.becomeFollower(this.term, NONE)
      return cs
    }
    if (this.state !== 'leader' || cs.voters.length === 0) return cs
    if (this.maybeCommit()) {
      this.bcastAppend()
    } else {
      // Probe newly added peers right away rather than at the next heartbeat.
      this.trk.visit((id) => {
        if (id !== this.id) this.maybeSendAppend(id, false)
      })
    }
    if (this.leadTransferee !== NONE && !this.trk.isVoter(this.leadTransferee)) this.abortLeaderTransfer()
    return cs
  }

  private loadState (hs: HardState): void {
    invariant(hs.commit <= this.raftLog.lastIndex(), () => `${this.id} state.commit ${hs.commit} is out of range [${this.raftLog.committed}, ${this.raftLog.lastIndex()}]`)
    // A snapshot implies its index is committed even if the hard state's commit was written before it.
    this.raftLog.commitTo(hs.commit)
    this.term = hs.term
    this.vote = hs.vote
  }

  private pastElectionTimeout (): boolean {
    return this.electionElapsed >= this.randomizedElectionTimeout
  }

  private resetRandomizedElectionTimeout (): void {
    const r = this.cfg.random()
    invariant(r >= 0 && r < 1, () => `random() must return a number in [0, 1), got ${r}`)
    this.randomizedElectionTimeout = this.electionTimeout + Math.floor(r * this.electionTimeout)
  }

  private sendTimeoutNow (to: NodeId): void {
    if (!this.bug('leaseReadAfterTimeoutNow')) this.readOnly.revokeLease()
    this.send(newMessage({ type: 'timeoutNow', to }))
  }

  /** Abandons a leadership transfer. */
  abortLeaderTransfer (): void {
    this.leadTransferee = NONE
  }

  /** True once an entry of the current term is committed (a new leader's commit index is then up to date). */
  committedEntryInCurrentTerm (): boolean {
    return this.raftLog.termOrZero(this.raftLog.committed) === this.term
  }

  /**
   * The index a lease read may be served at, without a round trip: the commit index while this leader holds a
   * valid lease and has committed an entry of its term; undefined otherwise (use ReadIndex instead).
   */
  leaseReadIndex (): number | undefined {
    if (this.state !== 'leader' || !this.cfg.leaseReads || !this.committedEntryInCurrentTerm()) return undefined
    const c = this.trk.config.voters
    // The only voter: nobody else can be leader.
    if (c.outgoing.size === 0 && c.incoming.size === 1 && c.incoming.has(this.id)) return this.raftLog.committed
    return this.readOnly.leaseValid(this.cfg.now()) ? this.raftLog.committed : undefined
  }

  private handleReadIndex (m: Message): void {
    const c = this.trk.config.voters
    if (c.outgoing.size === 0 && c.incoming.size === 1 && c.incoming.has(this.id)) {
      // The only voter: nobody else can be leader.
      this.respondToRead(m.from, m.context, this.raftLog.committed)
      return
    }
    if (this.cfg.readOnlyOption === 'leaseBased' && this.readOnly.leaseValid(this.cfg.now())) {
      this.respondToRead(m.from, m.context, this.raftLog.committed)
      return
    }
    if (!this.readOnly.addRequest(this.raftLog.committed, m.from, m.context)) {
      this.logger.warn(`${this.id} too many pending reads; dropping read from ${m.from}`)
    }
  }

  private respondToRead (from: NodeId, ctx: Uint8Array, index: number): void {
    if (from === NONE || from === this.id) {
      this.readStates.push({ index, requestCtx: ctx })
      return
    }
    this.send(newMessage({ type: 'readIndexResp', to: from, index, context: ctx }))
  }

  private releasePendingReadIndexMessages (): void {
    if (this.pendingReadIndexMessages.length === 0) return
    if (!this.committedEntryInCurrentTerm()) return
    const msgs = this.pendingReadIndexMessages
    this.pendingReadIndexMessages = []
    for (const m of msgs) this.handleReadIndex(m)
  }

  private increaseUncommittedSize (ents: readonly Entry[]): boolean {
    const s = payloadsSize(ents)
    const limit = this.cfg.maxUncommittedEntriesSize
    // An empty tail accepts any size, and size-0 entries (no-op, conf changes) are never refused.
    if (limit > 0 && this.uncommittedSize > 0 && s > 0 && this.uncommittedSize + s > limit) return false
    this.uncommittedSize += s
    return true
  }

  /** Committed entries were applied: they no longer count as uncommitted. */
  reduceUncommittedSize (ents: readonly Entry[]): void {
    this.uncommittedSize = Math.max(0, this.uncommittedSize - payloadsSize(ents))
  }

  /** Snapshot of the node's state for monitoring. */
  status (): Status {
    const st: Status = {
      id: this.id,
      hardState: this.hardState(),
      softState: this.softState(),
      applied: this.raftLog.applied,
      lastIndex: this.raftLog.lastIndex(),
      confState: this.trk.confState(),
      leadTransferee: this.leadTransferee
    }
    if (this.state === 'leader') {
      const progress = new Map<NodeId, ProgressStatus>()
      this.trk.visit((id, pr) => {
        progress.set(id, {
          match: pr.match,
          next: pr.next,
          state: pr.state,
          isLearner: pr.isLearner,
          recentActive: pr.recentActive,
          ticksSinceContact: id === this.id ? 0 : pr.ticksSinceContact
        })
      })
      st.progress = progress
    }
    return st
  }
}

/** An empty change list means "leave the joint configuration". */
function encodeLeaveJoint (): Uint8Array {
  return encodeConfChange({ transition: 'auto', changes: [], context: new Uint8Array(0) })
}
