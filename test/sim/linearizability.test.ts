// The linearizability checker must accept every linearizable history and reject known anomalies.
import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import fc from 'fast-check'
import { checkKvHistory, formatReport, MalformedHistoryError, type KvInput, type KvOperation } from './linearizability.js'

let nextClient = 0
function op (input: KvInput, call: number, ret: number | null, outcome: KvOperation['outcome'] = 'ok', value?: string | null): KvOperation {
  const o: KvOperation = { client: nextClient++, input, call, return: ret, outcome }
  if (value !== undefined) o.value = value
  return o
}
const put = (key: string, value: string, call: number, ret: number | null, outcome: KvOperation['outcome'] = 'ok'): KvOperation =>
  op({ op: 'put', key, value }, call, ret, outcome)
const get = (key: string, value: string | null, call: number, ret: number): KvOperation =>
  op({ op: 'get', key }, call, ret, 'ok', value)
const cas = (key: string, expected: string | null, value: string, call: number, ret: number | null, outcome: KvOperation['outcome'] = 'ok', seen?: string | null): KvOperation =>
  op({ op: 'cas', key, expected, value }, call, ret, outcome, seen)

describe('linearizability checker: accepts linearizable histories', () => {
  it('accepts the empty history', () => {
    assert.equal(checkKvHistory([]).result, 'ok')
  })

  it('accepts a sequential history that follows the register specification', () => {
    const h = [get('k', null, 0, 1), put('k', 'a', 2, 3), get('k', 'a', 4, 5), cas('k', 'a', 'b', 6, 7),
      cas('k', 'a', 'c', 8, 9, 'fail', 'b'), get('k', 'b', 10, 11), cas('k', 'b', 'd', 12, 13)]
    assert.equal(checkKvHistory(h).result, 'ok')
  })

  it('accepts a read concurrent with a write observing either the old or the new value', () => {
    for (const seen of [null, 'a']) {
      assert.equal(checkKvHistory([put('k', 'a', 0, 10), get('k', seen, 2, 5)]).result, 'ok')
    }
  })

  it('accepts concurrent writes whose order is fixed by later reads', () => {
    const h = [put('k', '1', 0, 10), put('k', '2', 1, 9), get('k', '1', 11, 12), get('k', '1', 13, 14)]
    assert.equal(checkKvHistory(h).result, 'ok')
  })

  it('accepts readers that see concurrent writes in the same order while overlapping them', () => {
    const h = [put('k', '1', 0, 100), put('k', '2', 0, 100),
      get('k', '1', 1, 2), get('k', '2', 3, 4), get('k', '2', 5, 6), get('k', '2', 7, 8)]
    assert.equal(checkKvHistory(h).result, 'ok')
  })

  it('accepts an unknown-outcome write that took effect long after its caller gave up', () => {
    const h = [put('k', 'x', 0, null, 'unknown'), get('k', null, 5, 6), get('k', null, 50, 51), get('k', 'x', 100, 101)]
    assert.equal(checkKvHistory(h).result, 'ok')
  })

  it('accepts an unknown-outcome write that never took effect', () => {
    const h = [put('k', 'x', 0, null, 'unknown'), get('k', null, 5, 6), put('k', 'y', 7, 8), get('k', 'y', 9, 10)]
    assert.equal(checkKvHistory(h).result, 'ok')
  })

  it('accepts an unknown-outcome cas whose comparison decided its effect', () => {
    const h = [put('k', 'a', 0, 1), cas('k', 'a', 'b', 2, null, 'unknown'), get('k', 'b', 3, 4)]
    assert.equal(checkKvHistory(h).result, 'ok')
  })

  it('decides quickly when many timed-out writes were never observed', () => {
    const h: KvOperation[] = [put('k', 'a', 0, 1)]
    for (let i = 0; i < 60; i++) h.push(put('k', `lost${i}`, 2 + i, null, 'unknown'))
    for (let i = 0; i < 30; i++) h.push(get('k', 'a', 100 + 2 * i, 101 + 2 * i))
    const r = checkKvHistory(h, { maxSteps: 10_000 })
    assert.equal(r.result, 'ok')
  })

  it('keeps an unknown write whose value only an unknown-outcome cas expected (and that cas was observed)', () => {
    // Found by the simulator: dropping put(x) made the observed effect of cas(x→y) inexplicable.
    const h = [put('k', 'a', 0, 1), put('k', 'x', 2, null, 'unknown'), cas('k', 'x', 'y', 3, null, 'unknown'), get('k', 'y', 10, 11)]
    assert.equal(checkKvHistory(h).result, 'ok')
  })

  it('keeps an unknown write that is the only explanation of a cas failure that reported nothing', () => {
    const h = [put('k', 'a', 0, 1), put('k', 'b', 2, null, 'unknown'), cas('k', 'a', 'c', 3, 4, 'fail')]
    assert.equal(checkKvHistory(h).result, 'ok')
  })

  it('treats equal invocation and response times as concurrent', () => {
    assert.equal(checkKvHistory([put('k', 'a', 0, 5), get('k', null, 5, 6)]).result, 'ok')
  })

  it('ignores reads and puts that definitely did not execute', () => {
    const h = [put('k', 'a', 0, 1), put('k', 'zzz', 2, 3, 'fail'), op({ op: 'get', key: 'k' }, 4, 5, 'unknown'), get('k', 'a', 6, 7)]
    assert.equal(checkKvHistory(h).result, 'ok')
  })

  it('checks keys independently (P-compositionality)', () => {
    const h = [put('a', '1', 0, 1), put('b', '1', 0, 1), get('a', '1', 2, 3), get('b', '1', 2, 3)]
    const r = checkKvHistory(h)
    assert.equal(r.result, 'ok')
    assert.equal(r.keys, 2)
  })
})

describe('linearizability checker: rejects known anomalies', () => {
  it('rejects a stale read after a completed write', () => {
    const h = [put('k', 'a', 0, 1), put('k', 'b', 2, 3), get('k', 'a', 4, 5)]
    const r = checkKvHistory(h)
    assert.equal(r.result, 'illegal')
    assert.equal(r.problems[0].key, 'k')
  })

  it('rejects a read of the initial (absent) value after a completed write', () => {
    assert.equal(checkKvHistory([put('k', 'a', 0, 1), get('k', null, 2, 3)]).result, 'illegal')
  })

  it('rejects two readers observing concurrent writes in opposite orders', () => {
    const h = [put('k', '1', 0, 100), put('k', '2', 0, 100),
      get('k', '1', 10, 11), get('k', '2', 12, 13), // reader A: 1 then 2
      get('k', '2', 10, 11), get('k', '1', 12, 13)] // reader B: 2 then 1
    assert.equal(checkKvHistory(h).result, 'illegal')
  })

  it('rejects a cas that succeeded on a value that was never written', () => {
    const h = [put('k', 'a', 0, 1), cas('k', 'ghost', 'b', 2, 3), get('k', 'b', 4, 5)]
    assert.equal(checkKvHistory(h).result, 'illegal')
  })

  it('rejects a cas on absent that succeeded after the key was written', () => {
    assert.equal(checkKvHistory([put('k', 'a', 0, 1), cas('k', null, 'b', 2, 3)]).result, 'illegal')
  })

  it('rejects a cas that failed although the expected value was certainly current', () => {
    assert.equal(checkKvHistory([put('k', 'a', 0, 1), cas('k', 'a', 'b', 2, 3, 'fail')]).result, 'illegal')
  })

  it('rejects a cas failure that reports a value the key never held at the time', () => {
    assert.equal(checkKvHistory([put('k', 'a', 0, 1), cas('k', 'x', 'b', 2, 3, 'fail', 'zzz')]).result, 'illegal')
  })

  it('rejects a read of a value whose write had not been invoked yet', () => {
    assert.equal(checkKvHistory([get('k', 'a', 0, 1), put('k', 'a', 2, 3)]).result, 'illegal')
  })

  it('rejects a read that skips back over unknown writes to a value overwritten by a completed one', () => {
    const h = [put('k', 'a', 0, 1), put('k', 'x', 2, null, 'unknown'), put('k', 'b', 3, 4), get('k', 'x', 5, 6), get('k', 'a', 7, 8)]
    assert.equal(checkKvHistory(h).result, 'illegal')
  })

  it('rejects a read of an unknown-outcome write before that write was invoked', () => {
    assert.equal(checkKvHistory([get('k', 'x', 0, 1), put('k', 'x', 5, null, 'unknown')]).result, 'illegal')
  })

  it('rejects a lost acknowledged write (value reverts to an older one)', () => {
    const h = [put('k', 'a', 0, 1), put('k', 'b', 2, 3), get('k', 'b', 4, 5), get('k', 'a', 6, 7)]
    assert.equal(checkKvHistory(h).result, 'illegal')
  })

  it('names the offending key among many good ones and formats a readable report', () => {
    const good = Array.from({ length: 20 }, (_, i) => put(`g${i}`, 'v', i, i + 1))
    const r = checkKvHistory([...good, put('bad', 'a', 0, 1), get('bad', null, 2, 3)])
    assert.equal(r.result, 'illegal')
    assert.equal(r.problems[0].key, 'bad')
    const text = formatReport(r).join('\n')
    assert.match(text, /key bad: illegal/)
    assert.match(text, /get\(bad\) → absent/)
  })

  it('refuses a malformed history with a typed error', () => {
    assert.throws(() => checkKvHistory([put('k', 'a', 5, 1)]), MalformedHistoryError)
  })
})

describe('linearizability checker: budget and scale', () => {
  it('answers unknown instead of searching forever when the step budget runs out', () => {
    const h: KvOperation[] = []
    for (let i = 0; i < 40; i++) h.push(put('k', `v${i}`, 0, 1000))
    h.push(get('k', 'nope', 2000, 2001))
    const r = checkKvHistory(h, { maxSteps: 1000 })
    assert.equal(r.result, 'unknown')
    assert.equal(r.problems[0].key, 'k')
  })

  it('decides a wide concurrent illegal history thanks to memoization', () => {
    const h: KvOperation[] = []
    // 14 fully concurrent writes: 14! orders, but only 2^14 × 14 distinct (linearized set, state) pairs.
    for (let i = 0; i < 14; i++) h.push(put('k', `v${i}`, 0, 1000))
    h.push(get('k', 'nope', 2000, 2001))
    const r = checkKvHistory(h)
    assert.equal(r.result, 'illegal')
    assert.ok(r.steps < 2_000_000, `memo did not prune: ${r.steps} steps`)
  })

  it('checks 5,000 operations over 5 keys with heavy overlap within the default budget', () => {
    const h = linearizableHistory(12345, 5000, 5, 8)
    const t0 = performance.now()
    const r = checkKvHistory(h)
    assert.equal(r.result, 'ok')
    assert.ok(performance.now() - t0 < 5000, 'took too long')
  })
})

/** Builds a history that is linearizable by construction: each op takes effect at a point inside its window. */
function linearizableHistory (seed: number, count: number, keys: number, maxWindow: number): KvOperation[] {
  let s = seed >>> 0
  const rnd = (): number => {
    s = (s + 0x6d2b79f5) >>> 0
    let t = s
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
  const planned: Array<{ input: KvInput, call: number, at: number, ret: number, unknown: boolean }> = []
  for (let i = 0; i < count; i++) {
    const key = `k${Math.floor(rnd() * keys)}`
    const call = i * 2
    const at = call + rnd() * maxWindow
    const ret = at + rnd() * maxWindow
    const r = rnd()
    const value = `v${i}`
    const input: KvInput = r < 0.4 ? { op: 'get', key } : r < 0.7 ? { op: 'put', key, value } : { op: 'cas', key, expected: rnd() < 0.2 ? null : `v${Math.max(0, i - Math.floor(rnd() * 6))}`, value }
    planned.push({ input, call, at, ret, unknown: input.op !== 'get' && rnd() < 0.05 })
  }
  const state = new Map<string, string | null>()
  const out: KvOperation[] = []
  for (const p of [...planned].sort((a, b) => a.at - b.at)) {
    const cur = state.get(p.input.key) ?? null
    const o: KvOperation = { client: out.length, input: p.input, call: p.call, return: p.unknown ? null : p.ret, outcome: p.unknown ? 'unknown' : 'ok' }
    if (p.input.op === 'get') o.value = cur
    else if (p.input.op === 'put') state.set(p.input.key, p.input.value)
    else if (cur === p.input.expected) state.set(p.input.key, p.input.value)
    else if (!p.unknown) { o.outcome = 'fail'; o.value = cur }
    out.push(o)
  }
  return out
}

describe('linearizability checker: properties', () => {
  it('accepts every history built from a sequential execution with overlapping windows', () => {
    fc.assert(fc.property(fc.integer({ min: 0, max: 2 ** 31 }), fc.integer({ min: 1, max: 300 }), fc.integer({ min: 1, max: 4 }), fc.integer({ min: 1, max: 20 }),
      (seed, count, keys, window) => checkKvHistory(linearizableHistory(seed, count, keys, window)).result === 'ok'), { numRuns: 200 })
  })

  it('rejects such a history once a completed read is made to return a value nobody wrote', () => {
    fc.assert(fc.property(fc.integer({ min: 0, max: 2 ** 31 }), fc.integer({ min: 20, max: 200 }), (seed, count) => {
      const h = linearizableHistory(seed, count, 2, 6)
      const reads = h.filter(o => o.input.op === 'get')
      fc.pre(reads.length > 0)
      reads[seed % reads.length].value = 'never-written'
      return checkKvHistory(h).result === 'illegal'
    }), { numRuns: 100 })
  })
})
