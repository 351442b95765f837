// A seed is a complete description of a run: the same seed replays the same events, history and failures.
import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { runSeed } from './run-seed.js'
import { Rng } from './rng.js'

describe('simulation determinism', () => {
  it('replays a seed identically (same trace hash, same history size, same outcome)', () => {
    for (const seed of [7, 42, 1234]) {
      const a = runSeed(seed)
      const b = runSeed(seed)
      assert.equal(a.traceHash, b.traceHash, `seed ${seed}`)
      assert.equal(a.events, b.events)
      assert.equal(a.history, b.history)
      assert.deepEqual(a.stats, b.stats)
      assert.deepEqual(a.trace, b.trace)
    }
  })

  it('gives different seeds different runs', () => {
    const hashes = new Set([1, 2, 3, 4, 5].map(s => runSeed(s).traceHash))
    assert.equal(hashes.size, 5)
  })

  it('reproduces a failing seed with the same trace', () => {
    const a = runSeed(1, { bugs: ['applyBeforePersist'] })
    const b = runSeed(1, { bugs: ['applyBeforePersist'] })
    assert.equal(a.ok, false)
    assert.deepEqual(a.failure, b.failure)
    assert.equal(a.traceHash, b.traceHash)
    assert.deepEqual(a.trace, b.trace)
  })

  it('derives independent random streams from one seed', () => {
    const root = new Rng(99)
    const x = root.fork('a')
    const y = new Rng(99).fork('a')
    const z = new Rng(99).fork('b')
    const take = (r: Rng): number[] => Array.from({ length: 8 }, () => r.int(1000))
    assert.deepEqual(take(x), take(y))
    assert.notDeepEqual(take(new Rng(99).fork('a')), take(z))
  })
})
