// Crash safety with real processes and SIGKILL: a child persists Ready batches (appends, commits, truncations of
// uncommitted tails, snapshots with log compaction) or installs a snapshot, and is killed at a random moment.
// After every kill the store must reopen (chain verified), hold every batch the child reported as durable with its
// KV effects, and be exactly one of the states the child could have reached — never a mix, nothing uncommitted
// applied. Kills in the default suite: WRITER_KILLS + INSTALL_KILLS ≥ 50.
import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { cpSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { ClassicLevel } from 'classic-level'
import { ops } from '../../../src/api/kv.js'
import { RaftStore } from '../../../src/store/index.js'
import { b, cleanup, commit, scanAll, tempDir } from '../../unit/store/helpers.js'
import { KvModel } from '../../unit/store/kv-model.js'
import { bulkLoad } from '../../unit/store/snapshot-fill.js'
import { afterStep, emptySummary, EVENT_WINDOW, line, LOG_RETAIN, nextStep } from './workload.js'
import type { Summary } from './workload.js'

const CHILD = fileURLToPath(new URL('./crash-child.js', import.meta.url))
const WRITER_KILLS = 38
const INSTALL_KILLS = 14
const INSTALL_KEYS = 10_000

interface Run {
  lines: string[]
  exited: Promise<number | null>
  killedAlive: boolean
  kill: () => void
}

/** Starts the child, calls onLine for each line, kills it `killAfterMs` after its first line ("ready"). */
function runChild (args: string[], killAfterMs: number, onLine: (l: string) => void): Run {
  const child = spawn(process.execPath, [CHILD, ...args], { stdio: ['ignore', 'pipe', 'pipe'] })
  const run: Run = {
    lines: [],
    exited: Promise.resolve(null),
    killedAlive: false,
    kill: () => {
      run.killedAlive = child.exitCode === null && child.signalCode === null
      child.kill('SIGKILL')
    }
  }
  let stderr = ''
  let partial = ''
  let timer: NodeJS.Timeout | undefined
  child.stderr.on('data', (d: Buffer) => { stderr += d.toString() })
  child.stdout.on('data', (d: Buffer) => {
    partial += d.toString()
    const parts = partial.split('\n')
    partial = parts.pop() as string
    for (const l of parts) {
      if (run.lines.length === 0) {
        timer = setTimeout(run.kill, killAfterMs)
      }
      run.lines.push(l)
      onLine(l)
    }
  })
  run.exited = new Promise((resolve, reject) => {
    child.on('exit', (code, signal) => {
      clearTimeout(timer)
      if (signal !== 'SIGKILL' && code !== 0) reject(new Error(`child failed (${code ?? signal}): ${stderr}`))
      else resolve(code)
    })
  })
  return run
}

function summaryOf (store: RaftStore): string {
  const r = store.recovered()
  return line({ term: r.hardState.term, vote: r.hardState.vote, commit: r.hardState.commit, applied: r.applied, lastIndex: r.lastIndex, lastTerm: r.lastTerm, snapIndex: r.snapshotMeta?.index ?? 0, firstIndex: r.firstIndex, entries: new Map() })
}

/** The parent's prediction: the summary with the whole unsnapshotted log, and the KV model at `applied`. */
class Prediction {
  s: Summary = emptySummary()
  model = new KvModel()

  constructor (private readonly seed: number) {}

  next (): { s: Summary, model: KvModel } {
    const step = nextStep(this.seed, this.s)
    const s = afterStep(this.s, step)
    for (const i of [...s.entries.keys()]) if (i <= s.snapIndex) s.entries.delete(i)
    const model = this.model.clone()
    if (step.kind === 'persist') for (const e of step.committed) model.applyEntry(e)
    return { s, model }
  }

  advance (): string {
    const n = this.next()
    this.s = n.s
    this.model = n.model
    return line(this.s)
  }
}

async function verifyWriter (dir: string, p: Prediction): Promise<'reported' | 'one more'> {
  const store = await RaftStore.open(dir, { logRetain: LOG_RETAIN, eventWindow: EVENT_WINDOW }) // throws CorruptionError on a broken chain
  try {
    const actual = summaryOf(store)
    let which: 'reported' | 'one more' = 'reported'
    if (actual !== line(p.s)) {
      const n = p.next()
      assert.equal(actual, line(n.s), `disk state is neither the last reported (${line(p.s)}) nor the next one`)
      p.s = n.s
      p.model = n.model
      which = 'one more'
    }
    const expectedEntries = [...p.s.entries.values()].filter((e) => e.index > p.s.snapIndex).sort((x, y) => x.index - y.index)
    assert.deepStrictEqual(store.recovered().entries, expectedEntries, 'log after the snapshot')
    assert.deepStrictEqual(await scanAll(store), p.model.all(), 'KV state = model at the applied index')
    assert.ok(store.recovered().applied <= store.recovered().hardState.commit)
    return which
  } finally {
    await store.close()
  }
}

async function onlyActiveGeneration (dir: string, gen: number): Promise<void> {
  const db = new ClassicLevel<Buffer, Buffer>(join(dir, 'raft'), { keyEncoding: 'buffer', valueEncoding: 'buffer' })
  await db.open()
  try {
    const gens = new Set((await db.keys({ gte: Buffer.of(0x6b), lt: Buffer.of(0x6c) }).all()).map((k) => k.readUInt32BE(1)))
    assert.deepStrictEqual([...gens].filter((g) => g !== gen), [], 'orphan KV generations were deleted on open')
  } finally {
    await db.close()
  }
}

describe('crash safety (SIGKILL of a real writer process)', () => {
  it(`repeated kill/reopen cycles of a Ready writer (${WRITER_KILLS} kills): durable batches survive, no mixed state`, async (t) => {
    const dir = tempDir('crash')
    const seed = 20261101
    const p = new Prediction(seed)
    let kills = 0
    let reported = 0
    let oneMore = 0
    try {
      for (let cycle = 0; cycle < WRITER_KILLS; cycle++) {
        const killAfter = cycle % 5 === 0 ? 1 + (cycle % 3) : 5 + Math.floor(Math.random() * 300)
        const errors: string[] = []
        const run = runChild(['writer', dir, String(seed)], killAfter, (l) => {
          const [tag, ...rest] = l.split(' ')
          const got = rest.join(' ')
          if (tag === 'ready' && got !== line(p.s)) errors.push(`child recovered ${got}, expected ${line(p.s)}`)
          if (tag === 'ok') {
            const expected = p.advance()
            reported++
            if (got !== expected) errors.push(`child reported ${got}, predicted ${expected}`)
          }
        })
        await run.exited
        assert.deepStrictEqual(errors, [])
        if (run.killedAlive) kills++
        if (await verifyWriter(dir, p) === 'one more') oneMore++
      }
      t.diagnostic(`${kills} kills, ${reported} reported batches, ${oneMore} times the batch in flight at the kill was durable; final ${line(p.s)}`)
      assert.ok(kills >= WRITER_KILLS - 2, `only ${kills} kills hit a live process`)
      assert.ok(p.s.applied > 100 && p.s.snapIndex > 0 && p.s.term > 1, `workload too small: ${line(p.s)}`)
    } finally {
      cleanup(dir)
    }
  })

  it(`kills during snapshot install (${INSTALL_KILLS} kills) leave the old state or the new one, never a mix`, async (t) => {
    const root = tempDir('crash-install')
    try {
      // the snapshot: INSTALL_KEYS keys streamed to a file of length-prefixed chunks
      const src = await RaftStore.open(join(root, 'src'))
      await bulkLoad(src, INSTALL_KEYS)
      const reader = await src.openSnapshotReader()
      const parts: Buffer[] = []
      for await (const c of reader) parts.push(Buffer.alloc(4), Buffer.from(c))
      for (let i = 0; i < parts.length; i += 2) parts[i].writeUInt32BE(parts[i + 1].length)
      const chunksFile = join(root, 'chunks')
      writeFileSync(chunksFile, Buffer.concat(parts))
      const meta = reader.meta
      const newState = { kv: await src.kvHash(), state: src.stateHash() }
      await src.close()

      // the target before the install
      const template = join(root, 'template')
      const tpl = await RaftStore.open(template)
      await commit(tpl, [ops.put(b('old'), b('1')), ops.put(b('bulk/00000001'), b('old'))])
      await tpl.persist({ entries: [{ index: 3, term: 1, type: 'normal', data: new Uint8Array(0) }], committedEntries: [] })
      const oldState = { kv: await tpl.kvHash(), status: tpl.status() }
      await tpl.close()

      // how long an install takes here, to spread the kills over it
      const probe = join(root, 'probe')
      cpSync(template, probe, { recursive: true })
      const ps = await RaftStore.open(probe)
      const t0 = performance.now()
      await ps.installSnapshot(meta, (async function * () { for (let i = 1; i < parts.length; i += 2) yield parts[i] })())
      const installMs = performance.now() - t0
      await ps.close()
      cleanup(probe)

      // and in a child (cold start), from "ready" to "installed": the kills are spread over that span
      const calib = join(root, 'calibrate')
      cpSync(template, calib, { recursive: true })
      let readyAt = 0
      let childMs = 0
      const cal: Run = runChild(['install', calib, chunksFile, JSON.stringify(meta)], 60_000, (l) => {
        if (l === 'ready') readyAt = performance.now()
        if (l === 'installed') {
          childMs = performance.now() - readyAt
          cal.kill()
        }
      })
      await cal.exited
      assert.ok(childMs > 0, 'calibration install completed')
      cleanup(calib)

      let kills = 0
      let sawOld = 0
      let sawNew = 0
      for (let cycle = 0; cycle < INSTALL_KILLS; cycle++) {
        const dir = join(root, `target-${cycle}`)
        cpSync(template, dir, { recursive: true })
        // the first kill lands before anything is switched, the last one right after the switch was reported,
        // the others are spread over the install
        const last = cycle === INSTALL_KILLS - 1
        const killAfter = cycle === 0 ? 0 : last ? 60_000 : Math.floor((childMs * 2 * cycle) / INSTALL_KILLS)
        const run: Run = runChild(['install', dir, chunksFile, JSON.stringify(meta)], killAfter, (l) => {
          if (last && l === 'installed') run.kill()
        })
        await run.exited
        if (run.killedAlive) kills++
        const store = await RaftStore.open(dir)
        const kv = await store.kvHash()
        const gen = store.status().generation
        if (store.status().applied === meta.index) {
          sawNew++
          assert.deepStrictEqual(kv, newState.kv)
          assert.deepStrictEqual(store.stateHash(), newState.state)
          assert.equal(store.recovered().snapshotMeta?.index, meta.index)
          assert.equal(store.status().lastIndex, meta.index)
        } else {
          sawOld++
          assert.ok(!run.lines.includes('installed'), 'a reported install must survive')
          assert.deepStrictEqual(kv, oldState.kv)
          assert.deepStrictEqual(store.status(), oldState.status)
        }
        await store.close()
        await onlyActiveGeneration(dir, gen)
        cleanup(dir)
      }
      t.diagnostic(`install of ${INSTALL_KEYS} keys takes ~${installMs.toFixed(0)} ms in process, ~${childMs.toFixed(0)} ms in a cold child; ${kills} kills; ${sawOld} old states, ${sawNew} new states after reopen`)
      assert.equal(kills, INSTALL_KILLS, 'every kill hit a live process')
      assert.ok(sawOld > 0, 'some kills landed before the switch')
      assert.ok(sawNew > 0, 'some kills landed after the switch')
    } finally {
      cleanup(root)
    }
  })
})
