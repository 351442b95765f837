// `npm run sim -- --seeds N [--start S] [--bug NAME] [--profile P] [--verbose]`: runs N seeded scenarios,
// prints the trace of every failing seed, the election-time distribution, and ends with one JSON line
// {"seeds":N,"failures":F,"first_failing_seed":S|null}. Exit status 1 if any seed failed, 2 on bad usage.

import { Command, InvalidArgumentError } from 'commander'
import { DEFAULT_DURATION_MS, runSeed, summarizeElections } from './run-seed.js'
import { PROFILES } from './scenario.js'
import type { ProfileName } from './scenario.js'
import { SIM_BUGS } from './simulation.js'
import type { ElectionSample, SimBug } from './simulation.js'

/** Upper bound on seeds per invocation (a typo must not start a week-long run). */
const MAX_SEEDS = 1_000_000

function positiveInt (name: string, max: number): (v: string) => number {
  return (v) => {
    const n = Number(v)
    if (!Number.isSafeInteger(n) || n < 0 || n > max) throw new InvalidArgumentError(`${name} must be an integer in [0, ${max}]`)
    return n
  }
}

function bugList (v: string, prev: SimBug[]): SimBug[] {
  const out = [...prev]
  for (const b of v.split(',')) {
    if (!(SIM_BUGS as readonly string[]).includes(b)) throw new InvalidArgumentError(`unknown bug "${b}"; one of: ${SIM_BUGS.join(', ')}`)
    out.push(b as SimBug)
  }
  return out
}

function profileName (v: string): ProfileName {
  if (!(PROFILES as readonly string[]).includes(v)) throw new InvalidArgumentError(`unknown profile "${v}"; one of: ${PROFILES.join(', ')}`)
  return v as ProfileName
}

interface Options {
  seeds: number
  start: number
  bug: SimBug[]
  profile?: ProfileName
  durationMs: number
  trace: number
  verbose: boolean
  stopAfter: number
}

/** Runs the CLI; returns the exit status. */
export function main (argv: readonly string[], out: (line: string) => void, err: (line: string) => void): number {
  const program = new Command()
  program
    .name('npm run sim --')
    .description('Deterministic simulation of an Aspen Raft cluster: seeded faults, safety checks after every step, linearizability of client histories.')
    .option('--seeds <n>', 'number of seeds to run', positiveInt('--seeds', MAX_SEEDS), 100)
    .option('--start <s>', 'first seed', positiveInt('--start', 2 ** 32 - 1), 1)
    .option('--bug <name>', `inject a bug (repeatable): ${SIM_BUGS.join(', ')}`, bugList, [])
    .option('--profile <p>', `force one scenario profile: ${PROFILES.join(', ')}`, profileName)
    .option('--duration-ms <ms>', 'simulated length of the faulty phase', positiveInt('--duration-ms', 3_600_000), DEFAULT_DURATION_MS)
    .option('--trace <n>', 'events of a failing seed to print', positiveInt('--trace', 100_000), 200)
    .option('--stop-after <f>', 'stop after this many failing seeds (0: never)', positiveInt('--stop-after', MAX_SEEDS), 0)
    .option('--verbose', 'print every event as it happens', false)
    .exitOverride()
    .configureOutput({ writeOut: (s) => out(s.trimEnd()), writeErr: (s) => err(s.trimEnd()) })
  try {
    program.parse(argv as string[], { from: 'user' })
  } catch (e) {
    const code = (e as { exitCode?: number }).exitCode
    return code === 0 ? 0 : 2
  }
  const o = program.opts<Options>()
  const t0 = performance.now()
  let failures = 0
  let first: number | null = null
  const elections: ElectionSample[] = []
  let history = 0
  let unknownChecks = 0
  for (let i = 0; i < o.seeds; i++) {
    const seed = o.start + i
    const r = runSeed(seed, {
      bugs: o.bug,
      durationMs: o.durationMs,
      traceCapacity: o.trace,
      ...(o.profile !== undefined ? { profile: o.profile } : {}),
      ...(o.verbose ? { live: (line: string) => out(`[${seed}] ${line}`) } : {})
    })
    elections.push(...r.elections)
    history += r.history
    if (r.linearizability === 'unknown' && r.ok) unknownChecks++
    if (!r.ok) {
      failures++
      if (first === null) first = seed
      const f = r.failure
      out(`--- seed ${seed} FAILED (profile ${r.profile}) at ${f?.timeMs.toFixed(2)}ms: ${f?.kind}`)
      out(f?.message ?? '')
      out(`--- last ${r.trace.length} events of seed ${seed} (trace hash ${r.traceHash}):`)
      for (const line of r.trace) out(line)
      out(`--- reproduce: npm run sim -- --seeds 1 --start ${seed}${o.bug.map(b => ` --bug ${b}`).join('')}${o.profile !== undefined ? ` --profile ${o.profile}` : ''}`)
      if (o.stopAfter > 0 && failures >= o.stopAfter) {
        out(`stopping after ${failures} failing seed(s)`)
        return finish(o.seeds, i + 1)
      }
    } else if (o.seeds === 1) {
      out(`seed ${seed} ok (profile ${r.profile}, ${r.events} events, ${r.history} operations, trace hash ${r.traceHash})`)
    }
    if ((i + 1) % 500 === 0) err(`… ${i + 1}/${o.seeds} seeds, ${failures} failing, ${((performance.now() - t0) / 1000).toFixed(1)}s`)
  }
  return finish(o.seeds, o.seeds)

  function finish (planned: number, ran: number): number {
    const secs = (performance.now() - t0) / 1000
    const e = summarizeElections(elections)
    out(`ran ${ran} of ${planned} seeds in ${secs.toFixed(1)}s (${(ran / secs).toFixed(1)} seeds/s); ${history} client operations checked; ${unknownChecks} histories too large to decide`)
    out(`election after leader loss (clean samples, in election timeouts): n=${e.clean} p50=${e.p50} p90=${e.p90} p99=${e.p99} max=${e.max} within 2: ${(e.within2 * 100).toFixed(2)}% histogram ${JSON.stringify(e.histogram)}`)
    out(JSON.stringify({ seeds: ran, failures, first_failing_seed: first }))
    return failures > 0 ? 1 : 0
  }
}

const isMain = process.argv[1] !== undefined && import.meta.url === new URL(`file://${process.argv[1]}`).href
if (isMain) {
  // `npm run sim -- … | head` closes the pipe early: stop quietly.
  process.stdout.on('error', (e: NodeJS.ErrnoException) => { if (e.code === 'EPIPE') process.exit(0) })
  process.exitCode = main(process.argv.slice(2), (l) => process.stdout.write(l + '\n'), (l) => process.stderr.write(l + '\n'))
}
