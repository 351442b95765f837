// The long chaos run (npm run test:extra): 10 minutes of faults on 3 voters, same verdicts as the short one.
import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { runChaos } from '../chaos/run-chaos.js'

describe('long chaos on real processes', () => {
  it('600 s of faults on 3 voters: linearizable, no acknowledged write lost, replicas identical', { timeout: 3_600_000 }, async () => {
    const lines: string[] = []
    const s = await runChaos({ seconds: 600, seed: 42, nodes: 3, log: (l) => { lines.push(l) } })
    assert.ok(s.ok, `chaos run failed: ${s.violations.join('; ')}\nhistory: ${s.history ?? '(none)'}\n${lines.slice(-80).join('\n')}`)
    assert.equal(s.linearizable, true)
    assert.equal(s.lost_acked_writes, 0)
    assert.equal(s.replicas_identical, true)
  })
})
