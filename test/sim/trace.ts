// The run's event trace: a running hash over every event (two runs of a seed must agree on it) and a ring of
// the most recent events, formatted only when someone reads them (a failing seed prints them).

import { fnv1a } from './rng.js'

interface TraceEvent {
  time: number
  node: number
  kind: string
  nums: readonly number[]
  text: string | (() => string)
}

/** Records simulator events cheaply; formats on demand. */
export class Trace {
  private readonly ring: TraceEvent[] = []
  private pos = 0
  private h1 = 0x811c9dc5
  private h2 = 0x01000193
  count = 0

  constructor (private readonly capacity: number, private readonly live?: (line: string) => void) {}

  /** Adds an event; `nums` feed the hash, `text` (or a function building it) is shown in traces. */
  record (time: number, node: number, kind: string, nums: readonly number[], text: string | (() => string) = ''): void {
    this.count++
    let a = fnv1a(kind, this.h1 ^ node)
    let b = Math.imul(this.h2 ^ Math.round(time * 1000), 0x9e3779b1)
    for (const n of nums) {
      a = Math.imul(a ^ (n | 0), 0x01000193)
      b = Math.imul(b ^ ((n / 4294967296) | 0) ^ (n | 0), 0x85ebca6b)
    }
    this.h1 = a >>> 0
    this.h2 = (b ^ (b >>> 15)) >>> 0
    const ev: TraceEvent = { time, node, kind, nums, text }
    if (this.live !== undefined) this.live(format(ev))
    if (this.capacity === 0) return
    if (this.ring.length < this.capacity) this.ring.push(ev)
    else this.ring[this.pos] = ev
    this.pos = (this.pos + 1) % this.capacity
  }

  /** Folds extra data (e.g. the history) into the hash. */
  mix (s: string): void {
    this.h1 = fnv1a(s, this.h1)
  }

  /** A 16-hex-digit digest of everything recorded. */
  hash (): string {
    return this.h1.toString(16).padStart(8, '0') + this.h2.toString(16).padStart(8, '0')
  }

  /** The most recent events, oldest first, one line each. */
  lines (): string[] {
    const n = this.ring.length
    const out: string[] = []
    const start = n < this.capacity ? 0 : this.pos
    for (let i = 0; i < n; i++) out.push(format(this.ring[(start + i) % n]))
    return out
  }
}

function format (ev: TraceEvent): string {
  const text = typeof ev.text === 'function' ? ev.text() : ev.text
  const who = ev.node === 0 ? '   ' : `n${ev.node}`.padEnd(3)
  return `${ev.time.toFixed(2).padStart(10)}ms ${who} ${ev.kind.padEnd(9)} ${text}`
}
