// `aspen cluster …`: cluster control and inspection. Safety checks are enforced on the leader; --force overrides
// them (and the leader logs that it did).

import { existsSync } from 'node:fs'
import { dirname, resolve } from 'node:path'
import { type Command, Option } from 'commander'
import { multiaddrProblem } from '../node/config.js'
import type { ClusterStatus, NodeView, RequestContext } from './actions.js'
import { EXIT, exitCodeFor, formatErrorLine, NotAvailableError, UsageError } from './errors.js'
import { healthLines, membershipLines, printJson, printJsonLine, printLine, statusLines } from './format.js'
import {
  addForceOption, addTargetOptions, EXIT_CODES_HELP, nodeIdArg, nodeIdList, positiveInt, TARGET_HELP, type TargetOptions
} from './options.js'
import type { CliDeps, RunState } from './program.js'
import type { OutStream } from './io.js'
import { trackSubcommands } from './program.js'
import { requestContext } from './target.js'
import { registerAlarm } from './alarm.js'

interface ForceOptions extends TargetOptions { force?: boolean }

/** Sleeps `ms` or until the signal aborts, whichever is first. */
async function pause (ms: number, signal: AbortSignal): Promise<void> {
  if (signal.aborted) return
  await new Promise<void>((resolveSleep) => {
    const timer = setTimeout(done, ms)
    function done (): void {
      clearTimeout(timer)
      signal.removeEventListener('abort', done)
      resolveSleep()
    }
    signal.addEventListener('abort', done, { once: true })
  })
}

/** A progress line for `cluster backup` on a terminal (cli-progress, loaded only then): chunks and bytes so far. */
async function backupProgressBar (stream: OutStream): Promise<{ update: (p: { index: number, chunks: number, bytes: number }) => void, stop: () => void }> {
  const { SingleBar } = (await import('cli-progress')).default
  const bar = new SingleBar({
    // the total size is not known up front: show what has arrived
    format: 'backup at index {index} | {chunks} chunks | {mib} MiB | {duration_formatted}',
    stream: stream as unknown as NodeJS.WritableStream,
    hideCursor: true,
    clearOnComplete: false
  })
  bar.start(1, 0, { index: '(asking the leader)', chunks: 0, mib: '0.0' })
  return {
    update: (p) => { bar.update(0, { index: p.index, chunks: p.chunks, mib: (p.bytes / 1048576).toFixed(1) }) },
    stop: () => { bar.stop() }
  }
}

/** The per-node table of `status --watch`: one line per member as it sees itself. */
export function watchLines (s: ClusterStatus, nodes: readonly NodeView[], at: Date): string[] {
  const col = (v: string, n: number): string => v.length >= n ? v + ' ' : v + ' '.repeat(n - v.length)
  const num = (v: number | null): string => v === null ? '-' : String(v)
  const lines = [
    `${at.toISOString().slice(11, 19)}  leader ${s.leaderId ?? 'none'}, term ${s.term}, voters ${s.membership.voters.join(',')}` +
      (s.membership.learners.length > 0 ? `, learners ${s.membership.learners.join(',')}` : '') + ` (asked node ${s.nodeId})`,
    col('NODE', 6) + col('ROLE', 13) + col('TERM', 7) + col('COMMIT', 10) + col('APPLIED', 10) + col('LAG', 8) + 'NOTE'
  ]
  for (const n of nodes) {
    lines.push(col(String(n.nodeId), 6) + col(n.role, 13) + col(num(n.term), 7) + col(num(n.commitIndex), 10) + col(num(n.appliedIndex), 10) +
      col(num(n.lag), 8) + (n.error ?? ''))
  }
  return lines
}

/** Registers `aspen cluster` and its subcommands. */
export function registerCluster (program: Command, deps: CliDeps, state: RunState): void {
  const { io, actions } = deps
  const ctxOf = (o: TargetOptions): RequestContext => requestContext(io, o, state.secrets)
  const cluster = program.command('cluster')
    .summary('create, inspect and change a cluster (membership, leadership, snapshots)')
    .description('Create, inspect and change a cluster. Every subcommand reaches the cluster through --data-dir DIR ' +
      '(a node running on this machine) or --ticket T with the cookie.\n\n' +
      'Membership changes are checked on the leader and refused when unsafe: a cooldown between voter-set changes ' +
      '(safety.cooldown_s, default 300 s; adding learners is not limited), a learner must be reachable and close to ' +
      'the leader\'s log before promotion, a change must leave C-old and C-new with a reachable quorum, at most 100 ' +
      'voters, one change at a time. --force overrides a refusal; the leader logs the override.\n\n' +
      'Typical growth: cluster init → add-learner 2 → add-learner 3 → change-membership --voters 1,2,3.')
    .addHelpText('after', TARGET_HELP + '\n' + EXIT_CODES_HELP)
  trackSubcommands(cluster, state)

  const sub = (name: string, summary: string, description: string): Command =>
    addTargetOptions(cluster.command(name).summary(summary).description(description))
      .addHelpText('after', TARGET_HELP + '\n' + EXIT_CODES_HELP)

  sub('init', 'make the reached node a new one-voter cluster',
    'Create a new cluster with the reached node as its only voter and leader, and print its ticket. Run it once, ' +
    'on one node; grow the cluster with add-learner and change-membership. Refused if the node is already a member ' +
    'of a cluster.')
    .action(async (o: TargetOptions) => {
      const r = await actions.cluster.init(ctxOf(o))
      if (o.json === true) { printJson(io, r); return }
      printLine(io, `Cluster ${r.clusterId} created; leader is node ${r.leaderId}.`)
      for (const l of membershipLines(r.membership)) printLine(io, l)
      printLine(io, `ticket: ${r.ticket}`)
    })

  sub('status', 'show the node\'s view: role, term, leader, indexes, members, known peers',
    'Show the reached node\'s view of the cluster: its role and term, the leader, commit and applied indexes, the ' +
    'membership, each member\'s reachability, last contact and lag (as seen by the leader), and every peer known ' +
    'from discovery. --json prints the same object as the node\'s HTTP /status.')
    .addOption(new Option('--watch', 'refresh until interrupted (with --json: one JSON object per line)'))
    .addOption(new Option('--interval <ms>', 'refresh interval for --watch').argParser(positiveInt(3_600_000)).default(1000))
    .action(async (o: TargetOptions & { watch?: boolean, interval: number }) => {
      const ctx = ctxOf(o)
      const show = (s: ClusterStatus, nodes: readonly NodeView[] | undefined): void => {
        if (o.json === true) {
          const obj = nodes === undefined ? s : { ...s, nodes }
          if (o.watch === true) printJsonLine(io, obj); else printJson(io, obj)
          return
        }
        if (o.watch === true && io.stdout.isTTY) io.stdout.write('\x1b[2J\x1b[H')
        for (const l of nodes === undefined ? statusLines(s) : watchLines(s, nodes, new Date())) printLine(io, l)
        if (o.watch === true && !io.stdout.isTTY) printLine(io, '---')
      }
      if (o.watch !== true) { show(await actions.cluster.status(ctx), undefined); return }
      while (!ctx.signal.aborted) {
        try {
          const s = await actions.cluster.status(ctx)
          // Every member's own view (role, term, commit/applied, lag) when the build can ask them.
          const nodes = actions.cluster.nodeViews === undefined ? undefined : await actions.cluster.nodeViews(ctx, s)
          if (ctx.signal.aborted) break
          show(s, nodes)
        } catch (e) {
          if (ctx.signal.aborted) break
          // Watching is for seeing a cluster through trouble: report a failure and keep polling, unless no
          // retry can help (bad usage or config, command not available).
          if (e instanceof NotAvailableError || exitCodeFor(e) === EXIT.usage) throw e
          io.stderr.write(formatErrorLine(e, state.secrets) + '\n')
        }
        await pause(o.interval, ctx.signal)
      }
    })

  sub('health', 'check that the cluster has a leader and a reachable quorum (exit 1 if not)',
    'Check the cluster: a leader is known, a quorum of voters is reachable, no member lags far behind. Prints ' +
    'the findings; exit code 0 when healthy, 1 when not.')
    .action(async (o: TargetOptions) => {
      const h = await actions.cluster.health(ctxOf(o))
      if (o.json === true) printJson(io, h)
      else for (const l of healthLines(h)) printLine(io, l)
      if (!h.healthy) state.exitCode = EXIT.failure
    })

  addForceOption(sub('add-learner', 'add a node as a non-voting learner that catches up on the log',
    'Add node NODE-ID as a learner: it receives the log (or a snapshot) but does not vote. Its address comes from ' +
    'the registry (filled by cookie discovery) unless --addr is given. Not limited by the cooldown. Promote it with ' +
    '`promote` or `change-membership` once it has caught up.'), 'the learner is unknown or unreachable')
    .argument('<node-id>', 'id of the node to add (from its `aspen init --node-id`)', nodeIdArg)
    .addOption(new Option('--addr <multiaddr>', 'address of the node, including /p2p/<peer-id> (default: from discovery)'))
    .action(async (nodeId: number, o: ForceOptions & { addr?: string }) => {
      if (o.addr !== undefined) {
        const problem = multiaddrProblem(o.addr)
        if (problem !== undefined) throw new UsageError(`--addr ${JSON.stringify(o.addr)} is not a valid multiaddr (${problem})`, 'use a form like /ip4/127.0.0.1/tcp/4001/p2p/12D3Koo…')
      }
      const r = await actions.cluster.addLearner(ctxOf(o), { nodeId, addr: o.addr, force: o.force === true })
      if (o.json === true) { printJson(io, r); return }
      printLine(io, `Node ${nodeId} added as a learner.`)
      for (const l of membershipLines(r.membership)) printLine(io, l)
    })

  addForceOption(sub('promote', 'make a caught-up learner a voter',
    'Promote learner NODE-ID to voter (joint consensus). Refused unless it is connected and within ' +
    'safety.promote_max_lag entries of the leader (or was fully matched in the last second), the cooldown has passed ' +
    'and the change keeps a reachable quorum.'), 'cooldown, learner lag, quorum, voter limit')
    .argument('<node-id>', 'id of the learner to promote', nodeIdArg)
    .action(async (nodeId: number, o: ForceOptions) => {
      const r = await actions.cluster.promote(ctxOf(o), { nodeId, force: o.force === true })
      if (o.json === true) { printJson(io, r); return }
      printLine(io, `Node ${nodeId} is now a voter.`)
      for (const l of membershipLines(r.membership)) printLine(io, l)
    })

  addForceOption(sub('change-membership', 'set the voter (and learner) sets in one joint-consensus change',
    'Replace the voter set with --voters (and the learner set with --learners when given) in one joint-consensus ' +
    'change (C-old → C-old,new → C-new). Every new voter must already be a caught-up learner or voter.'),
  'cooldown, learner lag, quorum, voter limit')
    .requiredOption('--voters <ids>', 'comma-separated node ids of the new voter set, e.g. 1,2,3', nodeIdList)
    .addOption(new Option('--learners <ids>', 'comma-separated node ids of the new learner set (default: unchanged)').argParser(nodeIdList))
    .action(async (o: ForceOptions & { voters: number[], learners?: number[] }) => {
      const both = (o.learners ?? []).filter((id) => o.voters.includes(id))
      if (both.length > 0) throw new UsageError(`node ${both.join(', ')} is listed as both voter and learner`, 'list each node once')
      const r = await actions.cluster.changeMembership(ctxOf(o), { voters: o.voters, learners: o.learners, force: o.force === true })
      if (o.json === true) { printJson(io, r); return }
      printLine(io, 'Membership changed.')
      for (const l of membershipLines(r.membership)) printLine(io, l)
    })

  addForceOption(sub('remove', 'remove a node from the cluster (voter or learner)',
    'Remove node NODE-ID from the membership. This is the only way a node leaves: stopping or restarting never ' +
    'removes it. Refused when the remaining voters would have no reachable quorum or within the cooldown.'),
  'cooldown, quorum')
    .argument('<node-id>', 'id of the node to remove', nodeIdArg)
    .action(async (nodeId: number, o: ForceOptions) => {
      const r = await actions.cluster.remove(ctxOf(o), { nodeId, force: o.force === true })
      if (o.json === true) { printJson(io, r); return }
      printLine(io, `Node ${nodeId} removed.`)
      for (const l of membershipLines(r.membership)) printLine(io, l)
    })

  addForceOption(sub('transfer-leader', 'hand leadership to another voter',
    'Make NODE-ID the leader (default: the most up-to-date other voter). Waits until the new leader is elected or ' +
    'the deadline passes.'), 'the target is behind or unreachable')
    .argument('[node-id]', 'voter to hand leadership to', nodeIdArg)
    .action(async (nodeId: number | undefined, o: ForceOptions) => {
      const r = await actions.cluster.transferLeader(ctxOf(o), { nodeId, force: o.force === true })
      if (o.json === true) { printJson(io, r); return }
      printLine(io, `Leader is now node ${r.leaderId}.`)
    })

  sub('snapshot', 'take a snapshot and compact the log now',
    'Take a snapshot of the reached node\'s state machine now and compact its log (snapshots are also taken ' +
    'automatically every raft.snapshot_every entries).')
    .action(async (o: TargetOptions) => {
      const r = await actions.cluster.snapshot(ctxOf(o))
      if (o.json === true) { printJson(io, r); return }
      printLine(io, `Snapshot taken at index ${r.index} (term ${r.term}).`)
    })

  sub('ticket', 'print a ticket others can use to reach the cluster',
    'Print an aspen1… ticket: the cluster id and up to 16 bootstrap peers with their addresses. It holds no ' +
    'secret; whoever uses it also needs the cookie.')
    .action(async (o: TargetOptions) => {
      const r = await actions.cluster.ticket(ctxOf(o))
      if (o.json === true) printJson(io, r)
      else printLine(io, r.ticket)
    })

  sub('metrics', 'print the node\'s Prometheus metrics',
    'Print the reached node\'s metrics in the Prometheus text format (the same as its HTTP /metrics).')
    .action(async (o: TargetOptions) => {
      const r = await actions.cluster.metrics(ctxOf(o))
      if (o.json === true) printJson(io, r)
      else io.stdout.write(r.text.endsWith('\n') ? r.text : r.text + '\n')
    })

  sub('backup', 'write a consistent backup of the whole key space to a file',
    'Stream a consistent backup into --out FILE: the leader pins its state at a committed index (every write ' +
    'acknowledged before the command started is in it) and streams it while the cluster keeps serving. The file ' +
    'holds the cluster id, index, membership and a sha256 of the whole; it is written to a temporary file, synced ' +
    'and renamed, so FILE is either a complete backup or untouched. Restore it with `aspen restore`.')
    .requiredOption('--out <file>', 'file to write the backup to')
    .addOption(new Option('--force', 'overwrite --out if it exists'))
    .action(async (o: TargetOptions & { out: string, force?: boolean }) => {
      const out = resolve(io.cwd, o.out)
      if (existsSync(out) && o.force !== true) throw new UsageError(`${out} already exists`, 'pass --force to overwrite it, or choose another --out')
      if (!existsSync(dirname(out))) throw new UsageError(`the directory ${dirname(out)} does not exist`, 'create it, or choose another --out')
      const bar = io.stderr.isTTY && o.json !== true ? await backupProgressBar(io.stderr) : undefined
      let r
      try {
        r = await actions.cluster.backup(ctxOf(o), { out, onProgress: bar?.update })
      } finally {
        bar?.stop()
      }
      if (o.json === true) { printJson(io, r); return }
      printLine(io, `Backup of index ${r.index} written to ${r.path} (${r.bytes} bytes).`)
      printLine(io, `Restore it with: aspen restore --from ${r.path} --data-dir <new node's data dir>`)
    })

  registerAlarm(cluster, deps, ctxOf)
}
