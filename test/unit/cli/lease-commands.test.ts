// runCli in-process against fake actions: what `aspen lease …` and `kv put --lease/--ttl` pass to their actions,
// how they print, and the usage errors (bad ids and TTLs, --ttl with --lease).
import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { notWiredActions, type KvActions, type LeaseActions } from '../../../src/cli/actions.js'
import { runInProcess, TICKET_ARGS } from './helpers.js'

const base = notWiredActions()
const leaseWith = (over: Partial<LeaseActions>): { lease: LeaseActions } => ({ lease: { ...base.lease, ...over } })
const kvWith = (over: Partial<KvActions>): { kv: KvActions } => ({ kv: { ...base.kv, ...over } })

describe('aspen lease', () => {
  it('grant, revoke, list and time-to-live pass their arguments and print text or JSON', async () => {
    const calls: unknown[] = []
    const actions = leaseWith({
      grant: async (_c, r) => { calls.push(['grant', r]); return { id: r.id ?? 11, ttlSeconds: r.ttlSeconds } },
      revoke: async (_c, r) => { calls.push(['revoke', r]); return { id: r.id, deleted: 2 } },
      list: async () => [{ id: 11, ttlSeconds: 30, grantRevision: 4, remainingMs: 29_500 }],
      timeToLive: async (_c, r) => ({ id: r.id, ttlSeconds: 30, grantRevision: 4, remainingMs: 1000, keys: r.keys ? [Buffer.from('k1').toString('base64')] : undefined })
    })
    const g = await runInProcess(['lease', 'grant', '30', ...TICKET_ARGS], { actions })
    assert.equal(g.code, 0, g.stderr)
    assert.equal(g.stdout.toString(), 'lease 11 granted with TTL 30s\n')
    const gj = await runInProcess(['lease', 'grant', '5', '--id', '99', '--json', ...TICKET_ARGS], { actions })
    assert.deepEqual(JSON.parse(gj.stdout.toString()), { id: 99, ttlSeconds: 5 })
    const r = await runInProcess(['lease', 'revoke', '11', ...TICKET_ARGS], { actions })
    assert.equal(r.stdout.toString(), 'lease 11 revoked (2 keys deleted)\n')
    assert.deepEqual(calls, [['grant', { ttlSeconds: 30, id: undefined }], ['grant', { ttlSeconds: 5, id: 99 }], ['revoke', { id: 11 }]])
    const l = await runInProcess(['lease', 'list', ...TICKET_ARGS], { actions })
    assert.equal(l.stdout.toString(), '11\tTTL 30s\tremaining 29.5s\n')
    const t = await runInProcess(['lease', 'time-to-live', '11', '--keys', ...TICKET_ARGS], { actions })
    assert.equal(t.stdout.toString(), 'lease 11: TTL 30s, remaining 1.0s, granted at revision 4\n  k1\n')
  })

  it('keep-alive --once renews once; bad ids and TTLs are usage errors (exit 2)', async () => {
    const seen: Array<{ id: number, once: boolean }> = []
    const actions = leaseWith({ keepAlive: async (_c, r) => { seen.push({ id: r.id, once: r.once }); r.onRenew({ id: r.id, ttlSeconds: 9 }) } })
    const k = await runInProcess(['lease', 'keep-alive', '7', '--once', ...TICKET_ARGS], { actions })
    assert.equal(k.code, 0, k.stderr)
    assert.equal(k.stdout.toString(), 'lease 7 kept alive (TTL 9s)\n')
    assert.deepEqual(seen, [{ id: 7, once: true }])
    for (const argv of [['lease', 'grant', '0'], ['lease', 'grant', '99999999999'], ['lease', 'revoke', 'x'], ['lease', 'keep-alive', '-1']]) {
      const bad = await runInProcess([...argv, ...TICKET_ARGS], { actions })
      assert.equal(bad.code, 2, `${argv.join(' ')}: ${bad.stderr}`)
    }
  })

  it('kv put --lease attaches to a lease; --ttl and --lease together are refused', async () => {
    const seen: Array<{ ttlS?: number, lease?: number }> = []
    const actions = kvWith({ put: async (_c, r) => { seen.push({ ttlS: r.ttlS, lease: r.lease }); return { revision: 5, lease: r.lease ?? 12 } } })
    const p = await runInProcess(['kv', 'put', 'k', 'v', '--lease', '12', ...TICKET_ARGS], { actions })
    assert.equal(p.code, 0, p.stderr)
    assert.equal(p.stdout.toString(), 'OK (revision 5, lease 12)\n')
    assert.deepEqual(seen, [{ ttlS: undefined, lease: 12 }])
    const both = await runInProcess(['kv', 'put', 'k', 'v', '--lease', '12', '--ttl', '3', ...TICKET_ARGS], { actions })
    assert.equal(both.code, 2)
  })
})
