// ENOSPC during persist on a real, full filesystem: a store on a small tmpfs (in a private mount namespace the test
// creates with unshare) takes synced batches until the device is full. The failing batch is reported as ENOSPC and
// the store stops (fail-stop: every later write gets STORE_CLOSED). After the device grows, the store reopens with
// its hash chain verified and every batch acknowledged before the failure intact.
import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

/** Runs inside the namespace: fills the store, checks fail-stop, grows the device, reopens. Prints one JSON line. */
const CHILD = `
import { spawnSync } from 'node:child_process'
import { createHash, randomBytes } from 'node:crypto'
const { RaftStore } = await import(process.env.STORE_URL)
const { encodeCommand } = await import(process.env.CODEC_URL)
const { isDiskFull } = await import(process.env.ALARM_URL)
const dir = process.env.MNT
const sha = (b) => createHash('sha256').update(b).digest('hex')
const store = await RaftStore.open(dir, { nodeId: 1, logRetain: 1000 })
const acked = []
let failure
for (let i = 1; i <= 400 && failure === undefined; i++) {
  const value = randomBytes(256 * 1024)
  const txn = { compare: [], success: [{ type: 'put', key: Buffer.from('k' + i), value }], failure: [] }
  const e = { index: i, term: 1, type: 'normal', data: encodeCommand({ requestId: Buffer.from('r' + i), txn }) }
  try {
    await store.persist({ entries: [e], hardState: { term: 1, vote: 1, commit: i }, committedEntries: [e] })
    acked.push({ i, h: sha(value) })
  } catch (err) { failure = err }
}
let after
try { await store.persist({ entries: [], hardState: { term: 2, vote: 1, commit: acked.length }, committedEntries: [] }) } catch (err) { after = err }
await store.close().catch(() => {})
const grow = spawnSync('mount', ['-o', 'remount,size=256m', dir])
let reopened, applied, intact = 0
try {
  const s = await RaftStore.open(dir, { nodeId: 1 })
  reopened = true
  applied = s.status().applied
  for (const a of acked) { const kv = await s.get(Buffer.from('k' + a.i)); if (kv !== undefined && sha(kv.value) === a.h) intact++ }
  await s.close()
} catch (err) { reopened = String(err && err.message) }
process.stdout.write(JSON.stringify({ acked: acked.length, failure: failure && String(failure.message).slice(0, 300), diskFull: isDiskFull(failure), afterCode: after && after.code, grew: grow.status, reopened, applied, intact }) + '\\n')
`

describe('ENOSPC while persisting', () => {
  it('a full device fails the batch with ENOSPC, the store stops, and after freeing space it reopens with the chain verified and every acknowledged batch intact', async () => {
    const mnt = mkdtempSync(join(tmpdir(), 'aspen-enospc-'))
    try {
      const url = (p: string): string => new URL(p, import.meta.url).href
      const script = `mount -t tmpfs -o size=6m tmpfs "$MNT" && exec "$NODE" --input-type=module -e "$CHILD"`
      const p = spawn('unshare', ['-m', '--propagation', 'private', 'sh', '-c', script], {
        stdio: ['ignore', 'pipe', 'pipe'],
        env: {
          ...process.env, MNT: mnt, NODE: process.execPath, CHILD,
          STORE_URL: url('../../../src/store/index.js'), CODEC_URL: url('../../../src/api/codec.js'), ALARM_URL: url('../../../src/node/alarm-service.js')
        }
      })
      let out = ''
      let err = ''
      p.stdout.setEncoding('utf8').on('data', (d: string) => { out += d })
      p.stderr.setEncoding('utf8').on('data', (d: string) => { err += d })
      const code = await new Promise<number | null>(resolve => p.on('exit', resolve))
      assert.equal(code, 0, `child failed: ${err.slice(-2000)}`)
      const r = JSON.parse(out.trim().split('\n').pop() ?? '{}') as { acked: number, failure?: string, diskFull: boolean, afterCode?: string, grew: number, reopened: true | string, applied: number, intact: number }
      assert.ok(r.acked >= 2 && r.failure !== undefined, `the device filled up after ${r.acked} batches: ${JSON.stringify(r)}`)
      assert.equal(r.diskFull, true, `the failure is ENOSPC: ${r.failure}`)
      assert.equal(r.afterCode, 'STORE_CLOSED', 'fail-stop: no write after the failed one')
      assert.equal(r.grew, 0)
      assert.equal(r.reopened, true, `reopen with chain verification: ${String(r.reopened)}`)
      assert.ok(r.applied >= r.acked && r.applied <= r.acked + 1, `applied ${r.applied}: every acknowledged batch, at most the failed one besides`)
      assert.equal(r.intact, r.acked, 'every acknowledged value reads back unchanged')
    } finally {
      rmSync(mnt, { recursive: true, force: true })
    }
  })
})
