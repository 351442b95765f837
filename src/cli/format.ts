// Output formatting: human text for people, JSON for scripts. Bytes stay bytes: a `kv get` value goes to stdout
// raw; in JSON, values are base64 and keys are UTF-8 strings unless they are not valid UTF-8 (then base64 with
// keyEncoding "base64").

import type { KeyValue, OpResponse, TxnResponse } from '../api/kv.js'
import type { ClusterHealth, ClusterStatus, MembershipView, WatchEvent } from './actions.js'
import type { CliIo } from './io.js'

const strictUtf8 = new TextDecoder('utf-8', { fatal: true })

/** The string a byte sequence encodes, or undefined when it is not valid UTF-8. */
export function utf8OrUndefined (b: Uint8Array): string | undefined {
  try {
    return strictUtf8.decode(b)
  } catch {
    return undefined
  }
}

/** Base64 of bytes. */
export function base64 (b: Uint8Array): string {
  return Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('base64')
}

/** A key for JSON: its UTF-8 text, or base64 plus keyEncoding when it is not text. */
export function keyJson (key: Uint8Array): { key: string, keyEncoding?: 'base64' } {
  const text = utf8OrUndefined(key)
  return text === undefined ? { key: base64(key), keyEncoding: 'base64' } : { key: text }
}

/** A KeyValue as JSON: value always base64. */
export function kvJson (kv: KeyValue): Record<string, unknown> {
  return {
    ...keyJson(kv.key),
    value: base64(kv.value),
    createRevision: kv.createRevision,
    modRevision: kv.modRevision,
    version: kv.version,
    lease: kv.lease
  }
}

/** Bytes for a human line: text when it is printable UTF-8, else "base64:…". */
export function humanBytes (b: Uint8Array): string {
  const text = utf8OrUndefined(b)
  // eslint-disable-next-line no-control-regex
  if (text !== undefined && !/[\x00-\x08\x0b-\x1f\x7f]/.test(text)) return text.replace(/\n/g, '\\n')
  return `base64:${base64(b)}`
}

/** Prints a value as indented JSON on stdout. */
export function printJson (io: CliIo, value: unknown): void {
  io.stdout.write(JSON.stringify(value, null, 2) + '\n')
}

/** Prints a value as one compact JSON line (for streams: watch, status --watch). */
export function printJsonLine (io: CliIo, value: unknown): void {
  io.stdout.write(JSON.stringify(value) + '\n')
}

/** Prints one human line on stdout. */
export function printLine (io: CliIo, line: string): void {
  io.stdout.write(line + '\n')
}

/** "1, 2, 3" or "none". */
export function idList (ids: readonly number[]): string {
  return ids.length === 0 ? 'none' : ids.join(', ')
}

/** Human summary of a membership. */
export function membershipLines (m: MembershipView): string[] {
  const lines = [`voters:   ${idList(m.voters)}`, `learners: ${idList(m.learners)}`]
  if (m.votersOutgoing.length > 0) lines.push(`joint change in progress; outgoing voters: ${idList(m.votersOutgoing)}`)
  return lines
}

function pad (s: string, n: number): string {
  return s.length >= n ? s + ' ' : s + ' '.repeat(n - s.length)
}

/** Human view of `cluster status`. */
export function statusLines (s: ClusterStatus): string[] {
  const lines = [
    `node ${s.nodeId} (${s.peerId}): ${s.role}, term ${s.term}`,
    `leader:   ${s.leaderId === null ? 'none known' : String(s.leaderId)}`,
    `commit:   ${s.commitIndex}   applied: ${s.appliedIndex}`,
    ...membershipLines(s.membership),
    ''
  ]
  lines.push(pad('ID', 8) + pad('ROLE', 9) + pad('REACHABLE', 11) + pad('LAST CONTACT', 14) + pad('LAG', 8) + 'PEER ID')
  for (const m of s.members) {
    lines.push(pad(String(m.nodeId), 8) + pad(m.role, 9) + pad(m.reachable ? 'yes' : 'NO', 11) +
      pad(m.lastContactMs === null ? '-' : `${m.lastContactMs} ms`, 14) + pad(m.lag === null ? '-' : String(m.lag), 8) +
      (m.peerId ?? '-'))
  }
  lines.push('', `peers known from discovery: ${s.peers.length}`)
  for (const p of s.peers) lines.push(`  ${p.peerId}${p.nodeId === null ? '' : ` (node ${p.nodeId})`} ${p.addrs.join(' ')}`)
  return lines
}

/** Human view of `cluster health`. */
export function healthLines (h: ClusterHealth): string[] {
  const head = `${h.healthy ? 'healthy' : 'UNHEALTHY'}: leader ${h.leaderId ?? 'none'}, term ${h.term}, ` +
    `${h.votersReachable}/${h.voters} voters reachable`
  return [head, ...h.problems.map((p) => `  - ${p}`)]
}

/** JSON of one op response in a transaction result. */
function opResponseJson (r: OpResponse): Record<string, unknown> {
  switch (r.type) {
    case 'put': return { type: 'put', ...(r.prevKv === undefined ? {} : { prevKv: kvJson(r.prevKv) }) }
    case 'delete': return { type: 'delete', deleted: r.deleted, ...(r.prevKv === undefined ? {} : { prevKv: kvJson(r.prevKv) }) }
    case 'deleteRange': return { type: 'deleteRange', deleted: r.deleted, more: r.more }
    case 'get': return { type: 'get', kv: r.kv === undefined ? null : kvJson(r.kv) }
    case 'range': return { type: 'range', kvs: r.kvs.map(kvJson), more: r.more, ...(r.next === undefined ? {} : { next: base64(r.next) }) }
  }
}

/** JSON of a transaction result. */
export function txnResponseJson (r: TxnResponse): Record<string, unknown> {
  return { succeeded: r.succeeded, revision: r.revision, responses: r.responses.map(opResponseJson) }
}

/** Human lines of a transaction result. */
export function txnResponseLines (r: TxnResponse): string[] {
  const lines = [`${r.succeeded ? 'SUCCESS' : 'FAILURE'} at revision ${r.revision}`]
  for (const op of r.responses) {
    switch (op.type) {
      case 'put': lines.push('put ok'); break
      case 'delete': lines.push(`deleted ${op.deleted}`); break
      case 'deleteRange': lines.push(`deleted ${op.deleted}${op.more ? ' (more remain)' : ''}`); break
      case 'get': lines.push(op.kv === undefined ? 'get: not found' : `${humanBytes(op.kv.key)}\t${humanBytes(op.kv.value)}`); break
      case 'range': for (const kv of op.kvs) lines.push(`${humanBytes(kv.key)}\t${humanBytes(kv.value)}`); break
    }
  }
  return lines
}

/** JSON of a watch event. */
export function watchEventJson (ev: WatchEvent): Record<string, unknown> {
  return ev.type === 'put' ? { type: 'put', ...kvJson(ev.kv) } : { type: 'delete', ...keyJson(ev.kv.key), modRevision: ev.kv.modRevision }
}

/** Human line of a watch event. */
export function watchEventLine (ev: WatchEvent): string {
  return ev.type === 'put'
    ? `PUT ${humanBytes(ev.kv.key)} = ${humanBytes(ev.kv.value)} (revision ${ev.kv.modRevision})`
    : `DELETE ${humanBytes(ev.kv.key)} (revision ${ev.kv.modRevision})`
}
