// The log's hash chain: h[i] = sha256(h[i-1] ‖ index ‖ term ‖ type ‖ data), h[0] = 32 zero bytes. Replicas whose
// logs match up to i have the same h[i], so it doubles as a fingerprint for comparing replicas.
import { hash } from 'node:crypto'
import type { Entry } from '../raft/types.js'
import { writeU64 } from './keys.js'
import { HASH_BYTES } from './records.js'

/** h[e.index] given h[e.index - 1]. The entry type is hashed with the payload so a flipped type is caught too. */
export function chainHash (prev: Uint8Array, e: Entry): Buffer {
  const buf = Buffer.allocUnsafe(HASH_BYTES + 17 + e.data.length)
  buf.set(prev, 0)
  writeU64(buf, HASH_BYTES, e.index)
  writeU64(buf, HASH_BYTES + 8, e.term)
  buf[HASH_BYTES + 16] = e.type === 'normal' ? 0 : 1
  buf.set(e.data, HASH_BYTES + 17)
  return hash('sha256', buf, 'buffer')
}

/** The running state hash after applying effects `effects` (encoded events) at `index`. */
export function stateHash (prev: Uint8Array, index: number, effects: Uint8Array): Buffer {
  const buf = Buffer.allocUnsafe(HASH_BYTES + 8 + effects.length)
  buf.set(prev, 0)
  writeU64(buf, HASH_BYTES, index)
  buf.set(effects, HASH_BYTES + 8)
  return hash('sha256', buf, 'buffer')
}
