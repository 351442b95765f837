// Leases on real processes: expiry (decided by the leader, replicated as an entry) deletes the attached keys on
// every replica identically; keep-alives keep them; revoke deletes at once; the CLI grants, attaches (kv put --ttl
// and --lease), lists and revokes; a leader killed right after a keep-alive does not cost the lease any of the
// time it was promised.
import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import type { AspenClient } from '../../../src/client/index.js'
import { TestCluster, waitFor } from '../harness.js'

const enc = new TextEncoder()
const txt = (b: Uint8Array | undefined): string | undefined => b === undefined ? undefined : new TextDecoder().decode(b)

describe('leases (real processes)', { timeout: 180_000 }, () => {
  let cluster: TestCluster
  let client: AspenClient

  before(async () => {
    cluster = await TestCluster.create(3)
    client = await cluster.explain(async () => await cluster.form())
  })
  after(async () => { await cluster.destroy() })

  /** Every running node has applied the same index and holds the same state hash. */
  async function replicasAgree (): Promise<void> {
    await waitFor('replicas at the same index with the same state hash', async () => {
      const ids = [...cluster.nodes.values()].filter(n => n.proc !== undefined).map(n => n.id)
      const hashes = await Promise.all(ids.map(async id => (await cluster.status(id, client)).stateHash))
      return hashes.every(h => h.index === hashes[0].index && h.hash === hashes[0].hash)
    }, 10_000, 100)
  }

  it('expiry deletes the attached keys on every replica identically, in one revision', async () => {
    await cluster.explain(async () => {
      const ttlMs = 2000
      const t0 = performance.now()
      const { id } = await client.grantLease(ttlMs / 1000)
      const p1 = await client.txn({ compare: [], success: [
        { type: 'put', key: enc.encode('exp/a'), value: enc.encode('1'), lease: id },
        { type: 'put', key: enc.encode('exp/b'), value: enc.encode('2'), lease: id },
        { type: 'put', key: enc.encode('exp/keep'), value: enc.encode('3') }
      ], failure: [] })
      const a = await client.get('exp/a')
      // within the TTL the key must be there (a loaded machine may take longer than the TTL to get here)
      if (performance.now() - t0 < ttlMs - 200) assert.equal(a?.lease, id)
      await waitFor('the lease to expire', async () => (await client.get('exp/a')) === undefined && (await client.get('exp/b')) === undefined, 15_000, 50)
      const lived = performance.now() - t0
      assert.ok(lived >= ttlMs, `keys deleted after ${Math.round(lived)} ms, before the ${ttlMs} ms TTL`)
      assert.equal(txt((await client.get('exp/keep'))?.value), '3')
      assert.ok(!(await client.leases()).some(l => l.id === id), 'the lease is gone')
      await replicasAgree()
      // both deletes happened at one revision: the replicated revoke entry
      const deletes = []
      for await (const ev of client.watch('exp/', { fromRevision: p1.revision, pollMs: 500 })) {
        if (ev.type === 'delete') deletes.push(ev)
        if (deletes.length === 2) break
      }
      assert.deepStrictEqual(deletes.map(d => txt(d.key)), ['exp/a', 'exp/b'])
      assert.equal(deletes[0].modRevision, deletes[1].modRevision)
      // a put naming the expired lease is refused and writes nothing
      await assert.rejects(client.put('exp/late', 'x', { lease: id }), (err: { code?: string }) => err.code === 'LEASE_NOT_FOUND')
      assert.equal(await client.get('exp/late'), undefined)
    })
  })

  it('keep-alives keep the keys past the TTL; once they stop, the keys go', async () => {
    await cluster.explain(async () => {
      const { id } = await client.grantLease(3)
      await client.put('ka/x', 'v', { lease: id })
      const until = performance.now() + 4500
      while (performance.now() < until) {
        await client.keepAlive(id)
        assert.equal(txt((await client.get('ka/x'))?.value), 'v', 'kept alive')
        await new Promise(resolve => setTimeout(resolve, 300))
      }
      const st = await client.timeToLive(id, { keys: true })
      assert.ok(st.remainingMs > 0 && st.remainingMs <= 3000, `remaining ${st.remainingMs}`)
      assert.deepStrictEqual(st.keys?.map(k => Buffer.from(k, 'base64').toString()), ['ka/x'])
      await waitFor('the key to go once keep-alives stop', async () => (await client.get('ka/x')) === undefined, 10_000, 50)
      await assert.rejects(client.keepAlive(id), (err: { code?: string }) => err.code === 'LEASE_NOT_FOUND')
    })
  })

  it('revoke deletes the keys at once; the CLI puts with --ttl, lists and revokes', async () => {
    await cluster.explain(async () => {
      const { id } = await client.grantLease(600)
      await client.put('rv/1', 'a', { lease: id })
      await client.put('rv/2', 'b', { lease: id })
      assert.deepStrictEqual(await client.revokeLease(id), { id, deleted: 2 })
      assert.equal(await client.get('rv/1'), undefined)
      assert.equal(await client.get('rv/2'), undefined)

      const { ticket } = await client.control<{ ticket: string }>('cluster.ticket', {}, { idempotent: true })
      // a generous deadline: these are processes on a shared, often loaded machine
      const t = ['--ticket', ticket, '--timeout', '20000']
      // three CLI processes, one after the other (each starts its own libp2p host; the other commands' argument
      // handling is covered in-process by test/unit/cli/lease-commands.test.ts)
      const ttlPut = await cluster.cli(['kv', 'put', 'cli/t', 'w', '--ttl', '600', '--json', ...t])
      assert.equal(ttlPut.code, 0, ttlPut.stderr)
      const leaseId = (JSON.parse(ttlPut.stdout) as { lease: number }).lease
      assert.equal((await client.get('cli/t'))?.lease, leaseId)
      await client.put('cli/k', 'v', { lease: leaseId })
      const list = await cluster.cli(['lease', 'list', '--json', ...t])
      assert.equal(list.code, 0, list.stderr)
      const ids = (JSON.parse(list.stdout) as { leases: Array<{ id: number }> }).leases.map(l => l.id)
      assert.ok(ids.includes(leaseId), `list ${JSON.stringify(ids)}`)
      const rv = await cluster.cli(['lease', 'revoke', String(leaseId), ...t])
      assert.equal(rv.code, 0, rv.stderr)
      assert.match(rv.stdout, /2 keys deleted/)
      assert.equal(await client.get('cli/t'), undefined)
      assert.equal(await client.get('cli/k'), undefined)
    })
  })

  it('killing the leader right after a keep-alive does not end the lease before its TTL', async () => {
    await cluster.explain(async () => {
      const ttlS = 5
      const leader = await cluster.leader(30_000)
      const { id } = await client.grantLease(ttlS)
      await client.put('fo/k', 'v', { lease: id })
      await client.keepAlive(id)
      const promisedUntil = performance.now() + ttlS * 1000
      await cluster.kill(leader)
      const survivor = await cluster.client(3000)
      // until the promise runs out (with a margin for the read's own round trip) the key must be there
      while (performance.now() < promisedUntil - 300) {
        const kv = await survivor.get('fo/k', { consistency: 'stale', timeoutMs: 1000 }).catch(() => 'unknown' as const)
        assert.ok(kv !== undefined, `key deleted ${Math.round(promisedUntil - performance.now())} ms before the promised TTL ran out`)
        await new Promise(resolve => setTimeout(resolve, 100))
      }
      // without keep-alives the new leader ends it: after TTL + one election timeout of its own
      await waitFor('the new leader to expire the lease', async () => (await survivor.get('fo/k', { timeoutMs: 2000 })) === undefined, 20_000, 100)
      await cluster.start(leader)
      await replicasAgree()
    })
  })
})
