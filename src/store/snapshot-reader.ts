// Streams the KV state of one LevelDB snapshot as self-describing chunks (see snapshot-stream.ts). Memory stays
// bounded by one chunk: records are read in pages and packed as they come; nothing is copied as a whole.
import { createHash } from 'node:crypto'
import type { ClassicLevel, Snapshot } from 'classic-level'
import { genPrefix, kvBounds, leaseIdOf, TABLE_LEASES, userKeyOf } from './keys.js'
import { leaseIdBytes } from './leases.js'
import type { StoreSnapshotMetadata } from './raft-store.js'
import { CHUNK_TARGET_BYTES, chunkChecksum, encodeChunk, packRecords } from './snapshot-stream.js'
import { SnapshotError } from './errors.js'

const EMPTY = new Uint8Array(0)

/** A one-shot reader: iterate `chunks()` (or the reader itself) once, then it closes itself. */
export class SnapshotReader implements AsyncIterable<Uint8Array> {
  private started = false
  private closed = false
  private iterator: { close: () => Promise<void> } | undefined
  /** Whole-stream checksum (hex), set once the last chunk has been produced. */
  checksum: string | undefined
  /** Keys streamed so far. */
  keys = 0
  /** Record bytes streamed so far. */
  bytes = 0
  /** Chunks produced so far. */
  chunkCount = 0
  /** Leases streamed (in the last chunk). */
  leaseCount = 0

  constructor (
    private readonly db: ClassicLevel<Buffer, Buffer>,
    private readonly snapshot: Snapshot,
    private readonly gen: number,
    /** The state the chunks describe: the applied index, term, configuration and hashes of the snapshot. */
    readonly meta: StoreSnapshotMetadata,
    private readonly onClose: () => void
  ) {}

  /** The encoded chunks, each carrying its own checksum; the last carries the totals. */
  async * chunks (): AsyncGenerator<Uint8Array> {
    if (this.started) throw new SnapshotError('a snapshot reader can be iterated only once')
    if (this.closed) throw new SnapshotError('snapshot reader is closed')
    this.started = true
    const total = createHash('sha256')
    const it = this.db.iterator({ ...kvBounds(this.gen, EMPTY, EMPTY), snapshot: this.snapshot, highWaterMarkBytes: 1024 * 1024 })
    this.iterator = it
    let records: Array<{ key: Uint8Array, value: Uint8Array }> = []
    let size = 0
    const chunk = (last: boolean, leases: Buffer = Buffer.alloc(0)): Uint8Array => {
      const packed = packRecords(records)
      total.update(packed)
      total.update(leases)
      this.bytes += packed.length
      const totalChecksum = last ? total.digest() : Buffer.alloc(0)
      if (last) this.checksum = totalChecksum.toString('hex')
      const bytes = encodeChunk({
        index: this.meta.index,
        term: this.meta.term,
        seq: this.chunkCount++,
        records: packed,
        checksum: chunkChecksum(packed, leases),
        last,
        totalChecksum,
        totalKeys: last ? this.keys : 0,
        totalBytes: last ? this.bytes : 0,
        leases,
        totalLeases: last ? this.leaseCount : 0
      })
      records = []
      size = 0
      return bytes
    }
    try {
      while (true) {
        const page = await it.nextv(4096)
        if (page.length === 0) break
        for (const [k, v] of page) {
          const key = userKeyOf(k)
          records.push({ key, value: v })
          size += key.length + v.length + 8
          this.keys++
          if (size >= CHUNK_TARGET_BYTES) yield chunk(false)
        }
      }
      yield chunk(true, await this.leaseRecords())
    } finally {
      await it.close()
      await this.close()
    }
  }

  /** The lease table of the snapshot, packed (bounded by MAX_LEASES small records). */
  private async leaseRecords (): Promise<Buffer> {
    const records: Array<{ key: Uint8Array, value: Uint8Array }> = []
    const it = this.db.iterator({ gte: genPrefix(TABLE_LEASES, this.gen), lt: genPrefix(TABLE_LEASES, this.gen + 1), snapshot: this.snapshot })
    try {
      for await (const [k, v] of it) records.push({ key: leaseIdBytes(leaseIdOf(k)), value: v })
    } finally {
      await it.close()
    }
    this.leaseCount = records.length
    return packRecords(records)
  }

  [Symbol.asyncIterator] (): AsyncIterator<Uint8Array> {
    return this.chunks()
  }

  /** Releases the iterator and the LevelDB snapshot, also when a consumer stopped pulling mid-stream. Idempotent. */
  async close (): Promise<void> {
    if (this.closed) return
    this.closed = true
    this.onClose()
    // the snapshot waits for the iterator that references it: close that first
    await this.iterator?.close()
    await this.snapshot.close()
  }
}
