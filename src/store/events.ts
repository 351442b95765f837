// The change-event table: per revision, the puts and deletes it made (transactions and delete-range included),
// so that watches can resume from a revision. Encoded once per applied entry; the same bytes feed the state hash.
// Layout (hand-rolled: this is on the write path of every request), repeated per event:
//   put:    [0][varint key len][key][varint value len][value][create u64][version u64][lease u64]
//   delete: [1][varint key len][key]
// The revisions one persist applies are stored together, as one LevelDB record keyed by the last of them (as the
// log is, see log-run.ts: one record instead of one per revision is most of what a batch costs LevelDB):
//   run:    [RUN_MARKER][per revision: [revision u64][events length u32][events]]
// A format-1 record (the events of one revision, keyed by it) starts with an event type and reads as a run of one.
import type { KvEvent } from '../api/kv.js'
import type { Effect } from './state-machine.js'
import { eventKey, readU64, writeU64 } from './keys.js'
import { plain, RecordError } from './records.js'
import { runSpans } from './run-spans.js'
import { encodeUint8Array, encodingLength } from 'uint8-varint'

/** Writes the varint of `n` at `off`; returns the offset after it. */
function writeVarint (buf: Buffer, off: number, n: number): number {
  encodeUint8Array(n, buf, off)
  return off + encodingLength(n)
}

/** Encodes the effects of one revision. */
export function encodeEvents (effects: Effect[]): Buffer {
  let size = 0
  for (const e of effects) {
    size += 1 + encodingLength(e.key.length) + e.key.length
    if (e.type === 'put') size += encodingLength(e.rec.value.length) + e.rec.value.length + 24
  }
  const buf = Buffer.allocUnsafe(size)
  let off = 0
  for (const e of effects) {
    buf[off++] = e.type === 'put' ? 0 : 1
    off = writeVarint(buf, off, e.key.length)
    buf.set(e.key, off)
    off += e.key.length
    if (e.type === 'put') {
      off = writeVarint(buf, off, e.rec.value.length)
      buf.set(e.rec.value, off)
      off += e.rec.value.length
      writeU64(buf, off, e.rec.createRevision)
      writeU64(buf, off + 8, e.rec.version)
      writeU64(buf, off + 16, e.rec.lease)
      off += 24
    }
  }
  return buf
}

/** Decodes the events of `revision`; throws RecordError on a malformed record. */
export function decodeEvents (revision: number, bytes: Buffer): KvEvent[] {
  const out: KvEvent[] = []
  let off = 0
  const need = (n: number): void => {
    if (off + n > bytes.length) throw new RecordError(`truncated event record at byte ${off}`)
  }
  const varint = (): number => {
    let n = 0
    for (let shift = 0; shift < 28; shift += 7) {
      need(1)
      const b = bytes[off++]
      n |= (b & 0x7f) << shift
      if ((b & 0x80) === 0) return n
    }
    throw new RecordError('event length varint too long')
  }
  while (off < bytes.length) {
    const type = bytes[off++]
    if (type !== 0 && type !== 1) throw new RecordError(`unknown event type ${type}`)
    const keyLen = varint()
    need(keyLen)
    const key = plain(bytes.subarray(off, off + keyLen))
    off += keyLen
    if (type === 1) {
      out.push({ type: 'delete', kv: { key, value: new Uint8Array(0), createRevision: 0, modRevision: revision, version: 0, lease: 0 } })
      continue
    }
    const valueLen = varint()
    need(valueLen + 24)
    const value = plain(bytes.subarray(off, off + valueLen))
    off += valueLen
    out.push({ type: 'put', kv: { key, value, createRevision: readU64(bytes, off), modRevision: revision, version: readU64(bytes, off + 8), lease: readU64(bytes, off + 16) } })
    off += 24
  }
  return out
}

/** First byte of an event run (a format-1 record starts with an event type, 0 or 1). */
export const EVENT_RUN_MARKER = 0x80
/** A run is closed once it holds this many bytes (one revision may exceed it alone). */
export const EVENT_RUN_MAX_BYTES = 512 * 1024
const PER_REVISION = 8 + 4

/** The events of one revision, encoded (encodeEvents). */
export type RevisionBytes = readonly [revision: number, events: Buffer]

/** Event-run records for `revs` (ascending revisions), each keyed by its last revision. */
export function encodeEventRuns (revs: readonly RevisionBytes[]): Array<{ key: Buffer, value: Buffer }> {
  const runs: Array<{ key: Buffer, value: Buffer }> = []
  for (const { start, end, bytes } of runSpans(revs.length, 1, (i) => PER_REVISION + revs[i][1].length, EVENT_RUN_MAX_BYTES)) {
    const value = Buffer.allocUnsafe(bytes)
    value[0] = EVENT_RUN_MARKER
    let off = 1
    for (let k = start; k < end; k++) {
      const [revision, events] = revs[k]
      writeU64(value, off, revision)
      value.writeUInt32BE(events.length, off + 8)
      value.set(events, off + PER_REVISION)
      off += PER_REVISION + events.length
    }
    runs.push({ key: eventKey(revs[end - 1][0]), value })
  }
  return runs
}

/** The revisions of the event run keyed by `lastRevision`, in order; throws RecordError on a malformed run. */
export function decodeEventRun (lastRevision: number, buf: Buffer): Array<{ revision: number, events: Buffer }> {
  if (buf.length === 0 || buf[0] !== EVENT_RUN_MARKER) return [{ revision: lastRevision, events: buf }]
  const out: Array<{ revision: number, events: Buffer }> = []
  let off = 1
  while (off < buf.length) {
    if (off + PER_REVISION > buf.length) throw new RecordError(`truncated event run at byte ${off}`)
    const revision = readU64(buf, off)
    const end = off + PER_REVISION + buf.readUInt32BE(off + 8)
    if (end > buf.length) throw new RecordError(`truncated event run: revision ${revision} runs past the record`)
    out.push({ revision, events: buf.subarray(off + PER_REVISION, end) })
    off = end
  }
  if (out.length === 0 || out[out.length - 1].revision !== lastRevision) throw new RecordError(`event run does not end at its key's revision ${lastRevision}`)
  return out
}
