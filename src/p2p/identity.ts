// The node's libp2p identity: an Ed25519 key at DATA_DIR/identity.key, created once (atomically, mode 0600) and
// loaded on every later start, so the peer id survives restarts. A `secret_key` from config takes precedence.
// A broken key file is an error, never a reason to mint a new identity: a node must not come back as a stranger.
import { randomBytes } from 'node:crypto'
import { link, mkdir, open, readFile, rename, stat, unlink } from 'node:fs/promises'
import { join } from 'node:path'
import { generateKeyPair, generateKeyPairFromSeed, privateKeyFromProtobuf, privateKeyFromRaw, privateKeyToProtobuf } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import type { PeerId, PrivateKey } from '@libp2p/interface'
import { IdentityError } from './errors.js'

/** File name of the identity key inside the data dir. */
export const IDENTITY_FILE = 'identity.key'
/** Bytes of a libp2p protobuf-encoded Ed25519 private key (4-byte header + 32-byte seed + 32-byte public key). */
export const ED25519_PROTOBUF_BYTES = 68
/** Larger key files are certainly not ours; refuse before reading them whole. */
const MAX_KEY_FILE_BYTES = 4096

export interface Identity {
  privateKey: PrivateKey
  peerId: PeerId
  /** True when this call generated and wrote a new key file. */
  created: boolean
  /** Where the key came from. */
  source: 'secret_key' | 'file' | 'created'
  /** Problems worth a warning at start-up (never the key itself). */
  warnings: string[]
}

export interface IdentityOptions {
  /**
   * Hex from config `secret_key`; takes precedence over the key file (which is then neither read for the key nor
   * written). Accepted by length: 64 hex digits = the 32-byte Ed25519 seed; 128 = the 64-byte raw key (seed then
   * public key, as libp2p's `privateKeyFromRaw`); 136 = the 68-byte libp2p protobuf encoding
   * (`privateKeyToProtobuf`, the same bytes identity.key holds).
   */
  secretKey?: string | null
}

/** Loads DATA_DIR/identity.key, or creates it on first boot; `secretKey` overrides both. Throws IdentityError. */
export async function loadOrCreateIdentity (dataDir: string, opts: IdentityOptions = {}): Promise<Identity> {
  const path = join(dataDir, IDENTITY_FILE)
  if (opts.secretKey != null && opts.secretKey !== '') {
    const privateKey = await privateKeyFromSecretHex(opts.secretKey)
    const warnings: string[] = []
    const onDisk = await readKeyFile(path).catch(() => undefined)
    if (onDisk !== undefined && !onDisk.key.equals(privateKey)) {
      warnings.push(`${path} holds a different key than secret_key; secret_key is used (peer id ${peerIdFromPrivateKey(privateKey).toString()})`)
    }
    return { privateKey, peerId: peerIdFromPrivateKey(privateKey), created: false, source: 'secret_key', warnings }
  }
  const existing = await readKeyFile(path)
  if (existing !== undefined) {
    return { privateKey: existing.key, peerId: peerIdFromPrivateKey(existing.key), created: false, source: 'file', warnings: existing.warnings }
  }
  const privateKey = await generateKeyPair('Ed25519')
  const won = await writeKeyFileOnce(dataDir, path, privateKeyToProtobuf(privateKey))
  if (!won) {
    // Someone else created it between our read and our link: theirs is the identity.
    const theirs = await readKeyFile(path)
    if (theirs === undefined) throw new IdentityError(`${path} vanished while it was being created; check the data dir`)
    return { privateKey: theirs.key, peerId: peerIdFromPrivateKey(theirs.key), created: false, source: 'file', warnings: theirs.warnings }
  }
  return { privateKey, peerId: peerIdFromPrivateKey(privateKey), created: true, source: 'created', warnings: [] }
}

/** Parses config `secret_key` hex (see IdentityOptions.secretKey for the accepted forms). Throws IdentityError. */
export async function privateKeyFromSecretHex (hex: string): Promise<PrivateKey> {
  const s = hex.trim()
  // The message never echoes the value: it is a secret.
  if (!/^(?:[0-9a-fA-F]{2})+$/.test(s)) throw new IdentityError('secret_key is not hex (expected an even number of hex digits)')
  const bytes = Buffer.from(s, 'hex')
  try {
    if (bytes.length === 32) return await generateKeyPairFromSeed('Ed25519', bytes)
    if (bytes.length === 64) {
      const key = privateKeyFromRaw(bytes)
      const fromSeed = await generateKeyPairFromSeed('Ed25519', bytes.subarray(0, 32))
      if (key.type !== 'Ed25519' || !fromSeed.publicKey.equals(key.publicKey)) throw new Error('public half does not match the seed')
      return key
    }
    if (bytes.length === ED25519_PROTOBUF_BYTES) {
      const key = privateKeyFromProtobuf(bytes)
      if (key.type !== 'Ed25519') throw new Error(`key type ${key.type}`)
      return key
    }
  } catch (e) {
    throw new IdentityError(`secret_key is not a valid Ed25519 private key (${e instanceof Error ? e.message : 'unparseable'})`)
  }
  throw new IdentityError(`secret_key has ${bytes.length} bytes; expected 32 (Ed25519 seed), 64 (raw seed+public key) or ${ED25519_PROTOBUF_BYTES} (libp2p protobuf)`)
}

/** Reads and parses the key file; undefined when it does not exist. Throws IdentityError for anything else. */
async function readKeyFile (path: string): Promise<{ key: PrivateKey, warnings: string[] } | undefined> {
  let bytes: Buffer
  let mode: number
  try {
    const st = await stat(path)
    if (!st.isFile()) throw new IdentityError(`${path} is not a regular file; move it away or restore the node's key`)
    if (st.size > MAX_KEY_FILE_BYTES) throw new IdentityError(`${path} is ${st.size} bytes, not an identity key; restore the node's key (refusing to create a new identity)`)
    mode = st.mode & 0o777
    bytes = await readFile(path)
  } catch (e) {
    if (e instanceof IdentityError) throw e
    if (isErrno(e, 'ENOENT')) return undefined
    throw new IdentityError(`cannot read ${path} (${errnoCode(e)}); fix its permissions or restore it (refusing to create a new identity)`, { cause: e })
  }
  let key: PrivateKey
  try {
    if (bytes.length !== ED25519_PROTOBUF_BYTES) throw new Error(`${bytes.length} bytes, expected ${ED25519_PROTOBUF_BYTES}`)
    key = privateKeyFromProtobuf(bytes)
    if (key.type !== 'Ed25519') throw new Error(`key type ${key.type}, expected Ed25519`)
  } catch (e) {
    throw new IdentityError(`${path} is malformed (${e instanceof Error ? e.message : 'unparseable'}); restore the node's key or remove the data dir to start as a new node`)
  }
  const warnings: string[] = []
  if ((mode & 0o077) !== 0) {
    warnings.push(`${path} is readable or writable by group/other (mode 0${mode.toString(8)}); run: chmod 600 ${path}`)
  }
  return { key, warnings }
}

/**
 * Writes `bytes` to `path` only if no file exists there: temp file (0600) → fsync → link into place → fsync dir.
 * link(2) fails with EEXIST instead of replacing, so two racing creators cannot end up with different identities.
 * Returns false when the file already existed.
 */
async function writeKeyFileOnce (dataDir: string, path: string, bytes: Uint8Array): Promise<boolean> {
  try {
    await mkdir(dataDir, { recursive: true, mode: 0o700 })
  } catch (e) {
    throw new IdentityError(`cannot create data dir ${dataDir} (${errnoCode(e)})`, { cause: e })
  }
  const tmp = join(dataDir, `.${IDENTITY_FILE}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`)
  try {
    const fh = await open(tmp, 'wx', 0o600)
    try {
      await fh.writeFile(bytes)
      await fh.sync()
    } finally {
      await fh.close()
    }
    let won = true
    try {
      await link(tmp, path)
    } catch (e) {
      if (isErrno(e, 'EEXIST')) won = false
      else if (isErrno(e, 'EPERM') || isErrno(e, 'ENOTSUP') || isErrno(e, 'EOPNOTSUPP')) {
        // Filesystems without hard links: rename is still atomic; the existence check above makes a race unlikely.
        await rename(tmp, path)
      } else throw e
    }
    await syncDir(dataDir)
    return won
  } catch (e) {
    throw new IdentityError(`cannot write ${path} (${errnoCode(e)}); check that the data dir is writable`, { cause: e })
  } finally {
    await unlink(tmp).catch(() => undefined)
  }
}

async function syncDir (dir: string): Promise<void> {
  const dh = await open(dir, 'r')
  try {
    await dh.sync()
  } finally {
    await dh.close()
  }
}

function isErrno (e: unknown, code: string): boolean {
  return typeof e === 'object' && e !== null && (e as { code?: unknown }).code === code
}

function errnoCode (e: unknown): string {
  const code = typeof e === 'object' && e !== null ? (e as { code?: unknown }).code : undefined
  return typeof code === 'string' ? code : e instanceof Error ? e.message : 'unknown error'
}
