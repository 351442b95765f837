// Disaster recovery on a stopped node's data dir (`aspen recover`).
//
// --inspect reports what the data dir holds (last term and index, commit, membership) so the operator can pick
// the most up-to-date survivor: the highest (last term, last index) — the same order Raft's election uses.
//
// --force-new-cluster makes the survivor the only voter WITHOUT dropping anything it holds. It appends, after its
// last entry, ordinary one-step conf change entries (leave a joint config if one is pending, make itself a voter
// if it was a learner, then remove every other member one at a time) in a new term, and marks everything up to
// the last of them committed. On start the node applies its whole tail — entries the old cluster may have
// acknowledged but this node never saw committed included — and then the conf changes, and elects itself.
// etcd's --force-new-cluster drops the entries after its commit index; we keep them: the survivor's log is a
// prefix-consistent extension of every committed entry it has, and an acknowledged write whose entry reached
// this node is kept even if the commit notice did not.
//
// The cluster id (derived from the cookie) does not change: what must not happen is an old member rejoining with
// its stale log, and that is prevented by the membership itself — every other node id is released by the conf
// changes (their peers are refused), and a node comes back only through `cluster add-learner` with a fresh data
// dir. The old nodes' data dirs must be wiped before they are re-added.
import { existsSync } from 'node:fs'
import { join } from 'node:path'
import { AspenError } from '../errors.js'
import { decodeConfChange, encodeConfChange } from '../raft/index.js'
import { Changer, restoreConfig, type ConfigAndProgress } from '../raft/confchange.js'
import { configToConfState } from '../raft/tracker.js'
import type { ConfChange, ConfChangeSingle, ConfState, Entry } from '../raft/types.js'
import { NodeRegistry, NotInitializedError, RaftStore } from '../store/index.js'
import { loadOrCreateIdentity } from '../p2p/index.js'
import type { NodeConfig } from './config.js'
import { encodeContext, type MemberBinding } from './members.js'

/** The data dir holds no cluster state to recover from. */
export class NothingToRecoverError extends AspenError {
  readonly code = 'NOTHING_TO_RECOVER'
  readonly hint = 'recover from a node that was a member of the cluster (check it with `aspen recover --inspect`)'
}

export interface MembershipView { voters: number[], learners: number[], votersOutgoing: number[] }

/** What `recover --inspect` finds in a data dir. */
export interface InspectReport {
  dataDir: string
  nodeId: number | null
  peerId: string | null
  clusterId: string | null
  term: number
  /** Term of the last log entry: with lastIndex, the order in which survivors are compared. */
  lastTerm: number
  commitIndex: number
  appliedIndex: number
  lastIndex: number
  /** Membership as applied, and as it will be once the whole log is applied (they differ while a change is pending). */
  membership: MembershipView | null
  membershipAtLastIndex: MembershipView | null
  chainOk: boolean
  problems: string[]
}

const view = (cs: ConfState): MembershipView => ({ voters: [...cs.voters], learners: [...cs.learners], votersOutgoing: [...cs.votersOutgoing] })

/** The configuration after applying every conf change entry of the log tail (applied, last]. */
function configAtLastIndex (store: RaftStore): ConfigAndProgress {
  const st = store.status()
  let cur = restoreConfig(store.appliedConfState(), st.lastIndex, 1, 0)
  for (const e of store.recovered().entries) {
    if (e.index <= st.applied || e.type !== 'confChange') continue
    cur = new Changer(cur, st.lastIndex, 1, 0).apply(decodeConfChange(e.data))
  }
  return cur
}

/** Reads a stopped node's data dir (verifying its hash chain) and reports its state; changes nothing. */
export async function inspectDataDir (dataDir: string, clusterId: string | null): Promise<InspectReport> {
  const empty: InspectReport = {
    dataDir, nodeId: null, peerId: null, clusterId, term: 0, lastTerm: 0, commitIndex: 0, appliedIndex: 0, lastIndex: 0,
    membership: null, membershipAtLastIndex: null, chainOk: false, problems: []
  }
  if (!existsSync(join(dataDir, 'raft'))) return { ...empty, chainOk: true, problems: [`no store in ${dataDir} (the node never started, or its data was deleted)`] }
  let store: RaftStore
  try {
    store = await RaftStore.open(dataDir, { create: false })
  } catch (err) {
    if (err instanceof NotInitializedError) return { ...empty, chainOk: true, problems: [err.message] }
    // corruption, a lock held by a running node, an unknown format: say which, with nothing else known
    return { ...empty, problems: [err instanceof Error ? `${(err as { code?: string }).code ?? 'ERROR'}: ${err.message}` : String(err)] }
  }
  try {
    const st = store.status()
    const hs = store.hardState()
    const problems: string[] = []
    let atLast: MembershipView | null = null
    try {
      atLast = view(configToConfState(configAtLastIndex(store).config))
    } catch (err) {
      problems.push(`the conf changes of the log tail do not apply: ${err instanceof Error ? err.message : String(err)}`)
    }
    const applied = store.appliedConfState()
    return {
      dataDir,
      nodeId: store.nodeId === 0 ? null : store.nodeId,
      peerId: store.getPeerId() ?? null,
      clusterId,
      term: hs.term,
      lastTerm: st.lastTerm,
      commitIndex: hs.commit,
      appliedIndex: st.applied,
      lastIndex: st.lastIndex,
      membership: applied.voters.length === 0 && applied.learners.length === 0 ? null : view(applied),
      membershipAtLastIndex: atLast,
      chainOk: true,
      problems
    }
  } finally {
    await store.close()
  }
}

export interface ForceNewClusterOutcome {
  nodeId: number
  membership: MembershipView
  /** Commit index before; every entry up to lastIndex is now committed (entriesKept were beyond the old commit). */
  oldCommit: number
  lastIndex: number
  entriesKept: number
  /** Node ids removed from the membership. */
  removed: number[]
  /** Term of the appended conf change entries. */
  term: number
}

/**
 * Makes the stopped node of `config` the only voter of its cluster, keeping its whole log (see the file comment).
 * Writes one synced batch through the store (chain hashes continue); nothing is applied until the node starts.
 */
export async function forceNewCluster (config: NodeConfig): Promise<ForceNewClusterOutcome> {
  const self = config.nodeId
  const store = await RaftStore.open(config.dataDir, { create: false, nodeId: self })
  try {
    const st = store.status()
    const hs = store.hardState()
    let cur = configAtLastIndex(store)
    const cs0 = configToConfState(cur.config)
    if (st.lastIndex === 0 || (cs0.voters.length === 0 && cs0.learners.length === 0)) {
      throw new NothingToRecoverError(`the data dir ${config.dataDir} holds no cluster state (last index ${st.lastIndex})`)
    }
    const peerId = store.getPeerId() ?? (await loadOrCreateIdentity(config.dataDir, { secretKey: config.secretKey })).peerId.toString()
    const binding: MemberBinding = { nodeId: self, peerId, storeId: store.storeId, addrs: [] }
    // One-step changes only: the old voters are gone, so a joint configuration could never be left again.
    const steps: Array<{ changes: ConfChangeSingle[], released: number[] }> = []
    if (cs0.votersOutgoing.length > 0) steps.push({ changes: [], released: [] })
    if (!cs0.voters.includes(self)) steps.push({ changes: [{ type: 'addNode', nodeId: self }], released: [] })
    const others = [...new Set([...cs0.voters, ...cs0.votersOutgoing, ...cs0.learners, ...cs0.learnersNext])].filter(id => id !== self).sort((a, b) => a - b)
    for (const id of others) steps.push({ changes: [{ type: 'removeNode', nodeId: id }], released: [id] })
    const term = Math.max(hs.term, st.lastTerm) + 1
    const at = Date.now()
    const entries: Entry[] = steps.map((s, i) => {
      const cc: ConfChange = {
        transition: 'auto',
        changes: s.changes,
        // voterChange false: a recovery is the operator's decision and must not hold back re-adding the members
        context: encodeContext({ v: 1, at, voterChange: false, bindings: i === 0 ? [binding] : [], released: s.released, forced: ['force-new-cluster'] })
      }
      // the core will apply exactly these: check now that each one applies, rather than fail at start-up
      cur = new Changer(cur, st.lastIndex, 1, 0).apply(cc)
      return { index: st.lastIndex + 1 + i, term, type: 'confChange', data: encodeConfChange(cc) }
    })
    const final = configToConfState(cur.config)
    if (final.voters.length !== 1 || final.voters[0] !== self || final.learners.length > 0 || final.votersOutgoing.length > 0) {
      throw new NothingToRecoverError(`recovery would leave voters [${final.voters.join(',')}] learners [${final.learners.join(',')}], not node ${self} alone`)
    }
    const newLast = st.lastIndex + entries.length
    await store.persist({ entries, hardState: { term, vote: 0, commit: newLast }, committedEntries: [] })
    const registry = await NodeRegistry.open(config.dataDir)
    try {
      await registry.upsert({ nodeId: self, peerId, addrs: [], lastSeen: 0, storeId: store.storeId })
    } finally {
      await registry.close()
    }
    return { nodeId: self, membership: view(final), oldCommit: hs.commit, lastIndex: st.lastIndex, entriesKept: st.lastIndex - hs.commit, removed: others, term }
  } finally {
    await store.close()
  }
}
