// `npm run bench -- --compare etcd`: Aspen-TS and etcd side by side on this machine (issue 9). Starts a 3-node
// Aspen cluster (real `aspen start` processes, default settings, fsync on), drives it, stops it, then does the same
// with a 3-member etcd cluster; both get the same closed-loop load generator (bench/load-generator.ts) bound to the
// leader. Prints a table; with --json the last stdout line is {"results":[...]}; writes bench/results/<date>.json
// and bench/results/<date>.svg. See `--help` for the flags.
import { spawnSync } from 'node:child_process'
import { mkdirSync, writeFileSync } from 'node:fs'
import { cpus, totalmem } from 'node:os'
import { join, resolve } from 'node:path'
import { AspenBenchCluster } from './aspen-cluster.js'
import { EtcdBenchCluster, etcdVersion } from './etcd-cluster.js'
import { preload, runLoad, type KvTarget, type Workload } from './load-generator.js'
import { loadAverage1, totalCpuSeconds, totalRssMb } from './proc-stats.js'
import { chartSvg, ratios, roundRow, tableLines, type ResultRow, type SystemName } from './report.js'
import { aspenColdStart, aspenFailover, aspenRestart, aspenSnapshotInstall, etcdColdStart, etcdFailover, loadBigData } from './scenarios.js'

const ROOT = resolve(import.meta.dirname, '../..')

const HELP = `usage: npm run bench -- [--compare etcd] [options]
  --compare etcd        also run etcd (installed with scripts/install-bench-deps.sh when missing)
  --systems LIST        aspen,etcd (default: aspen, plus etcd with --compare etcd)
  --workloads LIST      write,read,mixed (default all three; mixed = 90 % reads / 10 % writes)
  --clients LIST        concurrent clients (default 64,256)
  --seconds N           measured seconds per cell (default 20)
  --warmup N            warm-up seconds per cell (default 3)
  --key-space N         keys (default 10000)     --value-bytes N   value size (default 256)
  --extras / --no-extras  failover, restart, snapshot install and cold start (default on)
  --restart-mb N        data set for the restart and snapshot measures (default 1024)
  --cpu-prof DIR        run the Aspen leader (node 1) under node --cpu-prof, profile written to DIR on stop
  --out DIR             results directory (default bench/results)
  --json                last stdout line is one JSON object {"results":[...], ...}`

/** Parsed command line. */
export interface BenchArgs {
  systems: SystemName[]
  workloads: Workload[]
  clients: number[]
  seconds: number
  warmup: number
  keySpace: number
  valueBytes: number
  extras: boolean
  restartMb: number
  cpuProf?: string
  out: string
  json: boolean
}

/** Parses argv (throws a one-line message on a bad flag). */
export function parseArgs (argv: readonly string[]): BenchArgs | 'help' {
  const val = (name: string): string | undefined => {
    const i = argv.indexOf(name)
    if (i < 0) return undefined
    const v = argv[i + 1]
    if (v === undefined || v.startsWith('--')) throw new Error(`${name} needs a value`)
    return v
  }
  const num = (name: string, def: number, min: number, max: number): number => {
    const v = val(name)
    if (v === undefined) return def
    const n = Number(v)
    if (!Number.isFinite(n) || n < min || n > max) throw new Error(`${name} must be a number in [${min}, ${max}], got ${v}`)
    return n
  }
  const list = <T extends string>(name: string, def: T[], allowed: readonly T[]): T[] => {
    const v = val(name)
    if (v === undefined) return def
    const items = v.split(',').map(s => s.trim()).filter(Boolean)
    for (const i of items) if (!allowed.includes(i as T)) throw new Error(`${name}: unknown ${JSON.stringify(i)} (allowed: ${allowed.join(', ')})`)
    return items as T[]
  }
  if (argv.includes('--help') || argv.includes('-h')) return 'help'
  const compare = val('--compare')
  if (compare !== undefined && compare !== 'etcd') throw new Error(`--compare: only etcd is supported, got ${compare}`)
  const clientsText = val('--clients')
  const clients = clientsText === undefined ? [64, 256] : clientsText.split(',').map(Number)
  for (const c of clients) if (!Number.isInteger(c) || c < 1 || c > 4096) throw new Error(`--clients: ${c} is not an integer in [1, 4096]`)
  return {
    systems: list<SystemName>('--systems', compare === 'etcd' ? ['aspen', 'etcd'] : ['aspen'], ['aspen', 'etcd']),
    workloads: list<Workload>('--workloads', ['write', 'read', 'mixed'], ['write', 'read', 'mixed']),
    clients,
    seconds: num('--seconds', 20, 0.1, 3600),
    warmup: num('--warmup', 3, 0, 600),
    keySpace: num('--key-space', 10_000, 1, 10_000_000),
    valueBytes: num('--value-bytes', 256, 1, 1024 * 1024),
    extras: !argv.includes('--no-extras'),
    restartMb: num('--restart-mb', 1024, 1, 64 * 1024),
    cpuProf: val('--cpu-prof'),
    out: resolve(val('--out') ?? join(ROOT, 'bench', 'results')),
    json: argv.includes('--json')
  }
}

/** Progress goes to stderr so stdout holds only the table (and the JSON line). */
const note = (s: string): void => { process.stderr.write(`[bench ${new Date().toISOString().slice(11, 19)}] ${s}\n`) }

/** Runs every workload × clients cell against one system. */
async function measure (system: SystemName, target: KvTarget, pids: () => number[], a: BenchArgs): Promise<ResultRow[]> {
  if (a.workloads.some(w => w !== 'write')) {
    note(`${system}: preloading ${a.keySpace} keys (reads find values)`)
    await preload(target, a.keySpace, a.valueBytes, 64)
  }
  const rows: ResultRow[] = []
  for (const workload of a.workloads) {
    for (const clients of a.clients) {
      let cpu0 = 0
      let cpu1 = 0
      let load = 0
      const r = await runLoad(target, {
        workload, clients, keySpace: a.keySpace, valueBytes: a.valueBytes, warmupMs: a.warmup * 1000, measureMs: a.seconds * 1000, readShare: 0.9,
        onWindow: (edge) => { if (edge === 'start') cpu0 = totalCpuSeconds(pids()); else { cpu1 = totalCpuSeconds(pids()); load = loadAverage1() } }
      })
      const row: ResultRow = {
        system, workload, clients, ops_per_s: r.opsPerSec, p50_ms: r.p50Ms, p99_ms: r.p99Ms, p999_ms: r.p999Ms,
        cpu_s_per_kop: r.ops === 0 ? Number.NaN : (cpu1 - cpu0) / (r.ops / 1000), rss_mb: totalRssMb(pids()), errors: r.errors, load_avg: load
      }
      rows.push(row)
      const x = roundRow(row)
      note(`${system} ${workload} ${clients}: ${x.ops_per_s} ops/s p50 ${x.p50_ms} p99 ${x.p99_ms} p99.9 ${x.p999_ms} ms, ${x.cpu_s_per_kop} cpu-s/kop, rss ${x.rss_mb} MB, ${r.errors} errors${r.firstError !== undefined ? ` (first: ${r.firstError})` : ''}, load ${load}`)
    }
  }
  return rows
}

type Extras = Record<string, number | string>

/** Clusters to kill if the run is interrupted (so no server outlives the benchmark). */
const cleanups = new Set<() => Promise<void>>()
for (const sig of ['SIGINT', 'SIGTERM'] as const) {
  process.once(sig, () => {
    note(`${sig}: stopping the clusters`)
    setTimeout(() => process.exit(130), 15_000).unref()
    void Promise.allSettled([...cleanups].map(async f => { await f() })).then(() => process.exit(130))
  })
}

async function runAspen (a: BenchArgs, extras: Extras): Promise<ResultRow[]> {
  const cpuProf = a.cpuProf
  if (cpuProf !== undefined) mkdirSync(cpuProf, { recursive: true })
  const c = await AspenBenchCluster.create(3, { nodeFlags: (id) => cpuProf !== undefined && id === 1 ? ['--cpu-prof', `--cpu-prof-dir=${resolve(cpuProf)}`] : [] })
  const cleanup = async (): Promise<void> => { await c.destroy() }
  cleanups.add(cleanup)
  try {
    note(`aspen: forming 3 nodes in ${c.root}`)
    const leader = await c.form()
    note(`aspen: leader is node ${leader}`)
    const { target, close } = await c.target([leader])
    const rows = await measure('aspen', target, () => c.pids(), a)
    await close()
    if (cpuProf !== undefined) {
      // The profile is written when the process exits normally: stop gracefully, no extras on a profiled run.
      for (const id of c.ids()) await c.signal(id, 'SIGTERM')
      note(`aspen: CPU profile of node 1 written to ${cpuProf}`)
      return rows
    }
    if (a.extras) {
      try {
        const f = await aspenFailover(c)
        extras.aspen_failover_ms = Math.round(f.ms)
        note(`aspen: failover (SIGKILL leader ${f.killed} → first write) ${Math.round(f.ms)} ms`)
        await c.start(f.killed)
        const newLeader = await c.leader()
        const client = await c.clientAll(30_000)
        note(`aspen: loading ${a.restartMb} MiB`)
        const big = await loadBigData(client, a.restartMb)
        extras.aspen_data_mb = Math.round(big.bytes / 1024 / 1024)
        note(`aspen: loaded ${extras.aspen_data_mb} MiB in ${(big.ms / 1000).toFixed(1)} s (${(big.bytes / 1024 / 1024 / (big.ms / 1000)).toFixed(1)} MiB/s)`)
        const follower = c.ids().find(id => id !== newLeader) as number
        const r = await aspenRestart(c, follower)
        extras.aspen_restart_ms = Math.round(r.ms)
        note(`aspen: restart of node ${follower} with ${extras.aspen_data_mb} MiB → ready in ${Math.round(r.ms)} ms`)
        const cold = await aspenColdStart(c)
        extras.aspen_cold_start_ms = Math.round(cold.ms)
        note(`aspen: cold start of 3 nodes → first write ${Math.round(cold.ms)} ms`)
        await c.addNode(4)
        const lead = await c.leader()
        const s = await aspenSnapshotInstall(c, 4, lead)
        extras.aspen_snapshot_install_ms = Math.round(s.ms)
        extras.aspen_snapshot_bytes = s.bytes
        extras.aspen_snapshot_mb_per_s = Math.round(s.mbPerS * 10) / 10
        note(`aspen: snapshot install into a new learner: ${(s.bytes / 1024 / 1024).toFixed(1)} MiB in ${Math.round(s.ms)} ms = ${s.mbPerS.toFixed(1)} MiB/s`)
      } catch (err) {
        // A failed measure is reported, not fatal: the throughput table above is still valid.
        extras.aspen_extras_error = err instanceof Error ? err.message.split('\n')[0] : String(err)
        note(`aspen: extras stopped: ${extras.aspen_extras_error}`)
      }
    }
    return rows
  } finally {
    cleanups.delete(cleanup)
    await c.destroy()
  }
}

async function runEtcd (a: BenchArgs, extras: Extras): Promise<ResultRow[]> {
  if (etcdVersion() === undefined) {
    note('etcd not found: running scripts/install-bench-deps.sh')
    const r = spawnSync('sh', [join(ROOT, 'scripts', 'install-bench-deps.sh')], { stdio: 'inherit' })
    if (r.status !== 0) throw new Error('scripts/install-bench-deps.sh failed; install etcd-server and etcd-client')
  }
  extras.etcd_version = etcdVersion() ?? 'unknown'
  const e = await EtcdBenchCluster.create(3)
  const cleanup = async (): Promise<void> => { await e.destroy() }
  cleanups.add(cleanup)
  try {
    note(`etcd: starting 3 members (${extras.etcd_version}) in ${e.root}`)
    await e.start()
    const leader = await e.leader()
    const { target, close } = e.target([e.endpoint(leader)])
    const rows = await measure('etcd', target, () => e.pids(), a)
    await close()
    if (a.extras) {
      try {
        const f = await etcdFailover(e)
        extras.etcd_failover_ms = Math.round(f.ms)
        note(`etcd: failover (SIGKILL leader → first write) ${Math.round(f.ms)} ms`)
        const cold = await etcdColdStart(e)
        extras.etcd_cold_start_ms = Math.round(cold.ms)
        note(`etcd: cold start of 3 members → first write ${Math.round(cold.ms)} ms`)
      } catch (err) {
        extras.etcd_extras_error = err instanceof Error ? err.message.split('\n')[0] : String(err)
        note(`etcd: extras stopped: ${extras.etcd_extras_error}`)
      }
    }
    return rows
  } finally {
    cleanups.delete(cleanup)
    await e.destroy()
  }
}

async function main (): Promise<void> {
  let a: BenchArgs | 'help'
  try { a = parseArgs(process.argv.slice(2)) } catch (err) {
    process.stderr.write(`bench: ${err instanceof Error ? err.message : String(err)}\n${HELP}\n`)
    process.exitCode = 2
    return
  }
  if (a === 'help') { process.stdout.write(HELP + '\n'); return }
  const started = new Date()
  const extras: Extras = {}
  const rows: ResultRow[] = []
  const load0 = loadAverage1()
  for (const s of a.systems) rows.push(...(s === 'aspen' ? await runAspen(a, extras) : await runEtcd(a, extras)))
  const machine = { cpus: cpus().length, cpu_model: cpus()[0]?.model ?? 'unknown', mem_gb: Math.round(totalmem() / 2 ** 30), node: process.version, load_avg_start: load0, load_avg_end: loadAverage1() }
  const settings = { seconds: a.seconds, warmup: a.warmup, key_space: a.keySpace, value_bytes: a.valueBytes, clients: a.clients, workloads: a.workloads, restart_mb: a.restartMb }
  const results = rows.map(roundRow)
  const doc = { date: started.toISOString(), machine, settings, results, ratios: ratios(rows).map(r => ({ ...r, ops: Math.round(r.ops * 100) / 100, p99: Math.round(r.p99 * 100) / 100, cpu: Math.round(r.cpu * 100) / 100 })), extras }
  mkdirSync(a.out, { recursive: true })
  const stamp = started.toISOString().replace(/[:]/g, '-').replace(/\.\d+Z$/, 'Z')
  writeFileSync(join(a.out, `${stamp}.json`), JSON.stringify(doc, null, 2) + '\n')
  writeFileSync(join(a.out, `${stamp}.svg`), chartSvg(results, `ops/s vs clients, ${started.toISOString().slice(0, 10)} (${machine.cpus} cores, load ${machine.load_avg_end})`))
  const out = tableLines(rows)
  out.push('', `machine: ${machine.cpus} × ${machine.cpu_model}, ${machine.mem_gb} GB, node ${machine.node}; load average ${load0} at start, ${machine.load_avg_end} at end`)
  for (const [k, v] of Object.entries(extras)) out.push(`${k}: ${v}`)
  out.push(`written: ${join(a.out, `${stamp}.json`)} and .svg`)
  process.stdout.write(out.join('\n') + '\n')
  if (a.json) process.stdout.write(JSON.stringify(doc) + '\n')
}

await main()
