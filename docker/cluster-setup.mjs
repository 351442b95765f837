#!/usr/bin/env node
// One-shot cluster setup the compose demos run (the `init` and `join` services): forms or grows the cluster
// through the node whose data dir is mounted (read-only) at ASPEN_DATA_DIR: `--data-dir` takes the cookie from
// its config.toml and the node's addresses from its run/node.json, as `docker compose exec NODE aspen …` would.
// Idempotent: it only does what is missing, so every `docker compose up` may run it again.
//
//   SETUP_INIT=1           run `cluster init` when the node is not in a cluster yet (default 1)
//   SETUP_LEARNERS=2,3     add these nodes as learners unless they are members already
//   SETUP_VOTERS=1,2,3     then make sure these are voters: one `change-membership` to (voters ∪ these)
//   SETUP_TIMEOUT_S=180    give up (exit 1) when not done by then; every step is retried until it succeeds
import { execFile } from 'node:child_process'
import { setTimeout as sleep } from 'node:timers/promises'

const RETRY_PAUSE_MS = 1000
const REQUEST_TIMEOUT_MS = '5000'

const dataDir = process.env.ASPEN_DATA_DIR || '/data'
const ids = (s) => (s ?? '').split(/[\s,]+/).filter((x) => x !== '').map((x) => {
  const n = Number(x)
  if (!Number.isInteger(n) || n < 1) throw new Error(`not a node id: ${x}`)
  return n
})
const wantInit = (process.env.SETUP_INIT ?? '1') === '1'
const learners = ids(process.env.SETUP_LEARNERS)
const voters = ids(process.env.SETUP_VOTERS)
const deadline = Date.now() + 1000 * Number(process.env.SETUP_TIMEOUT_S || 180)

const started = Date.now()
const log = (msg) => console.error(`cluster-setup: [${((Date.now() - started) / 1000).toFixed(1)} s] ${msg}`)

/** Runs `aspen ARGS --data-dir DIR`; resolves { code, stdout, stderr } (never rejects on a non-zero exit). */
function aspen (args) {
  return new Promise((resolve) => {
    execFile('aspen', [...args, '--data-dir', dataDir, '--timeout', REQUEST_TIMEOUT_MS],
      { timeout: 30_000, maxBuffer: 16 * 1024 * 1024 }, (err, stdout, stderr) => {
        resolve({ code: err === null ? 0 : (typeof err.code === 'number' ? err.code : 1), stdout, stderr: stderr.trim() })
      })
  })
}

/** Retries `aspen ARGS` until it exits 0 or the deadline passes; logs each new failure reason once. */
async function until (what, args) {
  let last = ''
  for (;;) {
    const r = await aspen(args)
    if (r.code === 0) return r.stdout
    const why = r.stderr.split('\n').pop() || `exit code ${r.code}`
    if (why !== last) { log(`${what}: not yet (${why})`); last = why }
    if (Date.now() >= deadline) { log(`${what}: giving up`); process.exit(1) }
    await sleep(RETRY_PAUSE_MS)
  }
}

/** The reached node's membership, from `aspen cluster status --json`. */
async function membership () {
  const s = JSON.parse(await until('reaching the node', ['cluster', 'status', '--json']))
  return { voters: s.membership?.voters ?? [], learners: s.membership?.learners ?? [] }
}

let m = await membership()
if (wantInit && m.voters.length === 0) {
  await until('cluster init', ['cluster', 'init'])
  log('cluster initialised')
  m = await membership()
}
for (const id of learners) {
  if (m.voters.includes(id) || m.learners.includes(id)) continue
  await until(`add-learner ${id}`, ['cluster', 'add-learner', String(id)])
  log(`node ${id} added as a learner`)
  m = await membership()
}
const missing = voters.filter((id) => !m.voters.includes(id))
if (missing.length > 0) {
  const target = [...new Set([...m.voters, ...voters])].sort((a, b) => a - b)
  await until(`change-membership --voters ${target.join(',')}`, ['cluster', 'change-membership', '--voters', target.join(',')])
  m = await membership()
}
log(`done: voters ${m.voters.join(',') || '-'}; learners ${m.learners.join(',') || '-'}`)
