// The data types of the consensus core: what it persists, sends and hands to the application.
// Plain data only (no classes) so every layer can encode them and the simulator can clone them.

/** A node's id in the cluster. 0 means "none" (no leader, no vote). */
export type NodeId = number
export const NONE: NodeId = 0

/** Kind of a log entry. `normal` payloads are opaque application bytes; `confChange` payloads are encoded ConfChange. */
export type EntryType = 'normal' | 'confChange'

export interface Entry {
  term: number
  index: number
  type: EntryType
  /** Opaque bytes. An empty normal entry is the leader's no-op of its term. */
  data: Uint8Array
}

/** What a node must persist before it answers anyone (Raft Figure 2 "persistent state", plus commit). */
export interface HardState {
  term: number
  vote: NodeId
  commit: number
}

/** A configuration; `votersOutgoing` is non-empty while in a joint configuration (C-old,new). */
export interface ConfState {
  voters: NodeId[]
  learners: NodeId[]
  /** C-old while joint; empty otherwise. */
  votersOutgoing: NodeId[]
  /** Voters of C-old that become learners when the joint configuration is left. */
  learnersNext: NodeId[]
  /** Leave the joint configuration automatically once it is committed. */
  autoLeave: boolean
}

export interface SnapshotMetadata {
  index: number
  term: number
  confState: ConfState
}

/**
 * A snapshot as the core sees it. `data` is opaque: the simulator carries its whole state machine in it;
 * the real node leaves it small and streams the state separately on the snapshot protocol.
 */
export interface Snapshot {
  metadata: SnapshotMetadata
  data: Uint8Array
}

export type ConfChangeType = 'addNode' | 'addLearner' | 'removeNode'

export interface ConfChangeSingle {
  type: ConfChangeType
  nodeId: NodeId
}

/**
 * A membership change (etcd's ConfChangeV2). One single change may be applied directly (simple);
 * several changes, or `transition: 'joint'`, go through joint consensus.
 * An empty `changes` list with a joint config active means "leave the joint configuration".
 */
export interface ConfChange {
  transition: 'auto' | 'joint' | 'jointExplicit'
  changes: ConfChangeSingle[]
  /** Opaque to the core; the node records node id → peer id / store UUID bindings here. */
  context: Uint8Array
}

export type MessageType =
  | 'hup' // local: start an election
  | 'beat' // local: leader sends heartbeats
  | 'prop' // proposal (local, or forwarded by a follower)
  | 'app' // AppendEntries
  | 'appResp'
  | 'vote'
  | 'voteResp'
  | 'preVote'
  | 'preVoteResp'
  | 'snap' // InstallSnapshot
  | 'heartbeat'
  | 'heartbeatResp'
  | 'unreachable' // local
  | 'snapStatus' // local
  | 'checkQuorum' // local
  | 'transferLeader'
  | 'timeoutNow'
  | 'readIndex'
  | 'readIndexResp'

/** Every Raft message is one-way; responses are messages too. Drops, duplicates and reordering are safe. */
export interface Message {
  type: MessageType
  to: NodeId
  from: NodeId
  term: number
  /** For app: term of the entry at `index`; for vote: candidate's last log term. */
  logTerm: number
  index: number
  entries: Entry[]
  commit: number
  snapshot?: Snapshot
  reject: boolean
  /** On a rejected appResp: the follower's hint for fast backtracking. */
  rejectHint: number
  /** readIndex / heartbeat request context (opaque). */
  context: Uint8Array
}

/** Volatile state worth reporting (etcd's SoftState). */
export type Role = 'follower' | 'candidate' | 'preCandidate' | 'leader'
export interface SoftState {
  leader: NodeId
  role: Role
}

/** A linearizable read may be served once the state machine has applied `index`. */
export interface ReadState {
  index: number
  requestCtx: Uint8Array
}

/**
 * The work a RawNode hands out. Contract (the simulator enforces it):
 * 1. `messages` may be sent at once, in parallel with persisting (only a leader's replication traffic is put here).
 * 2. Persist `snapshot`, `entries` (truncating any conflicting suffix from entries[0].index), and `hardState`,
 *    durably (synced) when `mustSync`.
 * 3. Only then send `messagesAfterPersist` (votes, append responses, anything that promises persisted state).
 * 4. Apply `committedEntries` in order (they may include entries of this same Ready: persist them first or in the
 *    same atomic batch), answer `readStates` once applied ≥ their index.
 * 5. Call `advance(ready)`.
 */
export interface Ready {
  softState?: SoftState
  hardState?: HardState
  entries: Entry[]
  snapshot?: Snapshot
  committedEntries: Entry[]
  messages: Message[]
  messagesAfterPersist: Message[]
  readStates: ReadState[]
  mustSync: boolean
}

/** Progress of a follower as the leader tracks it. */
export type ProgressState = 'probe' | 'replicate' | 'snapshot'

export interface ProgressStatus {
  match: number
  next: number
  state: ProgressState
  isLearner: boolean
  recentActive: boolean
  /** Ticks since the leader last heard from this peer. */
  ticksSinceContact: number
}

export interface Status {
  id: NodeId
  hardState: HardState
  softState: SoftState
  applied: number
  lastIndex: number
  confState: ConfState
  leadTransferee: NodeId
  /** Present on the leader only. */
  progress?: Map<NodeId, ProgressStatus>
}
