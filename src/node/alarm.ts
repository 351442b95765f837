// Cluster alarms (like etcd's): a member that runs out of room raises NOSPACE through the log, so every replica
// agrees on it at the same index and it survives restarts and snapshots. An alarm is a record under a reserved
// key of the replicated state machine; clients can neither see nor write that prefix. While any NOSPACE alarm is
// active, writes that add data (puts) are refused with NoSpaceError; reads and deletes keep working so the
// operator can free space.
import type { RequestOp, Txn } from '../api/kv.js'
import { AspenError } from '../errors.js'

export type AlarmType = 'NOSPACE'

/** Why a member raised NOSPACE. */
export type NoSpaceReason = 'quota' | 'disk-free' | 'enospc'

/** One active alarm, as replicated. */
export interface Alarm {
  type: AlarmType
  memberId: number
  reason: NoSpaceReason
  usedBytes: number
  quotaBytes: number
  raisedAtMs: number
}

/** Writes are refused while a NOSPACE alarm is active. */
export class NoSpaceError extends AspenError {
  readonly code = 'NO_SPACE'
}

/** A client tried to write a key of the reserved system prefix. */
export class ReservedKeyError extends AspenError {
  readonly code = 'RESERVED_KEY'
}

/** Prefix of keys the cluster keeps for itself (0xff 0xff 0x00 cannot start a UTF-8 text key). */
export const SYSTEM_PREFIX: Uint8Array = Uint8Array.from([0xff, 0xff, 0x00, ...Buffer.from('aspen/', 'latin1')])
/** Prefix of alarm records. */
export const ALARM_PREFIX: Uint8Array = Uint8Array.from([...SYSTEM_PREFIX, ...Buffer.from('alarm/', 'latin1')])
/** First key after every alarm record. */
export const ALARM_END: Uint8Array = Uint8Array.from([...SYSTEM_PREFIX, ...Buffer.from('alarm0', 'latin1')])

/** Largest encoded alarm record accepted. */
const MAX_ALARM_BYTES = 1024
/** Most alarms a cluster tracks (one per member and type; 100 voters plus learners). */
export const MAX_ALARMS = 1000

function startsWith (key: Uint8Array, prefix: Uint8Array): boolean {
  if (key.length < prefix.length) return false
  for (let i = 0; i < prefix.length; i++) if (key[i] !== prefix[i]) return false
  return true
}

/** True for keys of the reserved system prefix. */
export function isSystemKey (key: Uint8Array): boolean {
  return startsWith(key, SYSTEM_PREFIX)
}

/** The record key of `type` raised by `memberId`. */
export function alarmKey (type: AlarmType, memberId: number): Uint8Array {
  return Uint8Array.from([...ALARM_PREFIX, ...Buffer.from(`${type}/${memberId}`, 'latin1')])
}

/** Encodes an alarm record (JSON: small, rare, readable in a dump). */
export function encodeAlarm (a: Alarm): Uint8Array {
  return new TextEncoder().encode(JSON.stringify(a))
}

/** Decodes an alarm record; undefined for anything malformed (a record we cannot read raises nothing). */
export function decodeAlarm (bytes: Uint8Array): Alarm | undefined {
  if (bytes.length > MAX_ALARM_BYTES) return undefined
  try {
    const o = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes)) as Partial<Alarm>
    if (o.type !== 'NOSPACE' || !Number.isSafeInteger(o.memberId)) return undefined
    const reason: NoSpaceReason = o.reason === 'disk-free' || o.reason === 'enospc' ? o.reason : 'quota'
    return { type: o.type, memberId: o.memberId as number, reason, usedBytes: Number(o.usedBytes ?? 0), quotaBytes: Number(o.quotaBytes ?? 0), raisedAtMs: Number(o.raisedAtMs ?? 0) }
  } catch {
    return undefined
  }
}

/** The transaction that raises `a` (a put of its record). */
export function raiseTxn (a: Alarm): Txn {
  return { compare: [], success: [{ type: 'put', key: alarmKey(a.type, a.memberId), value: encodeAlarm(a) }], failure: [] }
}

/** The transaction that clears the given alarms (deletes of their records). */
export function clearTxn (alarms: ReadonlyArray<Pick<Alarm, 'type' | 'memberId'>>): Txn {
  return { compare: [], success: alarms.map((a): RequestOp => ({ type: 'delete', key: alarmKey(a.type, a.memberId) })), failure: [] }
}

/** True when either branch of `txn` may add data (a put). Deletes and reads free or keep space. */
export function txnAddsData (txn: Txn): boolean {
  return txn.success.some(op => op.type === 'put') || txn.failure.some(op => op.type === 'put')
}

/** Throws ReservedKeyError when a client transaction names a system key (deleteRange may span it: see below). */
export function checkClientTxn (txn: Txn): void {
  for (const c of txn.compare) if (isSystemKey(c.key)) throw new ReservedKeyError('keys starting with 0xff 0xff 0x00 "aspen/" are reserved for the cluster')
  for (const op of [...txn.success, ...txn.failure]) {
    // A deleteRange over everything may remove alarm records; a member still short of space raises it again.
    if ((op.type === 'put' || op.type === 'delete' || op.type === 'get') && isSystemKey(op.key)) {
      throw new ReservedKeyError('keys starting with 0xff 0xff 0x00 "aspen/" are reserved for the cluster')
    }
  }
}

/** The error a refused write gets, naming who is out of space and how to recover. */
export function noSpaceError (alarms: readonly Alarm[]): NoSpaceError {
  const who = alarms.filter(a => a.type === 'NOSPACE').map(a => `node ${a.memberId} (${a.reason}: ${a.usedBytes} of ${a.quotaBytes} bytes)`).join(', ')
  return new NoSpaceError(`NOSPACE alarm active for ${who}: writes are refused, reads and deletes work. Delete keys, then run ` +
    '`aspen cluster alarm disarm` (it compacts and clears the alarm once usage is below quota_bytes), or raise quota_bytes')
}
