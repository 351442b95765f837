// Cookie-derived keys: deterministic, separated by label, pnet-formatted, and never shown when logged.
import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { inspect } from 'node:util'
import { deriveClusterKeys } from '../../../src/p2p/cookie.js'
import { CookieError } from '../../../src/p2p/errors.js'

describe('cookie key derivation', () => {
  it('is deterministic per cookie and differs between cookies', () => {
    const a = deriveClusterKeys('correct horse battery staple')
    const b = deriveClusterKeys('correct horse battery staple')
    const c = deriveClusterKeys('correct horse battery stapler')
    assert.equal(a.clusterId, b.clusterId)
    assert.equal(a.topic, b.topic)
    assert.deepEqual(a.psk, b.psk)
    assert.deepEqual(a.hmacKey, b.hmacKey)
    assert.notEqual(a.clusterId, c.clusterId)
    assert.notEqual(a.topic, c.topic)
    assert.notDeepEqual(a.psk, c.psk)
    assert.notDeepEqual(a.hmacKey, c.hmacKey)
  })

  it('derives the pnet key in the 95-byte text format of @libp2p/pnet', () => {
    const k = deriveClusterKeys('cookie')
    assert.equal(k.psk.byteLength, 95)
    assert.match(Buffer.from(k.psk).toString('utf8'), /^\/key\/swarm\/psk\/1\.0\.0\/\n\/base16\/\n[0-9a-f]{64}$/)
  })

  it('uses distinct labels: no derived value contains another or the cookie', () => {
    const cookie = 'a-cookie-of-some-length'
    const k = deriveClusterKeys(cookie)
    const pskHex = Buffer.from(k.psk).toString('utf8').split('\n')[2]
    const hmacHex = Buffer.from(k.hmacKey).toString('hex')
    const topicHex = k.topic.split('/').pop() ?? ''
    assert.equal(k.clusterId.length, 16)
    const values = [k.clusterId, topicHex, pskHex, hmacHex]
    for (const v of values) assert.ok(!v.includes(cookie))
    for (let i = 0; i < values.length; i++) {
      for (let j = 0; j < values.length; j++) {
        if (i !== j) assert.ok(!values[j].includes(values[i].slice(0, 16)), `value ${i} appears in value ${j}`)
      }
    }
  })

  it('redacts the secret keys when logged as JSON or inspected', () => {
    const k = deriveClusterKeys('cookie')
    const secrets = [Buffer.from(k.psk).toString('utf8').split('\n')[2], Buffer.from(k.hmacKey).toString('hex')]
    for (const text of [JSON.stringify(k), inspect(k), inspect({ nested: k }, { depth: 5 })]) {
      assert.ok(text.includes(k.clusterId))
      assert.ok(text.includes('[redacted]'))
      assert.ok(!/Uint8Array|"0":|\[\s*\d+,/.test(text), `key bytes leak into: ${text}`)
      for (const s of secrets) assert.ok(!text.includes(s))
    }
  })

  it('refuses an empty cookie with a CookieError', () => {
    assert.throws(() => deriveClusterKeys(''), CookieError)
  })
})
