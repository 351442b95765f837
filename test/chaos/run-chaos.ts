// One chaos run: form a cluster of real processes, run clients while the seeded schedule injects faults, then
// heal, wait for convergence and judge: the history must be linearizable (checker from the sim), every
// acknowledged write readable, every replica's KV table identical at the same applied index, and the run must
// have done enough work (ops and faults of every enabled kind) to mean something.
import { mkdir, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { AspenClient } from '../../src/client/index.js'
import { waitFor } from '../integration/harness.js'
import { checkKvHistory, formatReport, type CheckResult } from '../sim/linearizability.js'
import { Rng } from '../sim/rng.js'
import { ChaosCluster } from './chaos-cluster.js'
import { runFault, type FaultRecord } from './fault-runner.js'
import { HistoryRecorder, toKvOperations, type ChaosOp } from './history.js'
import { countByKind, faultSchedule, FAULT_KINDS, type FaultKind } from './schedule.js'
import { Workload } from './workload.js'

export interface ChaosOptions {
  seconds: number
  seed: number
  /** Voters: 3 or 5. */
  nodes: number
  /** Start the nodes with `[testing] unsafe_local_reads = true`. */
  unsafeReads?: boolean
  /** Fault kinds to inject (default: all). */
  kinds?: readonly FaultKind[]
  workers?: number
  keys?: number
  /**
   * Adds a learner, cuts it off from Raft traffic for the whole run and has one client read and write through
   * it: with unsafe reads that learner serves stale reads for certain (the negative test).
   */
  staleReadProbe?: boolean
  /** Require ≥ 1,000 successful ops per 60 s and ≥ 3 faults of each enabled kind (default true). */
  enforceMinimums?: boolean
  /** Raft timing profile of the nodes (default balanced). */
  profile?: 'fast' | 'balanced' | 'conservative'
  historyPath?: string
  /** Keep the history file even when the run passed. */
  keepHistory?: boolean
  log?: (line: string) => void
}

export interface ChaosSummary {
  seconds: number
  ops: number
  faults: number
  linearizable: boolean
  lost_acked_writes: number
  replicas_identical: boolean
  seed: number
  nodes: number
  attempted_ops: number
  unknown_ops: number
  faults_by_kind: Record<FaultKind, number>
  checker: CheckResult
  converged_index: number
  violations: string[]
  /** The history file (kept when the run failed). */
  history: string | null
  ok: boolean
}

/** Minimum successful operations per 60 s of faults and faults per enabled kind for a run to count. */
export const MIN_OPS_PER_MINUTE = 1000
export const MIN_FAULTS_PER_KIND = 3
/** Linearizability search budget (steps over the whole history). */
const CHECK_MAX_STEPS = 50_000_000

const sleep = async (ms: number): Promise<void> => { await new Promise(resolve => setTimeout(resolve, ms)) }

/** Runs chaos and returns the verdict (never throws for a violation: it is in the summary). */
export async function runChaos (o: ChaosOptions): Promise<ChaosSummary> {
  const log = o.log ?? (() => {})
  const kinds = o.kinds ?? FAULT_KINDS
  const historyPath = o.historyPath ?? join(tmpdir(), `aspen-chaos-seed${o.seed}-${Date.now()}.jsonl`)
  const history = new HistoryRecorder(historyPath)
  const violations: string[] = []
  const faults: FaultRecord[] = []
  log(`chaos: seed ${o.seed}, ${o.nodes} voters, profile ${o.profile ?? 'balanced'}, ${o.seconds} s of faults (${kinds.join(', ') || 'none'}), history ${historyPath}`)
  const cluster = await ChaosCluster.create({ voters: o.nodes, unsafeReads: o.unsafeReads === true, snapshotEvery: 300, logRetain: 50, log, ...(o.profile !== undefined ? { profile: o.profile } : {}) })
  let phaseMs = 0
  let converged = { identical: false, index: 0 }
  let lost = 0
  let workload: Workload | undefined
  const nodeLogs = new Map<number, string>()
  let probeStop = false
  try {
    workload = new Workload(cluster, history, { workers: o.workers ?? (o.nodes >= 5 ? 14 : 12), keys: o.keys ?? 5, seed: o.seed, opTimeoutMs: 2000 })
    workload.start()
    const w = workload
    await waitUntil('first acknowledged operations', () => w.ok >= 20, 60_000)
    let probe: Promise<void> | undefined
    if (o.staleReadProbe === true) {
      const learner = await addIsolatedLearner(cluster, o.seed)
      log(`stale-read probe: learner ${learner} cut off from raft traffic`)
      probe = staleReadProbe(cluster, learner, history, () => probeStop)
    }

    // Faults take longer than planned on a loaded machine (a restart alone can take seconds), so the phase runs
    // until it lasted `seconds` AND every enabled kind was injected often enough, within a hard cap.
    const minimum = o.enforceMinimums === false ? 0 : MIN_FAULTS_PER_KIND
    const schedule = faultSchedule({ seed: o.seed, seconds: o.seconds, kinds, minRounds: 4 * Math.max(1, minimum) })
    const phaseStart = performance.now()
    const end = phaseStart + o.seconds * 1000
    const cap = phaseStart + o.seconds * 1000 * 3 + 60_000
    const enough = (): boolean => kinds.every(k => faults.filter(r => r.kind === k).length >= minimum)
    let shift = 0
    for (const f of schedule) {
      const now = performance.now()
      if (now >= cap || (now >= end && enough())) break
      // Behind schedule: later faults keep their spacing from wherever we are.
      shift = Math.max(shift, now - (phaseStart + f.atMs))
      const wait = phaseStart + f.atMs + shift - now
      if (wait > 0) await sleep(wait)
      if (performance.now() >= end && enough()) break
      if (minimum > 0 && performance.now() >= end && faults.filter(r => r.kind === f.kind).length >= minimum) continue
      try {
        const r = await runFault(cluster, f, phaseStart, () => { if (workload !== undefined) workload.generation++ })
        if (r !== undefined) { faults.push(r); log(`fault ${r.n} @${r.atMs} ms: ${r.kind}: ${r.detail} (${r.ms} ms)`) } else log(`fault ${f.n} (${f.kind}) not injected`)
      } catch (err) {
        // A node that cannot restart after a crash is a finding, not a harness hiccup.
        violations.push(`fault ${f.n} (${f.kind}) failed: ${err instanceof Error ? err.message.split('\n')[0] : String(err)}`)
        log(violations[violations.length - 1])
      }
    }
    const rest = end - performance.now()
    if (rest > 0) await sleep(rest)
    phaseMs = performance.now() - phaseStart
    probeStop = true
    await probe
    await workload.stop()
    log(`fault phase over after ${Math.round(phaseMs)} ms: ${workload.ok} successful ops, ${faults.length} faults; healing`)

    await cluster.healAll()
    converged = await cluster.converge(90_000)
    if (!converged.identical) violations.push(`replicas differ after healing: ${JSON.stringify(converged)}`)
    const reader = await cluster.client(undefined, 5000)
    try {
      await finalReads(reader, history, o.keys ?? 5)
      lost = await lostAckedWrites(reader, history.ops)
    } finally {
      await reader.close().catch(() => {})
    }
    if (lost > 0) violations.push(`${lost} acknowledged writes are missing`)
  } catch (err) {
    violations.push(`harness: ${err instanceof Error ? err.message : String(err)}`)
    log(cluster.logs())
  } finally {
    probeStop = true
    await workload?.stop()
    await history.close()
    for (const [id, n] of cluster.tc.nodes) nodeLogs.set(id, n.log.join(''))
    await cluster.destroy()
  }

  const report = checkKvHistory(toKvOperations(history.ops), { maxSteps: CHECK_MAX_STEPS })
  if (report.result !== 'ok') {
    violations.push(`history is ${report.result === 'illegal' ? 'NOT linearizable' : 'not known to be linearizable (search budget exhausted)'}`)
    for (const l of formatReport(report, 40)) log(l)
  }
  const ok = history.ops.filter(op => op.outcome !== 'unknown').length
  const byKind = countByKind(faults)
  if (o.enforceMinimums !== false) {
    const need = Math.ceil(MIN_OPS_PER_MINUTE * phaseMs / 60_000)
    if (ok < need) violations.push(`only ${ok} successful operations in ${Math.round(phaseMs / 1000)} s of faults; that needs ${need}`)
    for (const k of kinds) if (byKind[k] < MIN_FAULTS_PER_KIND) violations.push(`only ${byKind[k]} ${k} faults; need ${MIN_FAULTS_PER_KIND}`)
  }
  const pass = violations.length === 0
  if (!pass || o.keepHistory === true) await writeNodeLogs(nodeLogs, `${historyPath}.logs`).catch(() => {})
  if (pass && o.keepHistory !== true) await rm(historyPath, { force: true })
  return {
    seconds: Math.round(phaseMs / 100) / 10,
    ops: ok,
    faults: faults.length,
    linearizable: report.result === 'ok',
    lost_acked_writes: lost,
    replicas_identical: converged.identical,
    seed: o.seed,
    nodes: o.nodes,
    attempted_ops: history.ops.length,
    unknown_ops: history.ops.length - ok,
    faults_by_kind: byKind,
    checker: report.result,
    converged_index: converged.index,
    violations,
    history: pass && o.keepHistory !== true ? null : historyPath,
    ok: pass
  }
}

/** Keeps the tail of every node's log next to the history. */
async function writeNodeLogs (logs: ReadonlyMap<number, string>, dir: string): Promise<void> {
  await mkdir(dir, { recursive: true })
  for (const [id, text] of logs) await writeFile(join(dir, `node-${id}.log`), text)
}

async function waitUntil (what: string, cond: () => boolean, timeoutMs: number): Promise<void> {
  const deadline = performance.now() + timeoutMs
  while (!cond()) {
    if (performance.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`)
    await sleep(50)
  }
}

/** Reads every shared key once more after healing; the reads join the history (they must see the last writes). */
async function finalReads (c: AspenClient, history: HistoryRecorder, keys: number): Promise<void> {
  for (let k = 0; k < keys; k++) {
    const key = `k${k}`
    const deadline = performance.now() + 30_000
    while (true) {
      const call = performance.now()
      try {
        const kv = await c.get(key, { timeoutMs: 3000 })
        history.record({ client: -1, via: 0, input: { op: 'get', key }, call, return: performance.now(), outcome: 'ok', value: kv === undefined ? null : Buffer.from(kv.value).toString() })
        break
      } catch (err) {
        if (performance.now() > deadline) throw err
        await sleep(200)
      }
    }
  }
}

/** Acknowledged writes to the workers' own keys that cannot be read back (scanned, linearizable). */
async function lostAckedWrites (c: AspenClient, ops: readonly ChaosOp[]): Promise<number> {
  const present = new Map<string, string>()
  let after: Uint8Array | undefined
  for (let page = 0; page < 10_000; page++) {
    const r = await c.scan('u/', { limit: 5000, timeoutMs: 10_000, ...(after !== undefined ? { after } : {}) })
    for (const kv of r.kvs) present.set(Buffer.from(kv.key).toString(), Buffer.from(kv.value).toString())
    if (!r.more || r.next === undefined) break
    after = r.next
  }
  let lost = 0
  for (const op of ops) {
    if (op.unique === true && op.outcome === 'ok' && op.input.op === 'put' && present.get(op.input.key) !== op.input.value) lost++
  }
  return lost
}

/** Adds a learner and pins a symmetric partition around it (the learner keeps its leader: it never campaigns). */
async function addIsolatedLearner (cluster: ChaosCluster, seed: number): Promise<number> {
  const rng = new Rng(seed).fork('stale-read-probe')
  const deadline = performance.now() + 60_000
  while (performance.now() < deadline) {
    const step = await cluster.membershipStep(rng, 5000)
    const m = step === undefined ? null : /^add-learner (\d+)$/.exec(step)
    if (m !== null) {
      const learner = Number(m[1])
      // It must have applied the state before it is cut off, so it knows its leader.
      await waitFor(`learner ${learner} to apply the state and know its leader`, async () => {
        const st = await cluster.statusOf(learner)
        return st !== undefined && st.leaderId !== null && st.appliedIndex > 1
      }, 10_000, 100)
      await cluster.partition(learner, 'isolate', true)
      return learner
    }
    await sleep(200)
  }
  throw new Error('could not add a learner for the stale-read probe')
}

/** One client that talks only to the cut-off learner: writes (forwarded to the leader), then reads back. */
async function staleReadProbe (cluster: ChaosCluster, learner: number, history: HistoryRecorder, stopped: () => boolean): Promise<void> {
  const client = 1000
  const peer = cluster.peerOf(learner)
  if (peer === undefined) return
  const c = await cluster.client(learner, 5000)
  let seq = 0
  try {
    while (!stopped()) {
      const key = `k${seq % 5}`
      const value = `probe-${seq++}`
      const call = performance.now()
      try {
        await c.put(key, value, { timeoutMs: 5000 })
        history.record({ client, via: learner, input: { op: 'put', key, value }, call, return: performance.now(), outcome: 'ok' })
      } catch (err) {
        history.record({ client, via: learner, input: { op: 'put', key, value }, call, return: null, outcome: 'unknown', error: err instanceof Error ? err.message.slice(0, 80) : 'ERROR' })
        await sleep(100)
        continue
      }
      const rcall = performance.now()
      try {
        const kv = await c.get(key, { timeoutMs: 5000 })
        history.record({ client, via: learner, input: { op: 'get', key }, call: rcall, return: performance.now(), outcome: 'ok', value: kv === undefined ? null : Buffer.from(kv.value).toString() })
      } catch { /* a read with no answer changes nothing */ }
    }
  } finally {
    await c.close().catch(() => {})
  }
}
