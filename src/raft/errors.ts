// Typed errors of the consensus core. Storage implementations throw ErrCompacted / ErrUnavailable /
// SnapshotTemporarilyUnavailable so the core can tell "ask for a snapshot" from "try again later".

import { AspenError } from '../errors.js'

/** The requested log index is below the first index: it was compacted into a snapshot. */
export class ErrCompacted extends AspenError {
  readonly code = 'RAFT_COMPACTED'
  constructor (message = 'requested index is unavailable due to compaction') {
    super(message)
  }
}

/** The requested log index is above the last index. */
export class ErrUnavailable extends AspenError {
  readonly code = 'RAFT_UNAVAILABLE'
  constructor (message = 'requested entry at index is unavailable') {
    super(message)
  }
}

/** The snapshot is being prepared; the leader retries on a later heartbeat. */
export class SnapshotTemporarilyUnavailable extends AspenError {
  readonly code = 'RAFT_SNAPSHOT_TEMPORARILY_UNAVAILABLE'
  constructor (message = 'snapshot is temporarily unavailable') {
    super(message)
  }
}

/** A snapshot older than (or as old as) the one already held was offered. */
export class ErrSnapOutOfDate extends AspenError {
  readonly code = 'RAFT_SNAP_OUT_OF_DATE'
  constructor (message = 'requested index is older than the existing snapshot') {
    super(message)
  }
}

/** Why a proposal was dropped; the caller may retry elsewhere (another leader) or later. */
export type ProposalDropReason =
  | 'noLeader'
  | 'notLeader'
  | 'transferInProgress'
  | 'uncommittedLimit'
  | 'removedFromConfig'
  | 'forwardingDisabled'
  | 'confChangePending'
  | 'confChangeInvalid'

/** A proposal (or conf change) was not appended; nothing about it will ever commit. */
export class ProposalDroppedError extends AspenError {
  readonly code = 'RAFT_PROPOSAL_DROPPED'
  constructor (readonly reason: ProposalDropReason, message: string) {
    super(`raft proposal dropped (${reason}): ${message}`)
  }
}

/** A configuration change is not valid against the configuration it would apply to. */
export class ConfChangeError extends AspenError {
  readonly code = 'RAFT_CONF_CHANGE'
}

/** Bytes that should hold an encoded ConfChange do not. */
export class ConfChangeDecodeError extends AspenError {
  readonly code = 'RAFT_CONF_CHANGE_DECODE'
}

/** A local-only message type (hup, beat, ...) arrived through RawNode.step. */
export class StepLocalMessageError extends AspenError {
  readonly code = 'RAFT_STEP_LOCAL_MSG'
}

/** A message from the network is malformed (non-contiguous entries, impossible terms, ...). */
export class InvalidMessageError extends AspenError {
  readonly code = 'RAFT_INVALID_MESSAGE'
}

/** The RaftConfig is not usable. */
export class RaftConfigError extends AspenError {
  readonly code = 'RAFT_CONFIG'
}

/** The Ready/advance protocol was not followed by the caller. */
export class ReadyProtocolError extends AspenError {
  readonly code = 'RAFT_READY_PROTOCOL'
}

export {
  ErrCompacted as CompactedError,
  ErrUnavailable as UnavailableError,
  SnapshotTemporarilyUnavailable as SnapshotTemporarilyUnavailableError,
  ErrSnapOutOfDate as SnapOutOfDateError
}
