// `aspen cluster alarm list|disarm`: the cluster's alarms (NOSPACE: a member's data dir is over quota_bytes or its
// device is nearly full, so writes are refused while reads and deletes work).
import type { Command } from 'commander'
import type { RequestContext } from './actions.js'
import { printJson, printLine } from './format.js'
import { addTargetOptions, EXIT_CODES_HELP, TARGET_HELP, type TargetOptions } from './options.js'
import type { CliDeps } from './program.js'
import { withClient } from './wired-actions.js'

/** One alarm as the node reports it. */
interface AlarmView { type: string, memberId: number, reason: string, usedBytes: number, quotaBytes: number, raisedAtMs: number }
interface SpaceView { usedBytes: number, freeBytes: number, quotaBytes: number }

function alarmLine (a: AlarmView): string {
  return `${a.type} node ${a.memberId}: ${a.reason} (${a.usedBytes} bytes used, quota ${a.quotaBytes}) since ${new Date(a.raisedAtMs).toISOString()}`
}

/** Registers `alarm list` and `alarm disarm` under `cluster`. */
export function registerAlarm (cluster: Command, deps: CliDeps, ctxOf: (o: TargetOptions) => RequestContext): void {
  const { io } = deps
  const alarm = cluster.command('alarm')
    .summary('list or disarm cluster alarms (NOSPACE)')
    .description('A member whose data dir exceeds quota_bytes (or whose device is nearly full) raises the NOSPACE ' +
      'alarm through the log: every node then refuses writes with NO_SPACE while reads and deletes work. Delete keys, ' +
      'then `aspen cluster alarm disarm`; members also clear their own alarm once compaction brings them under 80% of ' +
      'the quota.')
    .addHelpText('after', TARGET_HELP + '\n' + EXIT_CODES_HELP)
  const sub = (name: string, summary: string, description: string): Command =>
    addTargetOptions(alarm.command(name).summary(summary).description(description)).addHelpText('after', TARGET_HELP + '\n' + EXIT_CODES_HELP)

  sub('list', 'show the active alarms', 'Show the active alarms as the reached node applied them, and its data dir usage.')
    .action(async (o: TargetOptions) => {
      const ctx = ctxOf(o)
      const r = await withClient(ctx, async c => await c.control<{ alarms: AlarmView[], space: SpaceView | null }>('cluster.alarm.list', {}, { timeoutMs: ctx.timeoutMs, idempotent: true }))
      if (o.json === true) { printJson(io, r); return }
      if (r.alarms.length === 0) printLine(io, 'No alarms.')
      for (const a of r.alarms) printLine(io, alarmLine(a))
      if (r.space !== null) printLine(io, `This node: ${r.space.usedBytes} of ${r.space.quotaBytes} bytes used.`)
    })

  sub('disarm', 'compact the reached node and clear NOSPACE alarms',
    'Compact the reached node now (snapshot, log truncation, change history, LevelDB compaction) and clear the ' +
    'NOSPACE alarms. A member still over its quota raises its alarm again at its next check (after compacting itself).')
    .action(async (o: TargetOptions) => {
      const ctx = ctxOf(o)
      const r = await withClient(ctx, async c => await c.control<{ cleared: AlarmView[], space: SpaceView, alarms: AlarmView[] }>('cluster.alarm.disarm', {}, { timeoutMs: Math.max(ctx.timeoutMs, 30_000) }))
      if (o.json === true) { printJson(io, r); return }
      printLine(io, `Compacted: ${r.space.usedBytes} of ${r.space.quotaBytes} bytes used on this node.`)
      printLine(io, r.cleared.length === 0 ? 'No alarm cleared.' : `Cleared ${r.cleared.length} alarm(s): ${r.cleared.map(a => `${a.type} node ${a.memberId}`).join(', ')}.`)
      for (const a of r.alarms) printLine(io, `still active: ${alarmLine(a)}`)
    })
}
