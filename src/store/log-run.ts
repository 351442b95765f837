// Log runs: the entries one persist appends are stored as one LevelDB record (split at RUN_MAX_BYTES), keyed by
// the index of their LAST entry. A synced batch then carries a handful of records instead of one per entry:
// classic-level converts each batch operation through N-API and LevelDB inserts each into its memtable, and that
// per-operation cost, not the bytes, was most of the store's overhead over a bare LevelDB batch (bench/store.ts).
//
// Keying by the last index keeps the log's range operations whole-record: a forward seek to logKey(i) lands on
// the run holding i; clearing keys <= logKey(start) drops exactly the runs that end at or before the log start
// (a run straddling it stays and its older entries are skipped on read).
//
//   run value:  [RUN_MARKER u8][first index u64] then per entry [record length u32][record]
//   record:     [type u8][term u64][chain hash 32][data]        (records.ts)
//   legacy:     a bare record (format 1: one LevelDB record per entry, keyed by its index) reads as a run of one.
import type { Entry } from '../raft/types.js'
import { InvariantError } from '../errors.js'
import { chainHashInto } from './chain.js'
import { readU64, TABLE_LOG, writeU64 } from './keys.js'
import type { LogRecord } from './records.js'
import { decodeLogRecord, HASH_BYTES, LOG_HASH_OFFSET, LOG_HEADER, RecordError, writeLogRecord } from './records.js'
import { runSpans } from './run-spans.js'

/** First byte of a run value (a legacy record starts with its entry type, 0 or 1). */
export const RUN_MARKER = 0x80
const RUN_HEADER = 1 + 8
const LEN_BYTES = 4
const KEY_BYTES = 9

/** A run is closed once it holds this many bytes (one entry may exceed it alone): bounds what a read of one entry loads. */
export const RUN_MAX_BYTES = 512 * 1024

/** One run as written: its key and value. */
export interface EncodedRun {
  key: Buffer
  value: Buffer
}

/** The runs of a persist and the chain hashes of its entries (the hashes share one buffer, apart from the runs). */
export interface LogAppend {
  runs: EncodedRun[]
  hashes: Buffer[]
}

function runKey (lastIndex: number): Buffer {
  const k = Buffer.allocUnsafe(KEY_BYTES)
  k[0] = TABLE_LOG
  writeU64(k, 1, lastIndex)
  return k
}

/**
 * Encodes `entries` (contiguous, terms never decreasing from `prevTerm`) following the entry whose chain hash is
 * `prevHash`, as runs of at most RUN_MAX_BYTES. Throws InvariantError on a gap or a term going back.
 */
export function encodeLogAppend (entries: readonly Entry[], prevHash: Uint8Array, prevTerm: number): LogAppend {
  const n = entries.length
  // the store keeps the hashes of unapplied entries in memory: they must not pin the runs' memory
  const hashSlab = Buffer.allocUnsafe(HASH_BYTES * n)
  const hashes = new Array<Buffer>(n)
  const runs: EncodedRun[] = []
  let prev = prevHash
  for (const { start, end, bytes } of runSpans(n, RUN_HEADER, (i) => LEN_BYTES + LOG_HEADER + entries[i].data.length, RUN_MAX_BYTES)) {
    const value = Buffer.allocUnsafe(bytes)
    value[0] = RUN_MARKER
    writeU64(value, 1, entries[start].index)
    let offset = RUN_HEADER
    for (let k = start; k < end; k++) {
      const e = entries[k]
      // plain checks: a message closure per entry would be garbage on the hottest loop of the store
      if (e.index !== entries[0].index + k) throw new InvariantError(`entries are not contiguous at ${e.index}`)
      if (e.term < prevTerm) throw new InvariantError(`entry ${e.index} has term ${e.term} below its predecessor's ${prevTerm}`)
      const h = k * HASH_BYTES
      chainHashInto(prev, e, hashSlab, h)
      const recordBytes = LOG_HEADER + e.data.length
      value.writeUInt32BE(recordBytes, offset)
      writeLogRecord(value, offset + LEN_BYTES, e)
      hashSlab.copy(value, offset + LEN_BYTES + LOG_HASH_OFFSET, h, h + HASH_BYTES)
      prev = hashes[k] = hashSlab.subarray(h, h + HASH_BYTES)
      prevTerm = e.term
      offset += LEN_BYTES + recordBytes
    }
    runs.push({ key: runKey(entries[end - 1].index), value })
  }
  return { runs, hashes }
}

/** A run that does not decode; `index` is the first entry that could not be read. */
export class RunError extends RecordError {
  constructor (message: string, readonly index: number) {
    super(message)
  }
}

/** The entries of a run keyed by `lastIndex`, in order (data and hashes are views into `buf`); see checkRunEnd. */
export function decodeLogRun (lastIndex: number, buf: Buffer): LogRecord[] {
  if (buf.length === 0 || buf[0] !== RUN_MARKER) {
    try {
      return [decodeLogRecord(lastIndex, buf)]
    } catch (err) {
      throw new RunError((err as Error).message, lastIndex)
    }
  }
  if (buf.length < RUN_HEADER) throw new RunError(`torn log run: ${buf.length} bytes`, lastIndex)
  let index: number
  try {
    index = readU64(buf, 1)
  } catch (err) {
    throw new RunError((err as Error).message, lastIndex)
  }
  const out: LogRecord[] = []
  let offset = RUN_HEADER
  while (offset < buf.length) {
    if (offset + LEN_BYTES > buf.length) throw new RunError(`torn log run: entry length cut at byte ${offset}`, index)
    const end = offset + LEN_BYTES + buf.readUInt32BE(offset)
    if (end > buf.length) throw new RunError(`torn log run: entry of ${end - offset - LEN_BYTES} bytes, ${buf.length - offset - LEN_BYTES} left`, index)
    try {
      out.push(decodeLogRecord(index, buf.subarray(offset + LEN_BYTES, end)))
    } catch (err) {
      throw new RunError((err as Error).message, index)
    }
    index++
    offset = end
  }
  if (out.length === 0) throw new RunError('empty log run', index)
  return out
}

/** Throws RunError unless the decoded run `recs` ends at its key's `lastIndex` (callers check the hashes first). */
export function checkRunEnd (lastIndex: number, recs: readonly LogRecord[]): void {
  const end = recs[recs.length - 1].entry.index
  if (end !== lastIndex) throw new RunError(`log run ends at entry ${end}, its key says ${lastIndex}`, Math.min(end + 1, lastIndex))
}

/** The prefix of the decoded run `recs` holding its entries before `index` (keyed by index - 1), or undefined when none is. */
export function truncateLogRun (recs: readonly LogRecord[], index: number): EncodedRun | undefined {
  if (recs[0].entry.index >= index) return undefined
  const keep = recs.filter((r) => r.entry.index < index)
  return { key: runKey(index - 1), value: packLogRun(keep[0].entry.index, keep.map((r) => r.record)) }
}

/** A run value from whole records (as decodeLogRun returns them in `record`). */
export function packLogRun (first: number, records: readonly Uint8Array[]): Buffer {
  let size = RUN_HEADER
  for (const r of records) size += LEN_BYTES + r.length
  const value = Buffer.allocUnsafe(size)
  value[0] = RUN_MARKER
  writeU64(value, 1, first)
  let offset = RUN_HEADER
  for (const r of records) {
    value.writeUInt32BE(r.length, offset)
    value.set(r, offset + LEN_BYTES)
    offset += LEN_BYTES + r.length
  }
  return value
}
