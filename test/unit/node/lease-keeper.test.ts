// The leader's lease deadlines on an injected clock: expiry is proposed (never applied locally) once a deadline
// passes; keep-alives push it; a new leader term restarts every lease at TTL + one election timeout, so the time a
// client was promised is never shortened; only the leader keeps leases.
import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import type { LeaseInfo, LeaseOp, TxnResponse } from '../../../src/api/kv.js'
import { LeaseKeeper } from '../../../src/node/lease-keeper.js'
import { NotLeaderError } from '../../../src/node/raft-driver.js'

const ET = 1000

/** A keeper over an in-memory lease table and a fake clock; proposals apply at once. */
function setup (initial: LeaseInfo[] = []): { keeper: LeaseKeeper, clock: { t: number }, term: { v: number | undefined }, leases: Map<number, LeaseInfo>, proposed: LeaseOp[], settle: () => Promise<void> } {
  const clock = { t: 10_000 }
  const term: { v: number | undefined } = { v: 3 }
  const leases = new Map(initial.map((l) => [l.id, l]))
  const proposed: LeaseOp[] = []
  let revision = 100
  const keeper = new LeaseKeeper({
    leases: () => [...leases.values()],
    lease: (id) => leases.get(id),
    leaderTerm: () => term.v,
    now: () => clock.t,
    electionTimeoutMs: ET,
    proposeTimeoutMs: 1000,
    propose: async (op): Promise<TxnResponse> => {
      proposed.push(op)
      revision++
      if (op.type === 'grant') {
        const id = op.id === 0 ? revision : op.id
        leases.set(id, { id, ttlSeconds: op.ttlSeconds, grantRevision: revision, revoking: false })
        return { succeeded: true, revision, responses: [] }
      }
      leases.delete(op.id)
      return { succeeded: true, revision, responses: [{ type: 'deleteRange', deleted: 1, more: false }] }
    }
  })
  const settle = async (): Promise<void> => { for (let i = 0; i < 5; i++) await new Promise(resolve => setImmediate(resolve)) }
  return { keeper, clock, term, leases, proposed, settle }
}

const lease = (id: number, ttlSeconds: number, revoking = false): LeaseInfo => ({ id, ttlSeconds, grantRevision: 1, revoking })

describe('lease keeper (leader side)', () => {
  it('a new leader gives every lease TTL + one election timeout, then proposes its expiry as a revoke entry', async () => {
    const { keeper, clock, proposed, settle } = setup([lease(1, 2), lease(2, 5)])
    keeper.tick()
    clock.t += 2000 + ET - 1
    keeper.tick()
    await settle()
    assert.deepStrictEqual(proposed, [], 'nothing ends before TTL + election timeout')
    clock.t += 1
    keeper.tick()
    await settle()
    assert.deepStrictEqual(proposed, [{ type: 'revoke', id: 1, expired: true }])
    assert.deepStrictEqual(keeper.list().map((l) => l.id), [2])
  })

  it('keep-alive pushes the deadline to now + TTL; after the deadline the lease is gone for keep-alives', async () => {
    const { keeper, clock, proposed, settle } = setup([lease(1, 2)])
    keeper.tick()
    clock.t += 2500
    assert.deepStrictEqual(keeper.keepAlive(1), { id: 1, ttlSeconds: 2 })
    assert.equal(keeper.status(1).remainingMs, 2000)
    clock.t += 1999
    keeper.tick()
    await settle()
    assert.deepStrictEqual(proposed, [])
    clock.t += 1
    assert.throws(() => keeper.keepAlive(1), (err: { code?: string }) => err.code === 'LEASE_NOT_FOUND')
    keeper.tick()
    await settle()
    assert.deepStrictEqual(proposed, [{ type: 'revoke', id: 1, expired: true }])
  })

  it('only the leader keeps leases; regaining leadership in a new term restarts deadlines with the margin', async () => {
    const { keeper, clock, term, proposed, settle } = setup([lease(1, 2)])
    keeper.tick()
    term.v = undefined
    assert.throws(() => keeper.keepAlive(1), NotLeaderError)
    clock.t += 10_000
    keeper.tick()
    await settle()
    assert.deepStrictEqual(proposed, [], 'a follower never ends a lease')
    term.v = 5
    keeper.tick()
    assert.equal(keeper.status(1).remainingMs, 2000 + ET)
    // same leader, new term without a tick in between: still a fresh start, never the old deadline
    clock.t += 2500
    term.v = 6
    keeper.tick()
    await settle()
    assert.deepStrictEqual(proposed, [])
    assert.equal(keeper.status(1).remainingMs, 2000 + ET)
  })

  it('grant starts at now + TTL with the revision as id; a lease left revoking is finished', async () => {
    const { keeper, clock, proposed, leases, settle } = setup([lease(7, 60, true)])
    const g = await keeper.grant(3, 0, 1000)
    assert.equal(g.ttlSeconds, 3)
    assert.ok(leases.has(g.id))
    assert.equal(keeper.status(g.id).remainingMs, 3000)
    keeper.tick()
    await settle()
    assert.deepStrictEqual(proposed.slice(1), [{ type: 'revoke', id: 7, expired: false }])
    clock.t += 3000
    keeper.tick()
    await settle()
    assert.deepStrictEqual(proposed.slice(2), [{ type: 'revoke', id: g.id, expired: true }])
    await assert.rejects(keeper.grant(0, 0, 1000), (err: { code?: string }) => err.code === 'INVALID_REQUEST')
  })
})
