// Small building blocks with explicit limits: the drop-oldest queue, capped backoff and the keyed rate limiter.
import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { DropOldestQueue } from '../../../src/p2p/drop-oldest-queue.js'
import { Backoff } from '../../../src/p2p/backoff.js'
import { KeyedRateLimiter } from '../../../src/p2p/rate-limiter.js'

describe('DropOldestQueue', () => {
  it('drops the oldest items beyond the item limit and reports how many', () => {
    const q = new DropOldestQueue<number>(3, 1000, () => 1)
    let dropped = 0
    for (let i = 0; i < 10; i++) dropped += q.push(i)
    assert.equal(dropped, 7)
    assert.deepEqual(q.take(1000), [7, 8, 9])
    assert.equal(q.length, 0)
    assert.equal(q.bytes, 0)
  })

  it('drops by bytes but always keeps the newest item, even an oversized one', () => {
    const q = new DropOldestQueue<number>(100, 10, (n) => n)
    q.push(4)
    q.push(4)
    assert.equal(q.push(4), 1)
    assert.equal(q.bytes, 8)
    assert.equal(q.push(50), 2)
    assert.deepEqual(q.take(5), [50])
  })

  it('take() respects its byte budget but returns at least one item', () => {
    const q = new DropOldestQueue<number>(100, 1000, (n) => n)
    for (const n of [3, 3, 3, 30]) q.push(n)
    assert.deepEqual(q.take(7), [3, 3])
    assert.deepEqual(q.take(1), [3])
    assert.deepEqual(q.take(1), [30])
    assert.deepEqual(q.take(1), [])
  })

  it('stays correct across many pushes and takes (internal compaction)', () => {
    const q = new DropOldestQueue<number>(1e6, 1e9, () => 1)
    let next = 0
    let expect = 0
    for (let round = 0; round < 50; round++) {
      for (let i = 0; i < 300; i++) q.push(next++)
      for (const v of q.take(200)) assert.equal(v, expect++)
    }
    assert.equal(q.length, next - expect)
  })
})

describe('Backoff', () => {
  it('grows exponentially up to the cap and resets', () => {
    const b = new Backoff({ initialMs: 100, maxMs: 1000, factor: 2, jitter: 0 })
    assert.deepEqual(Array.from({ length: 6 }, () => b.next()), [100, 200, 400, 800, 1000, 1000])
    b.reset()
    assert.equal(b.next(), 100)
  })

  it('jitter only shortens, within the configured fraction', () => {
    const b = new Backoff({ initialMs: 1000, maxMs: 1000, factor: 2, jitter: 0.5 }, () => 1)
    assert.equal(b.next(), 500)
  })
})

describe('KeyedRateLimiter', () => {
  it('allows a burst of 3 then 12 per minute, per key', () => {
    let now = 0
    const rl = new KeyedRateLimiter({ burst: 3, perMinute: 12 }, () => now)
    assert.deepEqual([rl.tryTake('a'), rl.tryTake('a'), rl.tryTake('a'), rl.tryTake('a')], [true, true, true, false])
    assert.equal(rl.tryTake('b'), true)
    assert.equal(rl.waitMs('a'), 5000)
    now += 4999
    assert.equal(rl.tryTake('a'), false)
    now += 1
    assert.equal(rl.tryTake('a'), true)
    now += 60_000
    assert.deepEqual([rl.tryTake('a'), rl.tryTake('a'), rl.tryTake('a'), rl.tryTake('a')], [true, true, true, false])
  })

  it('tracks a bounded number of keys (least recently used forgotten)', () => {
    const rl = new KeyedRateLimiter({ burst: 1, perMinute: 1 }, () => 0, 2)
    assert.equal(rl.tryTake('a'), true)
    assert.equal(rl.tryTake('b'), true)
    assert.equal(rl.tryTake('c'), true)
    // 'a' was evicted, so it starts with a fresh bucket
    assert.equal(rl.tryTake('a'), true)
    assert.equal(rl.tryTake('c'), false)
  })
})
