// Typed errors of the KV API: limit violations, malformed requests and undecodable bytes. Codes are stable.
import { AspenError } from '../errors.js'

export type LimitCode = 'KEY_TOO_LARGE' | 'VALUE_TOO_LARGE' | 'REQUEST_TOO_LARGE' | 'TOO_MANY_OPS' | 'PAGE_TOO_LARGE'

/** A request exceeds one of the limits in limits.ts; nothing was changed. */
export abstract class LimitError extends AspenError {
  abstract override readonly code: LimitCode
  constructor (message: string, readonly limit: number, readonly actual: number) {
    super(`${message} (${actual} > limit ${limit})`)
  }
}

/** A key is longer than MAX_KEY_BYTES. */
export class KeyTooLargeError extends LimitError {
  readonly code = 'KEY_TOO_LARGE'
}

/** A value is longer than MAX_VALUE_BYTES. */
export class ValueTooLargeError extends LimitError {
  readonly code = 'VALUE_TOO_LARGE'
}

/** An encoded command is longer than MAX_REQUEST_BYTES. */
export class RequestTooLargeError extends LimitError {
  readonly code = 'REQUEST_TOO_LARGE'
}

/** A transaction has more than MAX_TXN_OPS operations. */
export class TooManyOpsError extends LimitError {
  readonly code = 'TOO_MANY_OPS'
}

/** A page was asked for more than MAX_PAGE_KEYS keys, or a transaction's response exceeds MAX_PAGE_BYTES. */
export class PageTooLargeError extends LimitError {
  readonly code = 'PAGE_TOO_LARGE'
}

/** A request is malformed (empty key, inverted range, compare without its operand, ...). */
export class InvalidRequestError extends AspenError {
  readonly code = 'INVALID_REQUEST'
}

/** Bytes could not be decoded into the expected message. */
export class DecodeError extends AspenError {
  readonly code = 'DECODE'
}

/** A put names a lease that does not exist (never granted, revoked or expired); nothing was changed. */
export class LeaseNotFoundError extends AspenError {
  readonly code = 'LEASE_NOT_FOUND'
  constructor (readonly leaseId: number, message = `lease ${leaseId} not found (never granted, revoked or expired)`) {
    super(message)
  }
}

/** A grant names an id already in use, or the lease table is full; nothing was changed. */
export class LeaseRefusedError extends AspenError {
  readonly code = 'LEASE_REFUSED'
}
