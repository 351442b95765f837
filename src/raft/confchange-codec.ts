// Binary encoding of ConfChange for confChange entry payloads. Layout (all integers unsigned LEB128 varints):
//   u8 version (=1) | u8 transition | varint nChanges | nChanges × (u8 type, varint nodeId) | varint ctxLen | ctx
// Decoding is strict: unknown tags, overlong varints, trailing bytes or truncation raise ConfChangeDecodeError.

import { ConfChangeDecodeError, ConfChangeError } from './errors.js'
import type { ConfChange, ConfChangeSingle, ConfChangeType } from './types.js'

const VERSION = 1
/** Upper bound on changes in one ConfChange (matches the cluster's voter limit with room for learners). */
export const MAX_CONF_CHANGES = 1024
/** Upper bound on the opaque context carried by a ConfChange. */
export const MAX_CONF_CHANGE_CONTEXT_BYTES = 64 * 1024

const TRANSITIONS: readonly ConfChange['transition'][] = ['auto', 'joint', 'jointExplicit']
const TYPES: readonly ConfChangeType[] = ['addNode', 'addLearner', 'removeNode']

function pushVarint (out: number[], v: number): void {
  if (!Number.isSafeInteger(v) || v < 0) throw new ConfChangeError(`cannot encode ${v} as an unsigned varint`)
  while (v >= 0x80) {
    out.push((v % 0x80) | 0x80)
    v = Math.floor(v / 0x80)
  }
  out.push(v)
}

/** Encodes a ConfChange; throws ConfChangeError for values the format cannot hold. */
export function encodeConfChange (cc: ConfChange): Uint8Array {
  const t = TRANSITIONS.indexOf(cc.transition)
  if (t < 0) throw new ConfChangeError(`unknown transition ${String(cc.transition)}`)
  if (cc.changes.length > MAX_CONF_CHANGES) throw new ConfChangeError(`too many changes: ${cc.changes.length}`)
  if (cc.context.byteLength > MAX_CONF_CHANGE_CONTEXT_BYTES) throw new ConfChangeError(`context too large: ${cc.context.byteLength} bytes`)
  const head: number[] = [VERSION, t]
  pushVarint(head, cc.changes.length)
  for (const c of cc.changes) {
    const ty = TYPES.indexOf(c.type)
    if (ty < 0) throw new ConfChangeError(`unknown change type ${String(c.type)}`)
    head.push(ty)
    pushVarint(head, c.nodeId)
  }
  pushVarint(head, cc.context.byteLength)
  const out = new Uint8Array(head.length + cc.context.byteLength)
  out.set(head, 0)
  out.set(cc.context, head.length)
  return out
}

class Reader {
  pos = 0
  constructor (private readonly b: Uint8Array) {}

  byte (): number {
    if (this.pos >= this.b.length) throw new ConfChangeDecodeError('truncated conf change')
    return this.b[this.pos++]
  }

  varint (): number {
    let v = 0
    let mul = 1
    for (let i = 0; i < 8; i++) {
      const x = this.byte()
      v += (x & 0x7f) * mul
      if (!Number.isSafeInteger(v)) throw new ConfChangeDecodeError('varint overflow in conf change')
      if ((x & 0x80) === 0) {
        if (i > 0 && x === 0) throw new ConfChangeDecodeError('non-minimal varint in conf change')
        return v
      }
      mul *= 0x80
    }
    throw new ConfChangeDecodeError('varint too long in conf change')
  }

  bytes (n: number): Uint8Array {
    if (this.pos + n > this.b.length) throw new ConfChangeDecodeError('truncated conf change context')
    const out = this.b.slice(this.pos, this.pos + n)
    this.pos += n
    return out
  }
}

/** Decodes bytes produced by encodeConfChange; throws ConfChangeDecodeError on anything else. */
export function decodeConfChange (b: Uint8Array): ConfChange {
  const r = new Reader(b)
  const version = r.byte()
  if (version !== VERSION) throw new ConfChangeDecodeError(`unknown conf change version ${version}`)
  const transition = TRANSITIONS[r.byte()]
  if (transition === undefined) throw new ConfChangeDecodeError('unknown conf change transition')
  const n = r.varint()
  if (n > MAX_CONF_CHANGES) throw new ConfChangeDecodeError(`too many changes: ${n}`)
  const changes: ConfChangeSingle[] = []
  for (let i = 0; i < n; i++) {
    const type = TYPES[r.byte()]
    if (type === undefined) throw new ConfChangeDecodeError('unknown conf change type')
    changes.push({ type, nodeId: r.varint() })
  }
  const ctxLen = r.varint()
  if (ctxLen > MAX_CONF_CHANGE_CONTEXT_BYTES) throw new ConfChangeDecodeError(`context too large: ${ctxLen} bytes`)
  const context = r.bytes(ctxLen)
  if (r.pos !== b.length) throw new ConfChangeDecodeError(`${b.length - r.pos} trailing bytes after conf change`)
  return { transition, changes, context }
}
