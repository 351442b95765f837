// RFC 4648 base32, lowercase alphabet, no padding (what tickets use). Decoding is strict about characters and
// trailing bits, so every ticket has exactly one spelling (case aside).

const ALPHABET = 'abcdefghijklmnopqrstuvwxyz234567'
const LOOKUP = (() => {
  const t = new Int8Array(128).fill(-1)
  for (let i = 0; i < ALPHABET.length; i++) {
    t[ALPHABET.charCodeAt(i)] = i
    t[ALPHABET.toUpperCase().charCodeAt(i)] = i
  }
  return t
})()

/** Encodes bytes as lowercase unpadded base32. */
export function base32Encode (bytes: Uint8Array): string {
  let out = ''
  let buffer = 0
  let bits = 0
  for (const b of bytes) {
    buffer = (buffer << 8) | b
    bits += 8
    while (bits >= 5) {
      out += ALPHABET[(buffer >>> (bits - 5)) & 31]
      bits -= 5
    }
    buffer &= (1 << bits) - 1
  }
  if (bits > 0) out += ALPHABET[(buffer << (5 - bits)) & 31]
  return out
}

/** Decodes unpadded base32 (either case); undefined for a bad character, impossible length or non-zero tail bits. */
export function base32Decode (text: string): Uint8Array | undefined {
  // Lengths mod 8 of 1, 3 or 6 cannot come from whole bytes.
  const rem = text.length % 8
  if (rem === 1 || rem === 3 || rem === 6) return undefined
  const out = new Uint8Array(Math.floor(text.length * 5 / 8))
  let buffer = 0
  let bits = 0
  let o = 0
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i)
    const v = c < 128 ? LOOKUP[c] : -1
    if (v < 0) return undefined
    buffer = (buffer << 5) | v
    bits += 5
    if (bits >= 8) {
      out[o++] = (buffer >>> (bits - 8)) & 0xff
      bits -= 8
    }
    buffer &= (1 << bits) - 1
  }
  if (buffer !== 0) return undefined
  return out
}
