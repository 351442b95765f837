// The chaos harness can fail: with `[testing] unsafe_local_reads = true` nodes answer reads from their own state
// machine without a ReadIndex round. A learner cut off from Raft traffic keeps believing in its leader (learners
// never campaign), so a client that writes through it (the write is forwarded to the leader and acknowledged) and
// then reads the key back through it gets the old value: a stale read is certain, and the checker must say so.
import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { runChaos } from '../../chaos/run-chaos.js'

describe('chaos harness negative control', () => {
  it('reports a linearizability violation when reads skip ReadIndex', { timeout: 600_000 }, async () => {
    const lines: string[] = []
    const s = await runChaos({
      seconds: 10,
      seed: 11,
      nodes: 3,
      unsafeReads: true,
      staleReadProbe: true,
      kinds: ['partition', 'pause'],
      enforceMinimums: false,
      log: (l) => { lines.push(l) }
    })
    assert.equal(s.checker, 'illegal', `expected a violation, got ${JSON.stringify(s)}\n${lines.slice(-60).join('\n')}`)
    assert.equal(s.linearizable, false)
    assert.equal(s.ok, false)
    assert.ok(s.violations.some(v => v.includes('NOT linearizable')), s.violations.join('; '))
    assert.ok(s.history !== null, 'the history file of a failed run is kept')
  })
})
