// Child process of the crash tests (not a test file). Modes:
//   writer <dataDir> <seed>            — persist workload steps forever; print "ok <summary>" after each durable step
//   install <dataDir> <chunksFile> <metaJson> — install a snapshot stream read from a file; print "installed" and wait
// Prints "ready" once the store is open. The parent kills it with SIGKILL at a random moment.
import { readFileSync } from 'node:fs'
import { RaftStore } from '../../../src/store/index.js'
import type { StoreSnapshotMetadata } from '../../../src/store/index.js'
import { afterStep, EVENT_WINDOW, line, LOG_RETAIN, nextStep } from './workload.js'
import type { Summary } from './workload.js'

function say (s: string): void {
  process.stdout.write(`${s}\n`) // synchronous for pipes on Linux: a printed line survives a SIGKILL right after
}

async function writer (dataDir: string, seed: number): Promise<void> {
  const store = await RaftStore.open(dataDir, { logRetain: LOG_RETAIN, eventWindow: EVENT_WINDOW })
  const r = store.recovered()
  let s: Summary = {
    term: r.hardState.term,
    vote: r.hardState.vote,
    commit: r.hardState.commit,
    applied: r.applied,
    lastIndex: r.lastIndex,
    lastTerm: r.lastTerm,
    snapIndex: r.snapshotMeta?.index ?? 0,
    firstIndex: r.firstIndex,
    entries: new Map(r.entries.map((e) => [e.index, e]))
  }
  say(`ready ${line(s)}`)
  for (;;) {
    const step = nextStep(seed, s)
    if (step.kind === 'snapshot') await store.createSnapshot()
    else await store.persist({ entries: step.entries, hardState: step.hardState, committedEntries: step.committed })
    s = afterStep(s, step)
    for (const i of [...s.entries.keys()]) if (i <= s.applied) s.entries.delete(i)
    say(`ok ${line(s)}`)
  }
}

async function * chunksOf (file: string): AsyncGenerator<Uint8Array> {
  const buf = readFileSync(file)
  let off = 0
  while (off < buf.length) {
    const len = buf.readUInt32BE(off)
    yield buf.subarray(off + 4, off + 4 + len)
    off += 4 + len
  }
}

async function install (dataDir: string, file: string, metaJson: string): Promise<void> {
  const store = await RaftStore.open(dataDir)
  say('ready')
  await store.installSnapshot(JSON.parse(metaJson) as StoreSnapshotMetadata, chunksOf(file))
  say('installed')
  // stay alive (store open) so that a kill after the switch is a crash too
  setInterval(() => {}, 60_000)
}

const [mode, dataDir, a, b] = process.argv.slice(2)
if (mode === 'writer') await writer(dataDir, Number(a))
else if (mode === 'install') await install(dataDir, a, b)
else throw new Error(`unknown mode ${mode}`)
