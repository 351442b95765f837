// writeInitialConfig / loadConfig on a real temp directory: modes, atomic replace, refusal to overwrite, and
// the errors that send a user to `aspen init`.
import { after, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { chmodSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import {
  ConfigError, ConfigExistsError, generateCookie, loadConfig, resolveConfig, writeInitialConfig
} from '../../../src/node/config.js'

const root = mkdtempSync(join(tmpdir(), 'aspen-config-'))
after(() => rmSync(root, { recursive: true, force: true }))
let n = 0
const freshDir = (): string => join(root, `d${n++}`)

describe('generateCookie', () => {
  it('is 32 random bytes as 64 hex characters, from the injected source', () => {
    assert.match(generateCookie(), /^[0-9a-f]{64}$/)
    assert.notEqual(generateCookie(), generateCookie())
    assert.equal(generateCookie((len) => new Uint8Array(len).fill(0xab)), 'ab'.repeat(32))
  })
})

describe('writeInitialConfig', () => {
  it('writes config.toml with mode 0600 in a new 0700 data dir, and it loads back with the same values', async () => {
    const dir = freshDir()
    const r = await writeInitialConfig(dir, {
      nodeId: 4, listen: ['/ip4/127.0.0.1/tcp/7001'], bootstrap: ['aspen1abc'], profile: 'fast', http: 'off', cooldownS: 0
    })
    assert.equal(r.path, join(dir, 'config.toml'))
    assert.equal(r.cookieGenerated, true)
    assert.equal(r.overwritten, false)
    assert.equal(statSync(r.path).mode & 0o777, 0o600)
    assert.equal(statSync(dir).mode & 0o777, 0o700)
    assert.match(r.config.cookie, /^[0-9a-f]{64}$/)
    const loaded = loadConfig(dir, {}, {})
    assert.deepEqual(loaded, r.config)
    assert.equal(loaded.nodeId, 4)
    assert.equal(loaded.raft.profile, 'fast')
    assert.equal(loaded.http.enabled, false)
    assert.equal(loaded.safety.cooldownS, 0)
    assert.deepEqual(loaded.listen, ['/ip4/127.0.0.1/tcp/7001'])
    assert.deepEqual(loaded.bootstrap, ['aspen1abc'])
    assert.deepEqual(readdirSync(dir), ['config.toml'], 'no temp file left behind')
  })

  it('refuses to overwrite without force, replaces atomically with force', async () => {
    const dir = freshDir()
    const first = await writeInitialConfig(dir, { nodeId: 1, cookie: 'first-cookie-0123456789' })
    const before = readFileSync(first.path, 'utf8')
    await assert.rejects(writeInitialConfig(dir, { nodeId: 2 }), (e: unknown) => {
      assert.ok(e instanceof ConfigExistsError)
      assert.equal(e.code, 'CONFIG_EXISTS')
      assert.match(e.hint, /--force/)
      return true
    })
    assert.equal(readFileSync(first.path, 'utf8'), before, 'unchanged after the refusal')
    const second = await writeInitialConfig(dir, { nodeId: 2, cookie: 'second-cookie-0123456789', force: true })
    assert.equal(second.overwritten, true)
    assert.equal(loadConfig(dir, {}, {}).nodeId, 2)
    assert.equal(statSync(second.path).mode & 0o777, 0o600)
    assert.deepEqual(readdirSync(dir), ['config.toml'])
  })

  it('writes cookie_file instead of the cookie when given one', async () => {
    const dir = freshDir()
    const cookiePath = join(root, `cookie-${n}`)
    writeFileSync(cookiePath, 'shared-cookie-0123456789\n', { mode: 0o600 })
    const r = await writeInitialConfig(dir, { nodeId: 1, cookieFile: cookiePath })
    assert.equal(r.cookieGenerated, false)
    const text = readFileSync(r.path, 'utf8')
    assert.ok(!text.includes('shared-cookie-0123456789'), 'the cookie itself stays out of config.toml')
    assert.equal(loadConfig(dir, {}, {}).cookie, 'shared-cookie-0123456789')
  })

  it('validates its input before touching the disk', async () => {
    const dir = freshDir()
    await assert.rejects(writeInitialConfig(dir, { nodeId: 1, listen: ['not-a-multiaddr'] }), ConfigError)
    await assert.rejects(writeInitialConfig(dir, { nodeId: 0 }), ConfigError)
    assert.throws(() => statSync(dir), /ENOENT/)
  })
})

describe('loadConfig', () => {
  it('a missing data dir tells the user to run aspen init', () => {
    const dir = freshDir()
    assert.throws(() => loadConfig(dir, {}, {}), (e: unknown) => {
      assert.ok(e instanceof ConfigError)
      assert.equal(e.message, `data dir ${dir} does not exist`)
      assert.match(e.hint, /aspen init --data-dir/)
      return true
    })
  })

  it('a data dir without config.toml tells the user to run aspen init', () => {
    const dir = freshDir()
    mkdirSync(dir)
    assert.throws(() => loadConfig(dir, {}, {}), (e: unknown) => {
      assert.ok(e instanceof ConfigError)
      assert.equal(e.message, `${join(dir, 'config.toml')} not found`)
      assert.match(e.hint, /run `aspen init --data-dir/)
      return true
    })
  })

  it('names the file in errors, warns about a readable config and a moved data dir, and applies env + flags', async () => {
    const dir = freshDir()
    const r = await writeInitialConfig(dir, { nodeId: 1 })
    chmodSync(r.path, 0o644)
    const moved = freshDir()
    mkdirSync(moved)
    writeFileSync(join(moved, 'config.toml'), readFileSync(r.path), { mode: 0o644 })
    const c = loadConfig(moved, { ASPEN_NODE_ID: '5' }, { profile: 'conservative' })
    assert.equal(c.dataDir, moved, 'the directory in use wins over data_dir in the file')
    assert.equal(c.nodeId, 5)
    assert.equal(c.raft.profile, 'conservative')
    assert.ok(c.warnings.some((w) => w.includes('mode 0644') && w.includes('chmod 600')), c.warnings.join('; '))
    assert.ok(c.warnings.some((w) => w.includes(`data_dir in ${join(moved, 'config.toml')} is ${dir}`)), c.warnings.join('; '))
    writeFileSync(join(moved, 'config.toml'), readFileSync(r.path, 'utf8').replace('[raft]', '[raft]\nprofle = "fast"'))
    assert.throws(() => loadConfig(moved, {}, {}), (e: unknown) => {
      assert.ok(e instanceof ConfigError)
      assert.equal(e.message, 'raft.profle: unknown key (did you mean raft.profile?)')
      assert.equal(e.hint, `remove or rename it in ${join(moved, 'config.toml')}`)
      return true
    })
  })

  it('matches resolveConfig on the same text (loadConfig only adds file reading)', async () => {
    const dir = freshDir()
    const r = await writeInitialConfig(dir, { nodeId: 9, cookie: 'same-cookie-0123456789' })
    const text = readFileSync(r.path, 'utf8')
    const viaResolve = resolveConfig({ fileText: text, fileLabel: r.path, env: {}, flags: { dataDir: dir } })
    assert.deepEqual(loadConfig(dir, {}, {}), viaResolve)
  })
})
