// Binary layouts of the two hot records and conversions of the protobuf ones (store-wire.proto).
// Decoders throw RecordError; the store turns it into a CorruptionError naming table, index and data dir.
import type { ConfState, Entry, EntryType, HardState } from '../raft/types.js'
import { readU64, writeU64 } from './keys.js'
import type * as wire from './store-wire.js'

/** A plain Uint8Array view of the same bytes (callers compare with deepStrictEqual; Buffer is a subclass). */
export function plain (u: Uint8Array): Uint8Array {
  return Object.getPrototypeOf(u) === Uint8Array.prototype ? u : new Uint8Array(u.buffer, u.byteOffset, u.byteLength)
}

/** A record that does not have the expected layout. */
export class RecordError extends Error {}

export const HASH_BYTES = 32
/** The chain hash before the first entry, and the state hash of the empty state. */
export const ZERO_HASH: Buffer = Buffer.alloc(HASH_BYTES)

// Log record: [type u8][term u64][chain hash 32][data]
/** Offset of the chain hash in a log record. */
export const LOG_HASH_OFFSET = 9
/** Bytes of a log record before the entry's data. */
export const LOG_HEADER = LOG_HASH_OFFSET + HASH_BYTES
const ENTRY_TYPES: EntryType[] = ['normal', 'confChange']

/** Writes the log record of `e` at `offset` of `buf`, all but its chain hash (LOG_HEADER + data bytes). */
export function writeLogRecord (buf: Buffer, offset: number, e: Entry): void {
  buf[offset] = e.type === 'normal' ? 0 : 1
  writeU64(buf, offset + 1, e.term)
  buf.set(e.data, offset + LOG_HEADER)
}

/** A decoded log record: the entry, its stored chain hash and the record's bytes (views, not copies). */
export interface LogRecord {
  entry: Entry
  chainHash: Buffer
  record: Buffer
}

/** Decodes a log record at `index`. The entry's data is a view into `buf`. */
export function decodeLogRecord (index: number, buf: Buffer): LogRecord {
  if (buf.length < LOG_HEADER) throw new RecordError(`torn log record: ${buf.length} bytes, header needs ${LOG_HEADER}`)
  const type = ENTRY_TYPES[buf[0]]
  if (type === undefined) throw new RecordError(`unknown entry type ${buf[0]}`)
  let term: number
  try {
    term = readU64(buf, 1)
  } catch (err) {
    throw new RecordError((err as Error).message)
  }
  return { entry: { index, term, type, data: plain(buf.subarray(LOG_HEADER)) }, chainHash: buf.subarray(LOG_HASH_OFFSET, LOG_HEADER), record: buf }
}

/** A key's stored state. Revisions are Raft indexes. */
export interface KvRecord {
  value: Uint8Array
  createRevision: number
  modRevision: number
  version: number
  lease: number
}

// KV record: [format u8 = 1][create u64][mod u64][version u64][lease u64][value]
const KV_HEADER = 1 + 8 * 4
const KV_FORMAT = 1

/** Encodes a KV record. */
export function encodeKvRecord (r: KvRecord): Buffer {
  const buf = Buffer.allocUnsafe(KV_HEADER + r.value.length)
  buf[0] = KV_FORMAT
  writeU64(buf, 1, r.createRevision)
  writeU64(buf, 9, r.modRevision)
  writeU64(buf, 17, r.version)
  writeU64(buf, 25, r.lease)
  buf.set(r.value, KV_HEADER)
  return buf
}

/** Decodes a KV record (the value is a view into `buf`). */
export function decodeKvRecord (buf: Buffer): KvRecord {
  if (buf.length < KV_HEADER || buf[0] !== KV_FORMAT) throw new RecordError(`bad KV record (${buf.length} bytes, format ${buf[0]})`)
  try {
    return {
      createRevision: readU64(buf, 1),
      modRevision: readU64(buf, 9),
      version: readU64(buf, 17),
      lease: readU64(buf, 25),
      value: plain(buf.subarray(KV_HEADER))
    }
  } catch (err) {
    throw new RecordError((err as Error).message)
  }
}

/** The empty configuration. */
export function emptyConfState (): ConfState {
  return { voters: [], learners: [], votersOutgoing: [], learnersNext: [], autoLeave: false }
}

/** ConfState → record. */
export function confStateToRecord (c: ConfState): wire.ConfStateRecord {
  return { voters: [...c.voters], learners: [...c.learners], votersOutgoing: [...c.votersOutgoing], learnersNext: [...c.learnersNext], autoLeave: c.autoLeave }
}

/** record → ConfState. */
export function confStateFromRecord (r: wire.ConfStateRecord | undefined): ConfState {
  if (r === undefined) return emptyConfState()
  return { voters: r.voters, learners: r.learners, votersOutgoing: r.votersOutgoing, learnersNext: r.learnersNext, autoLeave: r.autoLeave }
}

/** A deep copy of a ConfState (callers may mutate what they passed in). */
export function cloneConfState (c: ConfState): ConfState {
  return { voters: [...c.voters], learners: [...c.learners], votersOutgoing: [...c.votersOutgoing], learnersNext: [...c.learnersNext], autoLeave: c.autoLeave }
}

/** Copy of a HardState. */
export function cloneHardState (h: HardState): HardState {
  return { term: h.term, vote: h.vote, commit: h.commit }
}
