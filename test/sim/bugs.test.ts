// The simulation finds real bugs: each deliberately injected bug (behind a test-only flag) is caught within
// 500 seeds, and the failing seed passes once the bug is switched off (so the failure is the bug's).
import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { runSeed } from './run-seed.js'
import type { SimBug } from './simulation.js'

const MAX_SEEDS = 500

const BUGS: Array<{ bug: SimBug, what: string }> = [
  { bug: 'countOldTermVotes', what: 'a candidate counting vote responses from an older term (§5.2 Election Safety)' },
  { bug: 'commitPriorTermByCounting', what: 'a leader committing a prior-term entry by counting replicas (§5.4.2, Figure 8)' },
  { bug: 'applyBeforePersist', what: 'a node applying committed entries before persisting them (crash recovery)' },
  { bug: 'leaderSelfAckBeforePersist', what: 'a leader counting its own acknowledgement before its fsync (§10.2.1)' },
  { bug: 'leaseReadAfterTimeoutNow', what: 'a leader serving lease reads after sending TimeoutNow (§6.4.1)' }
]

describe('the simulation catches injected bugs', () => {
  for (const { bug, what } of BUGS) {
    it(`catches ${what} within ${MAX_SEEDS} seeds`, () => {
      let found: ReturnType<typeof runSeed> | undefined
      for (let seed = 1; seed <= MAX_SEEDS && found === undefined; seed++) {
        const r = runSeed(seed, { bugs: [bug] })
        if (!r.ok) found = r
      }
      assert.ok(found !== undefined, `${bug} survived ${MAX_SEEDS} seeds`)
      const control = runSeed(found.seed)
      assert.ok(control.ok, `seed ${found.seed} also fails without ${bug}: ${control.failure?.kind}: ${control.failure?.message}`)
      assert.ok(found.trace.length > 0)
      process.stdout.write(`# ${bug}: caught at seed ${found.seed} (${found.profile}) by ${found.failure?.kind}\n`)
    })
  }
})
