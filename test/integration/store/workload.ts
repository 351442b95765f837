// The deterministic workload of the crash tests. The next step depends only on the persisted summary (positions
// and terms), so a child restarted after SIGKILL continues exactly where its durable state says, and the parent
// can predict every state the child may leave on disk: the last one it reported, or the one after it.
import { createHash } from 'node:crypto'
import type { RequestOp, Txn } from '../../../src/api/kv.js'
import { encodeCommand } from '../../../src/api/codec.js'
import type { Entry, HardState } from '../../../src/raft/types.js'

/** Log entries kept behind a snapshot by the crash-test stores (small, so compaction happens often). */
export const LOG_RETAIN = 40
export const EVENT_WINDOW = 200

/** What the child knows from disk, and all the parent needs to predict the next step. */
export interface Summary {
  term: number
  vote: number
  commit: number
  applied: number
  lastIndex: number
  lastTerm: number
  snapIndex: number
  firstIndex: number
  /** Entries (applied, lastIndex] at least; the parent keeps the whole log. */
  entries: Map<number, Entry>
}

export type Step =
  | { kind: 'persist', entries: Entry[], hardState: HardState, committed: Entry[] }
  | { kind: 'snapshot' }

/** A small deterministic PRNG (mulberry32). */
function rng (seed: number): () => number {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

function seeded (seed: number, s: Summary): () => number {
  const h = createHash('sha256').update(`${seed}/${s.term}/${s.commit}/${s.applied}/${s.lastIndex}/${s.lastTerm}/${s.snapIndex}`).digest()
  return rng(h.readUInt32BE(0))
}

const KEYS = 40

function key (r: () => number): Uint8Array {
  return Buffer.from(`key-${Math.floor(r() * KEYS).toString().padStart(2, '0')}`)
}

function randomTxn (r: () => number): Txn | undefined {
  const x = r()
  if (x < 0.05) return undefined // a leader's no-op
  const put = (): RequestOp => ({ type: 'put', key: key(r), value: Buffer.alloc(Math.floor(r() * 300), Math.floor(r() * 256)) })
  if (x < 0.55) return { compare: [], success: [put()], failure: [] }
  if (x < 0.7) return { compare: [], success: [{ type: 'delete', key: key(r) }], failure: [] }
  if (x < 0.75) {
    const a = Math.floor(r() * KEYS)
    const z = a + 1 + Math.floor(r() * 5)
    return { compare: [], success: [{ type: 'deleteRange', start: Buffer.from(`key-${String(a).padStart(2, '0')}`), end: Buffer.from(`key-${String(z).padStart(2, '0')}`) }], failure: [] }
  }
  const k = key(r)
  return {
    compare: [{ key: k, target: 'version', result: r() < 0.5 ? 'less' : 'greater', number: Math.floor(r() * 4) }],
    success: [put(), put(), { type: 'get', key: k }],
    failure: [{ type: 'delete', key: k }, put()]
  }
}

function newEntry (r: () => number, index: number, term: number): Entry {
  const txn = randomTxn(r)
  return {
    index,
    term,
    type: 'normal',
    data: txn === undefined ? new Uint8Array(0) : encodeCommand({ requestId: Buffer.from(`w-${index}-${term}`), txn })
  }
}

function committedBetween (s: Summary, from: number, to: number, fresh: Entry[]): Entry[] {
  const out: Entry[] = []
  for (let i = from + 1; i <= to; i++) {
    const e = fresh.find((x) => x.index === i) ?? s.entries.get(i)
    if (e === undefined) throw new Error(`workload: entry ${i} unknown`)
    out.push(e)
  }
  return out
}

/** The next step from summary `s`. Every step changes the summary, so the sequence never repeats. */
export function nextStep (seed: number, s: Summary): Step {
  const r = seeded(seed, s)
  const x = r()
  const pending = s.lastIndex - s.commit
  if (x < 0.08 && s.applied > s.snapIndex) return { kind: 'snapshot' }
  if (x < 0.3 && pending > 0) {
    const commit = s.commit + 1 + Math.floor(r() * pending)
    return { kind: 'persist', entries: [], hardState: { term: s.term, vote: s.vote, commit }, committed: committedBetween(s, s.applied, commit, []) }
  }
  if (x < 0.4 && pending > 0) {
    // a new leader overwrites part of the uncommitted tail (Raft §5.3): term goes up, KV must not change
    const from = s.commit + 1 + Math.floor(r() * pending)
    const term = s.term + 1
    const entries = Array.from({ length: 1 + Math.floor(r() * 4) }, (_, i) => newEntry(r, from + i, term))
    return { kind: 'persist', entries, hardState: { term, vote: 0, commit: s.commit }, committed: [] }
  }
  const n = 1 + Math.floor(r() * 8)
  const entries = Array.from({ length: n }, (_, i) => newEntry(r, s.lastIndex + 1 + i, s.term === 0 ? 1 : s.term))
  const last = s.lastIndex + n
  const commit = r() < 0.5 ? last : s.commit + Math.floor(r() * (last - s.commit + 1))
  return { kind: 'persist', entries, hardState: { term: s.term === 0 ? 1 : s.term, vote: 1, commit }, committed: committedBetween(s, s.applied, commit, entries) }
}

/** The summary after `step` (pure). */
export function afterStep (s: Summary, step: Step): Summary {
  const next: Summary = { ...s, entries: new Map(s.entries) }
  if (step.kind === 'snapshot') {
    next.snapIndex = s.applied
    next.firstIndex = Math.max(s.firstIndex, s.applied - LOG_RETAIN + 1)
    return next
  }
  if (step.entries.length > 0) {
    const first = step.entries[0].index
    for (let i = first; i <= s.lastIndex; i++) next.entries.delete(i)
    for (const e of step.entries) next.entries.set(e.index, e)
    next.lastIndex = step.entries[step.entries.length - 1].index
    next.lastTerm = step.entries[step.entries.length - 1].term
  }
  next.term = step.hardState.term
  next.vote = step.hardState.vote
  next.commit = step.hardState.commit
  if (step.committed.length > 0) next.applied = step.committed[step.committed.length - 1].index
  return next
}

/** The summary of an empty store. */
export function emptySummary (): Summary {
  return { term: 0, vote: 0, commit: 0, applied: 0, lastIndex: 0, lastTerm: 0, snapIndex: 0, firstIndex: 1, entries: new Map() }
}

/** One-line form for reports and comparisons. */
export function line (s: Summary): string {
  return `${s.term} ${s.vote} ${s.commit} ${s.applied} ${s.lastIndex} ${s.lastTerm} ${s.snapIndex} ${s.firstIndex}`
}
