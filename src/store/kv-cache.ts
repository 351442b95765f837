// A bounded write-through cache of KV records (encoded), so applying a batch rarely has to read LevelDB for the
// keys it touches. It mirrors the disk exactly: entries change only after the batch that wrote them is durable,
// and the whole cache is dropped when a snapshot install switches the KV generation. `null` caches "absent".
import { invariant } from '../errors.js'

/** Default bounds: entries and bytes of cached records. */
export const DEFAULT_CACHE_ENTRIES = 65_536
export const DEFAULT_CACHE_BYTES = 32 * 1024 * 1024

const ABSENT_COST = 16

/** Insertion-ordered (least recently written or read first) bounded map. */
export class KvCache {
  private readonly map = new Map<string, Buffer | null>()
  private bytes = 0

  constructor (private readonly maxEntries = DEFAULT_CACHE_ENTRIES, private readonly maxBytes = DEFAULT_CACHE_BYTES) {
    invariant(maxEntries >= 0 && maxBytes >= 0, 'cache bounds must be non-negative')
  }

  /** The cached record (null = known absent), or undefined when not cached. */
  get (id: string): Buffer | null | undefined {
    return this.map.get(id)
  }

  /** Records what the disk now holds for `id`. */
  set (id: string, rec: Buffer | null): void {
    const old = this.map.get(id)
    if (old !== undefined) {
      this.bytes -= old === null ? ABSENT_COST : old.length + id.length
      this.map.delete(id)
    }
    const cost = rec === null ? ABSENT_COST : rec.length + id.length
    if (cost > this.maxBytes / 16) return // never let one record take a large share
    this.map.set(id, rec)
    this.bytes += cost
    if (this.map.size > this.maxEntries || this.bytes > this.maxBytes) this.evict()
  }

  /**
   * Drops the oldest entries down to 7/8 of both bounds: one iterator per eviction round instead of one per entry
   * (a full cache under a write load otherwise evicts on every set, and that was a tenth of the apply path's CPU).
   */
  private evict (): void {
    const entries = this.maxEntries - (this.maxEntries >> 3)
    const bytes = this.maxBytes - (this.maxBytes >> 3)
    for (const [oldestId, oldest] of this.map) {
      if (this.map.size <= entries && this.bytes <= bytes) break
      this.map.delete(oldestId)
      this.bytes -= oldest === null ? ABSENT_COST : oldest.length + oldestId.length
    }
  }

  /** Forgets everything (the KV generation changed). */
  clear (): void {
    this.map.clear()
    this.bytes = 0
  }

  /** Number of cached keys. */
  get size (): number {
    return this.map.size
  }
}
