// Liveness after leader loss (Raft §5.2, §9.3): on a partition-free network a new leader is elected within two
// election timeouts in at least 99% of the cases (leader crash, leader paused, leader removing itself).
import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { runSeed, summarizeElections } from './run-seed.js'
import type { ElectionSample } from './simulation.js'

const SEEDS = 60

describe('election after leader loss', () => {
  it('completes within 2 election timeouts in ≥ 99% of partition-free cases', () => {
    const samples: ElectionSample[] = []
    for (let seed = 1; seed <= SEEDS; seed++) {
      const r = runSeed(seed, { profile: 'election' })
      assert.ok(r.ok, `seed ${seed}: ${r.failure?.kind}: ${r.failure?.message}`)
      samples.push(...r.elections)
    }
    const s = summarizeElections(samples)
    process.stdout.write(`# elections: ${JSON.stringify(s)}\n`)
    assert.ok(s.clean >= 300, `only ${s.clean} clean samples`)
    for (const cause of ['crash', 'pause', 'removed'] as const) {
      assert.ok(samples.some(e => e.clean && e.cause === cause), `no clean sample for leader ${cause}`)
    }
    assert.ok(s.within2 >= 0.99, `only ${(s.within2 * 100).toFixed(2)}% within 2 election timeouts: ${JSON.stringify(s.histogram)}`)
  })
})
