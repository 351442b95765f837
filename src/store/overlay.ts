// The view the state machine applies against: the KV state as of the last synced batch (the base) plus the
// writes of this batch so far, layered so one transaction's writes can be dropped if it fails part-way.
import { compareBytes } from '../api/kv.js'
import { bytesId } from './keys.js'
import type { KvRecord } from './records.js'

/** `peek` result for a key whose state is not in memory (it must be read with `get`). */
export const NOT_LOADED = Symbol('not loaded')

/** Read access to the base state (what is on disk before this batch). */
export interface KvSource {
  /** The record of `key` if it is known without I/O (prefetched or cached): record, undefined = absent, or NOT_LOADED. */
  peek: (id: string) => KvRecord | undefined | typeof NOT_LOADED
  /** The record of `key` (`id` = bytesId(key)), or undefined. */
  get: (id: string, key: Uint8Array) => Promise<KvRecord | undefined>
  /** Records in [start, end) in key order (empty end = unbounded). Consumers may stop early (return() closes it). */
  scan: (start: Uint8Array, end: Uint8Array) => AsyncGenerator<{ key: Uint8Array, rec: KvRecord }>
}

interface Pending {
  id: string
  key: Uint8Array
  rec: KvRecord | null
}

/** A write layer over a KvSource (or over another layer). `null` marks a delete. */
export class Overlay {
  private readonly writes = new Map<string, Pending>()

  constructor (private readonly base: KvSource, private readonly parent?: Overlay) {}

  /** A child layer whose writes become visible here only on `commit()`. */
  child (): Overlay {
    return new Overlay(this.base, this)
  }

  private lookup (id: string): Pending | undefined {
    return this.writes.get(id) ?? this.parent?.lookup(id)
  }

  /** The current record of `key` without I/O, or NOT_LOADED when it would need a read. */
  peek (key: Uint8Array): KvRecord | undefined | typeof NOT_LOADED {
    const id = bytesId(key)
    const p = this.lookup(id)
    if (p !== undefined) return p.rec ?? undefined
    return this.base.peek(id)
  }

  /** The current record of `key`. */
  async get (key: Uint8Array): Promise<KvRecord | undefined> {
    const id = bytesId(key)
    const p = this.lookup(id)
    if (p !== undefined) return p.rec ?? undefined
    return await this.base.get(id, key)
  }

  /** Sets (or with null deletes) `key` in this layer. */
  set (key: Uint8Array, rec: KvRecord | null): void {
    const id = bytesId(key)
    this.writes.set(id, { id, key, rec })
  }

  /** Moves this layer's writes into its parent (in write order). */
  commit (): void {
    if (this.parent === undefined) throw new Error('root overlay cannot commit')
    for (const p of this.writes.values()) this.parent.writes.set(p.id, p)
    this.writes.clear()
  }

  /** Every pending write of this layer and its ancestors, the nearest layer winning. */
  private collect (into: Map<string, Pending>): void {
    this.parent?.collect(into)
    for (const [id, p] of this.writes) into.set(id, p)
  }

  /** The final writes of this (root) layer in insertion order: what the batch must store. */
  pending (): Iterable<{ id: string, key: Uint8Array, rec: KvRecord | null }> {
    return this.writes.values()
  }

  /** Merged, ordered records in [start, end): base records overridden by pending writes, deletes hidden. */
  async * scan (start: Uint8Array, end: Uint8Array): AsyncGenerator<{ key: Uint8Array, rec: KvRecord }> {
    const all = new Map<string, Pending>()
    this.collect(all)
    const startId = bytesId(start)
    const endId = end.length === 0 ? undefined : bytesId(end)
    const mine: Pending[] = []
    for (const p of all.values()) {
      if (p.id >= startId && (endId === undefined || p.id < endId)) mine.push(p)
    }
    mine.sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0))
    let i = 0
    for await (const b of this.base.scan(start, end)) {
      // pending keys before this base key come first
      while (i < mine.length && compareBytes(mine[i].key, b.key) < 0) {
        const p = mine[i++]
        if (p.rec !== null) yield { key: p.key, rec: p.rec }
      }
      if (i < mine.length && compareBytes(mine[i].key, b.key) === 0) {
        const p = mine[i++]
        if (p.rec !== null) yield { key: p.key, rec: p.rec }
        continue
      }
      yield b
    }
    while (i < mine.length) {
      const p = mine[i++]
      if (p.rec !== null) yield { key: p.key, rec: p.rec }
    }
  }
}
