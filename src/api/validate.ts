// Request validation against the limits. The node calls it before proposing and the store calls it again before
// applying, so both sides agree and an invalid command that reached the log applies as a typed failure.
import { encodeCommand } from './codec.js'
import {
  InvalidRequestError, KeyTooLargeError, PageTooLargeError, RequestTooLargeError, TooManyOpsError, ValueTooLargeError
} from './errors.js'
import type { Command, Compare, LeaseCommand, LeaseOp, RequestOp, Txn } from './kv.js'
import { compareBytes } from './kv.js'
import {
  MAX_KEY_BYTES, MAX_LEASE_TTL_SECONDS, MAX_PAGE_KEYS, MAX_REQUEST_BYTES, MAX_TXN_OPS, MAX_VALUE_BYTES, MIN_LEASE_TTL_SECONDS
} from './limits.js'

/** Longest request id (client id + sequence) a command may carry. */
export const MAX_REQUEST_ID_BYTES = 64

function isBytes (x: unknown): x is Uint8Array {
  return x instanceof Uint8Array
}

/** Throws unless `key` is a non-empty byte string of at most MAX_KEY_BYTES. */
export function validateKey (key: Uint8Array, what = 'key'): void {
  if (!isBytes(key)) throw new InvalidRequestError(`${what} must be a Uint8Array`)
  if (key.length === 0) throw new InvalidRequestError(`${what} must not be empty`)
  if (key.length > MAX_KEY_BYTES) throw new KeyTooLargeError(`${what} is too large`, MAX_KEY_BYTES, key.length)
}

function validateBound (bound: Uint8Array, what: string): void {
  if (!isBytes(bound)) throw new InvalidRequestError(`${what} must be a Uint8Array`)
  if (bound.length > MAX_KEY_BYTES) throw new KeyTooLargeError(`${what} is too large`, MAX_KEY_BYTES, bound.length)
}

/** Throws unless [start, end) is a well-formed range (empty end = unbounded). */
export function validateRange (start: Uint8Array, end: Uint8Array): void {
  validateBound(start, 'range start')
  validateBound(end, 'range end')
  if (end.length > 0 && compareBytes(start, end) >= 0) throw new InvalidRequestError('range start must be below range end')
}

/** Throws unless `limit` is a page size the store serves (0 = MAX_PAGE_KEYS). */
export function validateLimit (limit: number): void {
  if (!Number.isSafeInteger(limit) || limit < 0) throw new InvalidRequestError(`page limit must be a non-negative integer, got ${limit}`)
  if (limit > MAX_PAGE_KEYS) throw new PageTooLargeError('page limit is too large', MAX_PAGE_KEYS, limit)
}

function validateCount (n: number | undefined, what: string): void {
  if (n === undefined) return
  if (!Number.isSafeInteger(n) || n < 0) throw new InvalidRequestError(`${what} must be a non-negative integer, got ${n}`)
}

function validateCompare (c: Compare): void {
  validateKey(c.key, 'compare key')
  switch (c.target) {
    case 'value':
      if (!isBytes(c.value)) throw new InvalidRequestError('a value compare needs `value` bytes')
      if (c.value.length > MAX_VALUE_BYTES) throw new ValueTooLargeError('compare value is too large', MAX_VALUE_BYTES, c.value.length)
      break
    case 'modRevision':
    case 'createRevision':
    case 'version':
      if (c.number === undefined) throw new InvalidRequestError(`a ${c.target} compare needs \`number\``)
      validateCount(c.number, 'compare number')
      break
    case 'exists':
      if (typeof c.exists !== 'boolean') throw new InvalidRequestError('an exists compare needs `exists`')
      if (c.result !== 'equal' && c.result !== 'notEqual') throw new InvalidRequestError('an exists compare can only be equal or notEqual')
      break
    default:
      throw new InvalidRequestError(`unknown compare target ${String((c as { target: unknown }).target)}`)
  }
  if (!['equal', 'notEqual', 'greater', 'less'].includes(c.result)) throw new InvalidRequestError(`unknown compare result ${String(c.result)}`)
}

function validateOp (op: RequestOp): void {
  switch (op.type) {
    case 'put':
      validateKey(op.key)
      if (!isBytes(op.value)) throw new InvalidRequestError('value must be a Uint8Array')
      if (op.value.length > MAX_VALUE_BYTES) throw new ValueTooLargeError('value is too large', MAX_VALUE_BYTES, op.value.length)
      validateCount(op.lease, 'lease')
      return
    case 'delete':
    case 'get':
      validateKey(op.key)
      return
    case 'deleteRange':
      validateRange(op.start, op.end)
      return
    case 'range':
      validateRange(op.start, op.end)
      validateLimit(op.limit)
      return
    default:
      throw new InvalidRequestError(`unknown op type ${String((op as { type: unknown }).type)}`)
  }
}

/**
 * Throws a LimitError or InvalidRequestError unless `txn` is within every limit. `encodedBytes` is the size of the
 * encoded command when the caller already has it (the store does); otherwise the transaction is encoded to measure it.
 */
export function validateTxn (txn: Txn, opts: { encodedBytes?: number } = {}): void {
  const n = txn.compare.length + txn.success.length + txn.failure.length
  if (n > MAX_TXN_OPS) throw new TooManyOpsError('transaction has too many operations', MAX_TXN_OPS, n)
  for (const c of txn.compare) validateCompare(c)
  for (const op of txn.success) validateOp(op)
  for (const op of txn.failure) validateOp(op)
  const size = opts.encodedBytes ?? encodeCommand({ requestId: new Uint8Array(0), txn }).length
  if (size > MAX_REQUEST_BYTES) throw new RequestTooLargeError('encoded request is too large', MAX_REQUEST_BYTES, size)
}

/** validateTxn plus the request id; `encodedBytes` as in validateTxn. */
export function validateCommand (cmd: Command, opts: { encodedBytes?: number } = {}): void {
  if (!isBytes(cmd.requestId)) throw new InvalidRequestError('requestId must be a Uint8Array')
  if (cmd.requestId.length > MAX_REQUEST_ID_BYTES) throw new InvalidRequestError(`requestId is longer than ${MAX_REQUEST_ID_BYTES} bytes`)
  validateTxn(cmd.txn, { encodedBytes: opts.encodedBytes ?? encodeCommand(cmd).length })
}

/** Throws InvalidRequestError unless `op` names a valid lease (and, for a grant, a TTL within the limits). */
export function validateLeaseOp (op: LeaseOp): void {
  validateCount(op.id, 'lease id')
  if (op.type === 'revoke') {
    if (op.id === 0) throw new InvalidRequestError('lease id must be positive')
    return
  }
  if (!Number.isSafeInteger(op.ttlSeconds) || op.ttlSeconds < MIN_LEASE_TTL_SECONDS || op.ttlSeconds > MAX_LEASE_TTL_SECONDS) {
    throw new InvalidRequestError(`lease TTL must be ${MIN_LEASE_TTL_SECONDS}..${MAX_LEASE_TTL_SECONDS} seconds, got ${op.ttlSeconds}`)
  }
}

/** validateLeaseOp plus the request id. */
export function validateLeaseCommand (cmd: LeaseCommand): void {
  if (!isBytes(cmd.requestId)) throw new InvalidRequestError('requestId must be a Uint8Array')
  if (cmd.requestId.length > MAX_REQUEST_ID_BYTES) throw new InvalidRequestError(`requestId is longer than ${MAX_REQUEST_ID_BYTES} bytes`)
  validateLeaseOp(cmd.lease)
}
