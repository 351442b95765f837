// The quota check and the NOSPACE alarm records: when a member raises (only after compacting did not help, on two
// readings in a row), when it clears (under 80% of the quota), what a write may do under the alarm, and that the
// reserved alarm keys stay out of clients' reach.
import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtempSync, rmSync, writeFileSync, mkdirSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import {
  alarmKey, checkClientTxn, clearTxn, decodeAlarm, encodeAlarm, isSystemKey, NoSpaceError, noSpaceError, raiseTxn, ReservedKeyError,
  txnAddsData, type Alarm
} from '../../../src/node/alarm.js'
import { AlarmService, isDiskFull } from '../../../src/node/alarm-service.js'
import type { RaftDriver } from '../../../src/node/raft-driver.js'
import { decodeCommand } from '../../../src/api/codec.js'
import { dirBytes, QuotaMonitor, roomAgain, shortOfSpace, DISK_FREE_RESERVE_BYTES, type QuotaDeps } from '../../../src/node/quota.js'
import type { Txn } from '../../../src/api/kv.js'

const b = (s: string): Uint8Array => new TextEncoder().encode(s)
const MiB = 1024 * 1024
const put = (k: string): Txn => ({ compare: [], success: [{ type: 'put', key: b(k), value: b('v') }], failure: [] })

/** A member whose disk usage the test sets; compaction shrinks it to `compactsTo`. */
function fakeMember (o: { used: number, compactsTo?: number, quota?: number }): { deps: QuotaDeps, alarms: Alarm[], compactions: () => number, state: { used: number, applied: number } } {
  const alarms: Alarm[] = []
  const state = { used: o.used, applied: 1 }
  let compactions = 0
  const deps: QuotaDeps = {
    memberId: 7,
    quotaBytes: o.quota ?? 10 * MiB,
    measure: async () => ({ usedBytes: state.used, freeBytes: 100 * 1024 * MiB }),
    alarms: async () => alarms.map(a => ({ ...a })),
    raise: async (a) => { alarms.push(a); state.applied++ },
    clear: async (a) => { alarms.splice(alarms.findIndex(x => x.memberId === a.memberId), 1); state.applied++ },
    compact: async () => { compactions++; if (o.compactsTo !== undefined) state.used = Math.min(state.used, o.compactsTo) },
    applied: () => state.applied,
    canPropose: () => true,
    now: () => 0,
    log: () => {}
  }
  return { deps, alarms, compactions: () => compactions, state }
}

describe('quota check', () => {
  it('short of space means over the quota or under the free-space reserve; room again means under 80% with the reserve free', () => {
    assert.equal(shortOfSpace({ usedBytes: 11, freeBytes: Infinity, quotaBytes: 10 }), 'quota')
    assert.equal(shortOfSpace({ usedBytes: 1, freeBytes: DISK_FREE_RESERVE_BYTES - 1, quotaBytes: 10 }), 'disk-free')
    assert.equal(shortOfSpace({ usedBytes: 10, freeBytes: Infinity, quotaBytes: 10 }), undefined)
    assert.equal(roomAgain({ usedBytes: 8, freeBytes: Infinity, quotaBytes: 10 }), true)
    assert.equal(roomAgain({ usedBytes: 9, freeBytes: Infinity, quotaBytes: 10 }), false)
  })

  it('a member over quota compacts first and raises nothing when compaction freed enough', async () => {
    const m = fakeMember({ used: 12 * MiB, compactsTo: 6 * MiB })
    const q = new QuotaMonitor(m.deps)
    await q.check()
    await q.check()
    assert.equal(m.compactions(), 1, 'compacted once (nothing applied since)')
    assert.deepEqual(m.alarms, [])
  })

  it('a member still over quota after compacting raises NOSPACE on the second reading in a row, once', async () => {
    const m = fakeMember({ used: 12 * MiB, compactsTo: 11 * MiB })
    const q = new QuotaMonitor(m.deps)
    await q.check()
    assert.equal(m.alarms.length, 0, 'one reading is not enough (it may count files LevelDB is replacing)')
    await q.check()
    assert.equal(m.alarms.length, 1)
    assert.deepEqual({ ...m.alarms[0], raisedAtMs: 0 }, { type: 'NOSPACE', memberId: 7, reason: 'quota', usedBytes: 11 * MiB, quotaBytes: 10 * MiB, raisedAtMs: 0 })
    await q.check()
    assert.equal(m.alarms.length, 1, 'not raised twice')
  })

  it('a member clears its alarm only once usage is under 80% of the quota, compacting after deletes', async () => {
    const m = fakeMember({ used: 12 * MiB, compactsTo: 11 * MiB })
    const q = new QuotaMonitor(m.deps)
    await q.check()
    await q.check()
    assert.equal(m.alarms.length, 1)
    m.state.used = 8.5 * MiB // deleted some, still above 80%
    m.state.applied++
    await q.check()
    assert.equal(m.alarms.length, 1, 'between 80% and 100%: the alarm holds (no flapping at the boundary)')
    m.state.used = 7 * MiB
    await q.check()
    assert.equal(m.alarms.length, 0)
  })

  it('a member that cannot propose (no leader) raises nothing, and a failing measurement never throws', async () => {
    const m = fakeMember({ used: 20 * MiB })
    const q = new QuotaMonitor({ ...m.deps, canPropose: () => false })
    await q.check()
    await q.check()
    assert.equal(m.alarms.length, 0)
    const logs: string[] = []
    const broken = new QuotaMonitor({ ...m.deps, measure: async () => { throw new Error('EIO') }, log: (_l, msg) => { logs.push(msg) } })
    await broken.check()
    assert.match(logs[0], /quota check failed: EIO/)
  })

  it('dirBytes sums file sizes under a directory, nested ones included', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'aspen-quota-'))
    try {
      writeFileSync(join(dir, 'a'), Buffer.alloc(1000))
      mkdirSync(join(dir, 'sub'))
      writeFileSync(join(dir, 'sub', 'b'), Buffer.alloc(234))
      assert.equal(await dirBytes(dir), 1234)
      assert.equal(await dirBytes(join(dir, 'missing')), 0)
    } finally { rmSync(dir, { recursive: true, force: true }) }
  })
})

describe('NOSPACE alarm records', () => {
  const alarm: Alarm = { type: 'NOSPACE', memberId: 3, reason: 'quota', usedBytes: 5, quotaBytes: 4, raisedAtMs: 1 }

  it('round-trip through their reserved key; garbage decodes to nothing', () => {
    assert.deepEqual(decodeAlarm(encodeAlarm(alarm)), alarm)
    assert.equal(decodeAlarm(b('{"type":"OTHER","memberId":1}')), undefined)
    assert.equal(decodeAlarm(b('not json')), undefined)
    assert.ok(isSystemKey(alarmKey('NOSPACE', 3)))
    assert.ok(!isSystemKey(b('user/key')))
    const r = raiseTxn(alarm)
    assert.ok(r.success[0].type === 'put' && isSystemKey(r.success[0].key))
    assert.deepEqual(clearTxn([alarm]).success, [{ type: 'delete', key: alarmKey('NOSPACE', 3) }])
  })

  it('under the alarm, only transactions that may put are refused', () => {
    assert.equal(txnAddsData(put('k')), true)
    assert.equal(txnAddsData({ compare: [], success: [{ type: 'delete', key: b('k') }], failure: [{ type: 'deleteRange', start: b('a'), end: b('b') }] }), false)
    assert.equal(txnAddsData({ compare: [], success: [{ type: 'get', key: b('k') }], failure: [{ type: 'put', key: b('k'), value: b('v') }] }), true)
    const err = noSpaceError([alarm])
    assert.ok(err instanceof NoSpaceError)
    assert.equal(err.code, 'NO_SPACE')
    assert.match(err.message, /node 3 \(quota: 5 of 4 bytes\)/)
  })

  it('clients cannot name reserved keys in puts, deletes, gets or compares', () => {
    const k = alarmKey('NOSPACE', 1)
    for (const txn of [
      { compare: [], success: [{ type: 'put' as const, key: k, value: b('x') }], failure: [] },
      { compare: [], success: [{ type: 'delete' as const, key: k }], failure: [] },
      { compare: [{ key: k, target: 'exists' as const, result: 'equal' as const, exists: true }], success: [], failure: [] }
    ]) assert.throws(() => { checkClientTxn(txn) }, (e: unknown) => e instanceof ReservedKeyError && e.code === 'RESERVED_KEY')
    checkClientTxn(put('ordinary'))
  })

  it('ENOSPC is recognised by code or message, through causes', () => {
    assert.equal(isDiskFull(Object.assign(new Error('write failed'), { code: 'ENOSPC' })), true)
    assert.equal(isDiskFull(new Error('batch failed', { cause: new Error('IO error: /d/raft/000012.log: No space left on device') })), true)
    assert.equal(isDiskFull(new Error('EIO')), false)
  })
})

describe('alarm service', () => {
  it('the leader clears alarms raised by nodes that are no longer members; followers leave them', async () => {
    const stranger: Alarm = { type: 'NOSPACE', memberId: 9, reason: 'quota', usedBytes: 5, quotaBytes: 4, raisedAtMs: 1 }
    const member: Alarm = { ...stranger, memberId: 2 }
    let records = [stranger, member]
    const proposed: Txn[] = []
    const driver = {
      propose: async (requestId: Uint8Array, data: Uint8Array) => {
        const cmd = decodeCommand(data)
        proposed.push(cmd.txn)
        const gone = new Set(cmd.txn.success.map(op => op.type === 'delete' ? Buffer.from(op.key).toString('latin1') : ''))
        records = records.filter(a => !gone.has(Buffer.from(alarmKey(a.type, a.memberId)).toString('latin1')))
        return { index: 1, requestId, ok: true as const, response: { succeeded: true, revision: 1, responses: [] } }
      }
    }
    let leader = false
    const svc = new AlarmService({
      memberId: 1,
      quotaBytes: 10,
      store: {
        range: async () => ({ kvs: records.map(a => ({ key: alarmKey(a.type, a.memberId), value: encodeAlarm(a), createRevision: 1, modRevision: 1, version: 1, lease: 0 })), more: false }),
        status: () => ({ applied: 1 })
      },
      driver: () => driver as unknown as RaftDriver,
      canPropose: () => true,
      isLeader: () => leader,
      members: () => [1, 2, 3],
      measure: async () => ({ usedBytes: 1, freeBytes: Infinity }),
      compact: async () => {},
      requestTimeoutMs: 1000,
      log: { info: () => {}, warn: () => {}, error: () => {} }
    })
    await svc.refresh()
    await svc.clearStrangers()
    assert.equal(proposed.length, 0, 'a follower proposes nothing')
    leader = true
    await svc.clearStrangers()
    assert.deepEqual(proposed.map(t => t.success.length), [1])
    assert.deepEqual(svc.list().map(a => a.memberId), [2])
    // the remaining alarm refuses puts and lets deletes through
    assert.throws(() => { svc.admit(put('k')) }, NoSpaceError)
    assert.throws(() => { svc.admitGrowth() }, NoSpaceError, 'lease grants are refused too')
    svc.admit({ compare: [], success: [{ type: 'delete', key: b('k') }], failure: [] })
  })
})

describe('compaction pacing', () => {
  it('a slow compaction delays the next automatic one by ten times its duration', async () => {
    let clock = 0
    let compactions = 0
    const state = { used: 20 * MiB, applied: 1 }
    const q = new QuotaMonitor({
      memberId: 1,
      quotaBytes: 10 * MiB,
      measure: async () => ({ usedBytes: state.used, freeBytes: Infinity }),
      alarms: async () => [],
      raise: async () => { state.applied++ },
      clear: async () => {},
      compact: async () => { compactions++; clock += 1000 },
      applied: () => state.applied,
      canPropose: () => false,
      now: () => clock,
      log: () => {}
    })
    await q.check()
    assert.equal(compactions, 1)
    state.applied++
    clock += 5000
    await q.check()
    assert.equal(compactions, 1, '5 s after a 1 s compaction: not yet')
    clock += 5000
    await q.check()
    assert.equal(compactions, 2, '10 s after: again')
  })
})
