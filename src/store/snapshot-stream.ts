// The snapshot stream format: self-describing chunks, each with the snapshot's index/term, a sequence number and a
// sha256 of its records; the last chunk carries the whole-stream checksum, key count and byte count.
// Records are (varint key length, key, varint value length, value) with values in the KV record layout.
import { createHash } from 'node:crypto'
import { SnapshotChunk } from './store-wire.js'
import { SnapshotError } from './errors.js'
import { encodeUint8Array, encodingLength } from 'uint8-varint'

/** Records are packed into chunks of about this many bytes (a chunk ends after the record that crosses it). */
export const CHUNK_TARGET_BYTES = 1024 * 1024
/** Largest chunk a reader accepts: one target plus one maximal record (key 1 KiB + value 1 MiB + headers). */
export const MAX_CHUNK_BYTES = CHUNK_TARGET_BYTES + 1024 * 1024 + 64 * 1024

type Bytes = Uint8Array<ArrayBuffer>

/** Writes the varint of `n` at `off`; returns the offset after it. */
function writeVarint (buf: Buffer, off: number, n: number): number {
  encodeUint8Array(n, buf, off)
  return off + encodingLength(n)
}

function readVarint (buf: Buffer, off: number): [number, number] {
  let n = 0
  let mul = 1
  for (let i = 0; i < 5; i++) {
    if (off >= buf.length) throw new SnapshotError('truncated record length in snapshot chunk')
    const b = buf[off++]
    n += (b & 0x7f) * mul
    if ((b & 0x80) === 0) return [n, off]
    mul *= 128
  }
  throw new SnapshotError('record length varint too long in snapshot chunk')
}

/** Packs (key, value) records into one buffer. */
export function packRecords (records: Array<{ key: Uint8Array, value: Uint8Array }>): Buffer {
  let size = 0
  for (const r of records) size += encodingLength(r.key.length) + r.key.length + encodingLength(r.value.length) + r.value.length
  const buf = Buffer.allocUnsafe(size)
  let off = 0
  for (const r of records) {
    off = writeVarint(buf, off, r.key.length)
    buf.set(r.key, off)
    off += r.key.length
    off = writeVarint(buf, off, r.value.length)
    buf.set(r.value, off)
    off += r.value.length
  }
  return buf
}

/** Unpacks records (views into `buf`); throws SnapshotError on a malformed run. */
export function unpackRecords (buf: Buffer): Array<{ key: Buffer, value: Buffer }> {
  const out: Array<{ key: Buffer, value: Buffer }> = []
  let off = 0
  while (off < buf.length) {
    let len: number
    ;[len, off] = readVarint(buf, off)
    if (off + len > buf.length) throw new SnapshotError('truncated key in snapshot chunk')
    const key = buf.subarray(off, off + len)
    off += len
    ;[len, off] = readVarint(buf, off)
    if (off + len > buf.length) throw new SnapshotError('truncated value in snapshot chunk')
    const value = buf.subarray(off, off + len)
    off += len
    out.push({ key, value })
  }
  return out
}

/** sha256 of bytes. */
export function sha256 (bytes: Uint8Array): Buffer {
  return createHash('sha256').update(bytes).digest()
}

/** A decoded chunk. */
export interface DecodedChunk {
  index: number
  term: number
  seq: number
  records: Buffer
  checksum: Buffer
  last: boolean
  totalChecksum: Buffer
  totalKeys: number
  totalBytes: number
  /** Packed (lease id, lease record) records; only in the last chunk. */
  leases: Buffer
  totalLeases: number
}

/** Encodes one chunk. */
export function encodeChunk (c: DecodedChunk): Uint8Array {
  return SnapshotChunk.encode({
    index: c.index,
    term: c.term,
    seq: c.seq,
    records: c.records as Bytes,
    checksum: c.checksum as Bytes,
    last: c.last,
    totalChecksum: c.totalChecksum as Bytes,
    totalKeys: c.totalKeys,
    totalBytes: c.totalBytes,
    leases: c.leases as Bytes,
    totalLeases: c.totalLeases
  })
}

/** Decodes one chunk and checks its own checksum; throws SnapshotError. */
export function decodeChunk (bytes: Uint8Array): DecodedChunk {
  if (bytes.length > MAX_CHUNK_BYTES) throw new SnapshotError(`snapshot chunk of ${bytes.length} bytes exceeds ${MAX_CHUNK_BYTES}`)
  let w: SnapshotChunk
  try {
    w = SnapshotChunk.decode(bytes)
  } catch (err) {
    throw new SnapshotError(`undecodable snapshot chunk: ${(err as Error).message}`, { cause: err })
  }
  const records = Buffer.from(w.records.buffer, w.records.byteOffset, w.records.byteLength)
  const checksum = Buffer.from(w.checksum)
  const leases = Buffer.from(w.leases.buffer, w.leases.byteOffset, w.leases.byteLength)
  if (!chunkChecksum(records, leases).equals(checksum)) throw new SnapshotError(`snapshot chunk ${w.seq} fails its checksum`)
  return {
    index: w.index,
    term: w.term,
    seq: w.seq,
    records,
    checksum,
    last: w.last,
    totalChecksum: Buffer.from(w.totalChecksum),
    totalKeys: w.totalKeys,
    totalBytes: w.totalBytes,
    leases,
    totalLeases: w.totalLeases
  }
}

/** sha256(records ‖ leases): equal to sha256(records) for a chunk without leases, as earlier versions wrote. */
export function chunkChecksum (records: Uint8Array, leases: Uint8Array): Buffer {
  return createHash('sha256').update(records).update(leases).digest()
}
