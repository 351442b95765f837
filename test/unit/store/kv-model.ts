// An independent in-memory reference of the KV state machine (etcd-like semantics as documented in src/api/kv.ts),
// used by the property tests and the crash tests to say what the store must contain. Deliberately naive: a Map
// plus sorting, no overlays, no LevelDB.
import type { Command, KeyValue, OpResponse, RequestOp, TxnResponse } from '../../../src/api/kv.js'
import { decodeCommand } from '../../../src/api/codec.js'
import { validateCommand } from '../../../src/api/validate.js'
import { MAX_PAGE_BYTES, MAX_PAGE_KEYS, MAX_REQUEST_BYTES } from '../../../src/api/limits.js'
import type { Entry } from '../../../src/raft/types.js'

export interface ModelRecord {
  value: Uint8Array
  createRevision: number
  modRevision: number
  version: number
  lease: number
}

function id (b: Uint8Array): string {
  return Buffer.from(b).toString('hex')
}

function cmp (a: Uint8Array, b: Uint8Array): number {
  return Buffer.compare(Buffer.from(a), Buffer.from(b))
}

class PageTooLarge extends Error {}

export type ModelResult = { ok: true, response: TxnResponse } | { ok: false, code: string }

/** The reference KV state. */
export class KvModel {
  kv = new Map<string, { key: Uint8Array, rec: ModelRecord }>()
  applied = 0

  clone (): KvModel {
    const m = new KvModel()
    m.kv = new Map(this.kv)
    m.applied = this.applied
    return m
  }

  sorted (): Array<{ key: Uint8Array, rec: ModelRecord }> {
    return [...this.kv.values()].sort((a, b) => cmp(a.key, b.key))
  }

  kvOf (key: Uint8Array, rec: ModelRecord, keysOnly = false): KeyValue {
    return { key: Uint8Array.from(key), value: keysOnly ? new Uint8Array(0) : Uint8Array.from(rec.value), createRevision: rec.createRevision, modRevision: rec.modRevision, version: rec.version, lease: rec.lease }
  }

  /** Applies one committed entry; returns the result for non-empty normal entries. */
  applyEntry (e: Entry): ModelResult | undefined {
    if (e.index !== this.applied + 1) throw new Error(`model: entry ${e.index} after applied ${this.applied}`)
    this.applied = e.index
    if (e.type !== 'normal' || e.data.length === 0) return undefined
    let cmd: Command
    try {
      if (e.data.length > MAX_REQUEST_BYTES) return { ok: false, code: 'REQUEST_TOO_LARGE' }
      cmd = decodeCommand(e.data)
      validateCommand(cmd, { encodedBytes: e.data.length })
    } catch (err) {
      return { ok: false, code: (err as { code: string }).code }
    }
    return this.applyCommand(cmd, e.index)
  }

  applyCommand (cmd: Command, rev: number): ModelResult {
    const before = new Map(this.kv)
    const txn = cmd.txn
    const holds = txn.compare.every((c) => {
      const cur = this.kv.get(id(c.key))?.rec
      let d: number
      switch (c.target) {
        case 'value': if (cur === undefined) return false; d = cmp(cur.value, c.value as Uint8Array); break
        case 'modRevision': d = (cur?.modRevision ?? 0) - (c.number as number); break
        case 'createRevision': d = (cur?.createRevision ?? 0) - (c.number as number); break
        case 'version': d = (cur?.version ?? 0) - (c.number as number); break
        case 'exists': d = (cur !== undefined) === c.exists ? 0 : 1; break
      }
      return c.result === 'equal' ? d === 0 : c.result === 'notEqual' ? d !== 0 : c.result === 'greater' ? d > 0 : d < 0
    })
    const budget = { bytes: MAX_PAGE_BYTES, deletes: MAX_PAGE_KEYS }
    const charge = (kv: KeyValue): void => {
      const size = kv.key.length + kv.value.length
      if (size > budget.bytes) throw new PageTooLarge()
      budget.bytes -= size
    }
    // the model grants no lease: a chosen put naming one is refused whole, as the store does
    if ((holds ? txn.success : txn.failure).some((op) => op.type === 'put' && (op.lease ?? 0) !== 0)) return { ok: false, code: 'LEASE_NOT_FOUND' }
    const responses: OpResponse[] = []
    try {
      for (const op of holds ? txn.success : txn.failure) responses.push(this.applyOp(op, rev, budget, charge))
    } catch (err) {
      if (!(err instanceof PageTooLarge)) throw err
      this.kv = before
      return { ok: false, code: 'PAGE_TOO_LARGE' }
    }
    return { ok: true, response: { succeeded: holds, revision: rev, responses } }
  }

  private inRange (key: Uint8Array, start: Uint8Array, end: Uint8Array): boolean {
    return cmp(key, start) >= 0 && (end.length === 0 || cmp(key, end) < 0)
  }

  private applyOp (op: RequestOp, rev: number, budget: { bytes: number, deletes: number }, charge: (kv: KeyValue) => void): OpResponse {
    switch (op.type) {
      case 'put': {
        const prev = this.kv.get(id(op.key))?.rec
        const rec: ModelRecord = { value: Uint8Array.from(op.value), createRevision: prev?.createRevision ?? rev, modRevision: rev, version: (prev?.version ?? 0) + 1, lease: op.lease ?? 0 }
        this.kv.set(id(op.key), { key: Uint8Array.from(op.key), rec })
        const r: OpResponse = { type: 'put' }
        if (op.prevKv === true && prev !== undefined) { r.prevKv = this.kvOf(op.key, prev); charge(r.prevKv) }
        return r
      }
      case 'delete': {
        const prev = this.kv.get(id(op.key))?.rec
        if (prev === undefined) return { type: 'delete', deleted: 0 }
        this.kv.delete(id(op.key))
        const r: OpResponse = { type: 'delete', deleted: 1 }
        if (op.prevKv === true) { r.prevKv = this.kvOf(op.key, prev); charge(r.prevKv) }
        return r
      }
      case 'deleteRange': {
        let deleted = 0
        let more = false
        for (const { key } of this.sorted().filter((x) => this.inRange(x.key, op.start, op.end))) {
          if (budget.deletes === 0) { more = true; break }
          budget.deletes--
          this.kv.delete(id(key))
          deleted++
        }
        return { type: 'deleteRange', deleted, more }
      }
      case 'get': {
        const rec = this.kv.get(id(op.key))?.rec
        if (rec === undefined) return { type: 'get' }
        const kv = this.kvOf(op.key, rec)
        charge(kv)
        return { type: 'get', kv }
      }
      case 'range': {
        const page = this.range(op.start, op.end, op.limit, op.keysOnly === true, budget)
        const r: OpResponse = { type: 'range', kvs: page.kvs, more: page.more }
        if (page.next !== undefined) r.next = page.next
        return r
      }
    }
  }

  /** One page of a range, with the store's page rules. */
  range (start: Uint8Array, end: Uint8Array, limit: number, keysOnly: boolean, budget = { bytes: MAX_PAGE_BYTES, deletes: 0 }): { kvs: KeyValue[], more: boolean, next?: Uint8Array } {
    const max = limit === 0 ? MAX_PAGE_KEYS : limit
    const kvs: KeyValue[] = []
    for (const { key, rec } of this.sorted().filter((x) => this.inRange(x.key, start, end))) {
      const kv = this.kvOf(key, rec, keysOnly)
      const size = kv.key.length + kv.value.length
      if (kvs.length >= max || size > budget.bytes) return { kvs, more: true, next: Uint8Array.from(key) }
      budget.bytes -= size
      kvs.push(kv)
    }
    return { kvs, more: false }
  }

  /** Every key-value in key order. */
  all (): KeyValue[] {
    return this.sorted().map(({ key, rec }) => this.kvOf(key, rec))
  }
}
