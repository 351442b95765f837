// How a sequence of items is cut into runs, one LevelDB record each (log runs in log-run.ts, event runs in
// events.ts): in order, each run takes as many items as fit in `maxBytes` with its header, and at least one (an
// item may exceed the bound alone).

/** One run: items [start, end) and the run's encoded size, header included. */
export interface RunSpan {
  start: number
  end: number
  bytes: number
}

/** Cuts `count` items of `itemBytes(i)` encoded bytes each into runs of at most `maxBytes` (but one item at least). */
export function runSpans (count: number, headerBytes: number, itemBytes: (i: number) => number, maxBytes: number): RunSpan[] {
  const spans: RunSpan[] = []
  let start = 0
  while (start < count) {
    let bytes = headerBytes + itemBytes(start)
    let end = start + 1
    for (; end < count; end++) {
      const next = itemBytes(end)
      if (bytes + next > maxBytes) break
      bytes += next
    }
    spans.push({ start, end, bytes })
    start = end
  }
  return spans
}
