// Client side of `aspen cluster backup`: pulls a consistent snapshot from the leader piece by piece and writes it
// as a backup file atomically (a temporary file beside the target, fsync, rename, fsync of the directory), so the
// target path holds either nothing or a whole, checksummed backup — never a partial one.
import { open, rename, rm } from 'node:fs/promises'
import { basename, dirname, join } from 'node:path'
import { BackupEncoder, type BackupHeader } from '../api/backup-format.js'
import { AspenError } from '../errors.js'

/** Progress of a running backup. */
export interface BackupProgress {
  readonly index: number
  readonly chunks: number
  readonly bytes: number
}

export interface BackupOptions {
  /** Deadline of each request in ms. */
  timeoutMs?: number
  /** Called after each chunk is written. */
  onProgress?: (p: BackupProgress) => void
  /** Aborts the backup (the temporary file is removed, the target untouched). */
  signal?: AbortSignal
}

export interface BackupResult {
  readonly path: string
  readonly bytes: number
  readonly index: number
  readonly term: number
  readonly chunks: number
  readonly clusterId: string
}

/** What writeBackup needs of a client. */
export interface BackupCaller {
  call (method: string, body: Uint8Array, opts: { timeoutMs?: number, idempotent?: boolean }): Promise<Uint8Array>
}

/** The backup could not be completed. */
export class BackupFailedError extends AspenError {
  readonly code = 'BACKUP_FAILED'
}

/** How often a backup restarts when its session is lost (leader change, idle expiry). */
const MAX_ATTEMPTS = 3
/** Most chunks one backup may have (4 TiB at the store's ~1 MiB chunks): a runaway stream is a bug. */
const MAX_CHUNKS = 4 * 1024 * 1024

const enc = new TextEncoder()
const json = (o: unknown): Uint8Array => enc.encode(JSON.stringify(o))

/** Streams a backup of the cluster reached through `c` into `out`, atomically. */
export async function writeBackup (c: BackupCaller, out: string, opts: BackupOptions = {}): Promise<BackupResult> {
  let lastErr: unknown
  for (let attempt = 1; attempt <= MAX_ATTEMPTS; attempt++) {
    try {
      return await attemptBackup(c, out, opts)
    } catch (err) {
      lastErr = err
      // only a lost session is worth a fresh start; anything else is reported as it is
      if (!(err instanceof AspenError && err.code === 'BACKUP_SESSION') || opts.signal?.aborted === true) throw err
    }
  }
  throw new BackupFailedError(`backup failed ${MAX_ATTEMPTS} times: ${lastErr instanceof Error ? lastErr.message : String(lastErr)}`, { cause: lastErr })
}

async function attemptBackup (c: BackupCaller, out: string, opts: BackupOptions): Promise<BackupResult> {
  const timeoutMs = opts.timeoutMs
  const opened = JSON.parse(new TextDecoder().decode(await c.call('cluster.backup.open', json({}), { timeoutMs }))) as { id: string, header: BackupHeader }
  const { id, header } = opened
  const tmp = join(dirname(out), `.${basename(out)}.tmp-${process.pid}-${Date.now()}`)
  const fh = await open(tmp, 'wx', 0o600)
  let renamed = false
  try {
    const encoder = new BackupEncoder()
    let bytes = 0
    const write = async (b: Uint8Array): Promise<void> => { await fh.write(b); bytes += b.length }
    await write(encoder.preamble(header))
    let chunks = 0
    while (true) {
      opts.signal?.throwIfAborted()
      const chunk = await c.call('cluster.backup.next', json({ id }), { timeoutMs, idempotent: false })
      if (chunk.length === 0) break
      if (++chunks > MAX_CHUNKS) throw new BackupFailedError(`backup stream exceeds ${MAX_CHUNKS} chunks`)
      await write(encoder.chunk(chunk))
      opts.onProgress?.({ index: header.index, chunks, bytes })
    }
    if (chunks === 0) throw new BackupFailedError('the node sent no snapshot chunk')
    await write(encoder.trailer())
    await fh.sync()
    await fh.close()
    await rename(tmp, out)
    renamed = true
    await syncDir(dirname(out))
    return { path: out, bytes, index: header.index, term: header.term, chunks, clusterId: header.clusterId }
  } finally {
    await fh.close().catch(() => {})
    if (!renamed) await rm(tmp, { force: true })
    await c.call('cluster.backup.close', json({ id }), { timeoutMs }).catch(() => {})
  }
}

/** fsync of a directory, so a rename in it is durable. */
async function syncDir (dir: string): Promise<void> {
  const d = await open(dir, 'r')
  try {
    await d.sync()
  } finally {
    await d.close()
  }
}
