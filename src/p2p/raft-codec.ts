// Maps Raft messages (src/raft/types.ts) to and from the protobuf frames of /aspen/raft/1.0.0. Decoding is total
// over arbitrary bytes: anything that is not a well-formed frame of a known version throws FrameDecodeError.
import type { ConfState, Entry, EntryType, Message, MessageType, Snapshot } from '../raft/types.js'
import { FrameDecodeError } from './errors.js'
import { RaftEntryType, RaftFrame, RaftFrameKind, RaftMessageType } from './wire/raft.js'
import type { RaftConfState, RaftEntry, RaftMessage, RaftSnapshot } from './wire/raft.js'

/** Version of the Raft frame format; receivers refuse other versions. */
export const RAFT_FRAME_VERSION = 1

const TYPE_TO_WIRE: Record<MessageType, RaftMessageType> = {
  hup: RaftMessageType.HUP,
  beat: RaftMessageType.BEAT,
  prop: RaftMessageType.PROP,
  app: RaftMessageType.APP,
  appResp: RaftMessageType.APP_RESP,
  vote: RaftMessageType.VOTE,
  voteResp: RaftMessageType.VOTE_RESP,
  preVote: RaftMessageType.PRE_VOTE,
  preVoteResp: RaftMessageType.PRE_VOTE_RESP,
  snap: RaftMessageType.SNAP,
  heartbeat: RaftMessageType.HEARTBEAT,
  heartbeatResp: RaftMessageType.HEARTBEAT_RESP,
  unreachable: RaftMessageType.UNREACHABLE,
  snapStatus: RaftMessageType.SNAP_STATUS,
  checkQuorum: RaftMessageType.CHECK_QUORUM,
  transferLeader: RaftMessageType.TRANSFER_LEADER,
  timeoutNow: RaftMessageType.TIMEOUT_NOW,
  readIndex: RaftMessageType.READ_INDEX,
  readIndexResp: RaftMessageType.READ_INDEX_RESP
}
const TYPE_FROM_WIRE = new Map<RaftMessageType, MessageType>(
  (Object.entries(TYPE_TO_WIRE) as Array<[MessageType, RaftMessageType]>).map(([k, v]) => [v, k]))

/** Message types that only ever exist inside one node; one arriving from the network is dropped. */
export const LOCAL_MESSAGE_TYPES: ReadonlySet<MessageType> = new Set<MessageType>(['hup', 'beat', 'unreachable', 'snapStatus', 'checkQuorum'])

/** What one Raft frame carries. */
export type DecodedRaftFrame =
  | { kind: 'messages', messages: Message[] }
  /** The sender no longer serves us: we were removed from the cluster. */
  | { kind: 'removed' }

/** Encodes a batch of messages as one frame payload (without the length prefix). */
export function encodeRaftMessages (messages: readonly Message[]): Uint8Array {
  return RaftFrame.encode({ version: RAFT_FRAME_VERSION, kind: RaftFrameKind.MESSAGES, messages: messages.map(messageToWire) })
}

/** Encodes the "you were removed" notice as a frame payload. */
export function encodeRaftRemoved (): Uint8Array {
  return RaftFrame.encode({ version: RAFT_FRAME_VERSION, kind: RaftFrameKind.REMOVED, messages: [] })
}

/** Decodes one frame payload. Throws FrameDecodeError for anything malformed or of another version. */
export function decodeRaftFrame (payload: Uint8Array): DecodedRaftFrame {
  let frame: RaftFrame
  try {
    frame = RaftFrame.decode(payload)
  } catch (e) {
    throw new FrameDecodeError(`undecodable Raft frame: ${e instanceof Error ? e.message : 'unknown error'}`)
  }
  if (frame.version !== RAFT_FRAME_VERSION) throw new FrameDecodeError(`unsupported Raft frame version ${frame.version} (this node speaks ${RAFT_FRAME_VERSION})`)
  if (frame.kind === RaftFrameKind.REMOVED) return { kind: 'removed' }
  if (frame.kind !== RaftFrameKind.MESSAGES) throw new FrameDecodeError(`unknown Raft frame kind ${String(frame.kind)}`)
  return { kind: 'messages', messages: frame.messages.map(messageFromWire) }
}

function messageToWire (m: Message): RaftMessage {
  return {
    type: TYPE_TO_WIRE[m.type],
    to: m.to,
    from: m.from,
    term: m.term,
    logTerm: m.logTerm,
    index: m.index,
    entries: m.entries.map(entryToWire),
    commit: m.commit,
    snapshot: m.snapshot === undefined ? undefined : snapshotToWire(m.snapshot),
    reject: m.reject,
    rejectHint: m.rejectHint,
    context: m.context as Uint8Array<ArrayBuffer>
  }
}

function entryToWire (e: Entry): RaftEntry {
  return { term: e.term, index: e.index, type: e.type === 'confChange' ? RaftEntryType.CONF_CHANGE : RaftEntryType.NORMAL, data: e.data as Uint8Array<ArrayBuffer> }
}

function snapshotToWire (s: Snapshot): RaftSnapshot {
  const cs = s.metadata.confState
  return {
    metadata: {
      index: s.metadata.index,
      term: s.metadata.term,
      confState: { voters: cs.voters, learners: cs.learners, votersOutgoing: cs.votersOutgoing, learnersNext: cs.learnersNext, autoLeave: cs.autoLeave }
    },
    data: s.data as Uint8Array<ArrayBuffer>
  }
}

function messageFromWire (w: RaftMessage): Message {
  const type = TYPE_FROM_WIRE.get(w.type)
  if (type === undefined) throw new FrameDecodeError(`Raft message of unknown type ${String(w.type)}`)
  const m: Message = {
    type,
    to: w.to,
    from: w.from,
    term: w.term,
    logTerm: w.logTerm,
    index: w.index,
    entries: w.entries.map(entryFromWire),
    commit: w.commit,
    reject: w.reject,
    rejectHint: w.rejectHint,
    context: w.context
  }
  if (w.snapshot !== undefined) m.snapshot = snapshotFromWire(w.snapshot)
  for (const n of [m.to, m.from, m.term, m.logTerm, m.index, m.commit, m.rejectHint]) checkUint(n)
  return m
}

function entryFromWire (w: RaftEntry): Entry {
  let type: EntryType
  if (w.type === RaftEntryType.NORMAL) type = 'normal'
  else if (w.type === RaftEntryType.CONF_CHANGE) type = 'confChange'
  else throw new FrameDecodeError(`Raft entry of unknown type ${String(w.type)}`)
  checkUint(w.term)
  checkUint(w.index)
  return { term: w.term, index: w.index, type, data: w.data }
}

function snapshotFromWire (w: RaftSnapshot): Snapshot {
  if (w.metadata === undefined) throw new FrameDecodeError('Raft snapshot without metadata')
  const cs: RaftConfState = w.metadata.confState ?? { voters: [], learners: [], votersOutgoing: [], learnersNext: [], autoLeave: false }
  const confState: ConfState = { voters: cs.voters, learners: cs.learners, votersOutgoing: cs.votersOutgoing, learnersNext: cs.learnersNext, autoLeave: cs.autoLeave }
  for (const list of [cs.voters, cs.learners, cs.votersOutgoing, cs.learnersNext]) list.forEach(checkUint)
  checkUint(w.metadata.index)
  checkUint(w.metadata.term)
  return { metadata: { index: w.metadata.index, term: w.metadata.term, confState }, data: w.data }
}

/** uint64 fields decode to JS numbers; above 2^53 they are no longer exact, which no honest peer sends. */
function checkUint (n: number): void {
  if (!Number.isSafeInteger(n) || n < 0) throw new FrameDecodeError(`Raft frame has an out-of-range integer (${n})`)
}
