// One-line descriptions of messages, Readies, commands and membership changes for the simulator's traces.

import type { ConfChange, Message, MessageType, Ready } from '../../src/raft/types.js'
import type { KvCommand } from './kv-state-machine.js'

const TYPE_CODES = ['hup', 'beat', 'prop', 'app', 'appResp', 'vote', 'voteResp', 'preVote', 'preVoteResp', 'snap', 'heartbeat',
  'heartbeatResp', 'unreachable', 'snapStatus', 'checkQuorum', 'transferLeader', 'timeoutNow', 'readIndex', 'readIndexResp']

/** A small number per message type, for the trace hash. */
export function typeCode (t: MessageType): number {
  return TYPE_CODES.indexOf(t)
}

/** One line for a message. */
export function describeMessage (m: Message): string {
  let s = `${m.type} ${m.from}→${m.to} t${m.term}`
  if (m.type === 'app') s += ` prev ${m.index}/${m.logTerm} +${m.entries.length} commit ${m.commit}`
  else if (m.type === 'appResp') s += ` ${m.reject ? `reject hint ${m.rejectHint}` : `match ${m.index}`}`
  else if (m.type === 'vote' || m.type === 'preVote') s += ` last ${m.index}/${m.logTerm}`
  else if (m.type === 'voteResp' || m.type === 'preVoteResp') s += m.reject ? ' rejected' : ' granted'
  else if (m.type === 'heartbeat') s += ` commit ${m.commit}`
  else if (m.type === 'snap') s += ` snapshot ${m.snapshot?.metadata.index ?? '?'}`
  return s
}

/** One line for a Ready. */
export function describeReady (rd: Ready): string {
  const parts: string[] = []
  if (rd.softState !== undefined) parts.push(`${rd.softState.role} (leader ${rd.softState.leader})`)
  if (rd.hardState !== undefined) parts.push(`hs(t${rd.hardState.term} v${rd.hardState.vote} c${rd.hardState.commit})`)
  if (rd.entries.length > 0) parts.push(`entries ${rd.entries[0].index}..${rd.entries[rd.entries.length - 1].index}`)
  if (rd.committedEntries.length > 0) parts.push(`commit ${rd.committedEntries[0].index}..${rd.committedEntries[rd.committedEntries.length - 1].index}`)
  if (rd.snapshot !== undefined) parts.push(`snapshot ${rd.snapshot.metadata.index}`)
  if (rd.messages.length > 0) parts.push(`send ${rd.messages.length}`)
  if (rd.messagesAfterPersist.length > 0) parts.push(`send-after-persist ${rd.messagesAfterPersist.length}`)
  if (rd.readStates.length > 0) parts.push(`reads ${rd.readStates.map(r => r.index).join(',')}`)
  return parts.join('; ')
}

/** One line for a client command. */
export function describeCommand (c: KvCommand): string {
  if (c.op === 'put') return `put(${c.key}=${c.value})`
  if (c.op === 'get') return `get(${c.key})`
  return `cas(${c.key}: ${c.expected ?? 'absent'}→${c.value})`
}

/** One line for a membership change. */
export function describeConfChange (cc: ConfChange): string {
  const ch = cc.changes.map(c => `${c.type} ${c.nodeId}`).join(', ')
  return `${cc.transition}[${ch === '' ? 'leave joint' : ch}]`
}
