// The deterministic simulation over many seeds: every Raft safety property holds after every step and every
// client history is linearizable, under drops, duplicates, reordering, partitions, crashes, pauses, membership
// changes, snapshots and leadership transfers.
import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { runSeed } from './run-seed.js'
import type { SimOutcome } from './simulation.js'

/** Seeds run by `npm test`; `npm run sim -- --seeds 10000` runs many more by hand. */
const SEEDS = 200

describe('deterministic simulation', () => {
  it(`keeps Raft's safety properties (Figure 3) and linearizable client histories on ${SEEDS} seeds`, () => {
    const failures: SimOutcome[] = []
    const totals: Record<string, number> = {}
    const profiles = new Set<string>()
    for (let seed = 1; seed <= SEEDS; seed++) {
      const r = runSeed(seed)
      profiles.add(r.profile)
      for (const [k, v] of Object.entries(r.stats)) totals[k] = (totals[k] ?? 0) + v
      if (!r.ok) failures.push(r)
    }
    const first = failures[0]
    assert.equal(failures.length, 0, first === undefined
      ? ''
      : `${failures.length} failing seeds (${failures.map(f => f.seed).join(', ')}); seed ${first.seed} (${first.profile}): ${first.failure?.kind}: ${first.failure?.message}\n${first.trace.slice(-40).join('\n')}`)
    // The run must actually have exercised what it claims to check.
    assert.equal(profiles.size, 7, `profiles drawn: ${[...profiles].join(', ')}`)
    for (const k of ['crashes', 'restarts', 'pauses', 'partitions', 'transfers', 'confChanges', 'snapshotsTaken', 'snapshotsInstalled', 'leaders', 'acked', 'readsOk', 'leaseReads', 'unknown']) {
      assert.ok((totals[k] ?? 0) > SEEDS / 10, `too few ${k}: ${totals[k]}`)
    }
    assert.ok(totals.historyOps > SEEDS * 100, `too few client operations: ${totals.historyOps}`)
  })
})
