// Request limits: each limit has a stable error code, and values at the limit pass.
import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import {
  InvalidRequestError, KeyTooLargeError, LimitError, PageTooLargeError, RequestTooLargeError, TooManyOpsError, ValueTooLargeError
} from '../../../src/api/errors.js'
import type { RequestOp, Txn } from '../../../src/api/kv.js'
import { MAX_KEY_BYTES, MAX_PAGE_KEYS, MAX_REQUEST_BYTES, MAX_TXN_OPS, MAX_VALUE_BYTES } from '../../../src/api/limits.js'
import { validateCommand, validateLimit, validateRange, validateTxn } from '../../../src/api/validate.js'
import { b } from './helpers.js'

function txn (...success: RequestOp[]): Txn {
  return { compare: [], success, failure: [] }
}

function code (fn: () => void): string {
  try {
    fn()
  } catch (err) {
    return (err as { code: string }).code
  }
  return 'OK'
}

describe('api limits', () => {
  it('key: non-empty, at most MAX_KEY_BYTES (KEY_TOO_LARGE)', () => {
    assert.equal(code(() => validateTxn(txn({ type: 'put', key: new Uint8Array(MAX_KEY_BYTES), value: b('v') }))), 'OK')
    assert.throws(() => validateTxn(txn({ type: 'put', key: new Uint8Array(MAX_KEY_BYTES + 1), value: b('v') })), KeyTooLargeError)
    assert.throws(() => validateTxn(txn({ type: 'get', key: new Uint8Array(MAX_KEY_BYTES + 1) })), (e: LimitError) => e.code === 'KEY_TOO_LARGE' && e.limit === MAX_KEY_BYTES && e.actual === MAX_KEY_BYTES + 1)
    assert.throws(() => validateTxn(txn({ type: 'delete', key: new Uint8Array(0) })), InvalidRequestError)
    assert.throws(() => validateTxn({ compare: [{ key: new Uint8Array(MAX_KEY_BYTES + 1), target: 'version', result: 'equal', number: 0 }], success: [], failure: [] }), KeyTooLargeError)
  })

  it('value: at most MAX_VALUE_BYTES (VALUE_TOO_LARGE)', () => {
    assert.equal(code(() => validateTxn(txn({ type: 'put', key: b('k'), value: new Uint8Array(MAX_VALUE_BYTES) }))), 'OK')
    assert.throws(() => validateTxn(txn({ type: 'put', key: b('k'), value: new Uint8Array(MAX_VALUE_BYTES + 1) })), ValueTooLargeError)
    assert.throws(() => validateTxn({ compare: [{ key: b('k'), target: 'value', result: 'equal', value: new Uint8Array(MAX_VALUE_BYTES + 1) }], success: [], failure: [] }), ValueTooLargeError)
  })

  it('request: at most MAX_REQUEST_BYTES encoded (REQUEST_TOO_LARGE)', () => {
    const big = new Uint8Array(MAX_VALUE_BYTES)
    assert.equal(code(() => validateTxn(txn({ type: 'put', key: b('a'), value: big }))), 'OK')
    assert.throws(() => validateTxn(txn({ type: 'put', key: b('a'), value: big }, { type: 'put', key: b('b'), value: big })), RequestTooLargeError)
    assert.throws(() => validateTxn(txn({ type: 'get', key: b('a') }), { encodedBytes: MAX_REQUEST_BYTES + 1 }), (e: LimitError) => e.code === 'REQUEST_TOO_LARGE')
    assert.equal(code(() => validateTxn(txn({ type: 'get', key: b('a') }), { encodedBytes: MAX_REQUEST_BYTES })), 'OK')
  })

  it('transaction: at most MAX_TXN_OPS operations in all (TOO_MANY_OPS)', () => {
    const get = (i: number): RequestOp => ({ type: 'get', key: b(`k${i}`) })
    const full: Txn = { compare: [{ key: b('c'), target: 'exists', result: 'equal', exists: true }], success: Array.from({ length: 64 }, (_, i) => get(i)), failure: Array.from({ length: MAX_TXN_OPS - 65 }, (_, i) => get(i)) }
    assert.equal(code(() => validateTxn(full)), 'OK')
    assert.throws(() => validateTxn({ ...full, failure: [...full.failure, get(0)] }), TooManyOpsError)
  })

  it('page: at most MAX_PAGE_KEYS keys (PAGE_TOO_LARGE)', () => {
    assert.equal(code(() => validateLimit(MAX_PAGE_KEYS)), 'OK')
    assert.equal(code(() => validateLimit(0)), 'OK')
    assert.throws(() => validateLimit(MAX_PAGE_KEYS + 1), PageTooLargeError)
    assert.throws(() => validateTxn(txn({ type: 'range', start: b('a'), end: b('b'), limit: MAX_PAGE_KEYS + 1 })), PageTooLargeError)
    assert.throws(() => validateLimit(-1), InvalidRequestError)
    assert.throws(() => validateLimit(1.5), InvalidRequestError)
  })

  it('malformed requests are INVALID_REQUEST', () => {
    assert.throws(() => validateRange(b('b'), b('a')), InvalidRequestError)
    assert.throws(() => validateRange(b('a'), b('a')), InvalidRequestError)
    assert.equal(code(() => validateRange(new Uint8Array(0), new Uint8Array(0))), 'OK')
    assert.throws(() => validateTxn({ compare: [{ key: b('k'), target: 'value', result: 'equal' }], success: [], failure: [] }), InvalidRequestError)
    assert.throws(() => validateTxn({ compare: [{ key: b('k'), target: 'version', result: 'equal' }], success: [], failure: [] }), InvalidRequestError)
    assert.throws(() => validateTxn({ compare: [{ key: b('k'), target: 'exists', result: 'greater', exists: true }], success: [], failure: [] }), InvalidRequestError)
    assert.throws(() => validateTxn(txn({ type: 'put', key: b('k'), value: b('v'), lease: -1 })), InvalidRequestError)
    assert.throws(() => validateCommand({ requestId: new Uint8Array(65), txn: txn() }), InvalidRequestError)
    assert.equal(code(() => validateCommand({ requestId: new Uint8Array(64), txn: txn() })), 'OK')
  })
})
