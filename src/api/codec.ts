// Conversion between the hand-written KV types (kv.ts) and their protobuf wire form (kv-wire.ts).
// Decoding never trusts its input: garbage, unknown enum values or an ambiguous oneof give a DecodeError.
import { DecodeError } from './errors.js'
import * as wire from './kv-wire.js'
import type { Command, Compare, CompareResult, CompareTarget, KeyValue, KvEvent, LeaseCommand, LogCommand, OpResponse, RequestOp, Txn, TxnResponse } from './kv.js'

/** The outcome of applying one command: its response, or a typed failure (stable `code`) that changed nothing. */
export type CommandResult =
  | { ok: true, response: TxnResponse }
  | { ok: false, code: string, message: string }

type Bytes = Uint8Array<ArrayBuffer>

// protons types its byte fields as Uint8Array<ArrayBuffer>; ours accept any Uint8Array. The encoder only reads them.
function b (u: Uint8Array): Bytes {
  return u as Bytes
}

const TARGET_TO_WIRE: Record<CompareTarget, wire.Compare.Target> = {
  value: wire.Compare.Target.VALUE,
  modRevision: wire.Compare.Target.MOD_REVISION,
  createRevision: wire.Compare.Target.CREATE_REVISION,
  version: wire.Compare.Target.VERSION,
  exists: wire.Compare.Target.EXISTS
}
const TARGET_FROM_WIRE = new Map<string, CompareTarget>(Object.entries(TARGET_TO_WIRE).map(([k, v]) => [v, k as CompareTarget]))

const RESULT_TO_WIRE: Record<CompareResult, wire.Compare.Result> = {
  equal: wire.Compare.Result.EQUAL,
  notEqual: wire.Compare.Result.NOT_EQUAL,
  greater: wire.Compare.Result.GREATER,
  less: wire.Compare.Result.LESS
}
const RESULT_FROM_WIRE = new Map<string, CompareResult>(Object.entries(RESULT_TO_WIRE).map(([k, v]) => [v, k as CompareResult]))

function decodeWith<T> (what: string, bytes: Uint8Array, decode: (b: Uint8Array) => T): T {
  // decode from a plain view so decoded byte fields are plain Uint8Arrays even when the input is a Buffer
  const view = Object.getPrototypeOf(bytes) === Uint8Array.prototype ? bytes : new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength)
  try {
    return decode(view)
  } catch (err) {
    if (err instanceof DecodeError) throw err
    throw new DecodeError(`cannot decode ${what} (${bytes.length} bytes): ${(err as Error).message}`, { cause: err })
  }
}

/** KeyValue → wire. */
export function keyValueToWire (kv: KeyValue): wire.KeyValue {
  return { key: b(kv.key), value: b(kv.value), createRevision: kv.createRevision, modRevision: kv.modRevision, version: kv.version, lease: kv.lease }
}

/** wire → KeyValue. */
export function keyValueFromWire (w: wire.KeyValue): KeyValue {
  return { key: w.key, value: w.value, createRevision: w.createRevision, modRevision: w.modRevision, version: w.version, lease: w.lease }
}

function compareToWire (c: Compare): wire.Compare {
  return {
    key: b(c.key),
    target: TARGET_TO_WIRE[c.target],
    result: RESULT_TO_WIRE[c.result],
    value: c.value === undefined ? undefined : b(c.value),
    number: c.number,
    exists: c.exists
  }
}

function compareFromWire (w: wire.Compare): Compare {
  const target = TARGET_FROM_WIRE.get(w.target)
  const result = RESULT_FROM_WIRE.get(w.result)
  if (target === undefined || result === undefined) throw new DecodeError(`unknown compare target/result ${String(w.target)}/${String(w.result)}`)
  const c: Compare = { key: w.key, target, result }
  if (w.value !== undefined) c.value = w.value
  if (w.number !== undefined) c.number = w.number
  if (w.exists !== undefined) c.exists = w.exists
  return c
}

function opToWire (op: RequestOp): wire.RequestOp {
  switch (op.type) {
    case 'put': return { put: { key: b(op.key), value: b(op.value), lease: op.lease ?? 0, prevKv: op.prevKv ?? false } }
    case 'delete': return { delete: { key: b(op.key), prevKv: op.prevKv ?? false } }
    case 'deleteRange': return { deleteRange: { start: b(op.start), end: b(op.end) } }
    case 'get': return { get: { key: b(op.key) } }
    case 'range': return { range: { start: b(op.start), end: b(op.end), limit: op.limit, keysOnly: op.keysOnly ?? false } }
  }
}

function countSet (...xs: unknown[]): number {
  let n = 0
  for (const x of xs) if (x !== undefined) n++
  return n
}

function opFromWire (w: wire.RequestOp): RequestOp {
  if (countSet(w.put, w.delete, w.deleteRange, w.get, w.range) !== 1) throw new DecodeError('a request op must set exactly one operation')
  if (w.put !== undefined) {
    const op: RequestOp = { type: 'put', key: w.put.key, value: w.put.value }
    if (w.put.lease !== 0) op.lease = w.put.lease
    if (w.put.prevKv) op.prevKv = true
    return op
  }
  if (w.delete !== undefined) {
    const op: RequestOp = { type: 'delete', key: w.delete.key }
    if (w.delete.prevKv) op.prevKv = true
    return op
  }
  if (w.deleteRange !== undefined) return { type: 'deleteRange', start: w.deleteRange.start, end: w.deleteRange.end }
  if (w.get !== undefined) return { type: 'get', key: w.get.key }
  const r = w.range as wire.RangeOp
  const op: RequestOp = { type: 'range', start: r.start, end: r.end, limit: r.limit }
  if (r.keysOnly) op.keysOnly = true
  return op
}

/** Txn → wire. */
export function txnToWire (txn: Txn): wire.Txn {
  return { compare: txn.compare.map(compareToWire), success: txn.success.map(opToWire), failure: txn.failure.map(opToWire) }
}

/** wire → Txn (throws DecodeError on an ambiguous op or unknown enum). */
export function txnFromWire (w: wire.Txn): Txn {
  return { compare: w.compare.map(compareFromWire), success: w.success.map(opFromWire), failure: w.failure.map(opFromWire) }
}

/** Encodes a command (the payload of a normal Raft entry). */
export function encodeCommand (cmd: Command): Uint8Array {
  return wire.Command.encode({ requestId: b(cmd.requestId), txn: txnToWire(cmd.txn) })
}

/** Decodes a command; throws DecodeError on garbage or a command kind this version does not know. */
export function decodeCommand (bytes: Uint8Array): Command {
  return decodeWith('command', bytes, (x) => {
    const w = wire.Command.decode(x)
    if (w.txn === undefined) throw new DecodeError('command has no known body')
    return { requestId: w.requestId, txn: txnFromWire(w.txn) }
  })
}

/** Encodes a lease command (the payload of a normal Raft entry). */
export function encodeLeaseCommand (cmd: LeaseCommand): Uint8Array {
  const l = cmd.lease
  return wire.Command.encode(l.type === 'grant'
    ? { requestId: b(cmd.requestId), leaseGrant: { id: l.id, ttlSeconds: l.ttlSeconds } }
    : { requestId: b(cmd.requestId), leaseRevoke: { id: l.id, expired: l.expired } })
}

/** Decodes any entry payload: a transaction or a lease command (DecodeError on garbage or an unknown kind). */
export function decodeLogCommand (bytes: Uint8Array): LogCommand {
  return decodeWith('command', bytes, (x) => {
    const w = wire.Command.decode(x)
    if (countSet(w.txn, w.leaseGrant, w.leaseRevoke) !== 1) throw new DecodeError('command has no known body (or several)')
    if (w.leaseGrant !== undefined) return { requestId: w.requestId, lease: { type: 'grant', id: w.leaseGrant.id, ttlSeconds: w.leaseGrant.ttlSeconds } }
    if (w.leaseRevoke !== undefined) return { requestId: w.requestId, lease: { type: 'revoke', id: w.leaseRevoke.id, expired: w.leaseRevoke.expired } }
    return { requestId: w.requestId, txn: txnFromWire(w.txn as wire.Txn) }
  })
}

/** True when a decoded entry payload is a lease command. */
export function isLeaseCommand (c: LogCommand): c is LeaseCommand {
  return 'lease' in c
}

/** A watch request (method kv.watch). */
export interface WatchRequest {
  start: Uint8Array
  end: Uint8Array
  fromRevision: number
  waitMs: number
  limit: number
}

/** A watch answer: events of [fromRevision, nextRevision), or `compacted` with the oldest retained revision. */
export interface WatchAnswer {
  events: KvEvent[]
  nextRevision: number
  compacted: boolean
  oldestRevision: number
  applied: number
}

/** Version of the kv.watch bodies. */
export const WATCH_VERSION = 1

/** Encodes a watch request. */
export function encodeWatchRequest (r: WatchRequest): Uint8Array {
  return wire.WatchRequest.encode({ version: WATCH_VERSION, start: b(r.start), end: b(r.end), fromRevision: r.fromRevision, waitMs: r.waitMs, limit: r.limit })
}

/** Decodes a watch request (DecodeError on garbage or an unknown version). */
export function decodeWatchRequest (bytes: Uint8Array): WatchRequest {
  return decodeWith('watch request', bytes, (x) => {
    const w = wire.WatchRequest.decode(x)
    if (w.version !== WATCH_VERSION) throw new DecodeError(`watch request version ${w.version} is not supported (this node speaks ${WATCH_VERSION})`)
    return { start: w.start, end: w.end, fromRevision: w.fromRevision, waitMs: w.waitMs, limit: w.limit }
  })
}

/** Encodes a watch answer. */
export function encodeWatchAnswer (a: WatchAnswer): Uint8Array {
  return wire.WatchResponse.encode({
    version: WATCH_VERSION,
    events: a.events.map((e) => ({ delete: e.type === 'delete', kv: keyValueToWire(e.kv) })),
    nextRevision: a.nextRevision,
    compacted: a.compacted,
    oldestRevision: a.oldestRevision,
    applied: a.applied
  })
}

/** Decodes a watch answer. */
export function decodeWatchAnswer (bytes: Uint8Array): WatchAnswer {
  return decodeWith('watch response', bytes, (x) => {
    const w = wire.WatchResponse.decode(x, { limits: { events: 100_000 } })
    if (w.version !== WATCH_VERSION) throw new DecodeError(`watch response version ${w.version} is not supported (this client speaks ${WATCH_VERSION})`)
    const events: KvEvent[] = w.events.map((e) => {
      if (e.kv === undefined) throw new DecodeError('watch event without a key-value')
      return { type: e.delete ? 'delete' : 'put', kv: keyValueFromWire(e.kv) }
    })
    return { events, nextRevision: w.nextRevision, compacted: w.compacted, oldestRevision: w.oldestRevision, applied: w.applied }
  })
}

/** Encodes a transaction alone. */
export function encodeTxn (txn: Txn): Uint8Array {
  return wire.Txn.encode(txnToWire(txn))
}

/** Decodes a transaction alone. */
export function decodeTxn (bytes: Uint8Array): Txn {
  return decodeWith('txn', bytes, (x) => txnFromWire(wire.Txn.decode(x)))
}

function opResponseToWire (r: OpResponse): wire.OpResponse {
  switch (r.type) {
    case 'put': return { put: { prevKv: r.prevKv === undefined ? undefined : keyValueToWire(r.prevKv) } }
    case 'delete': return { delete: { deleted: r.deleted, prevKv: r.prevKv === undefined ? undefined : keyValueToWire(r.prevKv) } }
    case 'deleteRange': return { deleteRange: { deleted: r.deleted, more: r.more } }
    case 'get': return { get: { kv: r.kv === undefined ? undefined : keyValueToWire(r.kv) } }
    case 'range': return { range: { kvs: r.kvs.map(keyValueToWire), more: r.more, next: r.next === undefined ? undefined : b(r.next) } }
  }
}

function opResponseFromWire (w: wire.OpResponse): OpResponse {
  if (countSet(w.put, w.delete, w.deleteRange, w.get, w.range) !== 1) throw new DecodeError('an op response must set exactly one kind')
  if (w.put !== undefined) return w.put.prevKv === undefined ? { type: 'put' } : { type: 'put', prevKv: keyValueFromWire(w.put.prevKv) }
  if (w.delete !== undefined) {
    const r: OpResponse = { type: 'delete', deleted: w.delete.deleted }
    if (w.delete.prevKv !== undefined) r.prevKv = keyValueFromWire(w.delete.prevKv)
    return r
  }
  if (w.deleteRange !== undefined) return { type: 'deleteRange', deleted: w.deleteRange.deleted, more: w.deleteRange.more }
  if (w.get !== undefined) return w.get.kv === undefined ? { type: 'get' } : { type: 'get', kv: keyValueFromWire(w.get.kv) }
  const r = w.range as wire.RangeResponse
  const out: OpResponse = { type: 'range', kvs: r.kvs.map(keyValueFromWire), more: r.more }
  if (r.next !== undefined) out.next = r.next
  return out
}

/** TxnResponse → wire. */
export function txnResponseToWire (r: TxnResponse): wire.TxnResponse {
  return { succeeded: r.succeeded, revision: r.revision, responses: r.responses.map(opResponseToWire) }
}

/** wire → TxnResponse. */
export function txnResponseFromWire (w: wire.TxnResponse): TxnResponse {
  return { succeeded: w.succeeded, revision: w.revision, responses: w.responses.map(opResponseFromWire) }
}

/** Encodes a transaction response. */
export function encodeTxnResponse (r: TxnResponse): Uint8Array {
  return wire.TxnResponse.encode(txnResponseToWire(r))
}

/** Decodes a transaction response. */
export function decodeTxnResponse (bytes: Uint8Array): TxnResponse {
  return decodeWith('txn response', bytes, (x) => txnResponseFromWire(wire.TxnResponse.decode(x)))
}

/** Encodes a key-value. */
export function encodeKeyValue (kv: KeyValue): Uint8Array {
  return wire.KeyValue.encode(keyValueToWire(kv))
}

/** Decodes a key-value. */
export function decodeKeyValue (bytes: Uint8Array): KeyValue {
  return decodeWith('key-value', bytes, (x) => keyValueFromWire(wire.KeyValue.decode(x)))
}

/** Encodes the outcome of applying the entry at `index` (for answering the client that proposed it). */
export function encodeCommandResult (index: number, requestId: Uint8Array, r: CommandResult): Uint8Array {
  return wire.ApplyOutcome.encode(r.ok
    ? { index, requestId: b(requestId), response: txnResponseToWire(r.response), errorCode: '', errorMessage: '' }
    : { index, requestId: b(requestId), errorCode: r.code, errorMessage: r.message })
}

/** Decodes an outcome written by encodeCommandResult. */
export function decodeCommandResult (bytes: Uint8Array): { index: number, requestId: Uint8Array, result: CommandResult } {
  return decodeWith('apply outcome', bytes, (x) => {
    const w = wire.ApplyOutcome.decode(x)
    if (w.response !== undefined && w.errorCode !== '') throw new DecodeError('an outcome cannot be both a response and an error')
    if (w.response === undefined && w.errorCode === '') throw new DecodeError('an outcome needs a response or an error code')
    const result: CommandResult = w.response !== undefined
      ? { ok: true, response: txnResponseFromWire(w.response) }
      : { ok: false, code: w.errorCode, message: w.errorMessage }
    return { index: w.index, requestId: w.requestId, result }
  })
}
