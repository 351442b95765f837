// The log's hash chain: h[i] = sha256(h[i-1] ‖ index ‖ term ‖ type ‖ data), h[0] = 32 zero bytes. Replicas whose
// logs match up to i have the same h[i], so it doubles as a fingerprint for comparing replicas.
import { hash } from 'node:crypto'
import type { Entry } from '../raft/types.js'
import { writeU64 } from './keys.js'
import { HASH_BYTES } from './records.js'

// The hash input is assembled in one reused buffer: a persist hashes every entry it appends, and a fresh
// buffer per entry was a third of the store's garbage. Inputs above the cap get their own buffer.
const SCRATCH_CAP = 64 * 1024
let scratch = Buffer.allocUnsafeSlow(1024)

function input (size: number): Buffer {
  if (size > SCRATCH_CAP) return Buffer.allocUnsafe(size)
  if (scratch.length < size) scratch = Buffer.allocUnsafeSlow(Math.min(SCRATCH_CAP, Math.max(size, scratch.length * 2)))
  return scratch
}

// node:crypto's hash() returns a 'buffer' digest through a C++ Buffer allocation that costs three times the
// SHA-256 of a 300-byte entry; a 'binary' (latin1) string digest is byte-exact and is copied where it belongs.
function sha256Into (input: Buffer, out: Buffer, offset: number): void {
  out.write(hash('sha256', input, 'binary'), offset, HASH_BYTES, 'latin1')
}

/** Writes h[e.index], given h[e.index - 1], into `out` at `offset`. */
export function chainHashInto (prev: Uint8Array, e: Entry, out: Buffer, offset: number): void {
  const size = HASH_BYTES + 17 + e.data.length
  const buf = input(size)
  buf.set(prev, 0)
  writeU64(buf, HASH_BYTES, e.index)
  writeU64(buf, HASH_BYTES + 8, e.term)
  buf[HASH_BYTES + 16] = e.type === 'normal' ? 0 : 1
  buf.set(e.data, HASH_BYTES + 17)
  sha256Into(size === buf.length ? buf : buf.subarray(0, size), out, offset)
}

/** h[e.index] given h[e.index - 1]. The entry type is hashed with the payload so a flipped type is caught too. */
export function chainHash (prev: Uint8Array, e: Entry): Buffer {
  const out = Buffer.allocUnsafe(HASH_BYTES)
  chainHashInto(prev, e, out, 0)
  return out
}

/** The running state hash after applying effects `effects` (encoded events) at `index`. */
export function stateHash (prev: Uint8Array, index: number, effects: Uint8Array): Buffer {
  const size = HASH_BYTES + 8 + effects.length
  const buf = input(size)
  buf.set(prev, 0)
  writeU64(buf, HASH_BYTES, index)
  buf.set(effects, HASH_BYTES + 8)
  const out = Buffer.allocUnsafe(HASH_BYTES)
  sha256Into(size === buf.length ? buf : buf.subarray(0, size), out, 0)
  return out
}
