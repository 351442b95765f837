// The load generator both systems get: N closed-loop clients (each keeps one request in flight), keys drawn
// uniformly from a fixed key space, fixed-size values, a warm-up whose results are discarded, then a measured
// window. Only the two operations below differ per system.
import { LatencySamples } from './latency.js'

export type Workload = 'write' | 'read' | 'mixed'

/** What a system under test offers the generator. */
export interface KvTarget {
  put (key: string, value: Uint8Array): Promise<void>
  /** A linearizable read. */
  get (key: string): Promise<void>
}

export interface LoadOptions {
  workload: Workload
  clients: number
  keySpace: number
  valueBytes: number
  warmupMs: number
  measureMs: number
  /** Share of reads in the mixed workload (0.9 = 90/10). */
  readShare: number
  /** Called when the measured window starts and ends (CPU snapshots of the servers). */
  onWindow?: (edge: 'start' | 'end') => void
}

export interface LoadResult {
  ops: number
  errors: number
  seconds: number
  opsPerSec: number
  p50Ms: number
  p99Ms: number
  p999Ms: number
  /** First error message seen (errors make a run suspect; the report shows the count). */
  firstError?: string
}

/** Key `k/NNNNN` for index i: fixed width so every key has the same size in both systems. */
export function keyName (i: number): string {
  return 'k/' + String(i).padStart(5, '0')
}

/** Runs one workload against `target` and returns what the measured window saw. */
export async function runLoad (target: KvTarget, o: LoadOptions, random: () => number = Math.random): Promise<LoadResult> {
  const value = new Uint8Array(o.valueBytes).fill(0x61)
  const samples = new LatencySamples()
  let phase: 'warmup' | 'measure' | 'done' = 'warmup'
  let ops = 0
  let errors = 0
  let firstError: string | undefined
  const pickRead = (): boolean => o.workload === 'read' || (o.workload === 'mixed' && random() < o.readShare)
  const client = async (): Promise<void> => {
    while (phase !== 'done') {
      const key = keyName(Math.floor(random() * o.keySpace))
      const read = pickRead()
      const t0 = performance.now()
      try {
        if (read) await target.get(key)
        else await target.put(key, value)
        if (phase === 'measure') { samples.add(performance.now() - t0); ops++ }
      } catch (err) {
        if (phase === 'measure') {
          errors++
          firstError ??= err instanceof Error ? err.message : String(err)
        }
        // Back off a little so a failing system does not turn into a busy loop.
        await new Promise(resolve => setTimeout(resolve, 10))
      }
    }
  }
  const running = Array.from({ length: o.clients }, client)
  await new Promise(resolve => setTimeout(resolve, o.warmupMs))
  phase = 'measure'
  o.onWindow?.('start')
  const start = performance.now()
  await new Promise(resolve => setTimeout(resolve, o.measureMs))
  const seconds = (performance.now() - start) / 1000
  o.onWindow?.('end')
  const measuredOps = ops
  phase = 'done'
  await Promise.all(running)
  const [p50Ms, p99Ms, p999Ms] = samples.percentiles([0.5, 0.99, 0.999])
  return { ops: measuredOps, errors, seconds, opsPerSec: measuredOps / seconds, p50Ms, p99Ms, p999Ms, ...(firstError !== undefined ? { firstError } : {}) }
}

/** Fills every key of the key space once (reads then find a value), `clients` at a time. */
export async function preload (target: KvTarget, keySpace: number, valueBytes: number, clients: number): Promise<void> {
  const value = new Uint8Array(valueBytes).fill(0x62)
  let next = 0
  const worker = async (): Promise<void> => {
    while (next < keySpace) {
      const i = next++
      await target.put(keyName(i), value)
    }
  }
  await Promise.all(Array.from({ length: Math.min(clients, keySpace) }, worker))
}
