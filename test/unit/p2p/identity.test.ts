// Persistent node identity: created once with mode 0600 (atomically), loaded after that, never silently replaced.
import { describe, it, beforeEach, afterEach } from 'node:test'
import assert from 'node:assert/strict'
import { chmod, mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { generateKeyPair, privateKeyToProtobuf } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { IDENTITY_FILE, loadOrCreateIdentity, privateKeyFromSecretHex } from '../../../src/p2p/identity.js'
import { IdentityError } from '../../../src/p2p/errors.js'

describe('identity', () => {
  let dir: string
  beforeEach(async () => { dir = await mkdtemp(join(tmpdir(), 'aspen-identity-')) })
  afterEach(async () => { await rm(dir, { recursive: true, force: true }) })

  it('creates identity.key with mode 0600 on first boot and loads the same peer id afterwards', async () => {
    const first = await loadOrCreateIdentity(dir)
    assert.equal(first.created, true)
    assert.equal(first.source, 'created')
    assert.deepEqual(first.warnings, [])
    const st = await stat(join(dir, IDENTITY_FILE))
    assert.equal(st.mode & 0o777, 0o600)
    assert.equal(st.size, 68)
    const second = await loadOrCreateIdentity(dir)
    assert.equal(second.created, false)
    assert.equal(second.source, 'file')
    assert.equal(second.peerId.toString(), first.peerId.toString())
    assert.ok(second.privateKey.equals(first.privateKey))
  })

  it('creates the data dir if missing and leaves no temp files behind', async () => {
    const sub = join(dir, 'a', 'b')
    await loadOrCreateIdentity(sub)
    assert.deepEqual(await readdir(sub), [IDENTITY_FILE])
  })

  it('concurrent first boots agree on one identity (create is atomic and never replaces a key)', async () => {
    const ids = await Promise.all(Array.from({ length: 8 }, async () => await loadOrCreateIdentity(dir)))
    const peerIds = new Set(ids.map((i) => i.peerId.toString()))
    assert.equal(peerIds.size, 1)
    assert.equal(ids.filter((i) => i.created).length, 1)
    const onDisk = await loadOrCreateIdentity(dir)
    assert.equal(onDisk.peerId.toString(), [...peerIds][0])
    assert.deepEqual(await readdir(dir), [IDENTITY_FILE])
  })

  it('warns when the key file is readable by group or other', async () => {
    const created = await loadOrCreateIdentity(dir)
    await chmod(join(dir, IDENTITY_FILE), 0o644)
    const loaded = await loadOrCreateIdentity(dir)
    assert.equal(loaded.peerId.toString(), created.peerId.toString())
    assert.equal(loaded.warnings.length, 1)
    assert.match(loaded.warnings[0], /chmod 600/)
    assert.match(loaded.warnings[0], /0644/)
  })

  it('a malformed key file is an IdentityError, never a new identity', async () => {
    for (const content of [Buffer.from('not a key'), Buffer.alloc(68, 7), Buffer.alloc(0)]) {
      await writeFile(join(dir, IDENTITY_FILE), content, { mode: 0o600 })
      await assert.rejects(loadOrCreateIdentity(dir), (e: unknown) => e instanceof IdentityError && /malformed/.test(e.message))
      assert.deepEqual(await readFile(join(dir, IDENTITY_FILE)), content, 'the broken file is left as it was')
    }
  })

  it('an unreadable key path (a directory, an over-long file) is an IdentityError', async () => {
    await mkdir(join(dir, IDENTITY_FILE))
    await assert.rejects(loadOrCreateIdentity(dir), IdentityError)
    await rm(join(dir, IDENTITY_FILE), { recursive: true })
    await writeFile(join(dir, IDENTITY_FILE), Buffer.alloc(10_000))
    await assert.rejects(loadOrCreateIdentity(dir), IdentityError)
  })

  it('a non-Ed25519 key file is refused', async () => {
    const rsaLike = privateKeyToProtobuf(await generateKeyPair('secp256k1'))
    await writeFile(join(dir, IDENTITY_FILE), rsaLike, { mode: 0o600 })
    await assert.rejects(loadOrCreateIdentity(dir), IdentityError)
  })

  it('secret_key takes precedence over the key file and writes nothing', async () => {
    const key = await generateKeyPair('Ed25519')
    const hex = Buffer.from(privateKeyToProtobuf(key)).toString('hex')
    const id = await loadOrCreateIdentity(dir, { secretKey: hex })
    assert.equal(id.source, 'secret_key')
    assert.equal(id.created, false)
    assert.equal(id.peerId.toString(), peerIdFromPrivateKey(key).toString())
    assert.deepEqual(await readdir(dir), [], 'no identity.key is created when secret_key is set')
    // With a different key on disk the secret still wins, with a warning.
    const fileId = await loadOrCreateIdentity(dir)
    const again = await loadOrCreateIdentity(dir, { secretKey: hex })
    assert.equal(again.peerId.toString(), peerIdFromPrivateKey(key).toString())
    assert.notEqual(again.peerId.toString(), fileId.peerId.toString())
    assert.equal(again.warnings.length, 1)
    assert.ok(!again.warnings[0].includes(hex), 'the warning does not echo the secret')
  })

  it('secret_key accepts the 32-byte seed, the 64-byte raw key and the 68-byte protobuf, all giving one peer id', async () => {
    const key = await generateKeyPair('Ed25519')
    const proto = Buffer.from(privateKeyToProtobuf(key))
    const raw = Buffer.from(key.raw)
    const seed = raw.subarray(0, 32)
    const want = peerIdFromPrivateKey(key).toString()
    for (const hex of [seed.toString('hex'), raw.toString('hex'), proto.toString('hex'), proto.toString('hex').toUpperCase()]) {
      assert.equal(peerIdFromPrivateKey(await privateKeyFromSecretHex(hex)).toString(), want)
    }
  })

  it('a bad secret_key is an IdentityError that does not contain the secret', async () => {
    const bad = ['zz'.repeat(32), 'ab'.repeat(33), 'a'.repeat(63), 'ab'.repeat(68)]
    for (const hex of bad) {
      await assert.rejects(privateKeyFromSecretHex(hex), (e: unknown) => e instanceof IdentityError && !e.message.includes(hex))
    }
    // 64 raw bytes whose public half does not match the seed
    const key = await generateKeyPair('Ed25519')
    const raw = Buffer.from(key.raw)
    raw[40] ^= 1
    await assert.rejects(privateKeyFromSecretHex(raw.toString('hex')), IdentityError)
  })
})
