// Message construction and classification. Every Message field is required by the wire types, so the core
// builds them through one function that fills the neutral defaults.

import { NONE } from './types.js'
import type { Message, MessageType } from './types.js'

const EMPTY = new Uint8Array(0)

/** A message with neutral defaults for every field not given. */
export function newMessage (m: Partial<Message> & { type: MessageType }): Message {
  return {
    type: m.type,
    to: m.to ?? NONE,
    from: m.from ?? NONE,
    term: m.term ?? 0,
    logTerm: m.logTerm ?? 0,
    index: m.index ?? 0,
    entries: m.entries ?? [],
    commit: m.commit ?? 0,
    ...(m.snapshot !== undefined ? { snapshot: m.snapshot } : {}),
    reject: m.reject ?? false,
    rejectHint: m.rejectHint ?? 0,
    context: m.context ?? EMPTY
  }
}

const LOCAL_TYPES: ReadonlySet<MessageType> = new Set<MessageType>(['hup', 'beat', 'unreachable', 'snapStatus', 'checkQuorum'])

/** True for message types that only the local node may generate; they must never arrive from the network. */
export function isLocalMessage (t: MessageType): boolean {
  return LOCAL_TYPES.has(t)
}

const RESPONSE_TYPES: ReadonlySet<MessageType> = new Set<MessageType>([
  'appResp', 'voteResp', 'preVoteResp', 'heartbeatResp', 'unreachable', 'snapStatus'
])

/** True for responses: they only make sense from a peer the leader tracks. */
export function isResponseMessage (t: MessageType): boolean {
  return RESPONSE_TYPES.has(t)
}

/** The response type matching a vote request type. */
export function voteResponseType (t: 'vote' | 'preVote'): 'voteResp' | 'preVoteResp' {
  return t === 'vote' ? 'voteResp' : 'preVoteResp'
}
