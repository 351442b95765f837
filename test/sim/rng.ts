// The simulator's only source of randomness: a seeded 32-bit generator (mulberry32). Every random choice of a
// run comes from streams forked off one seed, so a seed replays the same run exactly.

/** A deterministic pseudo-random stream. */
export class Rng {
  private s: number

  constructor (seed: number) {
    this.s = seed >>> 0
  }

  /** A float in [0, 1). */
  next (): number {
    this.s = (this.s + 0x6d2b79f5) >>> 0
    let t = this.s
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }

  /** An integer in [0, n). */
  int (n: number): number {
    return Math.floor(this.next() * n)
  }

  /** An integer in [lo, hi]. */
  between (lo: number, hi: number): number {
    return lo + this.int(hi - lo + 1)
  }

  /** True with probability p. */
  chance (p: number): boolean {
    return this.next() < p
  }

  /** One element of a non-empty list. */
  pick<T> (items: readonly T[]): T {
    return items[this.int(items.length)]
  }

  /** A new independent stream derived from this one and a label, so adding a consumer elsewhere shifts nothing here. */
  fork (label: string): Rng {
    let h = this.s ^ 0x9e3779b9
    for (let i = 0; i < label.length; i++) h = Math.imul(h ^ label.charCodeAt(i), 0x01000193)
    return new Rng(splitmix32(h >>> 0))
  }
}

/** One round of splitmix32: spreads nearby seeds far apart. */
export function splitmix32 (x: number): number {
  let z = (x + 0x9e3779b9) >>> 0
  z = Math.imul(z ^ (z >>> 16), 0x85ebca6b)
  z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35)
  return (z ^ (z >>> 16)) >>> 0
}

/** FNV-1a over a string, 32 bits. */
export function fnv1a (s: string, h = 0x811c9dc5): number {
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i)
    h = Math.imul(h, 0x01000193)
  }
  return h >>> 0
}

/** FNV-1a over bytes, 32 bits. */
export function fnv1aBytes (b: Uint8Array, h = 0x811c9dc5): number {
  for (let i = 0; i < b.length; i++) {
    h ^= b[i]
    h = Math.imul(h, 0x01000193)
  }
  return h >>> 0
}
