// Lease records of the state machine. A lease holds its TTL and the revision it was granted at; when it expires is
// the leader's business (its own monotonic clock), never the state machine's: expiry reaches the state only as a
// replicated revoke entry, so every replica deletes the same keys at the same revision.
// Record layout: [format u8 = 1][ttl seconds u64][grant revision u64][flags u8: bit 0 = revoking]
import type { LeaseInfo } from '../api/kv.js'
import { readU64, writeU64 } from './keys.js'
import { RecordError } from './records.js'

const LEASE_FORMAT = 1
const LEASE_BYTES = 1 + 8 + 8 + 1

/** Encodes a lease record (the id is the key). */
export function encodeLease (l: LeaseInfo): Buffer {
  const buf = Buffer.allocUnsafe(LEASE_BYTES)
  buf[0] = LEASE_FORMAT
  writeU64(buf, 1, l.ttlSeconds)
  writeU64(buf, 9, l.grantRevision)
  buf[17] = l.revoking ? 1 : 0
  return buf
}

/** Decodes the lease record of lease `id`; throws RecordError on a malformed one. */
export function decodeLease (id: number, buf: Uint8Array): LeaseInfo {
  if (buf.length !== LEASE_BYTES || buf[0] !== LEASE_FORMAT) throw new RecordError(`bad lease record (${buf.length} bytes, format ${buf[0]})`)
  const b = Buffer.from(buf.buffer, buf.byteOffset, buf.byteLength)
  try {
    return { id, ttlSeconds: readU64(b, 1), grantRevision: readU64(b, 9), revoking: (b[17] & 1) === 1 }
  } catch (err) {
    throw new RecordError((err as Error).message)
  }
}

/** The 8-byte big-endian form of a lease id (snapshot stream record key). */
export function leaseIdBytes (id: number): Buffer {
  const k = Buffer.allocUnsafe(8)
  writeU64(k, 0, id)
  return k
}

/** Inverse of leaseIdBytes. */
export function leaseIdFromBytes (k: Uint8Array): number {
  if (k.length !== 8) throw new RecordError(`lease id of ${k.length} bytes`)
  return readU64(Buffer.from(k.buffer, k.byteOffset, k.byteLength), 0)
}

/** The leases as of the last synced batch, plus this batch's changes (null = gone). */
export class LeaseView {
  private readonly writes = new Map<number, LeaseInfo | null>()

  constructor (private readonly base: ReadonlyMap<number, LeaseInfo>) {}

  /** The lease `id` as of now in this batch. */
  get (id: number): LeaseInfo | undefined {
    const w = this.writes.get(id)
    if (w !== undefined) return w ?? undefined
    return this.base.get(id)
  }

  /** True when lease `id` exists and accepts keys (not being revoked). */
  usable (id: number): boolean {
    const l = this.get(id)
    return l !== undefined && !l.revoking
  }

  /** How many leases exist now. */
  count (): number {
    let n = this.base.size
    for (const [id, w] of this.writes) {
      const had = this.base.has(id)
      if (w === null && had) n--
      else if (w !== null && !had) n++
    }
    return n
  }

  set (id: number, l: LeaseInfo | null): void {
    this.writes.set(id, l)
  }

  /** This batch's changes. */
  changes (): Iterable<[number, LeaseInfo | null]> {
    return this.writes.entries()
  }
}
