// Our pnet protector must produce exactly the bytes @libp2p/pnet produces (the `xsalsa20` keystream from byte 0),
// however a connection's data is split into messages, and must reject a malformed key.
import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import fc from 'fast-check'
import xsalsa20 from 'xsalsa20'
import { decodePnetKey, KeystreamXor, PNET_WINDOW_BYTES } from '../../../src/p2p/pnet.js'
import { deriveClusterKeys } from '../../../src/p2p/cookie.js'

const key = Uint8Array.from({ length: 32 }, (_, i) => i * 7 + 1)
const nonce = Uint8Array.from({ length: 24 }, (_, i) => 255 - i)

describe('pnet keystream', () => {
  it('XORs the same bytes as the xsalsa20 package pnet uses, for any split of the stream into messages', () => {
    fc.assert(fc.property(fc.array(fc.integer({ min: 0, max: 300 }), { minLength: 1, maxLength: 20 }), fc.integer({ min: 0, max: 2 ** 31 }), (sizes, seed) => {
      const total = sizes.reduce((a, b) => a + b, 0)
      const data = Uint8Array.from({ length: total }, (_, i) => (i * 31 + seed) & 0xff)
      const expected = xsalsa20(nonce, key).update(data)
      const ours = new KeystreamXor(key, nonce)
      const got = new Uint8Array(total)
      let off = 0
      for (const n of sizes) {
        got.set(ours.update(data.subarray(off, off + n)), off)
        off += n
      }
      assert.deepEqual(got, expected)
    }), { numRuns: 200 })
  })

  it('a message larger than the window is XORed in windows with the same result', () => {
    const data = Uint8Array.from({ length: PNET_WINDOW_BYTES * 2 + 1234 }, (_, i) => i & 0xff)
    const ours = new KeystreamXor(key, nonce)
    ours.update(data.subarray(0, 13)) // start mid-block
    const expected = xsalsa20(nonce, key).update(data).subarray(13)
    assert.deepEqual(ours.update(data.subarray(13)), expected)
  })

  it('reads the key of the cookie-derived pnet key file, and refuses a malformed one', () => {
    const psk = deriveClusterKeys('pnet-test-cookie').psk
    assert.equal(decodePnetKey(psk).byteLength, 32)
    assert.throws(() => decodePnetKey(new TextEncoder().encode('/key/swarm/psk/1.0.0/\n/base16/\nabcd')), /invalid pre-shared key/)
    assert.throws(() => new KeystreamXor(new Uint8Array(31), nonce), /32 bytes/)
  })
})
