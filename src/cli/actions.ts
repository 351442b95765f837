// The seam between the thin CLI and the rest of Aspen: every command parses and validates its arguments, then
// calls exactly one function of CliActions and formats what it returns. The coordinator wires CliActions to
// src/node (running a node, local recovery) and src/client (everything that talks to a cluster); until then
// notWiredActions() answers every call with NotAvailableError ("not available yet", exit code 1).

import type { KeyValue, Txn, TxnResponse } from '../api/kv.js'
import type { NodeConfig } from '../node/config.js'
import { NotAvailableError } from './errors.js'

/** How a command reaches a cluster; resolved by the CLI from --data-dir / --ticket and the cookie options. */
export type ClusterTarget =
  | {
    readonly kind: 'local'
    /** Absolute data dir of a node running on this machine. */
    readonly dataDir: string
    /** DATA_DIR/run/node.json, written by the running node (peer id, listen addrs, http addr); known to exist. */
    readonly runInfoPath: string
    /** Cookie from DATA_DIR/config.toml, or from --cookie/--cookie-file/ASPEN_COOKIE when given. Secret. */
    readonly cookie: string
  }
  | {
    readonly kind: 'ticket'
    /** An `aspen1…` ticket (cluster id + bootstrap peers; never a secret). */
    readonly ticket: string
    /** Cookie from --cookie, --cookie-file, ASPEN_COOKIE or ASPEN_COOKIE_FILE. Secret. */
    readonly cookie: string
  }

/** Passed to every call that talks to a cluster. */
export interface RequestContext {
  readonly target: ClusterTarget
  /** Deadline for each request (--timeout; default request_timeout_ms of the local config, else 5000). */
  readonly timeoutMs: number
  /** Aborted on SIGINT/SIGTERM; long calls (watch, status --watch) must end when it fires. */
  readonly signal: AbortSignal
}

/** Read consistency of `kv get`. */
export type Consistency = 'linearizable' | 'lease' | 'stale'

/** Voter and learner sets; votersOutgoing is non-empty only while a joint change is in progress. */
export interface MembershipView {
  readonly voters: readonly number[]
  readonly learners: readonly number[]
  readonly votersOutgoing: readonly number[]
}

/** One member as the leader sees it. */
export interface MemberStatus {
  readonly nodeId: number
  readonly peerId: string | null
  readonly role: 'voter' | 'learner'
  readonly reachable: boolean
  /** Milliseconds since the leader last heard from it; null when unknown (e.g. asked a follower). */
  readonly lastContactMs: number | null
  /** Entries behind the leader's last index; null when unknown. */
  readonly lag: number | null
}

/** A peer known from discovery (it may or may not be a member). */
export interface KnownPeer {
  readonly peerId: string
  readonly nodeId: number | null
  readonly addrs: readonly string[]
}

/**
 * The node's /status object. `aspen cluster status --json` prints it as received (extra fields pass through);
 * the human view uses the fields named here.
 */
export interface ClusterStatus {
  readonly nodeId: number
  readonly peerId: string
  readonly role: string
  readonly term: number
  readonly leaderId: number | null
  readonly commitIndex: number
  readonly appliedIndex: number
  readonly membership: MembershipView
  readonly members: readonly MemberStatus[]
  readonly peers: readonly KnownPeer[]
  readonly [extra: string]: unknown
}

/** Result of `cluster health`; exit code 1 when not healthy. */
export interface ClusterHealth {
  readonly healthy: boolean
  readonly leaderId: number | null
  readonly term: number
  /** Voters that answered / all voters. */
  readonly votersReachable: number
  readonly voters: number
  /** One human sentence per problem found; empty when healthy. */
  readonly problems: readonly string[]
}

export interface ClusterInitResult {
  readonly clusterId: string
  readonly leaderId: number
  readonly membership: MembershipView
  /** Ticket other nodes and clients can use (no secret in it). */
  readonly ticket: string
}

export interface MembershipChangeResult {
  /** Membership after the change committed. */
  readonly membership: MembershipView
}

export interface BackupResult {
  readonly path: string
  readonly bytes: number
  /** Raft index the backup is consistent at. */
  readonly index: number
}

export interface RestoreResult {
  readonly dataDir: string
  readonly index: number
  readonly keys: number
  /** Cluster id of the restored cluster (derived from the node's cookie) and of the one the backup came from. */
  readonly clusterId?: string
  readonly sourceClusterId?: string
}

/** What `recover --inspect` reports about a stopped node's data dir. */
export interface RecoveryReport {
  readonly dataDir: string
  readonly nodeId: number | null
  readonly peerId: string | null
  readonly clusterId: string | null
  readonly term: number
  /** Term of the last log entry: survivors compare by (lastTerm, lastIndex), highest first. */
  readonly lastTerm: number
  readonly commitIndex: number
  readonly appliedIndex: number
  readonly lastIndex: number
  readonly membership: MembershipView | null
  /** Membership once the whole log tail is applied (differs while a change is pending). */
  readonly membershipAtLastIndex?: MembershipView | null
  /** Chain hashes verified from the last snapshot on. */
  readonly chainOk: boolean
  /** One sentence per problem found; empty when the data dir is consistent. */
  readonly problems: readonly string[]
}

export interface ForceNewClusterResult {
  readonly nodeId: number
  readonly membership: MembershipView
  /** Commit index before the recovery; every entry up to lastIndex is committed after it. */
  readonly oldCommit?: number
  readonly lastIndex?: number
  /** Entries beyond the old commit index that the recovery kept (and committed). */
  readonly entriesKept?: number
}

/** One change seen by `kv watch`. A delete carries the key and its delete revision in kv.modRevision. */
export interface WatchEvent {
  readonly type: 'put' | 'delete'
  readonly kv: KeyValue
}

export interface StartOptions {
  /** Pretty (human) logs instead of JSON lines: true when stderr is a TTY. */
  readonly prettyLogs: boolean
}

export interface ClusterActions {
  init (ctx: RequestContext): Promise<ClusterInitResult>
  status (ctx: RequestContext): Promise<ClusterStatus>
  health (ctx: RequestContext): Promise<ClusterHealth>
  addLearner (ctx: RequestContext, req: { nodeId: number, addr?: string, force: boolean }): Promise<MembershipChangeResult>
  promote (ctx: RequestContext, req: { nodeId: number, force: boolean }): Promise<MembershipChangeResult>
  changeMembership (ctx: RequestContext, req: { voters: number[], learners?: number[], force: boolean }): Promise<MembershipChangeResult>
  remove (ctx: RequestContext, req: { nodeId: number, force: boolean }): Promise<MembershipChangeResult>
  /** nodeId undefined: let the leader pick the most up-to-date voter. */
  transferLeader (ctx: RequestContext, req: { nodeId?: number, force: boolean }): Promise<{ leaderId: number }>
  snapshot (ctx: RequestContext): Promise<{ index: number, term: number }>
  ticket (ctx: RequestContext): Promise<{ ticket: string }>
  /** Prometheus text exposition of the node reached. */
  metrics (ctx: RequestContext): Promise<{ text: string }>
  /** Streams a consistent backup into `out` (the CLI has checked it may be written). */
  backup (ctx: RequestContext, req: { out: string, onProgress?: (p: { index: number, chunks: number, bytes: number }) => void }): Promise<BackupResult>
  /** Each member's own view (role, term, commit, applied), asked of the member itself; `status --watch` shows it. */
  nodeViews? (ctx: RequestContext, reached: ClusterStatus): Promise<NodeView[]>
}

/** One member as it sees itself; the numbers are null when it did not answer (then `error` says why). */
export interface NodeView {
  readonly nodeId: number
  readonly role: string
  readonly term: number | null
  readonly commitIndex: number | null
  readonly appliedIndex: number | null
  /** Entries it has yet to apply, counted from the highest commit index any member reported. */
  readonly lag: number | null
  readonly error?: string
}

export interface KvActions {
  /** ttlS: grant a lease of that many seconds and attach the key to it; lease: attach to this existing lease. */
  put (ctx: RequestContext, req: { key: Uint8Array, value: Uint8Array, ttlS?: number, lease?: number }): Promise<{ revision: number, lease?: number }>
  /** undefined when the key does not exist. */
  get (ctx: RequestContext, req: { key: Uint8Array, consistency: Consistency }): Promise<KeyValue | undefined>
  del (ctx: RequestContext, req: { key: Uint8Array }): Promise<{ deleted: number, revision: number }>
  /** Up to `limit` keys with the prefix, in key order (the action pages through the store's 10 000-key pages). */
  scan (ctx: RequestContext, req: { prefix: Uint8Array, limit: number, consistency: Consistency }): Promise<{ kvs: KeyValue[], more: boolean }>
  /** expected undefined: the key must not exist. On failure `current` is the key's current state (if any). */
  cas (ctx: RequestContext, req: { key: Uint8Array, expected: Uint8Array | undefined, value: Uint8Array }):
  Promise<{ succeeded: boolean, revision: number, current?: KeyValue }>
  txn (ctx: RequestContext, txn: Txn): Promise<TxnResponse>
  /** Calls onEvent for each change under the prefix until ctx.signal aborts (then resolves). */
  watch (ctx: RequestContext, req: { prefix: Uint8Array, fromRevision?: number, onEvent: (ev: WatchEvent) => void }): Promise<void>
}

/** A lease as the leader reports it. */
export interface LeaseView {
  readonly id: number
  readonly ttlSeconds: number
  readonly grantRevision: number
  /** Milliseconds until the leader ends it. */
  readonly remainingMs: number
  /** Attached keys (base64), when asked for. */
  readonly keys?: readonly string[]
}

export interface LeaseActions {
  grant (ctx: RequestContext, req: { ttlSeconds: number, id?: number }): Promise<{ id: number, ttlSeconds: number }>
  /** once: one keep-alive; else one every TTL/3 until ctx.signal aborts, calling onRenew after each. */
  keepAlive (ctx: RequestContext, req: { id: number, once: boolean, onRenew: (r: { id: number, ttlSeconds: number }) => void }): Promise<void>
  revoke (ctx: RequestContext, req: { id: number }): Promise<{ id: number, deleted: number }>
  list (ctx: RequestContext): Promise<LeaseView[]>
  timeToLive (ctx: RequestContext, req: { id: number, keys: boolean }): Promise<LeaseView>
}

export interface OpsActions {
  /**
   * Fills an initialised, stopped node's data dir (config from `aspen init`) from a backup file; the node then
   * starts as a one-voter cluster with the restored data. force: replace existing data.
   */
  restore (req: { config: NodeConfig, from: string, force: boolean }): Promise<RestoreResult>
  /** Reads a stopped node's data dir and reports its state; changes nothing. */
  recoverInspect (req: { dataDir: string }): Promise<RecoveryReport>
  /** Rewrites a stopped node's membership to itself alone (disaster recovery after losing a quorum). */
  recoverForceNewCluster (req: { config: NodeConfig }): Promise<ForceNewClusterResult>
}

/** Everything the CLI needs from the rest of Aspen. */
export interface CliActions {
  /**
   * Creates (or loads) the node identity in DATA_DIR (identity.key, mode 0600) and returns its peer id.
   * null until the coordinator wires it to src/p2p; `aspen init` then says the identity is created on first start.
   */
  readonly createIdentity: ((dataDir: string) => Promise<{ peerId: string }>) | null
  /** Runs a node in the foreground and resolves when it has stopped (it handles SIGTERM/SIGINT itself). */
  startNode (config: NodeConfig, opts: StartOptions): Promise<void>
  readonly cluster: ClusterActions
  readonly kv: KvActions
  readonly ops: OpsActions
  readonly lease: LeaseActions
}

function notWired (command: string): () => Promise<never> {
  return async () => { throw new NotAvailableError(command) }
}

/** Actions of a build where nothing is wired yet: every call fails with NotAvailableError (exit code 1). */
export function notWiredActions (): CliActions {
  return {
    createIdentity: null,
    startNode: notWired('start'),
    cluster: {
      init: notWired('cluster init'),
      status: notWired('cluster status'),
      health: notWired('cluster health'),
      addLearner: notWired('cluster add-learner'),
      promote: notWired('cluster promote'),
      changeMembership: notWired('cluster change-membership'),
      remove: notWired('cluster remove'),
      transferLeader: notWired('cluster transfer-leader'),
      snapshot: notWired('cluster snapshot'),
      ticket: notWired('cluster ticket'),
      metrics: notWired('cluster metrics'),
      backup: notWired('cluster backup')
    },
    kv: {
      put: notWired('kv put'),
      get: notWired('kv get'),
      del: notWired('kv del'),
      scan: notWired('kv scan'),
      cas: notWired('kv cas'),
      txn: notWired('kv txn'),
      watch: notWired('kv watch')
    },
    lease: {
      grant: notWired('lease grant'),
      keepAlive: notWired('lease keep-alive'),
      revoke: notWired('lease revoke'),
      list: notWired('lease list'),
      timeToLive: notWired('lease time-to-live')
    },
    ops: {
      restore: notWired('restore'),
      recoverInspect: notWired('recover --inspect'),
      recoverForceNewCluster: notWired('recover --force-new-cluster')
    }
  }
}
