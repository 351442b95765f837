// A FIFO bounded by item count and bytes that makes room by dropping its OLDEST items. For Raft traffic the newest
// message is the most useful one (a newer heartbeat or append supersedes an older one) and any drop is safe.
import { invariant } from '../errors.js'

/** Bounded FIFO that evicts from the head when full. */
export class DropOldestQueue<T> {
  private items: T[] = []
  private sizes: number[] = []
  private head = 0
  private totalBytes = 0

  constructor (readonly maxItems: number, readonly maxBytes: number, private readonly sizeOf: (item: T) => number) {
    invariant(maxItems > 0 && maxBytes > 0, 'queue limits must be positive')
  }

  get length (): number {
    return this.items.length - this.head
  }

  get bytes (): number {
    return this.totalBytes
  }

  /** Appends `item`; returns how many old items were dropped to make room. */
  push (item: T): number {
    const size = this.sizeOf(item)
    this.items.push(item)
    this.sizes.push(size)
    this.totalBytes += size
    let dropped = 0
    // Never drop the item just pushed: a single message larger than maxBytes still goes out on its own.
    while (this.length > 1 && (this.length > this.maxItems || this.totalBytes > this.maxBytes)) {
      this.dropHead()
      dropped++
    }
    return dropped
  }

  /** Removes and returns items from the head while their total stays ≤ maxBytes (at least one if not empty). */
  take (maxBytes: number): T[] {
    const out: T[] = []
    let bytes = 0
    while (this.length > 0) {
      const size = this.sizes[this.head]
      if (out.length > 0 && bytes + size > maxBytes) break
      bytes += size
      out.push(this.items[this.head])
      this.dropHead()
    }
    this.compact()
    return out
  }

  /** Removes everything; returns how many items there were. */
  clear (): number {
    const n = this.length
    this.items = []
    this.sizes = []
    this.head = 0
    this.totalBytes = 0
    return n
  }

  private dropHead (): void {
    this.totalBytes -= this.sizes[this.head]
    this.items[this.head] = undefined as T
    this.head++
    this.compact()
  }

  private compact (): void {
    if (this.head > 1024 && this.head * 2 > this.items.length) {
      this.items = this.items.slice(this.head)
      this.sizes = this.sizes.slice(this.head)
      this.head = 0
    }
    if (this.head === this.items.length) {
      this.items = []
      this.sizes = []
      this.head = 0
    }
  }
}
