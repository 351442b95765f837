// Byte accounting for entries: what batching (maxSizePerMsg), apply pacing (maxCommittedSizePerReady) and the
// uncommitted-tail limit measure.

import type { Entry } from './types.js'

/** Fixed per-entry overhead on the wire (term, index, type, length prefix), a stable over-estimate. */
export const ENTRY_OVERHEAD_BYTES = 24

/** Encoded size estimate of one entry. */
export function entrySize (e: Entry): number {
  return e.data.byteLength + ENTRY_OVERHEAD_BYTES
}

/** Sum of entrySize over `ents`. */
export function entriesSize (ents: readonly Entry[]): number {
  let s = 0
  for (const e of ents) s += entrySize(e)
  return s
}

/** Payload bytes counted against maxUncommittedEntriesSize: normal entries only, so no-ops and conf changes are never refused. */
export function payloadSize (e: Entry): number {
  return e.type === 'normal' ? e.data.byteLength : 0
}

/** Sum of payloadSize over `ents`. */
export function payloadsSize (ents: readonly Entry[]): number {
  let s = 0
  for (const e of ents) s += payloadSize(e)
  return s
}

/** The longest prefix of `ents` within `maxSize` bytes, but never fewer than one entry (so progress is always possible). */
export function limitSize (ents: Entry[], maxSize: number): Entry[] {
  if (ents.length === 0) return ents
  let size = entrySize(ents[0])
  let n = 1
  for (; n < ents.length; n++) {
    size += entrySize(ents[n])
    if (size > maxSize) break
  }
  return n === ents.length ? ents : ents.slice(0, n)
}
