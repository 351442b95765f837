// Public API of the consensus core.

export * from './types.js'
export { RawNode, validateMessage, MAX_ENTRIES_PER_MESSAGE } from './rawnode.js'
export type { RaftConfig, RaftBug, RaftLogger, ReadOnlyOption } from './config.js'
export { DEFAULT_MAX_SIZE_PER_MSG, DEFAULT_MAX_INFLIGHT_MSGS } from './config.js'
export type { Storage } from './storage.js'
export { MemoryStorage } from './storage.js'
export { bootstrapState, BOOTSTRAP_INDEX, BOOTSTRAP_TERM } from './bootstrap.js'
export { encodeConfChange, decodeConfChange, MAX_CONF_CHANGES, MAX_CONF_CHANGE_CONTEXT_BYTES } from './confchange-codec.js'
export { confChangeKind } from './confchange.js'
export type { ConfChangeKind } from './confchange.js'
export { emptyConfState, emptyHardState, isEmptyHardState, confStatesEqual } from './conf-state.js'
export { entrySize, payloadSize } from './entry-size.js'
export {
  ErrCompacted,
  ErrUnavailable,
  ErrSnapOutOfDate,
  SnapshotTemporarilyUnavailable,
  CompactedError,
  UnavailableError,
  SnapOutOfDateError,
  SnapshotTemporarilyUnavailableError,
  ProposalDroppedError,
  ConfChangeError,
  ConfChangeDecodeError,
  StepLocalMessageError,
  InvalidMessageError,
  RaftConfigError,
  ReadyProtocolError
} from './errors.js'
export type { ProposalDropReason } from './errors.js'
