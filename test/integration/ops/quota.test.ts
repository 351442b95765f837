// Disk quota on real processes: a 3-node cluster with quota_bytes = 16 MiB is filled until the NOSPACE alarm is
// raised through the log (every member shows it in /status, /metrics and its log); writes are refused with
// NO_SPACE while reads and deletes work; after the keys are deleted, `aspen cluster alarm disarm` and each
// member's automatic check compact and clear the alarm, and writes are accepted again.
import { after, describe, it } from 'node:test'
import { randomBytes } from 'node:crypto'
import assert from 'node:assert/strict'
import { TestCluster, waitFor } from '../harness.js'
import { ClusterError } from '../../../src/client/index.js'
import type { AspenClient } from '../../../src/client/index.js'

const QUOTA = 16 * 1024 * 1024
// random bytes: LevelDB compresses its blocks, so a repetitive value would hardly grow the files
const VALUE = randomBytes(256 * 1024)
/** Bound on the fill: far more than the quota needs (16 MiB / 256 KiB = 64 puts). */
const MAX_FILL = 200

const MAX_RETRIES = 5

const isNoSpace = (err: unknown): boolean => err instanceof ClusterError && err.code === 'NO_SPACE'

async function metricsText (c: AspenClient): Promise<string> {
  return (await c.control<{ text: string }>('cluster.metrics', {}, { timeoutMs: 3000 })).text
}

describe('data-dir quota and the NOSPACE alarm', () => {
  let cluster: TestCluster
  after(async () => { await cluster?.destroy() })

  it('filling past quota_bytes raises NOSPACE on every member; writes get NO_SPACE, reads and deletes work; deleting and compacting clears it', async () => {
    cluster = await TestCluster.create(3, { logRetain: 5, env: { ASPEN_QUOTA_BYTES: String(QUOTA) } })
    await cluster.explain(async () => {
      const c = await cluster.form()
      await c.put('keep', 'small')
      // Fill until the alarm refuses a put (the monitor measures once a second, so a few puts land past the quota).
      let written = 0
      let refused: unknown
      let retries = 0
      while (written < MAX_FILL && refused === undefined) {
        try {
          await c.put(`fill/${String(written).padStart(4, '0')}`, VALUE)
          written++
        } catch (err) {
          // a loaded machine may time a put out: the same key again is harmless; NO_SPACE (or anything after
          // MAX_RETRIES) ends the fill
          if (isNoSpace(err) || ++retries > MAX_RETRIES) refused = err
        }
      }
      assert.ok(isNoSpace(refused), `a put was refused with NO_SPACE after ${written} puts (got ${String(refused)})`)
      assert.match((refused as Error).message, /NOSPACE alarm active/)

      // Every member has applied an alarm record (the same replicated state), and reports it.
      for (const id of [1, 2, 3]) {
        const st = await waitFor(`node ${id} shows the alarm`, async () => { const s = await cluster.status(id, c); return s.alarms.length > 0 ? s : undefined })
        assert.ok(st.alarms.every(a => a.type === 'NOSPACE' && a.quotaBytes === QUOTA))
        assert.ok(st.space !== null && st.space.quotaBytes === QUOTA)
      }
      await waitFor('the alarm gauge', async () => /aspen_alarm_active\{type="NOSPACE"\} 1/.test(await metricsText(c)))
      assert.match(await metricsText(c), /aspen_store_quota_bytes 16777216/)
      assert.ok(cluster.logs(1).includes('alarm NOSPACE raised by node') || cluster.logs(2).includes('alarm NOSPACE raised by node'))

      // Writes refused with the typed error; reads and deletes keep working.
      await assert.rejects(c.put('new', 'x'), isNoSpace)
      assert.equal(Buffer.from((await c.get('keep'))?.value ?? []).toString(), 'small')
      assert.equal((await c.get('fill/0000'))?.value.length, VALUE.length)
      // the alarm records are the cluster's own: a full scan does not show them
      const page = await c.scan('', { limit: 10_000, keysOnly: true })
      assert.ok(page.kvs.every(kv => kv.key[0] !== 0xff))
      const listed = await cluster.cli(['cluster', 'alarm', 'list', '--data-dir', cluster.node(1).dataDir])
      assert.equal(listed.code, 0, listed.stderr)
      // The member that raised the alarm keeps compacting and clears its own alarm once under 80 % of its quota,
      // which on a slow machine can happen before this CLI call answers: either output is well-formed.
      assert.match(listed.stdout, /NOSPACE node \d|^No alarms\.\nThis node: \d+ of 16777216 bytes used\.$/m)

      const del = await c.txn({ compare: [], success: [{ type: 'deleteRange', start: Buffer.from('fill/'), end: Buffer.from('fill0') }], failure: [] })
      assert.ok(del.responses[0].type === 'deleteRange' && del.responses[0].deleted >= written, 'every filled key deleted')

      const disarm = await cluster.cli(['cluster', 'alarm', 'disarm', '--data-dir', cluster.node(1).dataDir])
      assert.equal(disarm.code, 0, disarm.stderr)
      assert.match(disarm.stdout, /Compacted: \d+ of 16777216 bytes/)
      // Members not reached by disarm compact on their own (a member still over quota raises its alarm again
      // until then) and end with no alarm, under quota.
      for (const id of [1, 2, 3]) {
        await waitFor(`node ${id} under quota with no alarm`, async () => {
          const st = await cluster.status(id, c)
          return st.alarms.length === 0 && st.space !== null && st.space.usedBytes < QUOTA
        }, 40_000, 200)
      }
      await waitFor('writes accepted again', async () => { await c.put('new', 'accepted'); return true }, 10_000, 200)
      assert.equal(Buffer.from((await c.get('new'))?.value ?? []).toString(), 'accepted')
      await waitFor('the alarm gauge back to 0', async () => /aspen_alarm_active\{type="NOSPACE"\} 0/.test(await metricsText(c)))
    })
  })
})
