// Store format version: an older format is backed up (raft.bak-v<N>) and migrated forward before the store opens;
// a newer one is refused with a typed error naming both versions and nothing changed.
import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { existsSync } from 'node:fs'
import { rename, rm } from 'node:fs/promises'
import { join } from 'node:path'
import { ops } from '../../../src/api/kv.js'
import { FormatVersionError, RaftStore } from '../../../src/store/index.js'
import { META } from '../../../src/store/keys.js'
import {
  backupDirName, encodeFormatVersion, migrationPath, prepareStoreFormat, STORE_FORMAT_VERSION, StoreFormatTooNewError,
  StoreMigrationError, type Migration
} from '../../../src/store/format-version.js'
import { b, cleanup, commit, s, tempDir, withRawDb } from './helpers.js'

async function dump (dir: string): Promise<string[]> {
  return await withRawDb(dir, async (db) => (await db.iterator().all()).map(([k, v]) => `${k.toString('hex')}=${v.toString('hex')}`))
}

/** A real store with three applied writes, closed. */
async function seededStore (): Promise<string> {
  const dir = tempDir('fmt')
  const store = await RaftStore.open(dir, { nodeId: 1 })
  await commit(store, [ops.put(b('a'), b('1')), ops.put(b('b'), b('2')), ops.put(b('c'), b('3'))])
  await store.close()
  return dir
}

const MARKER = Buffer.from('mtest-migrated', 'latin1')

/** A fake step from format `from`: writes a marker record (what a real step would rewrite). */
function fakeStep (from: number): Migration {
  return { from, describe: `test step from ${from}`, plan: async () => [{ type: 'put', key: MARKER, value: Buffer.from(String(from)) }] }
}

describe('store format version', () => {
  it('a store at the current format is left as it is (no backup)', async () => {
    const dir = await seededStore()
    try {
      const out = await prepareStoreFormat(dir)
      assert.deepEqual(out, { kind: 'current', version: STORE_FORMAT_VERSION })
      assert.equal(existsSync(join(dir, backupDirName(STORE_FORMAT_VERSION))), false)
    } finally { cleanup(dir) }
  })

  it('an empty data dir needs nothing', async () => {
    const dir = tempDir('fmt')
    try {
      assert.deepEqual(await prepareStoreFormat(dir), { kind: 'absent' })
    } finally { cleanup(dir) }
  })

  it('an older format is copied to raft.bak-v<N> first, then migrated step by step; the store opens with its chain verified', async () => {
    const dir = await seededStore()
    try {
      const target = STORE_FORMAT_VERSION + 2
      // fake "this build writes format current+2" against a data dir at the current format
      const out = await prepareStoreFormat(dir, { current: target, migrations: [fakeStep(STORE_FORMAT_VERSION), fakeStep(STORE_FORMAT_VERSION + 1)] })
      assert.equal(out.kind, 'migrated')
      assert.ok(out.kind === 'migrated')
      assert.equal(out.from, STORE_FORMAT_VERSION)
      assert.equal(out.to, target)
      assert.equal(out.steps.length, 2)
      assert.equal(out.backupDir, join(dir, backupDirName(STORE_FORMAT_VERSION)))
      // the backup is the old format, untouched
      const backupRows = await withRawDb(out.backupDir, async (db) => [(await db.get(META.formatVersion))?.readUInt32BE(0), await db.get(MARKER)])
      assert.deepEqual(backupRows, [STORE_FORMAT_VERSION, undefined])
      // the live store is at the new format with both steps applied
      const live = await withRawDb(join(dir, 'raft'), async (db) => [(await db.get(META.formatVersion))?.readUInt32BE(0), (await db.get(MARKER))?.toString()])
      assert.deepEqual(live, [target, String(STORE_FORMAT_VERSION + 1)])
      // this build cannot open the migrated (newer) format; putting the backup back in place restores the old store
      await assert.rejects(RaftStore.open(dir, { nodeId: 1 }), (err: unknown) => err instanceof FormatVersionError)
      await rm(join(dir, 'raft'), { recursive: true })
      await rename(out.backupDir, join(dir, 'raft'))
      const store = await RaftStore.open(dir, { nodeId: 1 })
      try {
        assert.equal(s((await store.get(b('b')))?.value), '2')
      } finally { await store.close() }
    } finally { cleanup(dir) }
  })

  it('the backup of an older format opens with this build and keeps every key', async () => {
    const dir = await seededStore()
    try {
      // fake an older on-disk format: version current-1 with a step that brings it to current
      await withRawDb(join(dir, 'raft'), async (db) => { await db.put(META.formatVersion, encodeFormatVersion(STORE_FORMAT_VERSION - 1)) })
      const out = await prepareStoreFormat(dir, { migrations: [fakeStep(STORE_FORMAT_VERSION - 1)] })
      assert.ok(out.kind === 'migrated')
      assert.equal(out.backupDir, join(dir, backupDirName(STORE_FORMAT_VERSION - 1)))
      const store = await RaftStore.open(dir, { nodeId: 1 })
      try {
        assert.equal(s((await store.get(b('a')))?.value), '1')
        assert.equal(s((await store.get(b('c')))?.value), '3')
        assert.equal(store.status().applied, 3)
      } finally { await store.close() }
      // a second open finds the current format: no second backup, no step
      assert.deepEqual(await prepareStoreFormat(dir, { migrations: [fakeStep(STORE_FORMAT_VERSION - 1)] }), { kind: 'current', version: STORE_FORMAT_VERSION })
    } finally { cleanup(dir) }
  })

  it('a newer format is refused with FORMAT_TOO_NEW naming both versions, and nothing is changed', async () => {
    const dir = await seededStore()
    try {
      const newer = STORE_FORMAT_VERSION + 1
      await withRawDb(join(dir, 'raft'), async (db) => { await db.put(META.formatVersion, encodeFormatVersion(newer)) })
      const before = await dump(join(dir, 'raft'))
      await assert.rejects(prepareStoreFormat(dir), (err: unknown) => {
        assert.ok(err instanceof StoreFormatTooNewError)
        assert.equal(err.code, 'FORMAT_TOO_NEW')
        assert.equal(err.found, newer)
        assert.equal(err.supported, STORE_FORMAT_VERSION)
        assert.match(err.message, new RegExp(`version ${newer}.*version ${STORE_FORMAT_VERSION}`))
        return true
      })
      assert.deepEqual(await dump(join(dir, 'raft')), before)
      assert.equal(existsSync(join(dir, backupDirName(newer))), false)
      assert.equal(existsSync(join(dir, backupDirName(STORE_FORMAT_VERSION))), false)
    } finally { cleanup(dir) }
  })

  it('a missing step is a typed error before anything is written', async () => {
    const dir = await seededStore()
    try {
      const before = await dump(join(dir, 'raft'))
      await assert.rejects(prepareStoreFormat(dir, { current: STORE_FORMAT_VERSION + 2, migrations: [fakeStep(STORE_FORMAT_VERSION)] }),
        (err: unknown) => err instanceof StoreMigrationError && err.code === 'FORMAT_MIGRATION' && err.message.includes(`${STORE_FORMAT_VERSION + 1} to ${STORE_FORMAT_VERSION + 2}`))
      assert.deepEqual(await dump(join(dir, 'raft')), before)
      assert.equal(existsSync(join(dir, backupDirName(STORE_FORMAT_VERSION))), false)
    } finally { cleanup(dir) }
  })

  it('migrationPath chains steps in order and bounds their number', () => {
    assert.deepEqual(migrationPath(3, 5, [fakeStep(4), fakeStep(3)]).map(m => m.from), [3, 4])
    assert.throws(() => migrationPath(0, 1000, []), StoreMigrationError)
  })
})
