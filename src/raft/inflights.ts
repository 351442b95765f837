// The per-follower sliding window of in-flight AppendEntries (index of each message's last entry, and its bytes).
// A full window pauses optimistic replication to that follower until acknowledgements free slots.

import { invariant } from '../errors.js'

/** A ring buffer of in-flight append messages, bounded by count and (optionally) bytes. */
export class Inflights {
  private start = 0
  private count_ = 0
  private bytes_ = 0
  private readonly indexes: number[] = []
  private readonly sizes: number[] = []

  /** size: max messages in flight (> 0); maxBytes: max bytes in flight, 0 = unlimited. */
  constructor (readonly size: number, readonly maxBytes = 0) {
    invariant(Number.isInteger(size) && size > 0, () => `inflights size must be a positive integer, got ${size}`)
  }

  /** A copy with the same content. */
  clone (): Inflights {
    const c = new Inflights(this.size, this.maxBytes)
    for (let i = 0; i < this.count_; i++) {
      const k = (this.start + i) % this.size
      c.add(this.indexes[k], this.sizes[k])
    }
    return c
  }

  /** Records a message whose last entry is `index` carrying `bytes` payload bytes. */
  add (index: number, bytes: number): void {
    invariant(!this.full(), 'cannot add into a full inflights')
    if (this.count_ > 0) {
      const lastK = (this.start + this.count_ - 1) % this.size
      invariant(index > this.indexes[lastK], () => `inflight index ${index} not above previous ${this.indexes[lastK]}`)
    }
    const k = (this.start + this.count_) % this.size
    this.indexes[k] = index
    this.sizes[k] = bytes
    this.count_++
    this.bytes_ += bytes
  }

  /** Frees every message whose last index is ≤ to (they were acknowledged). */
  freeLE (to: number): void {
    let k = this.start
    let i = 0
    let bytes = 0
    for (; i < this.count_; i++) {
      if (to < this.indexes[k]) break
      bytes += this.sizes[k]
      k = (k + 1) % this.size
    }
    this.count_ -= i
    this.bytes_ -= bytes
    this.start = this.count_ === 0 ? 0 : k
  }

  /** True if no more messages may be sent. */
  full (): boolean {
    return this.count_ === this.size || (this.maxBytes !== 0 && this.bytes_ >= this.maxBytes)
  }

  /** Messages in flight. */
  count (): number {
    return this.count_
  }

  /** Bytes in flight. */
  bytes (): number {
    return this.bytes_
  }

  /** Forgets everything in flight. */
  reset (): void {
    this.start = 0
    this.count_ = 0
    this.bytes_ = 0
  }
}
