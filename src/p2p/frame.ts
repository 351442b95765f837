// Length-prefixed framing shared by our protocols: an unsigned LEB128 varint length, then the payload (the same
// layout as it-length-prefixed). The decoder is incremental and bounded: it checks a length against the limit
// before buffering the payload, so a hostile prefix cannot make us allocate.
import { Uint8ArrayList } from 'uint8arraylist'
import { FrameDecodeError, FrameTooLargeError } from './errors.js'
import { invariant } from '../errors.js'
import { encodeUint8Array, encodingLength } from 'uint8-varint'

/** Hard cap on one frame's payload on every protocol. */
export const MAX_FRAME_BYTES = 16 * 1024 * 1024
/** A varint of more bytes than this encodes ≥ 2^35: far over any limit, so stop reading it. */
const MAX_VARINT_BYTES = 5

/** Bytes the varint encoding of `n` takes. */
export const varintLength: (n: number) => number = encodingLength

/** Encodes payloads as consecutive frames in one buffer (one send() for the whole batch). */
export function encodeFrames (payloads: readonly Uint8Array[]): Uint8Array {
  let total = 0
  for (const p of payloads) total += varintLength(p.byteLength) + p.byteLength
  const out = new Uint8Array(total)
  let offset = 0
  for (const p of payloads) {
    encodeUint8Array(p.byteLength, out, offset)
    offset += encodingLength(p.byteLength)
    out.set(p, offset)
    offset += p.byteLength
  }
  invariant(offset === total, 'frame encoding length mismatch')
  return out
}

/** Encodes one payload as a frame. */
export function encodeFrame (payload: Uint8Array): Uint8Array {
  return encodeFrames([payload])
}

/** The length prefix of a payload of `n` bytes (send it followed by the payload to avoid copying the payload). */
export function encodeLengthPrefix (n: number): Uint8Array {
  return encodeUint8Array(n, new Uint8Array(encodingLength(n)), 0)
}

/**
 * Incremental frame decoder. `push` returns the payloads completed by the chunk; a prefix over `maxFrameBytes`
 * throws FrameTooLargeError and a malformed prefix FrameDecodeError. After a throw the decoder is poisoned: the
 * stream must be closed (we cannot resynchronise a byte stream).
 */
export class FrameDecoder {
  private readonly buf = new Uint8ArrayList()
  private pending = -1
  private failed: Error | undefined

  constructor (readonly maxFrameBytes: number = MAX_FRAME_BYTES) {
    invariant(Number.isSafeInteger(maxFrameBytes) && maxFrameBytes > 0, 'maxFrameBytes must be a positive integer')
  }

  /** Bytes buffered but not yet returned as frames. */
  get buffered (): number {
    return this.buf.byteLength
  }

  /** Feeds bytes; returns the complete payloads in order. */
  push (chunk: Uint8Array | Uint8ArrayList): Uint8Array[] {
    if (this.failed !== undefined) throw this.failed
    this.buf.append(chunk)
    const out: Uint8Array[] = []
    try {
      while (true) {
        if (this.pending < 0) {
          const len = this.readLength()
          if (len === undefined) break
          this.pending = len
        }
        if (this.buf.byteLength < this.pending) break
        out.push(this.buf.subarray(0, this.pending))
        this.buf.consume(this.pending)
        this.pending = -1
      }
    } catch (e) {
      this.failed = e instanceof Error ? e : new FrameDecodeError('frame decoding failed')
      this.buf.consume(this.buf.byteLength)
      throw this.failed
    }
    return out
  }

  /** Reads and consumes a varint length prefix; undefined when more bytes are needed. */
  private readLength (): number | undefined {
    let value = 0
    let scale = 1
    const avail = this.buf.byteLength
    for (let i = 0; i < MAX_VARINT_BYTES; i++) {
      if (i >= avail) return undefined
      const b = this.buf.get(i)
      value += (b & 0x7f) * scale
      if (value > this.maxFrameBytes) throw new FrameTooLargeError(this.maxFrameBytes, value)
      if ((b & 0x80) === 0) {
        this.buf.consume(i + 1)
        return value
      }
      scale *= 128
    }
    throw new FrameDecodeError(`frame length prefix longer than ${MAX_VARINT_BYTES} bytes`)
  }
}
