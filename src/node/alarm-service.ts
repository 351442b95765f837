// The node's side of the NOSPACE alarm: a cached view of the replicated alarm records (refreshed from the applied
// state a few times a second, so the write path never touches the disk for it), the admission check for client
// writes, the quota monitor's timer, and the operator's list/disarm.
import { randomBytes } from 'node:crypto'
import { encodeCommand } from '../api/codec.js'
import type { RangeRequest, RangeResult, Txn } from '../api/kv.js'
import { AspenError } from '../errors.js'
import {
  ALARM_END, ALARM_PREFIX, checkClientTxn, clearTxn, decodeAlarm, MAX_ALARMS, noSpaceError, raiseTxn, txnAddsData, type Alarm
} from './alarm.js'
import { QuotaMonitor, QUOTA_CHECK_MS, type QuotaReading } from './quota.js'
import type { RaftDriver } from './raft-driver.js'

/** How often the alarm view is re-read from the applied state. */
export const ALARM_REFRESH_MS = 250

/** A disk write failed because the device is full. */
export class DiskFullError extends AspenError {
  readonly code = 'DISK_FULL'
}

/** True when `err` (or a cause of it) is an ENOSPC failure. */
export function isDiskFull (err: unknown): boolean {
  for (let e = err, depth = 0; e !== undefined && e !== null && depth < 8; e = (e as { cause?: unknown }).cause, depth++) {
    const x = e as { code?: unknown, message?: unknown }
    if (x.code === 'ENOSPC') return true
    if (typeof x.message === 'string' && /ENOSPC|No space left on device/i.test(x.message)) return true
  }
  return false
}

export interface AlarmServiceDeps {
  memberId: number
  quotaBytes: number
  store: { range (req: RangeRequest): Promise<RangeResult>, status (): { applied: number } }
  driver: () => RaftDriver
  canPropose: () => boolean
  measure: () => Promise<{ usedBytes: number, freeBytes: number }>
  compact: () => Promise<void>
  requestTimeoutMs: number
  log: { info (msg: string): void, warn (msg: string): void, error (msg: string): void }
  onReading?: (r: QuotaReading, alarms: Alarm[]) => void
}

/** Alarm view, admission and monitor of one node. */
export class AlarmService {
  private cached: Alarm[] = []
  private refreshTimer: NodeJS.Timeout | undefined
  private checkTimer: NodeJS.Timeout | undefined
  private seq = 0
  private readonly nonce = randomBytes(4).toString('hex')
  readonly monitor: QuotaMonitor

  constructor (private readonly d: AlarmServiceDeps) {
    this.monitor = new QuotaMonitor({
      memberId: d.memberId,
      quotaBytes: d.quotaBytes,
      measure: d.measure,
      alarms: async () => await this.refresh(),
      raise: async (a) => { await this.propose(raiseTxn(a)) },
      clear: async (a) => { await this.propose(clearTxn([a])) },
      compact: d.compact,
      applied: () => d.store.status().applied,
      canPropose: d.canPropose,
      now: () => performance.now(),
      ...(d.onReading !== undefined ? { onReading: d.onReading } : {}),
      log: (level, msg) => { d.log[level](msg) }
    })
  }

  /** Starts the refresh and check timers (unref'd: they never keep the process alive). */
  start (): void {
    this.refreshTimer = setInterval(() => { void this.refresh().catch(() => {}) }, ALARM_REFRESH_MS)
    this.refreshTimer.unref()
    this.checkTimer = setInterval(() => { void this.monitor.check() }, QUOTA_CHECK_MS)
    this.checkTimer.unref()
    void this.monitor.check()
  }

  stop (): void {
    if (this.refreshTimer !== undefined) clearInterval(this.refreshTimer)
    if (this.checkTimer !== undefined) clearInterval(this.checkTimer)
  }

  /** The active alarms as last read. */
  list (): Alarm[] {
    return this.cached.map(a => ({ ...a }))
  }

  /** Re-reads the alarm records from the applied state; logs raises and clears seen since the last read. */
  async refresh (): Promise<Alarm[]> {
    const page = await this.d.store.range({ start: ALARM_PREFIX, end: ALARM_END, limit: MAX_ALARMS })
    const next: Alarm[] = []
    for (const kv of page.kvs) {
      const a = decodeAlarm(kv.value)
      if (a !== undefined) next.push(a)
    }
    const id = (a: Alarm): string => `${a.type}/${a.memberId}`
    const before = new Set(this.cached.map(id))
    const after = new Set(next.map(id))
    for (const a of next) {
      if (!before.has(id(a))) {
        this.d.log.error(`alarm ${a.type} raised by node ${a.memberId} (${a.reason}: ${a.usedBytes} bytes used, quota ${a.quotaBytes}): ` +
          'writes are refused until space is freed (delete keys, then `aspen cluster alarm disarm`)')
      }
    }
    for (const a of this.cached) if (!after.has(id(a))) this.d.log.info(`alarm ${a.type} of node ${a.memberId} cleared: writes are accepted again`)
    this.cached = next
    return this.list()
  }

  /** Throws for a client transaction that may not run now: reserved keys always, puts while NOSPACE is active. */
  admit (txn: Txn): void {
    checkClientTxn(txn)
    if (this.cached.some(a => a.type === 'NOSPACE') && txnAddsData(txn)) throw noSpaceError(this.cached)
  }

  /**
   * The operator's disarm: compacts this node now, then clears every NOSPACE alarm (a member still short of space
   * raises its own again at its next check, after compacting). Its own alarm stays when it is still short here.
   */
  async disarm (): Promise<{ cleared: Alarm[], reading: QuotaReading }> {
    const reading = await this.monitor.compactNow()
    const alarms = await this.refresh()
    const stillShort = reading.usedBytes > reading.quotaBytes
    const clear = alarms.filter(a => a.type === 'NOSPACE' && !(stillShort && a.memberId === this.d.memberId))
    if (clear.length > 0) await this.propose(clearTxn(clear))
    await this.refresh()
    return { cleared: clear, reading }
  }

  private async propose (txn: Txn): Promise<void> {
    const requestId = new TextEncoder().encode(`alarm-${this.d.memberId}-${this.nonce}-${++this.seq}`)
    const r = await this.d.driver().propose(requestId, encodeCommand({ requestId, txn }), this.d.requestTimeoutMs)
    if (!r.ok) throw new AlarmProposalError(`alarm change refused at apply: ${r.code} ${r.message}`)
    await this.refresh()
  }
}

/** An alarm change reached the log but was refused by the state machine (a bug: alarm txns are always valid). */
export class AlarmProposalError extends AspenError {
  readonly code = 'ALARM_PROPOSAL'
}
