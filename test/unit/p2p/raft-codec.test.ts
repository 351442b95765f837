// Raft messages survive the wire unchanged (every field of src/raft/types.ts), frames carry a version, and
// anything malformed is a FrameDecodeError.
import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import fc from 'fast-check'
import type { Entry, Message, MessageType, Snapshot } from '../../../src/raft/types.js'
import { decodeRaftFrame, encodeRaftMessages, encodeRaftRemoved } from '../../../src/p2p/raft-codec.js'
import { FrameDecodeError } from '../../../src/p2p/errors.js'
import { RaftFrame, RaftFrameKind } from '../../../src/p2p/wire/raft.js'

const TYPES: MessageType[] = ['hup', 'beat', 'prop', 'app', 'appResp', 'vote', 'voteResp', 'preVote', 'preVoteResp', 'snap',
  'heartbeat', 'heartbeatResp', 'unreachable', 'snapStatus', 'checkQuorum', 'transferLeader', 'timeoutNow', 'readIndex', 'readIndexResp']
const u = fc.oneof(fc.nat({ max: 1000 }), fc.constant(Number.MAX_SAFE_INTEGER), fc.nat())
const ids = fc.array(fc.integer({ min: 1, max: 2 ** 40 }), { maxLength: 5 })
const entry: fc.Arbitrary<Entry> = fc.record({ term: u, index: u, type: fc.constantFrom('normal' as const, 'confChange' as const), data: fc.uint8Array({ maxLength: 40 }) }, { noNullPrototype: true })
const snapshot: fc.Arbitrary<Snapshot> = fc.record({
  metadata: fc.record({
    index: u,
    term: u,
    confState: fc.record({ voters: ids, learners: ids, votersOutgoing: ids, learnersNext: ids, autoLeave: fc.boolean() }, { noNullPrototype: true })
  }, { noNullPrototype: true }),
  data: fc.uint8Array({ maxLength: 64 })
}, { noNullPrototype: true })
const message: fc.Arbitrary<Message> = fc.record({
  type: fc.constantFrom(...TYPES),
  to: u,
  from: u,
  term: u,
  logTerm: u,
  index: u,
  entries: fc.array(entry, { maxLength: 4 }),
  commit: u,
  snapshot: fc.option(snapshot, { nil: undefined }),
  reject: fc.boolean(),
  rejectHint: u,
  context: fc.uint8Array({ maxLength: 16 })
}, { noNullPrototype: true, requiredKeys: ['type', 'to', 'from', 'term', 'logTerm', 'index', 'entries', 'commit', 'reject', 'rejectHint', 'context'] })

/** Plain comparable form (Buffers → arrays). */
function plain (m: Message): unknown {
  return JSON.parse(JSON.stringify(m, (_k, v: unknown) => v instanceof Uint8Array ? Array.from(v) : v))
}

describe('raft codec', () => {
  it('round-trips batches of arbitrary messages, every field included', () => {
    fc.assert(fc.property(fc.array(message, { maxLength: 6 }), (msgs) => {
      const decoded = decodeRaftFrame(encodeRaftMessages(msgs))
      assert.equal(decoded.kind, 'messages')
      if (decoded.kind !== 'messages') return
      assert.deepEqual(decoded.messages.map(plain), msgs.map(plain))
      for (const m of decoded.messages) assert.ok(!('snapshot' in m) || m.snapshot !== undefined)
    }), { numRuns: 500 })
  })

  it('carries the "removed" notice', () => {
    assert.deepEqual(decodeRaftFrame(encodeRaftRemoved()), { kind: 'removed' })
  })

  it('refuses a frame of another version', () => {
    for (const version of [0, 2, 99]) {
      const bytes = RaftFrame.encode({ version, kind: RaftFrameKind.MESSAGES, messages: [] })
      assert.throws(() => decodeRaftFrame(bytes), (e: unknown) => e instanceof FrameDecodeError && /version/.test(e.message))
    }
  })

  it('refuses unknown enum values, integers beyond 2^53 and a snapshot without metadata', () => {
    // type field (1) = 77 inside message (field 3)
    const badType = new Uint8Array([0x08, 0x01, 0x1a, 0x02, 0x08, 77])
    assert.throws(() => decodeRaftFrame(badType), FrameDecodeError)
    // term field (4) = 2^63 as a varint
    const big = [0x20, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x01]
    const badInt = new Uint8Array([0x08, 0x01, 0x1a, big.length + 2, 0x08, 0x04, ...big])
    assert.throws(() => decodeRaftFrame(badInt), FrameDecodeError)
    const noMeta = RaftFrame.encode({ version: 1, kind: RaftFrameKind.MESSAGES, messages: [] })
    const withSnap = new Uint8Array([...noMeta, 0x1a, 0x04, 0x08, 0x04, 0x4a, 0x00])
    assert.throws(() => decodeRaftFrame(withSnap), FrameDecodeError)
  })
})
