// The JSON form of a transaction that `aspen kv txn` reads: the shared Txn model (src/api/kv.ts) with bytes
// written as UTF-8 strings or {"base64": "…"}. Strict: unknown fields and wrong types are usage errors that
// name the JSON path.

import type { Compare, CompareResult, CompareTarget, RequestOp, Txn } from '../api/kv.js'
import { prefixRange, UNBOUNDED } from '../api/kv.js'
import { MAX_TXN_OPS } from '../api/limits.js'
import { UsageError } from './errors.js'
import { utf8 } from './io.js'

/** Help text describing the format. */
export const TXN_FORMAT_HELP = `
Transaction format (JSON, from --file FILE or stdin):
  {
    "compare": [ {"key": "k", "target": "value", "result": "equal", "value": "v1"},
                 {"key": "k", "target": "modRevision", "result": "less", "number": 42},
                 {"key": "n", "target": "exists", "result": "equal", "exists": false} ],
    "success": [ {"type": "put", "key": "k", "value": "v2"}, {"type": "get", "key": "n"} ],
    "failure": [ {"type": "get", "key": "k"} ]
  }
  targets: value, modRevision, createRevision, version, exists; results: equal, notEqual, greater, less
  ops: put {key, value, lease?, prevKv?}, delete {key, prevKv?}, get {key},
       range {start, end?, limit?, keysOnly?} or {prefix, limit?, keysOnly?}, deleteRange {start, end?} or {prefix}
  bytes: a UTF-8 string, or {"base64": "…"} for binary; at most ${MAX_TXN_OPS} compares + ops in all.
If every compare holds the success ops run, else the failure ops; atomically. Exit code 4 when the compares
failed (the failure ops ran).`

const HINT = 'see `aspen kv txn --help` for the format'

type Json = Record<string, unknown>

function bad (path: string, problem: string): never {
  throw new UsageError(`transaction ${path}: ${problem}`, HINT)
}

function obj (v: unknown, path: string, allowed: readonly string[]): Json {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) bad(path, 'expected an object')
  for (const k of Object.keys(v)) if (!allowed.includes(k)) bad(`${path}.${k}`, `unknown field (allowed: ${allowed.join(', ')})`)
  return v as Json
}

function bytes (v: unknown, path: string): Uint8Array {
  if (typeof v === 'string') return utf8(v)
  if (typeof v === 'object' && v !== null && !Array.isArray(v)) {
    const o = obj(v, path, ['base64'])
    if (typeof o.base64 === 'string' && /^[A-Za-z0-9+/]*={0,2}$/.test(o.base64) && o.base64.length % 4 === 0) {
      return new Uint8Array(Buffer.from(o.base64, 'base64'))
    }
  }
  return bad(path, 'expected a string or {"base64": "…"}')
}

function optBytes (v: unknown, path: string): Uint8Array | undefined {
  return v === undefined ? undefined : bytes(v, path)
}

function int (v: unknown, path: string): number {
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0) bad(path, 'expected a non-negative integer')
  return v
}

function optInt (v: unknown, path: string): number | undefined {
  return v === undefined ? undefined : int(v, path)
}

function optBool (v: unknown, path: string): boolean | undefined {
  if (v === undefined) return undefined
  if (typeof v !== 'boolean') bad(path, 'expected true or false')
  return v
}

function oneOf<T extends string> (v: unknown, path: string, allowed: readonly T[]): T {
  if (typeof v !== 'string' || !(allowed as readonly string[]).includes(v)) bad(path, `expected one of ${allowed.join(', ')}`)
  return v as T
}

function list (v: unknown, path: string): unknown[] {
  if (v === undefined) return []
  if (!Array.isArray(v)) bad(path, 'expected an array')
  return v
}

const TARGETS: readonly CompareTarget[] = ['value', 'modRevision', 'createRevision', 'version', 'exists']
const RESULTS: readonly CompareResult[] = ['equal', 'notEqual', 'greater', 'less']

function parseCompare (v: unknown, path: string): Compare {
  const o = obj(v, path, ['key', 'target', 'result', 'value', 'number', 'exists'])
  const c: Compare = {
    key: bytes(o.key, `${path}.key`),
    target: oneOf(o.target, `${path}.target`, TARGETS),
    result: oneOf(o.result, `${path}.result`, RESULTS)
  }
  const value = optBytes(o.value, `${path}.value`)
  const num = optInt(o.number, `${path}.number`)
  const exists = optBool(o.exists, `${path}.exists`)
  if (c.target === 'value' && value === undefined) bad(path, 'a value compare needs "value"')
  if (c.target === 'exists' && exists === undefined) bad(path, 'an exists compare needs "exists"')
  if (['modRevision', 'createRevision', 'version'].includes(c.target) && num === undefined) bad(path, `a ${c.target} compare needs "number"`)
  if (value !== undefined) c.value = value
  if (num !== undefined) c.number = num
  if (exists !== undefined) c.exists = exists
  return c
}

/** [start, end) from either {start, end?} or {prefix}. */
function span (o: Json, path: string): { start: Uint8Array, end: Uint8Array } {
  if (o.prefix !== undefined) {
    if (o.start !== undefined || o.end !== undefined) bad(path, 'give either "prefix" or "start"/"end"')
    return prefixRange(bytes(o.prefix, `${path}.prefix`))
  }
  return { start: bytes(o.start, `${path}.start`), end: optBytes(o.end, `${path}.end`) ?? UNBOUNDED }
}

function parseOp (v: unknown, path: string): RequestOp {
  const type = obj(v, path, ['type', 'key', 'value', 'lease', 'prevKv', 'start', 'end', 'prefix', 'limit', 'keysOnly']).type
  switch (oneOf(type, `${path}.type`, ['put', 'delete', 'get', 'range', 'deleteRange'] as const)) {
    case 'put': {
      const o = obj(v, path, ['type', 'key', 'value', 'lease', 'prevKv'])
      const op: RequestOp = { type: 'put', key: bytes(o.key, `${path}.key`), value: bytes(o.value, `${path}.value`) }
      const lease = optInt(o.lease, `${path}.lease`)
      const prevKv = optBool(o.prevKv, `${path}.prevKv`)
      if (lease !== undefined) op.lease = lease
      if (prevKv !== undefined) op.prevKv = prevKv
      return op
    }
    case 'delete': {
      const o = obj(v, path, ['type', 'key', 'prevKv'])
      const prevKv = optBool(o.prevKv, `${path}.prevKv`)
      return prevKv === undefined ? { type: 'delete', key: bytes(o.key, `${path}.key`) } : { type: 'delete', key: bytes(o.key, `${path}.key`), prevKv }
    }
    case 'get': {
      const o = obj(v, path, ['type', 'key'])
      return { type: 'get', key: bytes(o.key, `${path}.key`) }
    }
    case 'range': {
      const o = obj(v, path, ['type', 'start', 'end', 'prefix', 'limit', 'keysOnly'])
      const keysOnly = optBool(o.keysOnly, `${path}.keysOnly`)
      return { type: 'range', ...span(o, path), limit: optInt(o.limit, `${path}.limit`) ?? 0, ...(keysOnly === undefined ? {} : { keysOnly }) }
    }
    case 'deleteRange': {
      const o = obj(v, path, ['type', 'start', 'end', 'prefix'])
      return { type: 'deleteRange', ...span(o, path) }
    }
  }
}

/** Parses the JSON text of a transaction into the shared Txn model; UsageError naming the JSON path if malformed. */
export function parseTxnJson (text: string): Txn {
  let doc: unknown
  try {
    doc = JSON.parse(text)
  } catch (e) {
    throw new UsageError(`transaction is not valid JSON (${e instanceof Error ? e.message : 'parse error'})`, HINT)
  }
  const o = obj(doc, '$', ['compare', 'success', 'failure'])
  const compare = list(o.compare, '$.compare')
  const success = list(o.success, '$.success')
  const failure = list(o.failure, '$.failure')
  const total = compare.length + success.length + failure.length
  if (total > MAX_TXN_OPS) bad('$', `has ${total} compares and ops; at most ${MAX_TXN_OPS} are allowed`)
  return {
    compare: compare.map((c, i) => parseCompare(c, `$.compare[${i}]`)),
    success: success.map((op, i) => parseOp(op, `$.success[${i}]`)),
    failure: failure.map((op, i) => parseOp(op, `$.failure[${i}]`))
  }
}
