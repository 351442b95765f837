// The fault filesystem itself: a power cut keeps exactly what was fsynced (see the model in scripts/fault/lazyfs.py).
// If this did not hold, the power-loss test of the store would prove nothing.
import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { appendFileSync, closeSync, existsSync, fsyncSync, openSync, readFileSync, renameSync, writeFileSync, writeSync, ftruncateSync } from 'node:fs'
import { mkdir, mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fuseUnavailable, LazyMount } from './lazy-mount.js'

const unavailable = fuseUnavailable()
if (unavailable !== undefined) console.log(`# lazyfs tests skipped: ${unavailable}`)

function writeSynced (path: string, data: string): void {
  const fd = openSync(path, 'w')
  writeSync(fd, data)
  fsyncSync(fd)
  closeSync(fd)
}

describe('lazyfs: a power cut keeps exactly the fsynced state', { skip: unavailable }, () => {
  let root: string
  let backing: string
  let mnt: string
  before(async () => {
    root = await mkdtemp(join(tmpdir(), 'aspen-lazyfs-'))
    backing = join(root, 'backing')
    mnt = join(root, 'mnt')
    await mkdir(backing)
    await mkdir(mnt)
  })
  after(async () => { await rm(root, { recursive: true, force: true }) })

  it('drops data written after the last fsync, restores overwritten synced bytes, removes never-synced new files', async () => {
    writeFileSync(join(backing, 'old.txt'), 'present-at-mount')
    const m = await LazyMount.mount(backing, mnt)
    try {
      // data after the last fsync is dropped; data before it stays
      const fd = openSync(join(mnt, 'synced.txt'), 'w')
      writeSync(fd, 'durable')
      fsyncSync(fd)
      writeSync(fd, '+volatile')
      closeSync(fd)
      // overwrites and truncation of durable bytes are undone
      const g = openSync(join(mnt, 'old.txt'), 'r+')
      writeSync(g, 'XXXXXXX', 0)
      ftruncateSync(g, 3)
      writeSync(g, 'tail', 3)
      closeSync(g)
      appendFileSync(join(mnt, 'old.txt'), '!')
      // fsyncing the directory makes a new name durable, but not the file's unsynced data
      writeFileSync(join(mnt, 'named.txt'), 'data-not-synced')
      const d = openSync(mnt, 'r')
      fsyncSync(d)
      closeSync(d)
      // a new file never fsynced (nor its directory) disappears; one fsynced then renamed stays under its new name
      writeFileSync(join(mnt, 'never-synced.txt'), 'gone')
      writeSynced(join(mnt, 'tmp.txt'), 'renamed')
      renameSync(join(mnt, 'tmp.txt'), join(mnt, 'final.txt'))
      assert.equal(readFileSync(join(mnt, 'synced.txt'), 'utf8'), 'durable+volatile', 'reads see the latest data before the cut')
      const stats = await m.cut()
      assert.ok(stats.files >= 4, `cut touched ${stats.files} files`)
      assert.throws(() => writeFileSync(join(mnt, 'after-cut.txt'), 'x'), 'writes fail after the cut')
    } finally {
      await m.unmount()
    }
    assert.equal(readFileSync(join(backing, 'synced.txt'), 'utf8'), 'durable')
    assert.equal(readFileSync(join(backing, 'old.txt'), 'utf8'), 'present-at-mount')
    assert.equal(existsSync(join(backing, 'never-synced.txt')), false)
    assert.equal(readFileSync(join(backing, 'final.txt'), 'utf8'), 'renamed')
    assert.equal(readFileSync(join(backing, 'named.txt'), 'utf8'), '')
    assert.equal(existsSync(join(backing, 'after-cut.txt')), false)
  })

  it('with --ignore-fsync nothing written through the mount survives the cut', async () => {
    const m = await LazyMount.mount(backing, mnt, { ignoreFsync: true })
    try {
      writeSynced(join(mnt, 'synced.txt'), 'overwritten-and-synced')
      writeSynced(join(mnt, 'fresh.txt'), 'fresh')
      await m.cut()
    } finally {
      await m.unmount()
    }
    assert.equal(readFileSync(join(backing, 'synced.txt'), 'utf8'), 'durable')
    assert.equal(existsSync(join(backing, 'fresh.txt')), false)
  })
})
