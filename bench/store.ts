// Store benchmark: synced batches/s and entries/s of RaftStore.persist() for batch sizes 1, 16, 128 and 1024 of
// 256-byte entries, next to a bare classic-level synced-batch loop of the same entries in the same run.
// Modes:  raw       — ClassicLevel.batch(N puts of 256 B, {sync:true})
//         log       — persist({entries: N, hardState}) (append only: what a follower does before commit)
//         apply     — persist({entries: N new, hardState, committedEntries: the previous N}) with put commands
//                     (steady state of a leader: append this batch, apply the last one); keys cycle over 100k
//         apply-noev — the same with eventWindow 0 (no change-event table writes)
// Usage: node dist/bench/store.js [--seconds 2] [--sizes 1,16,128,1024]
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { randomBytes } from 'node:crypto'
import { ClassicLevel } from 'classic-level'
import { RaftStore } from '../src/store/index.js'
import { encodeCommand } from '../src/api/codec.js'
import type { Entry } from '../src/raft/types.js'

const ENTRY_BYTES = 256

function arg (name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`)
  return i >= 0 && i + 1 < process.argv.length ? process.argv[i + 1] : fallback
}

const seconds = Number(arg('seconds', '2'))
const sizes = arg('sizes', '1,16,128,1024').split(',').map(Number)
// Modes run in alternating short slices so that disk and CPU noise (shared machine) hits all of them alike.
const SLICES = 8

interface Mode {
  /** Persists one batch of n entries; returns entries written. */
  step: (n: number) => Promise<number>
  close: () => Promise<void>
}

interface Tally { batches: number, entries: number, ms: number }

async function rawMode (dir: string): Promise<Mode> {
  const db = new ClassicLevel<Buffer, Buffer>(dir, { keyEncoding: 'buffer', valueEncoding: 'buffer' })
  await db.open()
  const payload = randomBytes(ENTRY_BYTES)
  let index = 0
  return {
    async step (n) {
      const ops = []
      for (let i = 0; i < n; i++) {
        const k = Buffer.allocUnsafe(9)
        k[0] = 0x6c
        k.writeBigUInt64BE(BigInt(++index), 1)
        ops.push({ type: 'put' as const, key: k, value: payload })
      }
      await db.batch(ops, { sync: true })
      return n
    },
    async close () { await db.close() }
  }
}

/** A put command whose encoding is exactly ENTRY_BYTES long (keys cycle over 100k keys). */
function putCommand (i: number): Uint8Array {
  const key = Buffer.from(`key-${(i % 100_000).toString().padStart(8, '0')}`)
  let valueLen = ENTRY_BYTES - 40
  for (;;) {
    const data = encodeCommand({ requestId: Buffer.from(`c1-${i}`), txn: { compare: [], success: [{ type: 'put', key, value: Buffer.alloc(valueLen, i & 0xff) }], failure: [] } })
    if (data.length === ENTRY_BYTES || valueLen <= 0) return data
    valueLen += ENTRY_BYTES - data.length
  }
}

async function storeMode (dir: string, apply: boolean, eventWindow = 10_000): Promise<Mode> {
  const s = await RaftStore.open(dir, { eventWindow })
  const opaque = randomBytes(ENTRY_BYTES)
  let last = 0
  let prev: Entry[] = []
  return {
    async step (n) {
      const entries: Entry[] = []
      for (let i = 0; i < n; i++) {
        last++
        entries.push({ index: last, term: 1, type: 'normal', data: apply ? putCommand(last) : opaque })
      }
      const commit = apply ? last - n : 0
      await s.persist({ entries, hardState: { term: 1, vote: 1, commit }, committedEntries: apply ? prev : [] })
      prev = entries
      return n
    },
    async close () { await s.close() }
  }
}

async function slice (mode: Mode, n: number, ms: number, t: Tally): Promise<void> {
  const start = performance.now()
  const deadline = start + ms
  while (performance.now() < deadline) {
    t.entries += await mode.step(n)
    t.batches++
  }
  t.ms += performance.now() - start
}

function fmt (n: number): string {
  return Math.round(n).toLocaleString('en-US')
}

async function main (): Promise<void> {
  const root = mkdtempSync(join(tmpdir(), 'aspen-bench-store-'))
  console.log(`store benchmark: ${ENTRY_BYTES}-byte entries, synced batches, ~${seconds} s per mode and size in ${SLICES} interleaved slices`)
  console.log('raw = bare classic-level batch of the entries; log = persist(entries + hard state);')
  console.log('apply = persist(new entries + hard state + apply of the previous batch of put commands); apply-noev = apply with eventWindow 0')
  const names = ['raw', 'log', 'apply', 'apply-noev']
  const rows: string[][] = [['batch', 'mode', 'batches/s', 'entries/s', 'vs raw']]
  try {
    for (const n of sizes) {
      const modes = [
        await rawMode(join(root, `raw-${n}`)),
        await storeMode(join(root, `log-${n}`), false),
        await storeMode(join(root, `apply-${n}`), true),
        await storeMode(join(root, `noev-${n}`), true, 0)
      ]
      const tallies: Tally[] = modes.map(() => ({ batches: 0, entries: 0, ms: 0 }))
      for (let k = 0; k < SLICES; k++) {
        for (let m = 0; m < modes.length; m++) await slice(modes[m], n, (seconds * 1000) / SLICES, tallies[m])
      }
      for (const m of modes) await m.close()
      const rates = tallies.map((t) => ({ bps: t.batches / (t.ms / 1000), eps: t.entries / (t.ms / 1000) }))
      rates.forEach((r, m) => rows.push([String(n), names[m], fmt(r.bps), fmt(r.eps), (r.eps / rates[0].eps).toFixed(2)]))
    }
  } finally {
    rmSync(root, { recursive: true, force: true })
  }
  const widths = rows[0].map((_, c) => Math.max(...rows.map((row) => row[c].length)))
  for (const row of rows) console.log(row.map((cell, c) => c === 1 ? cell.padEnd(widths[c]) : cell.padStart(widths[c])).join('  '))
}

await main()
