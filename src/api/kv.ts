// The KV data model shared by every layer (etcd-like). Keys and values are bytes end to end.
// A revision is the Raft index of the entry that made a change, so revisions are comparable across replicas.

/** A stored key with its metadata. Revisions are Raft indexes; `version` counts puts since creation (1 = new). */
export interface KeyValue {
  key: Uint8Array
  value: Uint8Array
  createRevision: number
  modRevision: number
  version: number
  /** 0 = no lease. */
  lease: number
}

export type CompareTarget = 'value' | 'modRevision' | 'createRevision' | 'version' | 'exists'
export type CompareResult = 'equal' | 'notEqual' | 'greater' | 'less'

/**
 * One guard of a transaction. `value` is compared for target 'value' (bytewise), `number` for the revision/version
 * targets, `exists` for target 'exists' (only 'equal' / 'notEqual'). A missing key has revisions and version 0,
 * and every 'value' comparison on a missing key is false (as in etcd).
 * CAS on value: {target:'value', result:'equal', value}; on revision: {target:'modRevision', result:'equal', number};
 * "must not exist": {target:'exists', result:'equal', exists:false}.
 */
export interface Compare {
  key: Uint8Array
  target: CompareTarget
  result: CompareResult
  value?: Uint8Array
  number?: number
  exists?: boolean
}

export interface PutOp {
  type: 'put'
  key: Uint8Array
  value: Uint8Array
  lease?: number
  /** Return the previous key-value in the response. */
  prevKv?: boolean
}

export interface DeleteOp {
  type: 'delete'
  key: Uint8Array
  prevKv?: boolean
}

/**
 * Deletes keys in [start, end); an empty `end` means "to the end of the key space". At most MAX_PAGE_KEYS keys are
 * deleted per transaction (shared by all its deleteRange ops); the response says `more` when keys remain.
 */
export interface DeleteRangeOp {
  type: 'deleteRange'
  start: Uint8Array
  end: Uint8Array
}

export interface GetOp {
  type: 'get'
  key: Uint8Array
}

/** Reads [start, end) in key order; empty `end` = unbounded; `limit` 0 = MAX_PAGE_KEYS. */
export interface RangeOp {
  type: 'range'
  start: Uint8Array
  end: Uint8Array
  limit: number
  keysOnly?: boolean
}

export type RequestOp = PutOp | DeleteOp | DeleteRangeOp | GetOp | RangeOp

/** If every compare holds, `success` runs, else `failure`; atomically, in order, later ops see earlier writes. */
export interface Txn {
  compare: Compare[]
  success: RequestOp[]
  failure: RequestOp[]
}

/** The payload of a normal Raft entry. `requestId` (client id + sequence) lets the node match and dedupe; may be empty. */
export interface Command {
  requestId: Uint8Array
  txn: Txn
}

export interface PutResponse {
  type: 'put'
  prevKv?: KeyValue
}

export interface DeleteResponse {
  type: 'delete'
  deleted: number
  prevKv?: KeyValue
}

export interface DeleteRangeResponse {
  type: 'deleteRange'
  deleted: number
  more: boolean
}

export interface GetResponse {
  type: 'get'
  kv?: KeyValue
}

/** One page of a range; when `more`, `next` is the continuation token (the next key: pass it as the new start). */
export interface RangeResponse {
  type: 'range'
  kvs: KeyValue[]
  more: boolean
  next?: Uint8Array
}

export type OpResponse = PutResponse | DeleteResponse | DeleteRangeResponse | GetResponse | RangeResponse

/** `revision` is the Raft index the transaction was applied at (whether or not it changed anything). */
export interface TxnResponse {
  succeeded: boolean
  revision: number
  responses: OpResponse[]
}

/** One change made by an applied entry. A delete carries the key and `modRevision` = the deleting revision. */
export interface KvEvent {
  type: 'put' | 'delete'
  kv: KeyValue
}

/** The changes one revision (one applied entry) made, in order. */
export interface RevisionEvents {
  revision: number
  events: KvEvent[]
}

/** A read of the applied state outside the log: [start, end) (empty end = unbounded), at most `limit` keys (0 = max). */
export interface RangeRequest {
  start: Uint8Array
  end: Uint8Array
  limit?: number
  keysOnly?: boolean
}

export interface RangeResult {
  kvs: KeyValue[]
  more: boolean
  /** Continuation token when `more`: the next key to read (opaque to callers; pass as `start`). */
  next?: Uint8Array
}

/** An unbounded range end. */
export const UNBOUNDED: Uint8Array = new Uint8Array(0)

/** The smallest key greater than every key with this prefix, or UNBOUNDED when there is none (all 0xff). */
export function prefixEnd (prefix: Uint8Array): Uint8Array {
  for (let i = prefix.length - 1; i >= 0; i--) {
    if (prefix[i] !== 0xff) {
      const end = prefix.slice(0, i + 1)
      end[i]++
      return end
    }
  }
  return UNBOUNDED
}

/** The [start, end) range covering every key that starts with `prefix` (the empty prefix covers all keys). */
export function prefixRange (prefix: Uint8Array): { start: Uint8Array, end: Uint8Array } {
  return { start: prefix, end: prefixEnd(prefix) }
}

/** Bytewise comparison (the key order of the store). */
export function compareBytes (a: Uint8Array, b: Uint8Array): number {
  const n = Math.min(a.length, b.length)
  for (let i = 0; i < n; i++) {
    if (a[i] !== b[i]) return a[i] - b[i]
  }
  return a.length - b.length
}

/** True when `key` lies in [start, end) with the empty end meaning unbounded. */
export function inRange (key: Uint8Array, start: Uint8Array, end: Uint8Array): boolean {
  return compareBytes(key, start) >= 0 && (end.length === 0 || compareBytes(key, end) < 0)
}

/** Convenience constructors for single-operation commands. */
export const ops = {
  /** put key=value unconditionally. */
  put (key: Uint8Array, value: Uint8Array, opts: { lease?: number, prevKv?: boolean } = {}): Txn {
    return { compare: [], success: [{ type: 'put', key, value, ...opts }], failure: [] }
  },
  /** delete one key. */
  del (key: Uint8Array, opts: { prevKv?: boolean } = {}): Txn {
    return { compare: [], success: [{ type: 'delete', key, ...opts }], failure: [] }
  },
  /** delete [start, end). */
  deleteRange (start: Uint8Array, end: Uint8Array): Txn {
    return { compare: [], success: [{ type: 'deleteRange', start, end }], failure: [] }
  },
  /** compare-and-set: put only if the current value equals `expected` (undefined = the key must not exist). */
  cas (key: Uint8Array, expected: Uint8Array | undefined, value: Uint8Array): Txn {
    const guard: Compare = expected === undefined
      ? { key, target: 'exists', result: 'equal', exists: false }
      : { key, target: 'value', result: 'equal', value: expected }
    return { compare: [guard], success: [{ type: 'put', key, value }], failure: [{ type: 'get', key }] }
  },
  /** compare-and-set on the mod revision (0 = the key must not exist). */
  casRevision (key: Uint8Array, modRevision: number, value: Uint8Array): Txn {
    return {
      compare: [{ key, target: 'modRevision', result: 'equal', number: modRevision }],
      success: [{ type: 'put', key, value }],
      failure: [{ type: 'get', key }]
    }
  },
  /** compare-and-delete: delete only if the current value equals `expected`. */
  cad (key: Uint8Array, expected: Uint8Array): Txn {
    return {
      compare: [{ key, target: 'value', result: 'equal', value: expected }],
      success: [{ type: 'delete', key }],
      failure: [{ type: 'get', key }]
    }
  }
}

/** A lease operation carried by a Raft entry (leases: keys attached to one are deleted when it ends). */
export type LeaseOp =
  /** Creates lease `id` (0 = its id is the revision of this entry) living `ttlSeconds` after the last keep-alive. */
  | { type: 'grant', id: number, ttlSeconds: number }
  /** Ends lease `id` and deletes its keys; `expired` when the leader ends it because its TTL ran out. */
  | { type: 'revoke', id: number, expired: boolean }

/** A Raft entry payload that operates on leases instead of keys. */
export interface LeaseCommand {
  requestId: Uint8Array
  lease: LeaseOp
}

/** What a normal Raft entry carries: a transaction or a lease operation. */
export type LogCommand = Command | LeaseCommand

/** A lease as the state machine knows it (expiry times live in the leader's memory, never in the state). */
export interface LeaseInfo {
  id: number
  ttlSeconds: number
  /** Revision of the grant entry. */
  grantRevision: number
  /** A revoke has started but keys remain to be deleted (more than one page of them). */
  revoking: boolean
}

