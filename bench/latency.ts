// Latency samples of one measurement window with an explicit cap, and their percentiles.

/** Most samples kept per window (~38 MiB); beyond it every later sample replaces a random earlier one. */
export const MAX_SAMPLES = 5_000_000

/** A bounded sample set of latencies in milliseconds (reservoir sampling past the cap). */
export class LatencySamples {
  private readonly buf: Float64Array
  private n = 0
  private seen = 0

  constructor (cap = MAX_SAMPLES, private readonly random: () => number = Math.random) {
    this.buf = new Float64Array(cap)
  }

  /** Records one latency in ms. */
  add (ms: number): void {
    this.seen++
    if (this.n < this.buf.length) { this.buf[this.n++] = ms; return }
    const j = Math.floor(this.random() * this.seen)
    if (j < this.buf.length) this.buf[j] = ms
  }

  /** Number of latencies recorded (not only kept). */
  count (): number { return this.seen }

  /** Percentiles (0 < q ≤ 1) in ms by nearest rank; NaN when empty. */
  percentiles (qs: readonly number[]): number[] {
    if (this.n === 0) return qs.map(() => Number.NaN)
    const sorted = this.buf.slice(0, this.n).sort()
    return qs.map(q => sorted[Math.min(this.n - 1, Math.max(0, Math.ceil(q * this.n) - 1))])
  }
}
