// `aspen restore`: fill a stopped node's data dir from a backup file, making it the only voter of a new cluster
// that holds the backup's keys. The file is verified whole (sha256 trailer) before anything is written; the
// store then installs the chunks with its crash-safe snapshot install (verified again chunk by chunk).
//
// Cluster identity: the cluster id is derived from the cookie in the node's config (it names the network:
// discovery topic, pnet key, tickets). Restoring with a new cookie gives a new cluster id (a clone beside a running
// original); restoring with the old cookie replaces a lost cluster under the same id (clients keep working).
import { createReadStream, existsSync } from 'node:fs'
import { rm } from 'node:fs/promises'
import { join } from 'node:path'
import { BackupFormatError, readBackup, type BackupHeader } from '../api/backup-format.js'
import { AspenError } from '../errors.js'
import { deriveClusterKeys, loadOrCreateIdentity } from '../p2p/index.js'
import { NodeRegistry, RaftStore } from '../store/index.js'
import { decodeChunk } from '../store/snapshot-stream.js'
import type { NodeConfig } from './config.js'

/** The data dir already holds cluster data and --force was not given. */
export class DataDirNotEmptyError extends AspenError {
  readonly code = 'DATA_DIR_NOT_EMPTY'
  readonly hint = 'restore into a fresh data dir (`aspen init`), or pass --force to replace what it holds'
}

export interface RestoreOutcome {
  readonly dataDir: string
  readonly nodeId: number
  /** Index (and term) the backup was consistent at; the restored node starts from there. */
  readonly index: number
  readonly term: number
  readonly keys: number
  /** Cluster id of the new cluster (from this node's cookie) and of the cluster the backup came from. */
  readonly clusterId: string
  readonly sourceClusterId: string
  readonly createdAt: string
}

/** Reads the whole file once: header, key count, checksum. Throws the typed Backup*Error of the first problem. */
export async function verifyBackupFile (path: string): Promise<{ header: BackupHeader, keys: number, chunks: number }> {
  let header: BackupHeader | undefined
  let keys = 0
  let chunks = 0
  let lastSeen = false
  for await (const item of readBackup(createReadStream(path, { highWaterMark: 1024 * 1024 }))) {
    if (item.kind === 'header') { header = item.header; continue }
    const c = decodeChunk(item.bytes)
    chunks++
    if (c.last) { keys = c.totalKeys; lastSeen = true }
  }
  if (header === undefined || !lastSeen) throw new BackupFormatError('the backup has no last snapshot chunk')
  return { header, keys, chunks }
}

async function chunksOf (path: string): Promise<AsyncIterable<Uint8Array>> {
  return (async function * () {
    for await (const item of readBackup(createReadStream(path, { highWaterMark: 1024 * 1024 }))) {
      if (item.kind === 'chunk') yield item.bytes
    }
  })()
}

/** True when the store of `dataDir` holds any cluster state (log, applied state or membership). */
async function holdsData (dataDir: string): Promise<boolean> {
  if (!existsSync(join(dataDir, 'raft'))) return false
  let store: RaftStore
  try {
    store = await RaftStore.open(dataDir, { create: false })
  } catch (err) {
    // an unreadable store is data too: only --force may replace it
    if (err instanceof AspenError && err.code === 'NOT_INITIALIZED') return false
    return true
  }
  try {
    const st = store.status()
    return st.lastIndex > 0 || st.applied > 0 || store.appliedConfState().voters.length > 0
  } finally {
    await store.close()
  }
}

/**
 * Restores the backup `from` into the (stopped) node of `config`: verifies the file, refuses a data dir holding
 * data unless `force`, installs the keys at the backup's index with this node as the only voter, and records the
 * node's identity and binding so it starts as the leader of a one-voter cluster.
 */
export async function restoreBackup (config: NodeConfig, from: string, force: boolean): Promise<RestoreOutcome> {
  const { header, keys } = await verifyBackupFile(from)
  const dir = config.dataDir
  if (await holdsData(dir)) {
    if (!force) throw new DataDirNotEmptyError(`the data dir ${dir} already holds cluster data`)
    await rm(join(dir, 'raft'), { recursive: true, force: true })
    await rm(join(dir, 'meta'), { recursive: true, force: true })
  }
  const identity = await loadOrCreateIdentity(dir, { secretKey: config.secretKey })
  const peerId = identity.peerId.toString()
  const store = await RaftStore.open(dir, { nodeId: config.nodeId, create: true })
  try {
    await store.setPeerId(peerId)
    const self = config.nodeId
    await store.installSnapshot({
      index: header.index,
      term: header.term,
      // a new cluster of one voter: the source's members are not part of it
      confState: { voters: [self], learners: [], votersOutgoing: [], learnersNext: [], autoLeave: false },
      chainHash: header.chainHash,
      stateHash: header.stateHash
    }, await chunksOf(from))
    const registry = await NodeRegistry.open(dir)
    try {
      await registry.upsert({ nodeId: self, peerId, addrs: [], lastSeen: 0, storeId: store.storeId })
    } finally {
      await registry.close()
    }
  } finally {
    await store.close()
  }
  return {
    dataDir: dir,
    nodeId: config.nodeId,
    index: header.index,
    term: header.term,
    keys,
    clusterId: deriveClusterKeys(config.cookie).clusterId,
    sourceClusterId: header.clusterId,
    createdAt: header.createdAt
  }
}
