// Opening a data dir: the LevelDB lock (also across processes), the format version, identity (store UUID,
// node id, peer id), create: false, and deletion of orphan KV generations.
import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { join } from 'node:path'
import { ClassicLevel } from 'classic-level'
import { ops } from '../../../src/api/kv.js'
import {
  DataDirLockedError, FormatVersionError, IdentityMismatchError, NodeRegistry, NotInitializedError, RaftStore
} from '../../../src/store/index.js'
import { kvKey, META } from '../../../src/store/keys.js'
import { b, cleanup, commit, s, tempDir } from './helpers.js'

async function rawDb (dir: string): Promise<ClassicLevel<Buffer, Buffer>> {
  const db = new ClassicLevel<Buffer, Buffer>(join(dir, 'raft'), { keyEncoding: 'buffer', valueEncoding: 'buffer' })
  await db.open()
  return db
}

describe('opening a data dir', () => {
  it('a second open in this process gets DataDirLockedError naming the dir', async () => {
    const dir = tempDir('open')
    const store = await RaftStore.open(dir)
    try {
      await assert.rejects(RaftStore.open(dir), (err: DataDirLockedError) => err instanceof DataDirLockedError && err.code === 'DATA_DIR_LOCKED' && err.message.includes(dir))
    } finally {
      await store.close()
      cleanup(dir)
    }
  })

  it('another process holding the dir makes open fail with DataDirLockedError', async () => {
    const dir = tempDir('open')
    const storeUrl = new URL('../../../src/store/index.js', import.meta.url).href
    const child = spawn(process.execPath, ['--input-type=module', '-e', `
      const { RaftStore } = await import(${JSON.stringify(storeUrl)})
      const s = await RaftStore.open(${JSON.stringify(dir)})
      process.stdout.write('open\\n')
      process.stdin.on('data', async () => { await s.close(); process.exit(0) })
    `], { stdio: ['pipe', 'pipe', 'inherit'] })
    try {
      await new Promise<void>((resolve, reject) => {
        child.stdout.on('data', (d: Buffer) => { if (d.toString().includes('open')) resolve() })
        child.on('exit', (code) => reject(new Error(`child exited early (${code})`)))
      })
      await assert.rejects(RaftStore.open(dir), DataDirLockedError)
      child.stdin.write('close\n')
      await new Promise((resolve) => child.on('exit', resolve))
      const store = await RaftStore.open(dir)
      await store.close()
    } finally {
      child.kill('SIGKILL')
      cleanup(dir)
    }
  })

  it('an unknown format version is refused with FormatVersionError', async () => {
    const dir = tempDir('open')
    try {
      await (await RaftStore.open(dir)).close()
      const db = await rawDb(dir)
      await db.put(META.formatVersion, Buffer.from([0, 0, 0, 99]))
      await db.close()
      await assert.rejects(RaftStore.open(dir), (err: FormatVersionError) => err instanceof FormatVersionError && err.found === '99' && err.message.includes(dir))
    } finally {
      cleanup(dir)
    }
  })

  it('a LevelDB without our format key is refused, not adopted', async () => {
    const dir = tempDir('open')
    try {
      const db = await rawDb(dir)
      await db.put(Buffer.from('foreign'), Buffer.from('data'))
      await db.close()
      await assert.rejects(RaftStore.open(dir), FormatVersionError)
    } finally {
      cleanup(dir)
    }
  })

  it('create: false refuses a missing or empty store', async () => {
    const dir = tempDir('open')
    try {
      await assert.rejects(RaftStore.open(join(dir, 'nothing'), { create: false }), NotInitializedError)
      await (await rawDb(dir)).close()
      await assert.rejects(RaftStore.open(dir, { create: false }), NotInitializedError)
      await (await RaftStore.open(dir)).close()
      await (await RaftStore.open(dir, { create: false })).close()
    } finally {
      cleanup(dir)
    }
  })

  it('keeps its store UUID, node id and peer id; a wiped dir gets a new UUID; mismatches are refused', async () => {
    const dir = tempDir('open')
    try {
      let store = await RaftStore.open(dir, { nodeId: 7 })
      const id = store.storeId
      assert.equal(store.getPeerId(), undefined)
      await store.setPeerId('12D3KooWpeer')
      await store.setPeerId('12D3KooWpeer')
      await assert.rejects(store.setPeerId('12D3KooWother'), IdentityMismatchError)
      await store.close()
      store = await RaftStore.open(dir)
      assert.deepStrictEqual([store.storeId, store.nodeId, store.getPeerId()], [id, 7, '12D3KooWpeer'])
      await store.close()
      await assert.rejects(RaftStore.open(dir, { nodeId: 8 }), IdentityMismatchError)
      cleanup(dir)
      store = await RaftStore.open(dir, { nodeId: 7 })
      assert.notEqual(store.storeId, id)
      await store.close()
    } finally {
      cleanup(dir)
    }
  })

  it('deletes orphan KV generations left by an interrupted snapshot install', async () => {
    const dir = tempDir('open')
    try {
      let store = await RaftStore.open(dir)
      await commit(store, [ops.put(b('live'), b('1'))])
      const gen = store.status().generation
      await store.close()
      const db = await rawDb(dir)
      await db.put(kvKey(gen + 1, b('orphan')), Buffer.alloc(40))
      await db.put(kvKey(gen + 7, b('orphan')), Buffer.alloc(40))
      await db.close()
      store = await RaftStore.open(dir)
      assert.equal(s((await store.get(b('live')))?.value), '1')
      await store.close()
      const check = await rawDb(dir)
      const kvKeys = (await check.keys({ gte: Buffer.of(0x6b), lt: Buffer.of(0x6c) }).all())
      await check.close()
      assert.deepStrictEqual(kvKeys.map((k) => k.readUInt32BE(1)), [gen])
    } finally {
      cleanup(dir)
    }
  })

  it('bootstrap writes the founding configuration as a snapshot at index 1 in a pristine store', async () => {
    const dir = tempDir('open')
    try {
      let store = await RaftStore.open(dir, { nodeId: 1 })
      const conf = { voters: [1], learners: [], votersOutgoing: [], learnersNext: [], autoLeave: false }
      await store.bootstrap({ index: 1, term: 1, confState: conf }, { term: 1, vote: 0, commit: 1 })
      const expected = {
        hardState: { term: 1, vote: 0, commit: 1 },
        confState: conf,
        applied: 1,
        snapshotMeta: { index: 1, term: 1, confState: conf, chainHash: '0'.repeat(64), stateHash: '0'.repeat(64) },
        firstIndex: 2,
        lastIndex: 1,
        lastTerm: 1,
        entries: []
      }
      assert.deepStrictEqual(store.recovered(), expected)
      await assert.rejects(store.bootstrap({ index: 1, term: 1, confState: conf }, { term: 1, vote: 0, commit: 1 }), /not pristine/)
      await store.close()
      store = await RaftStore.open(dir)
      assert.deepStrictEqual(store.recovered(), expected)
      const e = { index: 2, term: 1, type: 'normal' as const, data: new Uint8Array(0) }
      await store.persist({ entries: [e], hardState: { term: 1, vote: 1, commit: 2 }, committedEntries: [e] })
      assert.equal(store.status().applied, 2)
      await store.close()
    } finally {
      cleanup(dir)
    }
  })

  it('closed stores refuse work', async () => {
    const dir = tempDir('open')
    try {
      const store = await RaftStore.open(dir)
      await store.close()
      await store.close()
      await assert.rejects(store.get(b('a')), /closed/)
      await assert.rejects(store.persist({ entries: [], committedEntries: [] }), /closed/)
    } finally {
      cleanup(dir)
    }
  })
})

describe('node registry', () => {
  it('upserts, lists, removes and survives reopen; a second open is locked out', async () => {
    const dir = tempDir('registry')
    try {
      let reg = await NodeRegistry.open(dir)
      await assert.rejects(NodeRegistry.open(dir), DataDirLockedError)
      await reg.upsert({ nodeId: 2, peerId: 'p2', addrs: ['/ip4/127.0.0.1/tcp/4002'], lastSeen: 1000 })
      await reg.upsert({ nodeId: 1, peerId: 'p1', addrs: [], lastSeen: 5, storeId: '0b8c7a3e-5d7f-4c1e-9a51-3f2d9c4b7e10' })
      await reg.upsert({ nodeId: 2, peerId: 'p2', addrs: ['/ip4/127.0.0.1/tcp/4003'], lastSeen: 2000 })
      assert.deepStrictEqual(await reg.get(2), { nodeId: 2, peerId: 'p2', addrs: ['/ip4/127.0.0.1/tcp/4003'], lastSeen: 2000 })
      await reg.close()
      reg = await NodeRegistry.open(dir)
      assert.deepStrictEqual((await reg.all()).map((n) => [n.nodeId, n.storeId]), [[1, '0b8c7a3e-5d7f-4c1e-9a51-3f2d9c4b7e10'], [2, undefined]])
      await reg.remove(1)
      assert.equal(await reg.get(1), undefined)
      assert.deepStrictEqual((await reg.all()).map((n) => n.peerId), ['p2'])
      await assert.rejects(reg.upsert({ nodeId: 0, peerId: 'x', addrs: [], lastSeen: 0 }), /positive/)
      await reg.close()
      await assert.rejects(reg.get(2), /closed/)
    } finally {
      cleanup(dir)
    }
  })

  it('keeps the time of the last voter change across reopen, never moving it back, apart from the node records', async () => {
    const dir = tempDir('registry')
    try {
      let reg = await NodeRegistry.open(dir)
      assert.equal(await reg.lastVoterChangeAt(), undefined)
      await reg.upsert({ nodeId: 1, peerId: 'p1', addrs: [], lastSeen: 5 })
      await reg.setLastVoterChangeAt(1_700_000_000_000)
      await reg.setLastVoterChangeAt(1_600_000_000_000)
      await reg.close()
      reg = await NodeRegistry.open(dir)
      assert.equal(await reg.lastVoterChangeAt(), 1_700_000_000_000)
      assert.deepStrictEqual((await reg.all()).map((n) => n.nodeId), [1], 'the marker is not listed as a node')
      await reg.close()
    } finally {
      cleanup(dir)
    }
  })
})
