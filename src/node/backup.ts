// The node's side of `aspen cluster backup`: a backup is pulled chunk by chunk over the ordinary request/response
// client protocol. `open` waits until everything committed when it arrived is applied, then pins one LevelDB
// snapshot of the applied state (the cluster keeps writing beside it); `next` hands out the following chunk;
// `close` (or the idle timeout) releases the snapshot. Sessions are few and bounded in time.
import { randomUUID } from 'node:crypto'
import { AspenError } from '../errors.js'
import type { BackupHeader } from '../api/backup-format.js'
import { BACKUP_FORMAT_VERSION } from '../api/backup-format.js'
import type { SnapshotReader } from '../store/index.js'

/** Most backups streamed by one node at once. */
export const MAX_BACKUP_SESSIONS = 4
/** A session nobody pulled from for this long is closed (its LevelDB snapshot pins old data). */
export const BACKUP_IDLE_MS = 60_000

/** The backup session is unknown here (expired, or the request reached another node after a leader change). */
export class BackupSessionError extends AspenError {
  readonly code = 'BACKUP_SESSION'
}

/** Too many backups are running on this node. */
export class BackupBusyError extends AspenError {
  readonly code = 'BACKUP_BUSY'
}

interface Session {
  reader: SnapshotReader
  chunks: AsyncGenerator<Uint8Array>
  lastUsed: number
  done: boolean
}

/** What `open` needs from the node. */
export interface BackupSource {
  readonly nodeId: number
  readonly clusterId: string
  /** Resolves once the applied index has reached the commit index seen at the call (or the deadline passed). */
  waitApplied (deadline: number): Promise<void>
  openReader (): Promise<SnapshotReader>
}

/** The backup sessions of one node. */
export class BackupSessions {
  private readonly sessions = new Map<string, Session>()
  private readonly sweeper: NodeJS.Timeout

  constructor (private readonly source: BackupSource, private readonly now: () => number = () => performance.now()) {
    this.sweeper = setInterval(() => { void this.sweep() }, 5_000)
    this.sweeper.unref()
  }

  /** Opens a session at the current committed state; returns its id and the backup header. */
  async open (deadline: number): Promise<{ id: string, header: BackupHeader }> {
    await this.sweep()
    if (this.sessions.size >= MAX_BACKUP_SESSIONS) throw new BackupBusyError(`node ${this.source.nodeId} is already streaming ${MAX_BACKUP_SESSIONS} backups; retry later`)
    await this.source.waitApplied(deadline)
    const reader = await this.source.openReader()
    const m = reader.meta
    if (m.index === 0) {
      await reader.close()
      throw new BackupSessionError('the cluster holds no committed state yet (run `aspen cluster init` first)')
    }
    const id = randomUUID()
    this.sessions.set(id, { reader, chunks: reader.chunks(), lastUsed: this.now(), done: false })
    const header: BackupHeader = {
      format: BACKUP_FORMAT_VERSION,
      clusterId: this.source.clusterId,
      sourceNodeId: this.source.nodeId,
      index: m.index,
      term: m.term,
      confState: m.confState,
      chainHash: m.chainHash,
      stateHash: m.stateHash,
      createdAt: new Date().toISOString()
    }
    return { id, header }
  }

  /** The next chunk of session `id`; an empty array once the last chunk was handed out. */
  async next (id: string): Promise<Uint8Array> {
    const s = this.sessions.get(id)
    if (s === undefined) throw new BackupSessionError(`backup session ${id} is not known to node ${this.source.nodeId} (expired, or leadership moved); start the backup again`)
    s.lastUsed = this.now()
    if (s.done) return new Uint8Array(0)
    const r = await s.chunks.next()
    s.lastUsed = this.now()
    if (r.done === true) { s.done = true; return new Uint8Array(0) }
    return r.value
  }

  /** Closes session `id` (idempotent). */
  async close (id: string): Promise<void> {
    const s = this.sessions.get(id)
    if (s === undefined) return
    this.sessions.delete(id)
    await s.chunks.return(undefined).catch(() => {})
    await s.reader.close().catch(() => {})
  }

  private async sweep (): Promise<void> {
    const t = this.now()
    for (const [id, s] of [...this.sessions]) if (t - s.lastUsed > BACKUP_IDLE_MS) await this.close(id)
  }

  /** Closes every session (node stop). */
  async closeAll (): Promise<void> {
    clearInterval(this.sweeper)
    for (const id of [...this.sessions.keys()]) await this.close(id)
  }
}
