// RaftConfig: what the application hands the core, its defaults and validation.

import { RaftConfigError } from './errors.js'
import type { Storage } from './storage.js'
import type { NodeId } from './types.js'

/**
 * Deliberately injected bugs, ONLY for simulator and unit tests that prove the checkers catch them.
 * - countOldTermVotes: a candidate counts vote responses from older terms.
 * - commitPriorTermByCounting: the leader commits entries of earlier terms by counting replicas (§5.4.2 violated).
 * - leaderSelfAckBeforePersist: the leader counts its own ack when appending, before its log is persisted.
 * - leaseReadAfterTimeoutNow: a lease-read leader keeps serving from its lease after starting a transfer / TimeoutNow.
 */
export type RaftBug = 'countOldTermVotes' | 'commitPriorTermByCounting' | 'leaderSelfAckBeforePersist' | 'leaseReadAfterTimeoutNow'

/** How linearizable reads are confirmed. */
export type ReadOnlyOption = 'safe' | 'leaseBased'

/** Minimal logger the core writes to (never secrets: it only logs ids, terms and indexes). */
export interface RaftLogger {
  debug(msg: string): void
  info(msg: string): void
  warn(msg: string): void
}

/** What the application hands the core. */
export interface RaftConfig {
  id: NodeId
  /** Followers campaign after a randomized timeout in [electionTick, 2*electionTick) ticks. */
  electionTick: number
  /** The leader sends heartbeats every heartbeatTick ticks. */
  heartbeatTick: number
  storage: Storage
  /** Last applied index on restart. */
  applied?: number
  /** Bytes per AppendEntries (default 1 MiB). */
  maxSizePerMsg?: number
  /** Bytes of committed entries per Ready (default maxSizePerMsg). */
  maxCommittedSizePerReady?: number
  /** In-flight appends per follower in replicate state (default 256). */
  maxInflightMsgs?: number
  /** In-flight bytes per follower, 0 = unlimited (default); if set, must be ≥ maxSizePerMsg. */
  maxInflightBytes?: number
  /** Bytes of uncommitted normal-entry payload a leader accepts, 0 = unlimited. */
  maxUncommittedEntriesSize?: number
  /** Leader steps down without a quorum heard from within an election timeout; followers honour the leader lease (default true). */
  checkQuorum?: boolean
  /** Pre-vote round before incrementing the term (default true). */
  preVote?: boolean
  /** 'safe' (default): each read is confirmed by a heartbeat round; 'leaseBased': served from a clock-bounded lease. */
  readOnlyOption?: ReadOnlyOption
  /**
   * Keep the leader lease (as 'leaseBased' does) while ReadIndex requests stay 'safe': the application asks
   * leaseReadIndex() for the reads that accept a lease (default false; implied by 'leaseBased').
   */
  leaseReads?: boolean
  /** Seeded randomness in [0, 1). */
  random: () => number
  /** Monotonic milliseconds; required for leaseBased reads. */
  now?: () => number
  /** Clock drift bound subtracted from the lease (default one tick). */
  leaseDriftMs?: number
  /** Duration of one tick in ms; required for leaseBased reads. */
  tickMs?: number
  /** Followers drop proposals instead of forwarding them to the leader. */
  disableProposalForwarding?: boolean
  /** Deliberately injected bugs, ONLY for simulator tests. */
  bugs?: ReadonlySet<RaftBug>
  logger?: RaftLogger
}

/** A RaftConfig with every default filled in. */
export interface ResolvedConfig {
  id: NodeId
  electionTick: number
  heartbeatTick: number
  storage: Storage
  applied: number
  maxSizePerMsg: number
  maxCommittedSizePerReady: number
  maxInflightMsgs: number
  maxInflightBytes: number
  maxUncommittedEntriesSize: number
  checkQuorum: boolean
  preVote: boolean
  readOnlyOption: ReadOnlyOption
  leaseReads: boolean
  random: () => number
  now: () => number
  leaseDriftMs: number
  tickMs: number
  disableProposalForwarding: boolean
  bugs: ReadonlySet<RaftBug>
  logger: RaftLogger
}

/** Default bytes per AppendEntries message. */
export const DEFAULT_MAX_SIZE_PER_MSG = 1024 * 1024
/** Default in-flight appends per follower. */
export const DEFAULT_MAX_INFLIGHT_MSGS = 256
/** Hard ceiling on ticks so a typo cannot make a node wait for days. */
export const MAX_TICKS = 1_000_000

const NOOP_LOGGER: RaftLogger = { debug () {}, info () {}, warn () {} }

function positiveInt (name: string, v: number, max = Number.MAX_SAFE_INTEGER): number {
  if (!Number.isSafeInteger(v) || v <= 0 || v > max) throw new RaftConfigError(`${name} must be an integer in [1, ${max}], got ${v}`)
  return v
}

function nonNegativeInt (name: string, v: number): number {
  if (!Number.isSafeInteger(v) || v < 0) throw new RaftConfigError(`${name} must be a non-negative integer, got ${v}`)
  return v
}

/** Validates a RaftConfig and fills in defaults; throws RaftConfigError naming the offending field. */
export function resolveConfig (c: RaftConfig): ResolvedConfig {
  positiveInt('id', c.id)
  positiveInt('heartbeatTick', c.heartbeatTick, MAX_TICKS)
  positiveInt('electionTick', c.electionTick, MAX_TICKS)
  if (c.electionTick <= c.heartbeatTick) throw new RaftConfigError(`electionTick (${c.electionTick}) must be greater than heartbeatTick (${c.heartbeatTick})`)
  if (typeof c.random !== 'function') throw new RaftConfigError('random must be a function returning [0, 1)')
  const maxSizePerMsg = positiveInt('maxSizePerMsg', c.maxSizePerMsg ?? DEFAULT_MAX_SIZE_PER_MSG)
  const maxCommittedSizePerReady = positiveInt('maxCommittedSizePerReady', c.maxCommittedSizePerReady ?? maxSizePerMsg)
  const maxInflightMsgs = positiveInt('maxInflightMsgs', c.maxInflightMsgs ?? DEFAULT_MAX_INFLIGHT_MSGS, 1 << 20)
  const maxInflightBytes = nonNegativeInt('maxInflightBytes', c.maxInflightBytes ?? 0)
  if (maxInflightBytes !== 0 && maxInflightBytes < maxSizePerMsg) throw new RaftConfigError('maxInflightBytes must be >= maxSizePerMsg')
  const maxUncommittedEntriesSize = nonNegativeInt('maxUncommittedEntriesSize', c.maxUncommittedEntriesSize ?? 0)
  const checkQuorum = c.checkQuorum ?? true
  const readOnlyOption = c.readOnlyOption ?? 'safe'
  let tickMs = 0
  let leaseDriftMs = 0
  let now: () => number = () => 0
  const leaseReads = readOnlyOption === 'leaseBased' || c.leaseReads === true
  if (leaseReads) {
    if (!checkQuorum) throw new RaftConfigError('checkQuorum must be enabled for lease reads (leaseReads or readOnlyOption leaseBased)')
    if (c.now === undefined) throw new RaftConfigError('now is required for lease reads (leaseReads or readOnlyOption leaseBased)')
    if (c.tickMs === undefined) throw new RaftConfigError('tickMs is required for lease reads (leaseReads or readOnlyOption leaseBased)')
    tickMs = positiveInt('tickMs', c.tickMs)
    leaseDriftMs = nonNegativeInt('leaseDriftMs', c.leaseDriftMs ?? tickMs)
    now = c.now
  } else if (c.now !== undefined) {
    now = c.now
  }
  return {
    id: c.id,
    electionTick: c.electionTick,
    heartbeatTick: c.heartbeatTick,
    storage: c.storage,
    applied: nonNegativeInt('applied', c.applied ?? 0),
    maxSizePerMsg,
    maxCommittedSizePerReady,
    maxInflightMsgs,
    maxInflightBytes,
    maxUncommittedEntriesSize,
    checkQuorum,
    preVote: c.preVote ?? true,
    readOnlyOption,
    leaseReads,
    random: c.random,
    now,
    leaseDriftMs,
    tickMs,
    disableProposalForwarding: c.disableProposalForwarding ?? false,
    bugs: c.bugs ?? new Set(),
    logger: c.logger ?? NOOP_LOGGER
  }
}
