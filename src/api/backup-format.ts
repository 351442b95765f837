// The backup file format shared by the client (which writes it) and the node (which restores it):
//
//   "ASPNBAK1"                      8 bytes of magic
//   u32 BE n, n bytes of JSON       the header: cluster id, index/term, membership, chain and state hashes
//   (u32 BE n, n bytes)*            the store's snapshot chunks as the leader streamed them (each self-checksummed)
//   u32 BE 0                        end of chunks
//   32 bytes                        sha256 of every byte before it
//
// The trailing sha256 covers the header too, so a flipped bit anywhere is caught before anything is installed; a
// file cut anywhere lacks its trailer and is reported as truncated rather than as corrupt.
import { createHash, type Hash } from 'node:crypto'
import { AspenError } from '../errors.js'
import type { ConfState } from '../raft/types.js'

/** First bytes of every backup file (the digit is the format version). */
export const BACKUP_MAGIC = Buffer.from('ASPNBAK1', 'latin1')
/** Format version written in the header. */
export const BACKUP_FORMAT_VERSION = 1
/** Largest header accepted. */
export const MAX_BACKUP_HEADER_BYTES = 64 * 1024
/** Largest chunk accepted (the store's chunks are ~1 MiB, at most one target plus one maximal record). */
export const MAX_BACKUP_CHUNK_BYTES = 4 * 1024 * 1024
const SHA256_BYTES = 32

/** What a backup says about itself. */
export interface BackupHeader {
  readonly format: number
  /** Cluster id (derived from the cookie) of the cluster the backup was taken from. */
  readonly clusterId: string
  /** Node that streamed it (the leader when asked). */
  readonly sourceNodeId: number
  /** The committed (applied) index the backup is consistent at, and its term. */
  readonly index: number
  readonly term: number
  /** Membership of the source cluster at that index (informational: a restore makes a new one-voter cluster). */
  readonly confState: ConfState
  /** Chain hash h[index] and running state hash (hex), continued by the restored node. */
  readonly chainHash: string
  readonly stateHash: string
  /** Wall-clock time the backup was started (ISO 8601). */
  readonly createdAt: string
}

/** The file is not an Aspen backup, or is of an unknown version. */
export class BackupFormatError extends AspenError {
  readonly code = 'BACKUP_FORMAT'
  readonly hint = 'pass a file written by `aspen cluster backup`'
}

/** The file ends before its trailer: it was cut short (copy interrupted, disk full, backup still running). */
export class BackupTruncatedError extends AspenError {
  readonly code = 'BACKUP_TRUNCATED'
  readonly hint = 'the backup is incomplete; use another copy or take a new backup'
}

/** The file's checksum does not match its contents: it was altered or damaged. */
export class BackupChecksumError extends AspenError {
  readonly code = 'BACKUP_CHECKSUM'
  readonly hint = 'the backup is damaged; use another copy or take a new backup'
}

function u32 (n: number): Buffer {
  const b = Buffer.allocUnsafe(4)
  b.writeUInt32BE(n, 0)
  return b
}

/** Builds the bytes of a backup file piece by piece, hashing everything it emits. */
export class BackupEncoder {
  private readonly hash: Hash = createHash('sha256')
  private finished = false

  private emit (b: Uint8Array): Uint8Array {
    if (this.finished) throw new BackupFormatError('backup already finished')
    this.hash.update(b)
    return b
  }

  /** Magic and header. */
  preamble (header: BackupHeader): Uint8Array {
    const json = Buffer.from(JSON.stringify(header), 'utf8')
    if (json.length > MAX_BACKUP_HEADER_BYTES) throw new BackupFormatError(`backup header of ${json.length} bytes exceeds ${MAX_BACKUP_HEADER_BYTES}`)
    return this.emit(Buffer.concat([BACKUP_MAGIC, u32(json.length), json]))
  }

  /** One framed snapshot chunk. */
  chunk (bytes: Uint8Array): Uint8Array {
    if (bytes.length === 0 || bytes.length > MAX_BACKUP_CHUNK_BYTES) throw new BackupFormatError(`snapshot chunk of ${bytes.length} bytes cannot be framed`)
    return this.emit(Buffer.concat([u32(bytes.length), bytes]))
  }

  /** End marker and the whole-file checksum. */
  trailer (): Uint8Array {
    const end = this.emit(u32(0))
    this.finished = true
    return Buffer.concat([end, this.hash.digest()])
  }
}

/** An item read from a backup file. */
export type BackupItem = { kind: 'header', header: BackupHeader } | { kind: 'chunk', bytes: Uint8Array }

/** Buffers an async byte source and hands out exact-length pieces. */
class ByteReader {
  private buf: Buffer = Buffer.alloc(0)
  private done = false
  constructor (private readonly it: AsyncIterator<Uint8Array>) {}

  /** Exactly n bytes, or BackupTruncatedError at the end of the source. */
  async take (n: number, what: string): Promise<Buffer> {
    while (this.buf.length < n && !this.done) {
      const r = await this.it.next()
      if (r.done === true) this.done = true
      else this.buf = this.buf.length === 0 ? Buffer.from(r.value) : Buffer.concat([this.buf, r.value])
    }
    if (this.buf.length < n) throw new BackupTruncatedError(`the backup file ends inside ${what}`)
    const out = this.buf.subarray(0, n)
    this.buf = this.buf.subarray(n)
    return out
  }

  /** True when nothing follows. */
  async atEnd (): Promise<boolean> {
    if (this.buf.length > 0) return false
    while (!this.done) {
      const r = await this.it.next()
      if (r.done === true) this.done = true
      else if (r.value.length > 0) { this.buf = Buffer.from(r.value); return false }
    }
    return true
  }
}

function parseHeader (json: Buffer): BackupHeader {
  let o: Record<string, unknown>
  try {
    o = JSON.parse(json.toString('utf8')) as Record<string, unknown>
  } catch {
    throw new BackupChecksumError('the backup header is not valid JSON (damaged file)')
  }
  const int = (x: unknown): boolean => typeof x === 'number' && Number.isSafeInteger(x) && x >= 0
  const cs = o.confState as Record<string, unknown> | undefined
  if (o.format !== BACKUP_FORMAT_VERSION) throw new BackupFormatError(`backup format ${String(o.format)} is not supported (this build reads format ${BACKUP_FORMAT_VERSION})`)
  if (typeof o.clusterId !== 'string' || !int(o.sourceNodeId) || !int(o.index) || (o.index as number) < 1 || !int(o.term) ||
    typeof o.chainHash !== 'string' || typeof o.stateHash !== 'string' || typeof o.createdAt !== 'string' ||
    typeof cs !== 'object' || cs === null || !Array.isArray(cs.voters) || !Array.isArray(cs.learners)) {
    throw new BackupFormatError('the backup header lacks required fields')
  }
  return o as unknown as BackupHeader
}

/**
 * Reads a backup from a byte source: the header, then every chunk; after the last chunk it checks the end marker,
 * the whole-file sha256 and that nothing follows. Consumers must not act on the items until the generator has
 * finished without an error (restore verifies a whole pass first).
 */
export async function * readBackup (source: AsyncIterable<Uint8Array>): AsyncGenerator<BackupItem> {
  const r = new ByteReader(source[Symbol.asyncIterator]())
  const hash = createHash('sha256')
  const take = async (n: number, what: string): Promise<Buffer> => { const b = await r.take(n, what); hash.update(b); return b }
  let magic: Buffer
  try {
    magic = await take(BACKUP_MAGIC.length, 'the magic')
  } catch (err) {
    if (err instanceof BackupTruncatedError) throw new BackupFormatError('the file is too short to be an Aspen backup')
    throw err
  }
  if (!magic.equals(BACKUP_MAGIC)) {
    if (magic.subarray(0, 7).equals(BACKUP_MAGIC.subarray(0, 7))) throw new BackupFormatError(`backup format "${magic.toString('latin1')}" is not supported by this build`)
    throw new BackupFormatError('the file is not an Aspen backup (bad magic)')
  }
  const hlen = (await take(4, 'the header length')).readUInt32BE(0)
  if (hlen === 0 || hlen > MAX_BACKUP_HEADER_BYTES) throw new BackupChecksumError(`the backup header length ${hlen} is impossible (damaged file)`)
  yield { kind: 'header', header: parseHeader(await take(hlen, 'the header')) }
  let chunks = 0
  while (true) {
    const n = (await take(4, `the length of chunk ${chunks}`)).readUInt32BE(0)
    if (n === 0) break
    if (n > MAX_BACKUP_CHUNK_BYTES) throw new BackupChecksumError(`chunk ${chunks} claims ${n} bytes (damaged file)`)
    yield { kind: 'chunk', bytes: await take(n, `chunk ${chunks}`) }
    chunks++
  }
  const expected = hash.digest()
  const stored = await r.take(SHA256_BYTES, 'the checksum trailer')
  if (!expected.equals(stored)) throw new BackupChecksumError('the backup fails its sha256 checksum (altered or damaged file)')
  if (!await r.atEnd()) throw new BackupChecksumError('the backup has bytes after its checksum trailer (damaged or concatenated file)')
}
