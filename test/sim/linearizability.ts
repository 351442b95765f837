// A Porcupine-style linearizability checker for a key-value register model (put / get / compare-and-set).
//
// Algorithm: Wing & Gong's search with Lowe's just-in-time linearization and memoization of
// (set of linearized operations, model state), as in Porcupine (Athalye). Histories are split per key
// first (P-compositionality: a history is linearizable iff every key's sub-history is), which keeps each
// search small. The search has an explicit step budget: when it runs out the answer is "unknown", never a hang.
//
// Input is plain JSON-friendly data so histories recorded by real processes (chaos tests) can be checked too.

import { AspenError, invariant } from '../../src/errors.js'

/** A history that cannot describe real operations (e.g. a response before its invocation). */
export class MalformedHistoryError extends AspenError {
  readonly code = 'MALFORMED_HISTORY'
}

/** An operation as the client issued it. Keys and values are strings; `expected: null` means "key absent". */
export type KvInput =
  | { op: 'put', key: string, value: string }
  | { op: 'get', key: string }
  | { op: 'cas', key: string, expected: string | null, value: string }

/**
 * What the client learnt:
 * - `ok`: the operation took effect (a get observed `value`, a cas swapped);
 * - `fail`: for cas, the comparison failed (it took no effect; if `value` is given, it is what it observed);
 *   for put/get, the operation definitely did not execute (such entries are ignored);
 * - `unknown`: no answer (timeout, crash). A write may or may not have taken effect, at any time after `call`.
 * Operations rejected before they could have any effect are best left out of the history altogether.
 */
export type Outcome = 'ok' | 'fail' | 'unknown'

/** One operation of a history. */
export interface KvOperation {
  /** Who issued it; only used in reports. */
  client: string | number
  input: KvInput
  /** Invocation time (any monotonic clock shared by all clients of the history). */
  call: number
  /** Response time; ignored (treated as +infinity) when `outcome` is `unknown`; may be null then. */
  return?: number | null
  outcome: Outcome
  /** get ok: the value read (null: absent). cas fail: the value observed, if the server reported it. */
  value?: string | null
}

export type CheckResult = 'ok' | 'illegal' | 'unknown'

/** Why one key's sub-history is not (known to be) linearizable. */
export interface KeyReport {
  key: string
  result: CheckResult
  /** Operations of this key that took part in the search. */
  operations: KvOperation[]
  /** The longest linearizable prefix the search found, in linearization order. */
  longestLinearization: KvOperation[]
  steps: number
}

export interface CheckReport {
  result: CheckResult
  /** Keys whose result is not `ok` (illegal ones first). */
  problems: KeyReport[]
  keys: number
  steps: number
}

export interface CheckOptions {
  /** Search steps allowed over the whole history before answering `unknown` (default 5,000,000). */
  maxSteps?: number
}

export const DEFAULT_MAX_STEPS = 5_000_000

type State = string | null

/** Checks a key-value history for linearizability (put/get/cas per key, P-compositional). */
export function checkKvHistory (history: readonly KvOperation[], options: CheckOptions = {}): CheckReport {
  const maxSteps = options.maxSteps ?? DEFAULT_MAX_STEPS
  const byKey = partitionByKey(history)
  const problems: KeyReport[] = []
  let steps = 0
  let anyUnknown = false
  const keys = [...byKey.keys()].sort()
  for (const key of keys) {
    const ops = pruneUnobservedWrites(byKey.get(key) ?? [])
    const r = checkSingleKey(ops, Math.max(0, maxSteps - steps))
    steps += r.steps
    if (r.result === 'ok') continue
    const report: KeyReport = {
      key,
      result: r.result,
      operations: ops,
      longestLinearization: r.longest.map(i => ops[i]),
      steps: r.steps
    }
    if (r.result === 'illegal') {
      problems.unshift(report)
      return { result: 'illegal', problems, keys: keys.length, steps }
    }
    anyUnknown = true
    problems.push(report)
  }
  return { result: anyUnknown ? 'unknown' : 'ok', problems, keys: keys.length, steps }
}

/** Describes a history operation in one line, e.g. `c3 cas(k1, absent→"v7") ok [12, 15]`. */
export function describeOperation (op: KvOperation): string {
  const i = op.input
  const show = (v: string | null | undefined): string => v === null || v === undefined ? 'absent' : JSON.stringify(v)
  let what: string
  if (i.op === 'put') what = `put(${i.key}, ${JSON.stringify(i.value)})`
  else if (i.op === 'get') what = `get(${i.key})`
  else what = `cas(${i.key}, ${show(i.expected)}→${JSON.stringify(i.value)})`
  let result: string = op.outcome
  if (i.op === 'get' && op.outcome === 'ok') result = `→ ${show(op.value)}`
  if (i.op === 'cas' && op.outcome === 'fail' && op.value !== undefined) result = `fail (saw ${show(op.value)})`
  const end = op.outcome === 'unknown' || op.return === null || op.return === undefined ? '∞' : String(op.return)
  return `c${op.client} ${what} ${result} [${op.call}, ${end}]`
}

/** Renders a non-ok report for people: the offending key's operations and the best linearization found. */
export function formatReport (report: CheckReport, maxLines = 60): string[] {
  const lines: string[] = [`linearizability: ${report.result} (${report.keys} keys, ${report.steps} steps)`]
  for (const p of report.problems.slice(0, 3)) {
    lines.push(`key ${p.key}: ${p.result} after ${p.steps} steps; ${p.operations.length} operations:`)
    const sorted = [...p.operations].sort((a, b) => a.call - b.call)
    for (const op of sorted.slice(0, maxLines)) lines.push('  ' + describeOperation(op))
    if (sorted.length > maxLines) lines.push(`  … ${sorted.length - maxLines} more`)
    lines.push(`  longest linearizable prefix (${p.longestLinearization.length} ops):`)
    for (const op of p.longestLinearization.slice(-maxLines)) lines.push('    ' + describeOperation(op))
  }
  return lines
}

function partitionByKey (history: readonly KvOperation[]): Map<string, KvOperation[]> {
  const byKey = new Map<string, KvOperation[]>()
  for (const op of history) {
    if (!isRelevant(op)) continue
    const list = byKey.get(op.input.key)
    if (list === undefined) byKey.set(op.input.key, [op])
    else list.push(op)
  }
  return byKey
}

/** Operations that can neither constrain nor change the state are dropped before the search. */
function isRelevant (op: KvOperation): boolean {
  if (op.input.op === 'get') return op.outcome === 'ok'
  if (op.input.op === 'put') return op.outcome !== 'fail'
  return true
}

/**
 * Drops unknown-outcome writes whose value nobody ever observed (no read returned it, no cas failure reported
 * it, no cas — whatever its outcome — expected it). Such a write can always be linearized last (its response
 * time is infinite), where it changes nothing anyone saw; and in any linearization that places it earlier,
 * only writes and unknown-outcome cas operations can come between it and the next write (anything else would
 * have observed its value); removing it and moving those cas operations to the end keeps the linearization
 * valid. A cas failure that does not report what it saw could be explained by such a write, so then nothing
 * is dropped. Many timed-out writes otherwise make the search exponential.
 */
function pruneUnobservedWrites (ops: KvOperation[]): KvOperation[] {
  if (ops.some(o => o.input.op === 'cas' && o.outcome === 'fail' && o.value === undefined)) return ops
  const observed = new Set<string | null>()
  for (const o of ops) {
    // Every cas's expected value counts, even one with an unknown outcome: if it took effect, it saw that value.
    if (o.input.op === 'cas') observed.add(o.input.expected)
    if (o.outcome === 'unknown') continue
    if (o.input.op === 'get' || (o.input.op === 'cas' && o.outcome === 'fail')) observed.add(o.value ?? null)
  }
  return ops.filter(o => o.outcome !== 'unknown' || o.input.op === 'get' || observed.has(o.input.value))
}

/** The sequential specification of one key: returns the next state, or undefined if `op` cannot happen in `s`. */
function stepKv (s: State, op: KvOperation): State | undefined {
  const i = op.input
  switch (i.op) {
    case 'put':
      return i.value
    case 'get':
      return s === (op.value ?? null) ? s : undefined
    case 'cas':
      if (op.outcome === 'ok') return s === i.expected ? i.value : undefined
      if (op.outcome === 'fail') {
        if (s === i.expected) return undefined
        if (op.value !== undefined && s !== op.value) return undefined
        return s
      }
      return s === i.expected ? i.value : s
  }
}

interface Event {
  id: number
  isCall: boolean
  time: number
  /** For a call event, its return event. */
  match: Event | null
  prev: Event | null
  next: Event | null
}

interface SingleResult {
  result: CheckResult
  steps: number
  longest: number[]
}

function buildEventList (ops: readonly KvOperation[]): Event {
  const events: Event[] = []
  ops.forEach((op, id) => {
    const end = op.outcome === 'unknown' || op.return === null || op.return === undefined ? Infinity : op.return
    if (!(end >= op.call)) throw new MalformedHistoryError(`operation ${describeOperation(op)} returns before it is called`)
    const ret: Event = { id, isCall: false, time: end, match: null, prev: null, next: null }
    const call: Event = { id, isCall: true, time: op.call, match: ret, prev: null, next: null }
    events.push(call, ret)
  })
  // Equal times count as concurrent (calls first): the lenient reading, since clocks of real clients tie.
  events.sort((a, b) => a.time - b.time || (a.isCall === b.isCall ? a.id - b.id : a.isCall ? -1 : 1))
  const head: Event = { id: -1, isCall: false, time: -Infinity, match: null, prev: null, next: null }
  let prev = head
  for (const e of events) {
    prev.next = e
    e.prev = prev
    prev = e
  }
  return head
}

function lift (e: Event): void {
  // `e.prev` always exists (the sentinel head precedes everything); `match` always follows `e`.
  const m = e.match as Event
  ;(e.prev as Event).next = e.next
  if (e.next !== null) e.next.prev = e.prev
  ;(m.prev as Event).next = m.next
  if (m.next !== null) m.next.prev = m.prev
}

function unlift (e: Event): void {
  const m = e.match as Event
  ;(m.prev as Event).next = m
  if (m.next !== null) m.next.prev = m
  ;(e.prev as Event).next = e
  if (e.next !== null) e.next.prev = e
}

/** Memo of (linearized set, state) pairs already explored, keyed by a Zobrist-style hash. */
class Memo {
  private readonly seen = new Map<number, Array<{ bits: Uint32Array, state: State }>>()

  /** Adds the pair; returns false if it was already there. */
  add (hash: number, bits: Uint32Array, state: State): boolean {
    let bucket = this.seen.get(hash)
    if (bucket === undefined) {
      bucket = []
      this.seen.set(hash, bucket)
    }
    for (const c of bucket) {
      if (c.state === state && sameBits(c.bits, bits)) return false
    }
    bucket.push({ bits: bits.slice(), state })
    return true
  }
}

function sameBits (a: Uint32Array, b: Uint32Array): boolean {
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false
  return true
}

function stateHash (s: State): number {
  if (s === null) return 0x9e3779b9
  let h = 0x811c9dc5
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i)
    h = Math.imul(h, 0x01000193)
  }
  return h >>> 0
}

/** A fixed pseudo-random 32-bit word per operation id (splitmix-style), for the incremental set hash. */
function opWord (id: number): number {
  let z = (id + 1) * 0x9e3779b9
  z = Math.imul(z ^ (z >>> 16), 0x85ebca6b)
  z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35)
  return (z ^ (z >>> 16)) >>> 0
}

function checkSingleKey (ops: readonly KvOperation[], budget: number): SingleResult {
  const head = buildEventList(ops)
  const n = ops.length
  const bits = new Uint32Array(Math.max(1, Math.ceil(n / 32)))
  const words = ops.map((_, id) => opWord(id))
  const memo = new Memo()
  const stack: Array<{ call: Event, state: State }> = []
  let setHash = 0
  let state: State = null
  let longest: number[] = []
  let steps = 0
  let entry = head.next
  while (head.next !== null) {
    if (steps++ >= budget) return { result: 'unknown', steps, longest }
    invariant(entry !== null, 'linearizability search ran off the event list')
    if (entry.isCall) {
      const next = stepKv(state, ops[entry.id])
      let advanced = false
      if (next !== undefined) {
        const id = entry.id
        bits[id >>> 5] |= 1 << (id & 31)
        const h = (setHash ^ words[id]) >>> 0
        if (memo.add((h ^ stateHash(next)) >>> 0, bits, next)) {
          stack.push({ call: entry, state })
          setHash = h
          state = next
          lift(entry)
          if (stack.length > longest.length) longest = stack.map(c => c.call.id)
          entry = head.next
          advanced = true
        } else {
          bits[id >>> 5] &= ~(1 << (id & 31))
        }
      }
      if (!advanced) entry = entry.next
    } else {
      // A return event reached before its call was linearized: undo the last choice and try the next one.
      const top = stack.pop()
      if (top === undefined) return { result: 'illegal', steps, longest }
      const id = top.call.id
      bits[id >>> 5] &= ~(1 << (id & 31))
      setHash = (setHash ^ words[id]) >>> 0
      state = top.state
      unlift(top.call)
      entry = top.call.next
    }
  }
  return { result: 'ok', steps, longest }
}
