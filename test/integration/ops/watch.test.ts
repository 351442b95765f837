// Watch on real processes: every change under a prefix in revision order (transactions and delete-range
// included), resuming from a retained revision, the typed "compacted" error with the oldest revision, the CLI, and a
// watch that survives SIGKILL of the node it is connected to (the leader) with no gap and no repeat.
import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { connect, WatchCompactedError, type AspenClient, type WatchEvent } from '../../../src/client/index.js'
import { encodeTicket } from '../../../src/p2p/index.js'
import { CLI, NODE_BIN, TestCluster, waitFor } from '../harness.js'

const enc = new TextEncoder()
const txt = (b: Uint8Array): string => new TextDecoder().decode(b)

/** Collects a watch in the background until `stop()`. */
function collect (c: AspenClient, prefix: string, fromRevision?: number): { events: WatchEvent[], error: () => unknown, stop: () => Promise<void> } {
  const ac = new AbortController()
  const events: WatchEvent[] = []
  let error: unknown
  const done = (async () => {
    try {
      for await (const ev of c.watch(prefix, { fromRevision, signal: ac.signal, pollMs: 2000 })) events.push(ev)
    } catch (err) {
      error = err
    }
  })()
  return { events, error: () => error, stop: async () => { ac.abort(); await done } }
}

/** The first `n` events of a fresh watch from `from`. */
async function take (c: AspenClient, prefix: string, from: number, n: number): Promise<WatchEvent[]> {
  const out: WatchEvent[] = []
  if (n === 0) return out
  for await (const ev of c.watch(prefix, { fromRevision: from, pollMs: 1000 })) {
    out.push(ev)
    if (out.length === n) break
  }
  return out
}

const brief = (e: WatchEvent): string => `${e.type} ${txt(e.key)}=${txt(e.value)} @${e.modRevision} v${e.version}`

describe('watch (real processes)', { timeout: 180_000 }, () => {
  let cluster: TestCluster
  let client: AspenClient

  before(async () => {
    cluster = await TestCluster.create(3, { snapshotEvery: 40, logRetain: 5 })
    client = await cluster.explain(async () => await cluster.form())
  })
  after(async () => { await cluster.destroy() })

  it('sees every change under the prefix in revision order, txn and delete-range included; resumes from a retained revision', async () => {
    await cluster.explain(async () => {
      const start = (await client.put('w/0', 'zero')).revision
      const w = collect(client, 'w/', start)
      const r1 = await client.put('w/a', '1')
      const t = await client.txn({ compare: [], success: [{ type: 'put', key: enc.encode('w/b'), value: enc.encode('2') }, { type: 'put', key: enc.encode('x/out'), value: enc.encode('no') }, { type: 'put', key: enc.encode('w/a'), value: enc.encode('3') }], failure: [] })
      const d = await client.del('w/0')
      const dr = await client.txn({ compare: [], success: [{ type: 'deleteRange', start: enc.encode('w/a'), end: enc.encode('w/c') }], failure: [] })
      const last = await client.put('w/c', '4')
      const expected = [
        `put w/0=zero @${start} v1`, `put w/a=1 @${r1.revision} v1`, `put w/b=2 @${t.revision} v1`, `put w/a=3 @${t.revision} v2`,
        `delete w/0= @${d.revision} v0`, `delete w/a= @${dr.revision} v0`, `delete w/b= @${dr.revision} v0`, `put w/c=4 @${last.revision} v1`
      ]
      await waitFor('the watch to see every change', () => w.events.length >= expected.length, 10_000)
      await w.stop()
      assert.equal(w.error(), undefined)
      assert.deepStrictEqual(w.events.map(brief), expected)
      // resume from the txn's revision: exactly the changes from there on
      assert.deepStrictEqual((await take(client, 'w/', t.revision, 6)).map(brief), expected.slice(2))
      // an exact-key watch sees only that key
      const exact: string[] = []
      for await (const ev of client.watch('w/a', { exact: true, fromRevision: start, pollMs: 500 })) {
        exact.push(brief(ev))
        if (exact.length === 3) break
      }
      assert.deepStrictEqual(exact, [expected[1], expected[3], expected[5]])
    })
  })

  it('aspen kv watch --json prints one event per line and ends cleanly on Ctrl-C', async () => {
    await cluster.explain(async () => {
      const from = (await client.put('cli/a', 'x')).revision
      await client.put('cli/b', 'y')
      const { ticket } = await client.control<{ ticket: string }>('cluster.ticket', {}, { idempotent: true })
      const p = spawn(NODE_BIN, [CLI, 'kv', 'watch', 'cli/', '--from-revision', String(from), '--json', '--ticket', ticket, '--timeout', '20000'], {
        stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ASPEN_COOKIE: cluster.cookie }
      })
      let out = ''
      let err = ''
      p.stdout.setEncoding('utf8').on('data', (d: string) => { out += d })
      p.stderr.setEncoding('utf8').on('data', (d: string) => { err += d })
      const exit = new Promise<number | null>(resolve => p.on('exit', resolve))
      await waitFor('two watch lines', () => out.split('\n').filter(l => l !== '').length >= 2, 60_000)
      await client.del('cli/a')
      await waitFor('the delete line', () => out.split('\n').filter(l => l !== '').length >= 3, 30_000)
      p.kill('SIGINT')
      assert.equal(await exit, 0, err)
      const lines = out.trim().split('\n').map(l => JSON.parse(l) as { type: string, key: string, value?: string })
      assert.deepStrictEqual(lines.map(l => [l.type, l.key]), [['put', 'cli/a'], ['put', 'cli/b'], ['delete', 'cli/a']])
      assert.equal(Buffer.from(lines[0].value ?? '', 'base64').toString(), 'x')
    })
  })

  it('a revision no longer retained gives WatchCompactedError with the oldest available revision', async () => {
    await cluster.explain(async () => {
      // a learner added after the log was compacted is filled by a snapshot: it keeps no events before it
      await Promise.all(Array.from({ length: 10 }, async (_, i) => await client.put(`fill/${i}`, 'v')))
      await client.control('cluster.snapshot', {}, { timeoutMs: 10_000 })
      await cluster.addNode(4)
      await cluster.start(4)
      await waitFor('node 4 added as learner', async () => await client.control('cluster.addLearner', { nodeId: 4 }, { timeoutMs: 5000 }).then(() => true), 20_000, 200)
      const info = cluster.runInfo(4)
      assert.ok(info !== undefined)
      const applied = (await cluster.status(1, client)).appliedIndex
      await waitFor('node 4 to catch up', async () => (await cluster.status(4, client)).appliedIndex >= applied, 20_000, 100)
      const ticket = encodeTicket({ clusterId: info.clusterId, peers: [{ peerId: info.peerId, addrs: info.addrs.map(a => a.replace(/\/p2p\/[^/]+$/, '')).slice(0, 8) }] })
      const only4 = await connect({ ticket, cookie: cluster.cookie, timeoutMs: 5000 })
      try {
        let caught: unknown
        try {
          for await (const _ of only4.watch('w/', { fromRevision: 1, pollMs: 500 })) { /* none expected */ }
        } catch (err) {
          caught = err
        }
        assert.ok(caught instanceof WatchCompactedError, `expected WatchCompactedError, got ${String(caught)}`)
        assert.equal(caught.code, 'COMPACTED')
        assert.equal(caught.requestedRevision, 1)
        const applied4 = (await cluster.status(4, client)).appliedIndex
        assert.ok(caught.oldestRevision > 1 && caught.oldestRevision <= applied4 + 1, `oldest ${caught.oldestRevision}, node 4 applied ${applied4}`)
        // from the oldest revision on, the learner serves the watch
        const from = caught.oldestRevision
        const r = await client.put('w/after', 'z')
        const evs = await take(only4, 'w/', from, 1)
        assert.deepStrictEqual(evs.map(brief), [`put w/after=z @${r.revision} v1`])
      } finally {
        await only4.close()
      }
    })
  })

  it('survives SIGKILL of the node it is connected to (the leader): resumes on another member, no gap, no repeat', async () => {
    await cluster.explain(async () => {
      const leader = await cluster.leader(30_000)
      const infos = [leader, ...[1, 2, 3, 4].filter(id => id !== leader)].map(id => cluster.runInfo(id)).filter(i => i !== undefined)
      // the watcher's ticket names the leader first, so that is the node it polls
      const ticket = encodeTicket({ clusterId: infos[0].clusterId, peers: infos.map(i => ({ peerId: i.peerId, addrs: i.addrs.map(a => a.replace(/\/p2p\/[^/]+$/, '')).slice(0, 8) })) })
      const watcher = await connect({ ticket, cookie: cluster.cookie, timeoutMs: 3000 })
      const writer = await cluster.client(3000)
      try {
        const from = (await writer.put('f/start', '0')).revision
        const w = collect(watcher, 'f/', from)
        const write = async (i: number): Promise<void> => {
          await waitFor(`write f/${i}`, async () => await writer.put(`f/${i}`, String(i)).then(() => true), 20_000, 100)
        }
        for (let i = 0; i < 10; i++) await write(i)
        await waitFor('the watch to see the first writes', () => w.events.length >= 11, 10_000)
        await cluster.kill(leader)
        for (let i = 10; i < 30; i++) await write(i)
        const last = (await waitFor('final write', async () => await writer.put('f/end', 'x').catch(() => undefined), 20_000, 100)).revision
        await waitFor('the watch to reach the final write', () => w.events.some(e => e.modRevision === last), 30_000)
        await w.stop()
        assert.equal(w.error(), undefined)
        const revs = w.events.map(e => e.modRevision)
        for (let i = 1; i < revs.length; i++) assert.ok(revs[i] >= revs[i - 1], `revision order at ${i}: ${revs[i - 1]} then ${revs[i]}`)
        for (let i = 0; i < 30; i++) assert.ok(w.events.some(e => txt(e.key) === `f/${i}`), `f/${i} seen`)
        // the same range watched afresh on the survivors: identical, event for event
        const fresh = await take(writer, 'f/', from, w.events.length)
        assert.deepStrictEqual(w.events.map(brief), fresh.map(brief))
      } finally {
        await watcher.close()
      }
    })
  })
})
