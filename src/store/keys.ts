// Key layout of DATA_DIR/raft: one LevelDB, tables as one-byte prefixes, integers big-endian so key order is
// numeric order. KV keys carry a 4-byte generation so a snapshot can be installed beside the live state and
// switched to in one batch.
//   m<name>              singleton records (format version, identity, hard state, applied, log start, ...)
//   l<index u64>         log entries (with their chain hash)
//   k<gen u32><user key> KV state machine, generation `gen`
//   e<revision u64>      change events of one revision
//   L<gen u32><id u64>   leases, generation `gen` (switched with the KV table by a snapshot install)
//   A<gen u32><id u64><user key>  keys attached to a lease (may name keys since re-put or deleted: checked on use)
import { invariant } from '../errors.js'

export const TABLE_META = 0x6d // 'm'
export const TABLE_LOG = 0x6c // 'l'
export const TABLE_KV = 0x6b // 'k'
export const TABLE_EVENTS = 0x65 // 'e'
export const TABLE_LEASES = 0x4c // 'L'
export const TABLE_ATTACH = 0x41 // 'A'

const TWO_32 = 2 ** 32

/** Writes a non-negative safe integer as 8 bytes big-endian. */
export function writeU64 (buf: Buffer, offset: number, n: number): void {
  invariant(Number.isSafeInteger(n) && n >= 0, () => `u64 out of range: ${n}`)
  buf.writeUInt32BE(Math.floor(n / TWO_32), offset)
  buf.writeUInt32BE(n >>> 0, offset + 4)
}

/** Reads 8 bytes big-endian; throws RangeError beyond 2^53. */
export function readU64 (buf: Buffer, offset: number): number {
  const n = buf.readUInt32BE(offset) * TWO_32 + buf.readUInt32BE(offset + 4)
  if (!Number.isSafeInteger(n)) throw new RangeError(`u64 at ${offset} exceeds 2^53`)
  return n
}

function metaKey (name: string): Buffer {
  return Buffer.concat([Buffer.of(TABLE_META), Buffer.from(name, 'latin1')])
}

/** Singleton records. */
export const META = {
  formatVersion: metaKey('fv'),
  identity: metaKey('id'),
  hardState: metaKey('hs'),
  applied: metaKey('ap'),
  logStart: metaKey('ls'),
  snapshot: metaKey('sn'),
  generation: metaKey('gen'),
  eventsFloor: metaKey('ef')
} as const

function indexKey (table: number, index: number): Buffer {
  const k = Buffer.allocUnsafe(9)
  k[0] = table
  writeU64(k, 1, index)
  return k
}

/** Key of the log entry at `index`. */
export function logKey (index: number): Buffer {
  return indexKey(TABLE_LOG, index)
}

/** Index of a log key. */
export function logIndexOf (key: Buffer): number {
  return readU64(key, 1)
}

/** First key after the whole log table. */
export const LOG_END = Buffer.of(TABLE_LOG + 1)

/** Key of the events of `revision`. */
export function eventKey (revision: number): Buffer {
  return indexKey(TABLE_EVENTS, revision)
}

/** Revision of an event key. */
export function eventRevisionOf (key: Buffer): number {
  return readU64(key, 1)
}

/** First key after the whole events table. */
export const EVENTS_END = Buffer.of(TABLE_EVENTS + 1)

/** Largest KV generation. */
export const MAX_GENERATION = 0xffff_fffe

/** Prefix of generation `gen` of the KV table. */
export function kvPrefix (gen: number): Buffer {
  invariant(Number.isInteger(gen) && gen >= 0 && gen <= MAX_GENERATION + 1, () => `bad generation ${gen}`)
  const k = Buffer.allocUnsafe(5)
  k[0] = TABLE_KV
  k.writeUInt32BE(gen, 1)
  return k
}

/** Key of `userKey` in generation `gen`. */
export function kvKey (gen: number, userKey: Uint8Array): Buffer {
  const k = Buffer.allocUnsafe(5 + userKey.length)
  k[0] = TABLE_KV
  k.writeUInt32BE(gen, 1)
  k.set(userKey, 5)
  return k
}

/** [gte, lt) bounds in generation `gen` for the user range [start, end) (empty end = unbounded). */
export function kvBounds (gen: number, start: Uint8Array, end: Uint8Array): { gte: Buffer, lt: Buffer } {
  return { gte: kvKey(gen, start), lt: end.length === 0 ? kvPrefix(gen + 1) : kvKey(gen, end) }
}

/** User key of a KV key (a view, not a copy). */
export function userKeyOf (key: Buffer): Buffer {
  return key.subarray(5)
}

/** First key after the whole KV table. */
export const KV_END = Buffer.of(TABLE_KV + 1)
/** First key of the whole KV table. */
export const KV_START = Buffer.of(TABLE_KV)

/** A byte string as a Map key that sorts like the bytes (latin1 maps each byte to one UTF-16 unit). */
export function bytesId (key: Uint8Array): string {
  // String.fromCharCode maps byte b to code unit b (what latin1 decoding does) without allocating a Buffer view
  return key.length <= 4096 ? String.fromCharCode.apply(null, key as unknown as number[]) : Buffer.from(key.buffer, key.byteOffset, key.byteLength).toString('latin1')
}

/** Inverse of bytesId. */
export function idBytes (id: string): Buffer {
  return Buffer.from(id, 'latin1')
}

/** Prefix of generation `gen` of a generation-scoped table (KV, leases, attachments). */
export function genPrefix (table: number, gen: number): Buffer {
  invariant(Number.isInteger(gen) && gen >= 0 && gen <= MAX_GENERATION + 1, () => `bad generation ${gen}`)
  const k = Buffer.allocUnsafe(5)
  k[0] = table
  k.writeUInt32BE(gen, 1)
  return k
}

/** Key of lease `id` in generation `gen`. */
export function leaseKey (gen: number, id: number): Buffer {
  const k = Buffer.allocUnsafe(13)
  k[0] = TABLE_LEASES
  k.writeUInt32BE(gen, 1)
  writeU64(k, 5, id)
  return k
}

/** Lease id of a lease key. */
export function leaseIdOf (key: Buffer): number {
  return readU64(key, 5)
}

/** Key recording that `userKey` was put with lease `id` (generation `gen`). */
export function attachKey (gen: number, id: number, userKey: Uint8Array): Buffer {
  const k = Buffer.allocUnsafe(13 + userKey.length)
  k[0] = TABLE_ATTACH
  k.writeUInt32BE(gen, 1)
  writeU64(k, 5, id)
  k.set(userKey, 13)
  return k
}

/** [gte, lt) of the attachments of lease `id` in generation `gen`. */
export function attachBounds (gen: number, id: number): { gte: Buffer, lt: Buffer } {
  return { gte: attachKey(gen, id, new Uint8Array(0)), lt: attachKey(gen, id + 1, new Uint8Array(0)) }
}

/** User key of an attachment key (a view). */
export function attachedKeyOf (key: Buffer): Buffer {
  return key.subarray(13)
}
