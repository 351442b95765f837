// fast-check generators of hostile input for the node's three protocols: raw bytes, well-framed random payloads,
// and valid frames (client requests, Raft batches, snapshot offers and chunks) put through byte-level mutations.
import fc from 'fast-check'
import { crc32 } from 'node:zlib'
import { encodeTxn, decodeTxn } from '../../../src/api/codec.js'
import type { RequestOp } from '../../../src/api/kv.js'
import { METHODS } from '../../../src/node/client-api.js'
import { encodeSnapshotEnvelope } from '../../../src/node/snapshot-envelope.js'
import { encodeFrames, FrameDecoder } from '../../../src/p2p/frame.js'
import { CLIENT_FRAME_VERSION } from '../../../src/p2p/client-transport.js'
import { encodeRaftMessages } from '../../../src/p2p/raft-codec.js'
import { SNAPSHOT_FRAME_VERSION } from '../../../src/p2p/snapshot-transport.js'
import { ClientRequestFrame } from '../../../src/p2p/wire/client.js'
import { SnapshotFrame, SnapshotFrameKind } from '../../../src/p2p/wire/snapshot.js'
import type { Message, MessageType } from '../../../src/raft/types.js'

const enc = new TextEncoder()

/** One byte-level edit of an encoded stream; positions are taken modulo the length. */
type Mutation =
  | { kind: 'flip', pos: number, bit: number }
  | { kind: 'set', pos: number, byte: number }
  | { kind: 'truncate', pos: number }
  | { kind: 'insert', pos: number, bytes: Uint8Array }
  | { kind: 'delete', pos: number, len: number }
  | { kind: 'duplicate', pos: number, len: number }

const mutationArb: fc.Arbitrary<Mutation> = fc.oneof(
  fc.record({ kind: fc.constant('flip' as const), pos: fc.nat(), bit: fc.integer({ min: 0, max: 7 }) }),
  fc.record({ kind: fc.constant('set' as const), pos: fc.nat(), byte: fc.constantFrom(0x00, 0xff, 0x7f, 0x80, 0x01, 0x08, 0x0a, 0x12) }),
  fc.record({ kind: fc.constant('truncate' as const), pos: fc.nat() }),
  fc.record({ kind: fc.constant('insert' as const), pos: fc.nat(), bytes: fc.uint8Array({ minLength: 1, maxLength: 12 }) }),
  fc.record({ kind: fc.constant('delete' as const), pos: fc.nat(), len: fc.integer({ min: 1, max: 8 }) }),
  fc.record({ kind: fc.constant('duplicate' as const), pos: fc.nat(), len: fc.integer({ min: 1, max: 16 }) })
)

/** Applies `ms` to a copy of `bytes`. */
export function mutate (bytes: Uint8Array, ms: readonly Mutation[]): Uint8Array {
  let b = Buffer.from(bytes)
  for (const m of ms) {
    const n = b.length
    const at = n === 0 ? 0 : m.pos % n
    switch (m.kind) {
      case 'flip': if (n > 0) b[at] ^= 1 << m.bit; break
      case 'set': if (n > 0) b[at] = m.byte; break
      case 'truncate': b = b.subarray(0, at); break
      case 'insert': b = Buffer.concat([b.subarray(0, at), m.bytes, b.subarray(at)]); break
      case 'delete': b = Buffer.concat([b.subarray(0, at), b.subarray(at + m.len)]); break
      case 'duplicate': b = Buffer.concat([b.subarray(0, at + m.len), b.subarray(at, at + m.len), b.subarray(at + m.len)]); break
    }
  }
  return new Uint8Array(b)
}

/** Raw bytes, a stream of well-framed random payloads, or `valid` frames with 1..4 mutations (or none). */
function hostile (valid: fc.Arbitrary<Uint8Array[]>): fc.Arbitrary<Uint8Array> {
  return fc.oneof(
    fc.uint8Array({ maxLength: 256 }),
    fc.array(fc.uint8Array({ maxLength: 128 }), { minLength: 1, maxLength: 4 }).map(ps => encodeFrames(ps)),
    fc.tuple(valid, fc.array(mutationArb, { minLength: 1, maxLength: 4 })).map(([ps, ms]) => mutate(encodeFrames(ps), ms)),
    valid.map(ps => encodeFrames(ps))
  )
}

/** Splits a byte stream the way the node's reader does: complete frames, and whether it stopped on a bad prefix. */
export function splitFrames (bytes: Uint8Array): { payloads: Uint8Array[], clean: boolean } {
  const d = new FrameDecoder()
  try {
    const payloads = d.push(bytes)
    return { payloads, clean: d.buffered === 0 }
  } catch {
    return { payloads: [], clean: false }
  }
}

// ---------------------------------------------------------------------------------------------------- client

/** Methods that never change replicated state (and so may be fuzzed against a node whose state we compare). */
export const READ_ONLY_METHODS: ReadonlySet<string> = new Set([
  `${METHODS.read}.linearizable`, `${METHODS.read}.lease`, `${METHODS.read}.stale`,
  METHODS.status, METHODS.ticket, METHODS.metrics, METHODS.nodeInfo
])
const KNOWN_METHODS: ReadonlySet<string> = new Set([...Object.values(METHODS), ...READ_ONLY_METHODS])

const keyArb = fc.oneof(fc.constantFrom('k', 'fuzz/a', ''), fc.string({ maxLength: 8 })).map(s => enc.encode(s))
const readOpArb: fc.Arbitrary<RequestOp> = fc.oneof(
  keyArb.map(key => ({ type: 'get' as const, key })),
  fc.record({ start: keyArb, end: keyArb, limit: fc.integer({ min: 0, max: 2000 }) }).map(r => ({ type: 'range' as const, ...r })),
  // a write smuggled into a read: the node must refuse it
  fc.record({ key: keyArb, value: fc.uint8Array({ maxLength: 16 }) }).map(r => ({ type: 'put' as const, ...r }))
)
const txnBodyArb = fc.array(readOpArb, { maxLength: 3 }).map(success => encodeTxn({ compare: [], success, failure: [] }))

const requestArb: fc.Arbitrary<Uint8Array> = fc.record({
  version: fc.oneof({ weight: 8, arbitrary: fc.constant(CLIENT_FRAME_VERSION) }, { weight: 1, arbitrary: fc.nat(5) }),
  requestId: fc.nat(),
  deadlineMs: fc.oneof(fc.constant(0), fc.integer({ min: 1, max: 3000 })),
  call: fc.oneof(
    fc.tuple(fc.constantFrom(...READ_ONLY_METHODS), fc.oneof(txnBodyArb, fc.json().map(j => enc.encode(j)), fc.uint8Array({ maxLength: 64 }))),
    fc.tuple(fc.constant(METHODS.txn), fc.uint8Array({ maxLength: 64 })),
    fc.tuple(fc.string({ minLength: 1, maxLength: 80 }), fc.uint8Array({ maxLength: 32 }))
  )
}).map(r => ClientRequestFrame.encode({ version: r.version, requestId: r.requestId, method: r.call[0], body: r.call[1] as Uint8Array<ArrayBuffer>, deadlineMs: r.deadlineMs }))

/** Bytes for the client protocol. */
export const clientStreamArb: fc.Arbitrary<Uint8Array> = hostile(fc.array(requestArb, { minLength: 1, maxLength: 3 }))

/** What the node should make of a client byte stream: the requests it will answer (before any bad frame). */
export interface ClientPlan {
  requests: Array<{ requestId: number, method: string }>
  /** Every frame is complete and decodable: the node must answer all of them. */
  clean: boolean
  /** The stream could change replicated state (a decodable write): not sent. */
  unsafe: boolean
}

/** Predicts what the node will parse from `bytes` (mirrors the server's decoding; see client-transport.ts). */
export function planClient (bytes: Uint8Array): ClientPlan {
  const { payloads, clean } = splitFrames(bytes)
  const plan: ClientPlan = { requests: [], clean, unsafe: false }
  for (const p of payloads) {
    let f: ClientRequestFrame
    try {
      f = ClientRequestFrame.decode(p)
    } catch {
      plan.clean = false
      break
    }
    if (f.version !== CLIENT_FRAME_VERSION || f.method.length === 0 || f.method.length > 64) {
      plan.clean = false
      break
    }
    if (KNOWN_METHODS.has(f.method) && !READ_ONLY_METHODS.has(f.method)) {
      if (f.method !== METHODS.txn) plan.unsafe = true
      else if (decodes(f.body)) plan.unsafe = true
    }
    plan.requests.push({ requestId: f.requestId, method: f.method })
  }
  return plan
}

function decodes (body: Uint8Array): boolean {
  try {
    decodeTxn(body)
    return true
  } catch {
    return false
  }
}

// ---------------------------------------------------------------------------------------------------- raft

const WIRE_TYPES: MessageType[] = ['app', 'appResp', 'vote', 'voteResp', 'preVote', 'preVoteResp', 'heartbeat', 'heartbeatResp',
  'timeoutNow', 'transferLeader', 'readIndex', 'readIndexResp', 'prop', 'snap', 'hup', 'beat']

/** Raft messages addressed to `to` (mostly) claiming to come from `froms`, with terms around `term`. */
export function raftMessageArb (to: number, froms: number[], term: number): fc.Arbitrary<Message> {
  const big = fc.oneof(fc.nat(50), fc.constant(Number.MAX_SAFE_INTEGER), fc.integer({ min: 0, max: 2 ** 40 }))
  return fc.record({
    type: fc.constantFrom(...WIRE_TYPES),
    to: fc.oneof({ weight: 5, arbitrary: fc.constant(to) }, { weight: 1, arbitrary: fc.nat(200) }),
    from: fc.constantFrom(...froms),
    term: fc.oneof(fc.integer({ min: 0, max: term + 3 }), fc.integer({ min: term + 100, max: 2 ** 40 })),
    logTerm: big,
    index: big,
    entries: fc.array(fc.record({
      term: fc.nat(term + 5),
      index: big,
      type: fc.constantFrom('normal' as const, 'confChange' as const),
      data: fc.uint8Array({ maxLength: 48 })
    }), { maxLength: 3 }),
    commit: big,
    reject: fc.boolean(),
    rejectHint: big,
    context: fc.uint8Array({ maxLength: 16 })
  })
}

/** Bytes for the Raft protocol. */
export function raftStreamArb (to: number, froms: number[], term: number): fc.Arbitrary<Uint8Array> {
  const frame = fc.array(raftMessageArb(to, froms, term), { minLength: 1, maxLength: 4 }).map(ms => encodeRaftMessages(ms))
  // version and kind fields only (protobuf tags 1 and 2, varints), including kinds the enum does not define
  const oddFrame = fc.record({ version: fc.nat(3), kind: fc.nat(3) }).map(r => new Uint8Array([0x08, r.version, 0x10, r.kind]))
  return hostile(fc.array(fc.oneof({ weight: 4, arbitrary: frame }, { weight: 1, arbitrary: oddFrame }), { minLength: 1, maxLength: 3 }))
}

// ---------------------------------------------------------------------------------------------------- snapshot

/** An envelope a leader would send (index far beyond the node's commit) or random bytes. */
function metadataArb (from: number, to: number, term: number): fc.Arbitrary<Uint8Array> {
  const envelope = fc.record({ index: fc.integer({ min: 1, max: 10_000 }), t: fc.integer({ min: 1, max: term + 5 }), peerId: fc.string({ maxLength: 8 }) })
    .map(r => encodeSnapshotEnvelope({
      meta: { index: r.index + 1000, term: r.t, confState: { voters: [from, to], learners: [], votersOutgoing: [], learnersNext: [], autoLeave: false }, chainHash: '00'.repeat(32), stateHash: '00'.repeat(32) },
      message: { type: 'snap', to, from, term: r.t, logTerm: 0, index: 0, entries: [], commit: 0, reject: false, rejectHint: 0, context: new Uint8Array(0), snapshot: { metadata: { index: r.index + 1000, term: r.t, confState: { voters: [from, to], learners: [], votersOutgoing: [], learnersNext: [], autoLeave: false } }, data: new Uint8Array(0) } },
      bindings: [{ nodeId: from, peerId: r.peerId, storeId: 'x', addrs: [] }]
    }))
  return fc.oneof(envelope, fc.uint8Array({ maxLength: 64 }))
}

/** Bytes for the snapshot protocol: an offer, chunks (correct or wrong checksums, sequence), maybe an abort. */
export function snapshotStreamArb (from: number, to: number, term: number): fc.Arbitrary<Uint8Array> {
  const valid = fc.record({
    id: fc.string({ minLength: 1, maxLength: 12 }),
    metadata: metadataArb(from, to, term),
    chunks: fc.array(fc.record({ data: fc.uint8Array({ maxLength: 64 }), goodCrc: fc.boolean(), seqSkew: fc.constantFrom(0, 0, 0, 1), last: fc.boolean() }), { maxLength: 3 }),
    abort: fc.boolean()
  }).map(r => {
    const frames = [SnapshotFrame.encode({ version: SNAPSHOT_FRAME_VERSION, kind: SnapshotFrameKind.OFFER, snapshotId: r.id, metadata: r.metadata as Uint8Array<ArrayBuffer>, seq: 0, data: new Uint8Array(0), checksum: 0, last: false, errorMessage: '' })]
    r.chunks.forEach((c, i) => frames.push(SnapshotFrame.encode({
      version: SNAPSHOT_FRAME_VERSION, kind: SnapshotFrameKind.CHUNK, snapshotId: r.id, metadata: new Uint8Array(0), seq: i + c.seqSkew,
      data: c.data as Uint8Array<ArrayBuffer>, checksum: c.goodCrc ? crc32(c.data) : (crc32(c.data) ^ 1) >>> 0, last: c.last, errorMessage: ''
    })))
    if (r.abort) frames.push(SnapshotFrame.encode({ version: SNAPSHOT_FRAME_VERSION, kind: SnapshotFrameKind.ABORT, snapshotId: r.id, metadata: new Uint8Array(0), seq: 0, data: new Uint8Array(0), checksum: 0, last: false, errorMessage: 'fuzz' }))
    return frames
  })
  return hostile(valid)
}
