// The write-through KV cache used while applying: bounded by entries and bytes, oldest first out, caches absence.
import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { KvCache } from '../../../src/store/kv-cache.js'

describe('KV cache', () => {
  it('evicts the oldest entries beyond its entry bound', () => {
    const c = new KvCache(3, 1 << 20)
    for (const k of ['a', 'b', 'c', 'd']) c.set(k, Buffer.from(k))
    assert.equal(c.size, 3)
    assert.equal(c.get('a'), undefined)
    assert.deepStrictEqual(c.get('d'), Buffer.from('d'))
    c.set('b', null) // rewriting moves a key to the newest position and records absence
    c.set('e', Buffer.from('e'))
    assert.equal(c.get('c'), undefined)
    assert.equal(c.get('b'), null)
  })

  it('evicts in rounds, down to 7/8 of the bound, oldest first', () => {
    const c = new KvCache(64, 1 << 20)
    for (let i = 0; i < 64; i++) c.set(`k${i}`, Buffer.from('v'))
    assert.equal(c.size, 64)
    c.set('k64', Buffer.from('v'))
    assert.equal(c.size, 56)
    assert.equal(c.get('k8'), undefined)
    assert.ok(c.get('k9') instanceof Buffer)
    assert.ok(c.get('k64') instanceof Buffer)
  })

  it('evicts beyond its byte bound and never caches a record larger than 1/16 of it', () => {
    const c = new KvCache(1000, 1600)
    c.set('big', Buffer.alloc(200))
    assert.equal(c.get('big'), undefined)
    for (let i = 0; i < 30; i++) c.set(`k${i}`, Buffer.alloc(90))
    assert.ok(c.size < 30 && c.size > 10, `size ${c.size}`)
    assert.equal(c.get('k0'), undefined)
    assert.ok(c.get('k29') instanceof Buffer)
    c.clear()
    assert.equal(c.size, 0)
  })
})
