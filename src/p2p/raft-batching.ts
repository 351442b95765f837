// Sizing of Raft messages for the transport: a conservative estimate of the encoded size (queue accounting and
// frame budgets) and the split of oversized AppendEntries into consecutive ones of at most 4 MiB of entries.
import type { Message } from '../raft/types.js'

/** Cap on the entry bytes of one AppendEntries message on the wire. */
export const MAX_APPEND_BYTES = 4 * 1024 * 1024
/** Upper bound of the protobuf overhead of a message without entries, context or snapshot. */
const MESSAGE_OVERHEAD = 96
/** Upper bound of the protobuf overhead of one entry (tags, lengths, term, index, type). */
const ENTRY_OVERHEAD = 40

/** Estimated encoded size of one message; never below the real size for messages our codec produces. */
export function estimateMessageBytes (m: Message): number {
  let n = MESSAGE_OVERHEAD + m.context.byteLength
  for (const e of m.entries) n += ENTRY_OVERHEAD + e.data.byteLength
  if (m.snapshot !== undefined) {
    const cs = m.snapshot.metadata.confState
    n += 64 + m.snapshot.data.byteLength + 11 * (cs.voters.length + cs.learners.length + cs.votersOutgoing.length + cs.learnersNext.length)
  }
  return n
}

/**
 * Splits an AppendEntries whose entries exceed `maxBytes` into consecutive AppendEntries: piece k+1 names the
 * last entry of piece k as its (index, logTerm), so each piece is exactly what a leader with a smaller
 * maxSizePerMsg would have sent. A follower commits min(commit, last new index) per piece (Raft §5.3), so the
 * split is safe. An entry larger than `maxBytes` travels alone. Other messages are returned unchanged.
 */
export function splitAppend (m: Message, maxBytes: number = MAX_APPEND_BYTES): Message[] {
  if (m.type !== 'app' || m.entries.length <= 1) return [m]
  let total = 0
  for (const e of m.entries) total += e.data.byteLength
  if (total <= maxBytes) return [m]
  const out: Message[] = []
  let start = 0
  let prevIndex = m.index
  let prevTerm = m.logTerm
  while (start < m.entries.length) {
    let end = start
    let bytes = 0
    while (end < m.entries.length && (end === start || bytes + m.entries[end].data.byteLength <= maxBytes)) {
      bytes += m.entries[end].data.byteLength
      end++
    }
    const entries = m.entries.slice(start, end)
    out.push({ ...m, index: prevIndex, logTerm: prevTerm, entries })
    const last = entries[entries.length - 1]
    prevIndex = last.index
    prevTerm = last.term
    start = end
  }
  return out
}
