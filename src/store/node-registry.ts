// DATA_DIR/meta: what this node knows about cluster members (node id → peer id, addresses, last seen), kept apart
// from the Raft database so it can be rewritten freely (it is advisory: Raft membership is the truth).
import { mkdir } from 'node:fs/promises'
import { join } from 'node:path'
import { ClassicLevel } from 'classic-level'
import { invariant } from '../errors.js'
import { DataDirLockedError, StoreClosedError } from './errors.js'
import { readU64, writeU64 } from './keys.js'
import { NodeRecord } from './store-wire.js'
import { DecodeError } from '../api/errors.js'

/** A known member. */
export interface NodeInfo {
  nodeId: number
  peerId: string
  addrs: string[]
  /** Milliseconds since the epoch. */
  lastSeen: number
  /** The store UUID of the node's data dir as recorded with its membership ('' or absent = unknown). */
  storeId?: string
}

/** Most addresses kept per node. */
export const MAX_NODE_ADDRS = 32
/** Most nodes kept. */
export const MAX_NODES = 10_000

function nodeKey (nodeId: number): Buffer {
  const k = Buffer.allocUnsafe(9)
  k[0] = 0x6e // 'n'
  writeU64(k, 1, nodeId)
  return k
}

const NODE_RANGE = { gte: Buffer.from([0x6e]), lt: Buffer.from([0x6f]) }
/** When the voter set last changed (wall-clock ms of the proposing leader), so a restarted node keeps the cooldown. */
const VOTER_CHANGE_KEY = Buffer.from([0x76]) // 'v'

/** The node registry of one data dir. */
export class NodeRegistry {
  private closed = false

  private constructor (private readonly db: ClassicLevel<Buffer, Buffer>, readonly dataDir: string) {}

  /** Opens (creating) DATA_DIR/meta; DataDirLockedError when another process has it open. */
  static async open (dataDir: string): Promise<NodeRegistry> {
    const dir = join(dataDir, 'meta')
    await mkdir(dir, { recursive: true })
    const db = new ClassicLevel<Buffer, Buffer>(dir, { keyEncoding: 'buffer', valueEncoding: 'buffer' })
    try {
      await db.open()
    } catch (err) {
      const e = err as { code?: string, cause?: { code?: string } }
      if (e?.cause?.code === 'LEVEL_LOCKED' || e?.code === 'LEVEL_LOCKED') throw new DataDirLockedError(dataDir, { cause: err })
      throw err
    }
    return new NodeRegistry(db, dataDir)
  }

  private usable (): void {
    if (this.closed) throw new StoreClosedError(`node registry at ${this.dataDir} is closed`)
  }

  private decode (bytes: Uint8Array): NodeInfo {
    try {
      const r = NodeRecord.decode(bytes)
      const info: NodeInfo = { nodeId: r.nodeId, peerId: r.peerId, addrs: r.addrs, lastSeen: r.lastSeenMs }
      if (r.storeId !== '') info.storeId = r.storeId
      return info
    } catch (err) {
      throw new DecodeError(`node registry at ${this.dataDir} holds an undecodable record: ${(err as Error).message}`, { cause: err })
    }
  }

  /** Inserts or replaces the record of `info.nodeId` (synced). */
  async upsert (info: NodeInfo): Promise<void> {
    this.usable()
    invariant(Number.isSafeInteger(info.nodeId) && info.nodeId > 0, 'node id must be a positive integer')
    invariant(info.addrs.length <= MAX_NODE_ADDRS, () => `at most ${MAX_NODE_ADDRS} addresses per node`)
    invariant(Number.isSafeInteger(info.lastSeen) && info.lastSeen >= 0, 'lastSeen must be epoch milliseconds')
    const key = nodeKey(info.nodeId)
    if (await this.db.get(key) === undefined) {
      const n = await this.db.keys({ ...NODE_RANGE, limit: MAX_NODES }).all()
      invariant(n.length < MAX_NODES, () => `node registry is full (${MAX_NODES} nodes)`)
    }
    invariant((info.storeId ?? '').length <= 64, 'store id must be at most 64 characters')
    const value = NodeRecord.encode({ nodeId: info.nodeId, peerId: info.peerId, addrs: [...info.addrs], lastSeenMs: info.lastSeen, storeId: info.storeId ?? '' })
    await this.db.put(key, Buffer.from(value), { sync: true })
  }

  /** The record of `nodeId`, if any. */
  async get (nodeId: number): Promise<NodeInfo | undefined> {
    this.usable()
    const v = await this.db.get(nodeKey(nodeId))
    return v === undefined ? undefined : this.decode(v)
  }

  /** Every record, by node id. */
  async all (): Promise<NodeInfo[]> {
    this.usable()
    const out: NodeInfo[] = []
    for await (const [k, v] of this.db.iterator({ ...NODE_RANGE, limit: MAX_NODES })) {
      const info = this.decode(v)
      invariant(readU64(k, 1) === info.nodeId, 'registry key matches its record')
      out.push(info)
    }
    return out
  }

  /** Deletes the record of `nodeId` (no-op when absent). */
  async remove (nodeId: number): Promise<void> {
    this.usable()
    await this.db.del(nodeKey(nodeId), { sync: true })
  }

  /** Records when the voter set last changed (epoch ms from the conf change); an older time never replaces a newer one. */
  async setLastVoterChangeAt (ms: number): Promise<void> {
    this.usable()
    invariant(Number.isSafeInteger(ms) && ms >= 0, 'voter change time must be epoch milliseconds')
    const prev = await this.lastVoterChangeAt()
    if (prev !== undefined && prev >= ms) return
    const b = Buffer.allocUnsafe(8)
    writeU64(b, 0, ms)
    await this.db.put(VOTER_CHANGE_KEY, b, { sync: true })
  }

  /** When the voter set last changed, if known. */
  async lastVoterChangeAt (): Promise<number | undefined> {
    this.usable()
    const v = await this.db.get(VOTER_CHANGE_KEY)
    if (v === undefined) return undefined
    if (v.length !== 8) throw new DecodeError(`node registry at ${this.dataDir} holds a malformed voter-change record (${v.length} bytes)`)
    return readU64(v, 0)
  }

  /** Closes the database. Idempotent. */
  async close (): Promise<void> {
    if (this.closed) return
    this.closed = true
    await this.db.close()
  }
}
