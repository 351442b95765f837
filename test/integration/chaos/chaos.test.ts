// A short chaos run on real processes (≥ 60 s of faults, 3 voters): SIGKILL and restart (the leader included),
// SIGSTOP/SIGCONT pauses, symmetric and one-way partitions, membership changes and snapshots during faults, with
// clients racing on shared keys. The history must be linearizable, no acknowledged write lost, replicas identical,
// and the run must have done enough work to mean it (≥ 1,000 ops per minute, ≥ 3 faults of every kind).
import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { runChaos } from '../../chaos/run-chaos.js'

describe('chaos on real processes', () => {
  it('60 s of faults on 3 voters: linearizable, no acknowledged write lost, replicas identical', { timeout: 900_000 }, async () => {
    const lines: string[] = []
    const s = await runChaos({ seconds: 60, seed: 7, nodes: 3, log: (l) => { lines.push(l) } })
    assert.ok(s.ok, `chaos run failed: ${s.violations.join('; ')}\nhistory: ${s.history ?? '(none)'}\n${lines.slice(-80).join('\n')}`)
    assert.equal(s.linearizable, true)
    assert.equal(s.lost_acked_writes, 0)
    assert.equal(s.replicas_identical, true)
    assert.ok(s.ops >= 1000, `${s.ops} ops`)
    for (const [kind, n] of Object.entries(s.faults_by_kind)) assert.ok(n >= 3, `${n} ${kind} faults`)
  })
})
