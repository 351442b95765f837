// Runs one seed, and summaries over many: the entry points the CLI and the tests share.

import { makeParams } from './scenario.js'
import type { ProfileName } from './scenario.js'
import { Simulation } from './simulation.js'
import type { ElectionSample, SimBug, SimOutcome } from './simulation.js'

/** Default length of the faulty phase: 2,000 ticks of 10 ms. */
export const DEFAULT_DURATION_MS = 20_000

export interface RunOptions {
  bugs?: readonly SimBug[]
  durationMs?: number
  /** Force one scenario profile instead of drawing it from the seed. */
  profile?: ProfileName
  /** Events kept for the failure trace. */
  traceCapacity?: number
  /** Receives every event as it happens (--verbose). */
  live?: (line: string) => void
}

/** Runs the randomized scenario of one seed; the same seed and options always give the same outcome and trace. */
export function runSeed (seed: number, opts: RunOptions = {}): SimOutcome {
  const params = makeParams(seed, opts.durationMs ?? DEFAULT_DURATION_MS, opts.profile)
  return new Simulation(seed, params, opts.bugs ?? [], opts.traceCapacity ?? 200, opts.live).run()
}

/** Percentiles and the share within a bound of election samples, in election timeouts. */
export interface ElectionSummary {
  samples: number
  /** Samples where nothing else went wrong during the election (see ElectionSample.clean). */
  clean: number
  p50: number
  p90: number
  p99: number
  max: number
  /** Share of clean samples that finished within 2 election timeouts. */
  within2: number
  /** Histogram over clean samples: [0,1), [1,1.5), [1.5,2), [2,3), [3,∞) timeouts. */
  histogram: Record<string, number>
}

/** Summarizes election samples; percentiles are over the clean ones. */
export function summarizeElections (all: readonly ElectionSample[]): ElectionSummary {
  const free = all.filter(s => s.clean).map(s => s.timeouts).sort((a, b) => a - b)
  const q = (p: number): number => free.length === 0 ? NaN : free[Math.min(free.length - 1, Math.floor(p * free.length))]
  const buckets: Array<[string, number]> = [['<1', 1], ['1-1.5', 1.5], ['1.5-2', 2], ['2-3', 3], ['>=3', Infinity]]
  const histogram: Record<string, number> = {}
  for (const [name] of buckets) histogram[name] = 0
  for (const t of free) {
    const b = buckets.find(([, hi]) => t < hi)
    if (b !== undefined) histogram[b[0]]++
  }
  return {
    samples: all.length,
    clean: free.length,
    p50: round(q(0.5)),
    p90: round(q(0.9)),
    p99: round(q(0.99)),
    max: round(free[free.length - 1] ?? NaN),
    within2: free.length === 0 ? NaN : round(free.filter(t => t <= 2).length / free.length, 4),
    histogram
  }
}

function round (x: number, digits = 2): number {
  const f = 10 ** digits
  return Math.round(x * f) / f
}
