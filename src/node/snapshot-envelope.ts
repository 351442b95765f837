// What travels in front of a snapshot's chunks: the store's snapshot metadata (index, term, membership, hashes),
// the Raft snapshot message to step once the state is installed, and the member bindings the new replica needs
// (it never sees the conf change entries that carried them).
import { encodeRaftMessages, decodeRaftFrame } from '../p2p/raft-codec.js'
import type { Message } from '../raft/types.js'
import type { StoreSnapshotMetadata } from '../store/index.js'
import { AspenError } from '../errors.js'
import type { MemberBinding } from './members.js'

export interface SnapshotEnvelope {
  meta: StoreSnapshotMetadata
  message: Message
  bindings: MemberBinding[]
}

/** The envelope of a snapshot could not be read. */
export class SnapshotEnvelopeError extends AspenError {
  readonly code = 'SNAPSHOT_ENVELOPE'
}

/** Encodes: u32 length of the JSON part, JSON {meta, bindings}, then the Raft frame of the message. */
export function encodeSnapshotEnvelope (env: SnapshotEnvelope): Uint8Array {
  const json = Buffer.from(JSON.stringify({ meta: env.meta, bindings: env.bindings }))
  const msg = encodeRaftMessages([env.message])
  const out = Buffer.allocUnsafe(4 + json.length + msg.length)
  out.writeUInt32BE(json.length, 0)
  json.copy(out, 4)
  out.set(msg, 4 + json.length)
  return out
}

/** Decodes an envelope; throws SnapshotEnvelopeError on anything malformed. */
export function decodeSnapshotEnvelope (bytes: Uint8Array): SnapshotEnvelope {
  try {
    const b = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength)
    const n = b.readUInt32BE(0)
    if (n > b.length - 4) throw new Error('truncated')
    const o = JSON.parse(b.subarray(4, 4 + n).toString('utf8')) as { meta: StoreSnapshotMetadata, bindings: MemberBinding[] }
    const frame = decodeRaftFrame(b.subarray(4 + n))
    if (frame.kind !== 'messages' || frame.messages.length !== 1 || frame.messages[0].type !== 'snap') throw new Error('no snapshot message')
    if (typeof o.meta?.index !== 'number' || !Array.isArray(o.bindings)) throw new Error('bad metadata')
    return { meta: o.meta, bindings: o.bindings, message: frame.messages[0] }
  } catch (err) {
    throw new SnapshotEnvelopeError(`malformed snapshot envelope: ${err instanceof Error ? err.message : String(err)}`, { cause: err })
  }
}
