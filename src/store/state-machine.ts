// The KV state machine: applies one validated transaction at a revision (= Raft index) to an Overlay.
// Deterministic: the result depends only on the prior state, the transaction and the revision.
import type { Compare, DeleteOp, DeleteRangeOp, KeyValue, OpResponse, PutOp, RequestOp, Txn, TxnResponse } from '../api/kv.js'
import { compareBytes } from '../api/kv.js'
import { LeaseNotFoundError, PageTooLargeError } from '../api/errors.js'
import { MAX_PAGE_BYTES, MAX_PAGE_KEYS } from '../api/limits.js'
import type { Overlay } from './overlay.js'
import { NOT_LOADED } from './overlay.js'
import type { KvRecord } from './records.js'
import { plain } from './records.js'

/** One change, in the order it was made. */
export type Effect =
  | { type: 'put', key: Uint8Array, rec: KvRecord }
  | { type: 'delete', key: Uint8Array }

/**
 * A key with its record as the API shows it. `copy` detaches the bytes from their source (records may live in
 * the write cache or in a caller's entry buffer, which a caller must not be able to alter through a response).
 */
export function toKeyValue (key: Uint8Array, rec: KvRecord, keysOnly = false, copy = true): KeyValue {
  return {
    key: copy ? Uint8Array.from(key) : plain(key),
    value: keysOnly ? new Uint8Array(0) : copy ? Uint8Array.from(rec.value) : plain(rec.value),
    createRevision: rec.createRevision,
    modRevision: rec.modRevision,
    version: rec.version,
    lease: rec.lease
  }
}

/** True when `c` holds for the current record `rec` (undefined = missing key). */
export function compareHolds (c: Compare, rec: KvRecord | undefined): boolean {
  let cmp: number
  switch (c.target) {
    case 'value':
      if (rec === undefined) return false
      cmp = compareBytes(rec.value, c.value ?? new Uint8Array(0))
      break
    case 'modRevision':
      cmp = (rec?.modRevision ?? 0) - (c.number ?? 0)
      break
    case 'createRevision':
      cmp = (rec?.createRevision ?? 0) - (c.number ?? 0)
      break
    case 'version':
      cmp = (rec?.version ?? 0) - (c.number ?? 0)
      break
    case 'exists':
      cmp = (rec !== undefined) === (c.exists ?? false) ? 0 : 1
      break
  }
  switch (c.result) {
    case 'equal': return cmp === 0
    case 'notEqual': return cmp !== 0
    case 'greater': return cmp > 0
    case 'less': return cmp < 0
  }
}

/** What is left of a transaction's response and delete allowances. */
export interface Budget {
  bytes: number
  deletes: number
}

/** A fresh budget: MAX_PAGE_BYTES of returned key-values, MAX_PAGE_KEYS deletions by deleteRange. */
export function newBudget (): Budget {
  return { bytes: MAX_PAGE_BYTES, deletes: MAX_PAGE_KEYS }
}

function charge (budget: Budget, kv: KeyValue): void {
  const size = kv.key.length + kv.value.length
  if (size > budget.bytes) throw new PageTooLargeError('transaction response is too large', MAX_PAGE_BYTES, MAX_PAGE_BYTES - budget.bytes + size)
  budget.bytes -= size
}

/**
 * One page of [start, end) from `view`: at most `limit` keys (0 = MAX_PAGE_KEYS) and `budget.bytes` of key+value
 * bytes. `more`/`next` tell whether and where to continue. Charges the budget.
 */
export async function rangePage (view: Pick<Overlay, 'scan'>, start: Uint8Array, end: Uint8Array, limit: number, keysOnly: boolean, budget: Budget, copy = true):
Promise<{ kvs: KeyValue[], more: boolean, next?: Uint8Array }> {
  const max = limit === 0 ? MAX_PAGE_KEYS : Math.min(limit, MAX_PAGE_KEYS)
  const kvs: KeyValue[] = []
  for await (const { key, rec } of view.scan(start, end)) {
    const kv = toKeyValue(key, rec, keysOnly, copy)
    const size = kv.key.length + kv.value.length
    if (kvs.length >= max || size > budget.bytes) return { kvs, more: true, next: Uint8Array.from(key) }
    budget.bytes -= size
    kvs.push(kv)
  }
  return { kvs, more: false }
}

type Sync<T> = T | Promise<T>

/** Reads `key` synchronously when possible (prefetched or written in this batch), else with one await. */
function read<T> (view: Overlay, key: Uint8Array, then: (rec: KvRecord | undefined) => T): Sync<T> {
  const rec = view.peek(key)
  if (rec !== NOT_LOADED) return then(rec)
  return view.get(key).then(then)
}

function applyPut (view: Overlay, op: PutOp, revision: number, budget: Budget, effects: Effect[], prev: KvRecord | undefined): OpResponse {
  const rec: KvRecord = {
    value: op.value,
    createRevision: prev === undefined ? revision : prev.createRevision,
    modRevision: revision,
    version: prev === undefined ? 1 : prev.version + 1,
    lease: op.lease ?? 0
  }
  view.set(op.key, rec)
  effects.push({ type: 'put', key: op.key, rec })
  const r: OpResponse = { type: 'put' }
  if (op.prevKv === true && prev !== undefined) {
    r.prevKv = toKeyValue(op.key, prev)
    charge(budget, r.prevKv)
  }
  return r
}

function applyDelete (view: Overlay, op: DeleteOp, budget: Budget, effects: Effect[], prev: KvRecord | undefined): OpResponse {
  if (prev === undefined) return { type: 'delete', deleted: 0 }
  view.set(op.key, null)
  effects.push({ type: 'delete', key: op.key })
  const r: OpResponse = { type: 'delete', deleted: 1 }
  if (op.prevKv === true) {
    r.prevKv = toKeyValue(op.key, prev)
    charge(budget, r.prevKv)
  }
  return r
}

async function applyDeleteRange (view: Overlay, op: DeleteRangeOp, budget: Budget, effects: Effect[]): Promise<OpResponse> {
  let deleted = 0
  let more = false
  for await (const { key } of view.scan(op.start, op.end)) {
    if (budget.deletes === 0) {
      more = true
      break
    }
    budget.deletes--
    const k = Uint8Array.from(key)
    view.set(k, null)
    effects.push({ type: 'delete', key: k })
    deleted++
  }
  return { type: 'deleteRange', deleted, more }
}

function applyOp (view: Overlay, op: RequestOp, revision: number, budget: Budget, effects: Effect[]): Sync<OpResponse> {
  switch (op.type) {
    case 'put': return read(view, op.key, (prev) => applyPut(view, op, revision, budget, effects, prev))
    case 'delete': return read(view, op.key, (prev) => applyDelete(view, op, budget, effects, prev))
    case 'deleteRange': return applyDeleteRange(view, op, budget, effects)
    case 'get': return read(view, op.key, (rec): OpResponse => {
      if (rec === undefined) return { type: 'get' }
      const kv = toKeyValue(op.key, rec)
      charge(budget, kv)
      return { type: 'get', kv }
    })
    case 'range': return rangePage(view, op.start, op.end, op.limit, op.keysOnly === true, budget).then((page): OpResponse => {
      const r: OpResponse = { type: 'range', kvs: page.kvs, more: page.more }
      if (page.next !== undefined) r.next = page.next
      return r
    })
  }
}

/** Tells whether a lease exists and accepts keys; undefined = every lease does (no lease table). */
export type LeaseCheck = ((id: number) => boolean) | undefined

/** Throws LeaseNotFoundError, before anything is written, when a put of the chosen branch names a missing lease. */
function checkLeases (chosen: RequestOp[], leaseUsable: LeaseCheck): void {
  if (leaseUsable === undefined) return
  for (const op of chosen) {
    if (op.type === 'put' && op.lease !== undefined && op.lease !== 0 && !leaseUsable(op.lease)) throw new LeaseNotFoundError(op.lease)
  }
}

/** What applying one transaction produced. */
export interface TxnOutcome {
  response: TxnResponse
  effects: Effect[]
}

/**
 * Applies a validated transaction at `revision`. Writes go to a child layer of `view` committed only when the
 * whole transaction succeeds (a layer is needed only when an op returns key-values and may exceed the budget).
 * Throws PageTooLargeError, with nothing changed, when the response would exceed the budget. Runs synchronously
 * (no await, no microtask) unless an op scans a range or names a key that was not prefetched.
 */
export function applyTxn (view: Overlay, txn: Txn, revision: number, leaseUsable?: LeaseCheck): Sync<TxnOutcome> {
  let succeeded = true
  for (let i = 0; i < txn.compare.length; i++) {
    const rec = view.peek(txn.compare[i].key)
    if (rec === NOT_LOADED) return applyTxnAsync(view, txn, revision, leaseUsable)
    if (!compareHolds(txn.compare[i], rec)) {
      succeeded = false
      break
    }
  }
  const chosen = succeeded ? txn.success : txn.failure
  checkLeases(chosen, leaseUsable)
  const mayFail = chosen.some((op) => op.type === 'get' || op.type === 'range' || ((op.type === 'put' || op.type === 'delete') && op.prevKv === true))
  const layer = mayFail ? view.child() : view
  const budget = newBudget()
  const effects: Effect[] = []
  const responses: OpResponse[] = []
  for (let i = 0; i < chosen.length; i++) {
    const r = applyOp(layer, chosen[i], revision, budget, effects)
    if (r instanceof Promise) return finishAsync(view, layer, chosen, i, r, revision, succeeded, budget, effects, responses)
    responses.push(r)
  }
  if (layer !== view) layer.commit()
  return { response: { succeeded, revision, responses }, effects }
}

/** The rest of a transaction from op `i` on, once an op had to wait. */
async function finishAsync (view: Overlay, layer: Overlay, chosen: RequestOp[], i: number, first: Promise<OpResponse>, revision: number,
  succeeded: boolean, budget: Budget, effects: Effect[], responses: OpResponse[]): Promise<TxnOutcome> {
  responses.push(await first)
  for (let j = i + 1; j < chosen.length; j++) responses.push(await applyOp(layer, chosen[j], revision, budget, effects))
  if (layer !== view) layer.commit()
  return { response: { succeeded, revision, responses }, effects }
}

/** applyTxn when a compared key is not in memory: read the compares, then continue synchronously. */
async function applyTxnAsync (view: Overlay, txn: Txn, revision: number, leaseUsable: LeaseCheck): Promise<TxnOutcome> {
  let succeeded = true
  for (const c of txn.compare) {
    if (!compareHolds(c, await view.get(c.key))) {
      succeeded = false
      break
    }
  }
  const chosen = succeeded ? txn.success : txn.failure
  checkLeases(chosen, leaseUsable)
  const layer = view.child()
  const budget = newBudget()
  const effects: Effect[] = []
  const responses: OpResponse[] = []
  for (const op of chosen) responses.push(await applyOp(layer, op, revision, budget, effects))
  layer.commit()
  return { response: { succeeded, revision, responses }, effects }
}
