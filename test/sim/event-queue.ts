// A priority queue of simulator events ordered by (time, insertion sequence): equal times run in the order
// they were scheduled, so a run depends only on the seed.

interface Item<T> {
  time: number
  seq: number
  value: T
}

/** Min-heap of timed events. */
export class EventQueue<T> {
  private readonly heap: Array<Item<T>> = []
  private seq = 0

  get size (): number {
    return this.heap.length
  }

  /** Schedules `value` at `time`. */
  push (time: number, value: T): void {
    const item = { time, seq: this.seq++, value }
    const h = this.heap
    h.push(item)
    let i = h.length - 1
    while (i > 0) {
      const p = (i - 1) >> 1
      if (!less(h[i], h[p])) break
      ;[h[i], h[p]] = [h[p], h[i]]
      i = p
    }
  }

  /** Time of the earliest event, or Infinity when empty. */
  peekTime (): number {
    return this.heap.length === 0 ? Infinity : this.heap[0].time
  }

  /** Removes and returns the earliest event. */
  pop (): { time: number, value: T } | undefined {
    const h = this.heap
    if (h.length === 0) return undefined
    const top = h[0]
    const last = h.pop() as Item<T>
    if (h.length > 0) {
      h[0] = last
      let i = 0
      for (;;) {
        const l = 2 * i + 1
        const r = l + 1
        let m = i
        if (l < h.length && less(h[l], h[m])) m = l
        if (r < h.length && less(h[r], h[m])) m = r
        if (m === i) break
        ;[h[i], h[m]] = [h[m], h[i]]
        i = m
      }
    }
    return { time: top.time, value: top.value }
  }
}

function less<T> (a: Item<T>, b: Item<T>): boolean {
  return a.time < b.time || (a.time === b.time && a.seq < b.seq)
}
