// Start-up verification of the hash chain h[i] = sha256(h[i-1] ‖ i ‖ term ‖ payload): an altered entry, an
// altered stored hash, a missing or torn entry each stop open with a CorruptionError naming index, table and
// data dir — nothing is repaired silently.
import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { join } from 'node:path'
import type { ClassicLevel } from 'classic-level'
import { ops } from '../../../src/api/kv.js'
import { CorruptionError, RaftStore } from '../../../src/store/index.js'
import { kvKey, LOG_END, logIndexOf, logKey, META } from '../../../src/store/keys.js'
import { decodeLogRun, packLogRun } from '../../../src/store/log-run.js'
import type { Entry } from '../../../src/raft/types.js'
import { b, cleanup, entry, tempDir, withRawDb } from './helpers.js'

const N = 20

/** The N entries of `prepared`: entry i+1 puts k<i>. */
function logged (): Entry[] {
  return Array.from({ length: N }, (_, i) => entry(i + 1, 1 + Math.floor(i / 7), ops.put(b(`k${i}`), b(`value-${i}`))))
}

/**
 * A store with N entries (the first 10 committed and applied), closed. The entries are appended in runs of
 * `perPersist` (one persist each; N by default: the whole log is one run, keyed by its last index N).
 */
async function prepared (perPersist = N): Promise<string> {
  const dir = tempDir('corrupt')
  const store = await RaftStore.open(dir)
  const e = logged()
  for (let i = 0; i < N; i += perPersist) await store.persist({ entries: e.slice(i, i + perPersist), committedEntries: [] })
  await store.persist({ entries: [], hardState: { term: 3, vote: 1, commit: 10 }, committedEntries: e.slice(0, 10) })
  await store.close()
  return dir
}

/** Rewrites the run holding entry `index`: `edit` gets a copy of that entry's record and returns its replacement, or null to drop it. */
async function editEntry (db: ClassicLevel<Buffer, Buffer>, index: number, edit: (record: Buffer) => Buffer | null): Promise<void> {
  const [[key, value]] = await db.iterator({ gte: logKey(index), lt: LOG_END, limit: 1 }).all()
  const recs = decodeLogRun(logIndexOf(key), value)
  const first = recs[0].entry.index
  const records: Buffer[] = []
  for (const r of recs) {
    const rec = r.entry.index === index ? edit(Buffer.from(r.record)) : r.record
    if (rec !== null) records.push(rec)
  }
  await db.put(key, packLogRun(first, records))
}

async function tamper (dir: string, fn: (db: ClassicLevel<Buffer, Buffer>) => Promise<void>): Promise<void> {
  await withRawDb(join(dir, 'raft'), fn)
}

async function expectCorruption (dir: string, table: string, index: number | undefined): Promise<void> {
  await assert.rejects(RaftStore.open(dir), (err: CorruptionError) => {
    assert.ok(err instanceof CorruptionError, `expected CorruptionError, got ${String(err)}`)
    assert.equal(err.code, 'CORRUPTION')
    assert.equal(err.table, table)
    assert.equal(err.index, index)
    assert.equal(err.dataDir, dir)
    assert.ok(err.message.includes(dir), err.message)
    if (index !== undefined) assert.ok(err.message.includes(`index ${index}`), err.message)
    return true
  })
}

async function check (index: number | undefined, fn: (db: ClassicLevel<Buffer, Buffer>) => Promise<void>, table = 'log', perPersist = N): Promise<void> {
  const dir = await prepared(perPersist)
  try {
    await tamper(dir, fn)
    await expectCorruption(dir, table, index)
    // still refused on a second attempt: nothing was "repaired"
    await expectCorruption(dir, table, index)
  } finally {
    cleanup(dir)
  }
}

describe('corruption detection at open', () => {
  it('an intact store opens', async () => {
    const dir = await prepared()
    try {
      const store = await RaftStore.open(dir)
      assert.equal(store.recovered().lastIndex, N)
      await store.close()
    } finally {
      cleanup(dir)
    }
  })

  it('a flipped byte in an entry payload (applied part of the log)', async () => {
    await check(4, async (db) => {
      await editEntry(db, 4, (rec) => { rec[rec.length - 1] ^= 0x01; return rec })
    })
  })

  it('a flipped byte in an entry payload (unapplied tail)', async () => {
    await check(15, async (db) => {
      await editEntry(db, 15, (rec) => { rec[45] ^= 0x80; return rec })
    })
  })

  it('a flipped term or entry type', async () => {
    await check(12, async (db) => {
      await editEntry(db, 12, (rec) => { rec[8] ^= 0x01; return rec }) // low byte of the term
    })
    await check(13, async (db) => {
      await editEntry(db, 13, (rec) => { rec[0] = 1; return rec }) // normal -> confChange
    })
  })

  it('an altered stored chain hash', async () => {
    await check(7, async (db) => {
      await editEntry(db, 7, (rec) => { rec[9 + 5] ^= 0xff; return rec })
    })
  })

  it('an entry deleted in the middle of a run', async () => {
    // entry 10's record now sits where 9 was: its hash does not chain from 8
    await check(9, async (db) => { await editEntry(db, 9, () => null) })
  })

  it('the last entry deleted', async () => {
    await check(N, async (db) => { await editEntry(db, N, () => null) })
  })

  it('a whole run deleted', async () => {
    await check(6, async (db) => { await db.del(logKey(10)) }, 'log', 5)
  })

  it('a torn (truncated) entry', async () => {
    await check(17, async (db) => { await editEntry(db, 17, (rec) => rec.subarray(0, 20)) })
  })

  it('a torn run (its record cut short inside the last entry)', async () => {
    await check(N, async (db) => {
      const v = await db.get(logKey(N)) as Buffer
      await db.put(logKey(N), v.subarray(0, v.length - 10))
    })
  })

  it('an undecodable hard state record', async () => {
    await check(undefined, async (db) => { await db.put(META.hardState, Buffer.from([0xff, 0xff, 0xff])) }, 'hardState')
  })

  it('an applied record whose chain hash disagrees with the log', async () => {
    const dir = await prepared()
    try {
      await tamper(dir, async (db) => {
        const v = await db.get(META.applied) as Buffer
        const i = v.indexOf(Buffer.from([0x1a, 0x20])) // field 3 (chain_hash), 32 bytes
        assert.ok(i >= 0)
        v[i + 2] ^= 0x01
        await db.put(META.applied, v)
      })
      await expectCorruption(dir, 'applied', 10)
    } finally {
      cleanup(dir)
    }
  })

  it('a damaged KV record stops the apply with CorruptionError instead of becoming a result', async () => {
    const dir = await prepared()
    try {
      await tamper(dir, async (db) => { await db.put(kvKey(1, b('k3')), Buffer.from([9, 9, 9])) })
      const store = await RaftStore.open(dir)
      try {
        // a range read inside a transaction meets the damaged record while applying
        const next = entry(N + 1, 3, { compare: [], success: [{ type: 'range', start: b('k3'), end: b('k4'), limit: 0 }], failure: [] })
        await store.persist({ entries: [next], committedEntries: [] })
        const rest = [...logged().slice(10), next]
        await assert.rejects(store.persist({ entries: [], hardState: { term: 3, vote: 1, commit: N + 1 }, committedEntries: rest }),
          (err: CorruptionError) => err instanceof CorruptionError && err.table === 'kv')
      } finally {
        await store.close()
      }
    } finally {
      cleanup(dir)
    }
  })
})
