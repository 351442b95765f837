// The data-dir quota: measured periodically (a directory walk summing file sizes plus one statfs, never per write),
// judged against quota_bytes and the free space left on the device, and acted on through the replicated NOSPACE
// alarm. Before raising, a member compacts (snapshot + log truncation + dropped change history + LevelDB
// compactRange) when something changed since its last attempt; it clears its own alarm once usage is back under
// the quota with a margin, so the alarm does not flap at the boundary. While over the limit a member compacts at
// most once per check (QUOTA_CHECK_MS), and only after something was applied.
import { readdir, stat, statfs } from 'node:fs/promises'
import { join } from 'node:path'
import type { Alarm, NoSpaceReason } from './alarm.js'

/** Free bytes below which a member raises NOSPACE whatever its quota (room for LevelDB to compact and log). */
export const DISK_FREE_RESERVE_BYTES = 32 * 1024 * 1024
/** A member clears its alarm only below this share of the quota. */
export const CLEAR_RATIO = 0.8
/**
 * Consecutive short readings (each after a compaction when anything was applied) before a member raises: a
 * reading taken while LevelDB rewrites files under write load can count old and new files together.
 */
export const RAISE_AFTER_READINGS = 2
/** How often the monitor measures. */
export const QUOTA_CHECK_MS = 1000
/** Bounds of the directory walk. */
const MAX_WALK_ENTRIES = 100_000
const MAX_WALK_DEPTH = 4

/** Sums the sizes of the files under `dir` (bounded walk; a file vanishing meanwhile counts as 0). */
export async function dirBytes (dir: string): Promise<number> {
  let total = 0
  let seen = 0
  const walk = async (d: string, depth: number): Promise<void> => {
    let entries
    try {
      entries = await readdir(d, { withFileTypes: true })
    } catch {
      return
    }
    for (const e of entries) {
      if (++seen > MAX_WALK_ENTRIES) return
      const p = join(d, e.name)
      if (e.isDirectory()) {
        if (depth < MAX_WALK_DEPTH) await walk(p, depth + 1)
      } else if (e.isFile()) {
        try { total += (await stat(p)).size } catch { /* removed by a compaction meanwhile */ }
      }
    }
  }
  await walk(dir, 0)
  return total
}

/** Bytes available to this process on the device holding `dir` (Infinity when unknown). */
export async function freeBytes (dir: string): Promise<number> {
  try {
    const s = await statfs(dir)
    return Number(s.bavail) * Number(s.bsize)
  } catch {
    return Infinity
  }
}

/** One measurement. */
export interface QuotaReading {
  usedBytes: number
  freeBytes: number
  quotaBytes: number
}

/** Why this member is short of space now, or undefined if it is not. */
export function shortOfSpace (r: QuotaReading, reserveBytes = DISK_FREE_RESERVE_BYTES): NoSpaceReason | undefined {
  if (r.usedBytes > r.quotaBytes) return 'quota'
  if (r.freeBytes < reserveBytes) return 'disk-free'
  return undefined
}

/** True when a member holding an alarm may clear it: comfortably under the quota and with free space. */
export function roomAgain (r: QuotaReading, reserveBytes = DISK_FREE_RESERVE_BYTES): boolean {
  return r.usedBytes <= r.quotaBytes * CLEAR_RATIO && r.freeBytes >= reserveBytes
}

/** What the monitor needs from the node. */
export interface QuotaDeps {
  memberId: number
  quotaBytes: number
  measure (): Promise<{ usedBytes: number, freeBytes: number }>
  /** The replicated alarms as this member has applied them. */
  alarms (): Promise<Alarm[]>
  /** Proposes a transaction through the log; resolves when applied here. */
  raise (a: Alarm): Promise<void>
  clear (a: Alarm): Promise<void>
  /** Snapshot + log truncation + history trim + LevelDB compaction. */
  compact (): Promise<void>
  /** Applied index (to compact only when something changed since the last attempt). */
  applied (): number
  /** True while this node may propose (a member that knows a leader). */
  canPropose (): boolean
  now (): number
  onReading? (r: QuotaReading, alarms: Alarm[]): void
  log (level: 'info' | 'warn', msg: string): void
}

/** Decides and acts once per check; owns the compaction pacing. */
export class QuotaMonitor {
  private lastCompactApplied = -1
  private shortStreak = 0
  private running = false
  last: QuotaReading | undefined

  constructor (private readonly deps: QuotaDeps) {}

  private async read (): Promise<QuotaReading> {
    const m = await this.deps.measure()
    const r = { ...m, quotaBytes: this.deps.quotaBytes }
    this.last = r
    return r
  }

  /** Compacts now (operator disarm, or the automatic check); returns the reading after it. */
  async compactNow (): Promise<QuotaReading> {
    this.lastCompactApplied = this.deps.applied()
    await this.deps.compact()
    return await this.read()
  }

  /** One check: measure, compact if useful, then raise or clear this member's alarm. Never throws. */
  async check (): Promise<void> {
    if (this.running) return
    this.running = true
    try {
      let r = await this.read()
      const d = this.deps
      const alarms = await d.alarms()
      const mine = alarms.find(a => a.type === 'NOSPACE' && a.memberId === d.memberId)
      const short = shortOfSpace(r)
      // Compact before raising, so an alarm means "over the limit even compacted" and cannot flap with each
      // compaction; only when something was applied since the last attempt (else nothing can have been freed).
      if (short !== undefined && d.applied() !== this.lastCompactApplied) {
        const before = r.usedBytes
        r = await this.compactNow()
        d.log('info', `data dir over its limit (${before} bytes used, quota ${r.quotaBytes}): compacted to ${r.usedBytes} bytes`)
      }
      const still = shortOfSpace(r)
      this.shortStreak = still === undefined ? 0 : this.shortStreak + 1
      if (mine === undefined && still !== undefined && this.shortStreak >= RAISE_AFTER_READINGS && d.canPropose()) {
        await d.raise({ type: 'NOSPACE', memberId: d.memberId, reason: still, usedBytes: r.usedBytes, quotaBytes: r.quotaBytes, raisedAtMs: Date.now() })
      } else if (mine !== undefined && roomAgain(r) && d.canPropose()) {
        await d.clear(mine)
      }
      d.onReading?.(r, await d.alarms())
    } catch (err) {
      this.deps.log('warn', `quota check failed: ${err instanceof Error ? err.message : String(err)}`)
    } finally {
      this.running = false
    }
  }
}
