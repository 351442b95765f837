// Length-prefixed framing: round trips across arbitrary chunking, limits checked before buffering, and a decoder
// that only ever throws its typed errors (fuzzed with fast-check).
import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import fc from 'fast-check'
import { encodeFrame, encodeFrames, FrameDecoder, MAX_FRAME_BYTES, varintLength } from '../../../src/p2p/frame.js'
import { FrameDecodeError, FrameTooLargeError } from '../../../src/p2p/errors.js'
import { decodeRaftFrame } from '../../../src/p2p/raft-codec.js'

function chunked (bytes: Uint8Array, cuts: number[]): Uint8Array[] {
  const points = [...new Set(cuts.map((c) => c % (bytes.byteLength + 1)))].sort((a, b) => a - b)
  const out: Uint8Array[] = []
  let prev = 0
  for (const p of [...points, bytes.byteLength]) {
    out.push(bytes.subarray(prev, p))
    prev = p
  }
  return out
}

describe('frame codec', () => {
  it('round-trips any payloads however the bytes are chunked', () => {
    fc.assert(fc.property(
      fc.array(fc.uint8Array({ maxLength: 300 }), { maxLength: 20 }),
      fc.array(fc.nat(), { maxLength: 30 }),
      (payloads, cuts) => {
        const wire = encodeFrames(payloads)
        const d = new FrameDecoder()
        const out: Uint8Array[] = []
        for (const c of chunked(wire, cuts)) out.push(...d.push(c))
        assert.deepEqual(out.map((x) => Buffer.from(x)), payloads.map((x) => Buffer.from(x)))
        assert.equal(d.buffered, 0)
      }
    ))
  })

  it('varint lengths match the encoder', () => {
    for (const n of [0, 1, 127, 128, 16383, 16384, 2 ** 21, MAX_FRAME_BYTES]) {
      assert.equal(encodeFrame(new Uint8Array(n)).byteLength - n, varintLength(n))
    }
  })

  it('refuses a length over the limit from the prefix alone, before the payload arrives', () => {
    const d = new FrameDecoder(1024)
    const prefix = encodeFrame(new Uint8Array(1025)).subarray(0, varintLength(1025))
    assert.throws(() => d.push(prefix), (e: unknown) => e instanceof FrameTooLargeError && e.limit === 1024)
    assert.equal(d.buffered, 0)
    // poisoned afterwards: the stream must be closed
    assert.throws(() => d.push(new Uint8Array([1, 2])), FrameTooLargeError)
  })

  it('accepts a 16 MiB frame prefix and refuses 16 MiB + 1 by default', () => {
    const prefixOf = (n: number): Uint8Array => {
      const out: number[] = []
      while (n >= 0x80) {
        out.push((n & 0x7f) | 0x80)
        n = Math.floor(n / 128)
      }
      out.push(n)
      return new Uint8Array(out)
    }
    assert.deepEqual(new FrameDecoder().push(prefixOf(MAX_FRAME_BYTES)), [])
    assert.throws(() => new FrameDecoder().push(prefixOf(MAX_FRAME_BYTES + 1)), FrameTooLargeError)
  })

  it('refuses an over-long varint prefix with FrameDecodeError', () => {
    const d = new FrameDecoder(2 ** 40)
    assert.throws(() => d.push(new Uint8Array([0x80, 0x80, 0x80, 0x80, 0x80, 0x01])), FrameDecodeError)
  })

  it('fuzz: random bytes in random chunks give frames or a typed error, never anything else', () => {
    fc.assert(fc.property(
      fc.array(fc.uint8Array({ maxLength: 64 }), { maxLength: 20 }),
      fc.integer({ min: 1, max: 4096 }),
      (chunks, limit) => {
        const d = new FrameDecoder(limit)
        try {
          for (const c of chunks) for (const f of d.push(c)) assert.ok(f.byteLength <= limit)
        } catch (e) {
          assert.ok(e instanceof FrameDecodeError || e instanceof FrameTooLargeError, `unexpected ${String(e)}`)
        }
      }
    ), { numRuns: 2000 })
  })

  it('fuzz: decodeRaftFrame of random bytes returns a frame or throws FrameDecodeError only', () => {
    fc.assert(fc.property(fc.uint8Array({ maxLength: 512 }), (bytes) => {
      try {
        decodeRaftFrame(bytes)
      } catch (e) {
        assert.ok(e instanceof FrameDecodeError, `unexpected ${String(e)}`)
      }
    }), { numRuns: 5000 })
  })
})
