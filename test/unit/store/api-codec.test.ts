// The KV wire codec: every shape round-trips; garbage and ambiguous messages give a typed DecodeError.
import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import fc from 'fast-check'
import {
  decodeCommand, decodeCommandResult, decodeKeyValue, decodeTxn, decodeTxnResponse, encodeCommand, encodeCommandResult,
  encodeKeyValue, encodeTxn, encodeTxnResponse
} from '../../../src/api/codec.js'
import { DecodeError } from '../../../src/api/errors.js'
import type { Command, Compare, RequestOp, TxnResponse } from '../../../src/api/kv.js'
import { ops, prefixEnd, prefixRange, UNBOUNDED } from '../../../src/api/kv.js'
import * as wire from '../../../src/api/kv-wire.js'
import { b } from './helpers.js'

// plain-prototype records so decoded objects compare equal
function rec<T> (model: { [K in keyof T]: fc.Arbitrary<T[K]> }): fc.Arbitrary<T> {
  return fc.record(model, { noNullPrototype: true })
}

const bytes = fc.uint8Array({ minLength: 1, maxLength: 8 })
const compare: fc.Arbitrary<Compare> = fc.oneof(
  rec({ key: bytes, target: fc.constant('value' as const), result: fc.constantFrom('equal' as const, 'notEqual' as const, 'greater' as const, 'less' as const), value: fc.uint8Array({ maxLength: 8 }) }),
  rec({ key: bytes, target: fc.constantFrom('modRevision' as const, 'createRevision' as const, 'version' as const), result: fc.constantFrom('equal' as const, 'notEqual' as const, 'greater' as const, 'less' as const), number: fc.nat() }),
  rec({ key: bytes, target: fc.constant('exists' as const), result: fc.constantFrom('equal' as const, 'notEqual' as const), exists: fc.boolean() })
)
const op: fc.Arbitrary<RequestOp> = fc.oneof(
  rec({ type: fc.constant('put' as const), key: bytes, value: fc.uint8Array({ maxLength: 16 }) }),
  rec({ type: fc.constant('put' as const), key: bytes, value: fc.uint8Array({ maxLength: 16 }), lease: fc.integer({ min: 1, max: 2 ** 40 }), prevKv: fc.constant(true) }),
  rec({ type: fc.constant('delete' as const), key: bytes }),
  rec({ type: fc.constant('delete' as const), key: bytes, prevKv: fc.constant(true) }),
  rec({ type: fc.constant('deleteRange' as const), start: bytes, end: bytes }),
  rec({ type: fc.constant('get' as const), key: bytes }),
  rec({ type: fc.constant('range' as const), start: bytes, end: bytes, limit: fc.nat({ max: 10_000 }) }),
  rec({ type: fc.constant('range' as const), start: bytes, end: bytes, limit: fc.nat({ max: 10_000 }), keysOnly: fc.constant(true) })
)
const command: fc.Arbitrary<Command> = rec({
  requestId: fc.uint8Array({ maxLength: 16 }),
  txn: rec({ compare: fc.array(compare, { maxLength: 4 }), success: fc.array(op, { maxLength: 4 }), failure: fc.array(op, { maxLength: 4 }) })
})

describe('api codec', () => {
  it('round-trips every command shape', () => {
    fc.assert(fc.property(command, (cmd) => {
      assert.deepStrictEqual(decodeCommand(encodeCommand(cmd)), cmd)
      assert.deepStrictEqual(decodeTxn(encodeTxn(cmd.txn)), cmd.txn)
    }), { numRuns: 300 })
  })

  it('round-trips responses, key-values and command results', () => {
    const kv = { key: b('k'), value: b('v'), createRevision: 3, modRevision: 9, version: 4, lease: 2 ** 40 }
    const resp: TxnResponse = {
      succeeded: true,
      revision: 12,
      responses: [
        { type: 'put', prevKv: kv },
        { type: 'put' },
        { type: 'delete', deleted: 1, prevKv: kv },
        { type: 'delete', deleted: 0 },
        { type: 'deleteRange', deleted: 7, more: true },
        { type: 'get', kv },
        { type: 'get' },
        { type: 'range', kvs: [kv, kv], more: true, next: b('z') },
        { type: 'range', kvs: [], more: false }
      ]
    }
    assert.deepStrictEqual(decodeTxnResponse(encodeTxnResponse(resp)), resp)
    assert.deepStrictEqual(decodeKeyValue(encodeKeyValue(kv)), kv)
    assert.deepStrictEqual(decodeCommandResult(encodeCommandResult(12, b('id'), { ok: true, response: resp })), { index: 12, requestId: b('id'), result: { ok: true, response: resp } })
    assert.deepStrictEqual(decodeCommandResult(encodeCommandResult(13, b('id'), { ok: false, code: 'KEY_TOO_LARGE', message: 'm' })), { index: 13, requestId: b('id'), result: { ok: false, code: 'KEY_TOO_LARGE', message: 'm' } })
  })

  it('rejects garbage with DecodeError', () => {
    fc.assert(fc.property(fc.uint8Array({ minLength: 1, maxLength: 64 }), (junk) => {
      try {
        decodeCommand(junk)
      } catch (err) {
        assert.ok(err instanceof DecodeError, `unexpected ${String(err)}`)
        assert.equal(err.code, 'DECODE')
      }
    }), { numRuns: 500 })
    assert.throws(() => decodeCommand(Uint8Array.of(0x0a, 0x05, 0x01)), DecodeError)
    assert.throws(() => decodeTxnResponse(Uint8Array.of(0xff, 0xff, 0xff)), DecodeError)
  })

  it('rejects a command without a body, an op without a kind and an unknown compare target', () => {
    assert.throws(() => decodeCommand(wire.Command.encode({ requestId: Uint8Array.of(1) })), DecodeError)
    // an op with no kind is refused; two kinds on the wire follow protobuf's oneof rule (the last one wins)
    assert.throws(() => decodeTxn(Uint8Array.of(0x12, 0x00)), /exactly one/)
    const both = Buffer.concat([wire.RequestOp.encode({ put: { key: Uint8Array.of(1), value: Uint8Array.of(), lease: 0, prevKv: false } }), wire.RequestOp.encode({ get: { key: Uint8Array.of(2) } })])
    assert.deepStrictEqual(decodeTxn(Buffer.concat([Uint8Array.of(0x12, both.length), both])).success, [{ type: 'get', key: Uint8Array.of(2) }])
    const compareField = Uint8Array.of(0x0a, 0x03, 0x0a, 0x01, 0x61)
    const badTarget = Uint8Array.of(0x0a, 0x07, 0x0a, 0x01, 0x61, 0x10, 0x09, 0x18, 0x00) // target = 9
    assert.doesNotThrow(() => decodeTxn(compareField))
    assert.throws(() => decodeTxn(badTarget), DecodeError)
  })

  it('builds prefix ranges and single-op transactions', () => {
    assert.deepStrictEqual(prefixEnd(b('ab')), b('ac'))
    assert.deepStrictEqual(prefixEnd(Uint8Array.of(0x61, 0xff)), Uint8Array.of(0x62))
    assert.deepStrictEqual(prefixEnd(Uint8Array.of(0xff, 0xff)), UNBOUNDED)
    assert.deepStrictEqual(prefixRange(b('a')), { start: b('a'), end: b('b') })
    assert.deepStrictEqual(ops.cas(b('k'), undefined, b('v')).compare, [{ key: b('k'), target: 'exists', result: 'equal', exists: false }])
    assert.deepStrictEqual(ops.casRevision(b('k'), 4, b('v')).compare, [{ key: b('k'), target: 'modRevision', result: 'equal', number: 4 }])
    assert.equal(ops.cad(b('k'), b('v')).success[0].type, 'delete')
  })
})
