// `npm run chaos -- --seconds S --seed N [--nodes 3|5] [--unsafe-reads] [--kinds k1,k2] [--keep-history]`:
// one chaos run on real `aspen` processes. Progress goes to stderr; stdout gets one JSON line
// {"seconds":..,"ops":..,"faults":..,"linearizable":..,"lost_acked_writes":..,"replicas_identical":..,...}.
// Exit status 0 when the run passed, 1 on any violation (the history file is kept and named), 2 on bad usage.
import { Command, InvalidArgumentError } from 'commander'
import { killAllNodes } from './chaos-cluster.js'
import { runChaos } from './run-chaos.js'
import { FAULT_KINDS, type FaultKind } from './schedule.js'

/** Longest run one invocation may ask for (a day). */
const MAX_SECONDS = 86_400

function intIn (name: string, lo: number, hi: number): (v: string) => number {
  return (v) => {
    const n = Number(v)
    if (!Number.isSafeInteger(n) || n < lo || n > hi) throw new InvalidArgumentError(`${name} must be an integer in [${lo}, ${hi}]`)
    return n
  }
}

function kindList (v: string): FaultKind[] {
  const out: FaultKind[] = []
  for (const k of v.split(',').filter(s => s !== '')) {
    if (!(FAULT_KINDS as readonly string[]).includes(k)) throw new InvalidArgumentError(`unknown fault kind "${k}"; use ${FAULT_KINDS.join(', ')}`)
    out.push(k as FaultKind)
  }
  return out
}

interface Options { seconds: number, seed: number, nodes: number, unsafeReads?: boolean, kinds?: FaultKind[], keepHistory?: boolean, quiet?: boolean, staleReadProbe?: boolean, minimums: boolean, profile?: 'fast' | 'balanced' | 'conservative' }

const program = new Command('chaos')
  .description('chaos test on real aspen processes: seeded faults, concurrent clients, linearizability check')
  .option('--seconds <s>', 'seconds of faults', intIn('--seconds', 1, MAX_SECONDS), 60)
  .option('--seed <n>', 'seed of the fault schedule and the workload', intIn('--seed', 0, 0x7fffffff), 1)
  .option('--nodes <n>', 'voters: 3 or 5', (v) => { const n = intIn('--nodes', 3, 5)(v); if (n !== 3 && n !== 5) throw new InvalidArgumentError('--nodes must be 3 or 5'); return n }, 3)
  .option('--unsafe-reads', 'start nodes with [testing] unsafe_local_reads = true (the checker must then fail)')
  .option('--kinds <list>', `fault kinds (default all: ${FAULT_KINDS.join(',')})`, kindList)
  .option('--keep-history', 'keep the history file even when the run passes')
  .option('--stale-read-probe', 'add a learner cut off from raft traffic and read through it (with --unsafe-reads: a certain violation)')
  .option('--no-minimums', 'do not require 1,000 ops per minute and 3 faults of every kind')
  .option('--profile <name>', 'raft timing profile: fast, balanced (default) or conservative', (v) => {
    if (v !== 'fast' && v !== 'balanced' && v !== 'conservative') throw new InvalidArgumentError('--profile must be fast, balanced or conservative')
    return v
  })
  .option('--quiet', 'no progress lines on stderr')
  .exitOverride((err) => { process.exit(err.exitCode === 0 ? 0 : 2) })

program.parse()
const opts = program.opts<Options>()
const started = Date.now()
// An interrupted run must not leave aspen processes behind.
for (const sig of ['SIGINT', 'SIGTERM'] as const) process.once(sig, () => { killAllNodes(); process.exit(130) })
const summary = await runChaos({
  seconds: opts.seconds,
  seed: opts.seed,
  nodes: opts.nodes,
  unsafeReads: opts.unsafeReads === true,
  ...(opts.kinds !== undefined ? { kinds: opts.kinds } : {}),
  keepHistory: opts.keepHistory === true,
  staleReadProbe: opts.staleReadProbe === true,
  ...(opts.profile !== undefined ? { profile: opts.profile } : {}),
  enforceMinimums: opts.minimums,
  log: opts.quiet === true ? () => {} : (line) => { process.stderr.write(`[chaos +${((Date.now() - started) / 1000).toFixed(1)}s] ${line}\n`) }
})
for (const v of summary.violations) process.stderr.write(`VIOLATION: ${v}\n`)
if (summary.history !== null) process.stderr.write(`history kept at ${summary.history}\n`)
process.stdout.write(JSON.stringify(summary) + '\n')
process.exit(summary.ok ? 0 : 1)
