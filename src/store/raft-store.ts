// The durable store of one node: the Raft log and the KV state machine in ONE LevelDB (DATA_DIR/raft), written
// with one synced batch per Ready (new entries + hard state + the effects of newly committed entries + applied
// index + chain hashes + change events). Nothing is applied before it is committed; truncating an uncommitted
// suffix never touches the KV tables; re-applying (applied, commit] after a crash gives the same result.
import { existsSync } from 'node:fs'
import { mkdir } from 'node:fs/promises'
import { createHash, randomUUID } from 'node:crypto'
import { join } from 'node:path'
import { ClassicLevel } from 'classic-level'
import type { BatchOperation } from 'classic-level'
import { AspenError, invariant } from '../errors.js'
import type { CommandResult } from '../api/codec.js'
import { decodeLogCommand, isLeaseCommand } from '../api/codec.js'
import type { Command, KeyValue, LeaseCommand, LeaseInfo, RangeRequest, RangeResult, RevisionEvents, TxnResponse } from '../api/kv.js'
import { MAX_LEASE_REVOKE_KEYS, MAX_LEASES, MAX_PAGE_BYTES, MAX_PAGE_KEYS, MAX_REQUEST_BYTES } from '../api/limits.js'
import { DecodeError, InvalidRequestError, LeaseNotFoundError, LeaseRefusedError, LimitError, RequestTooLargeError } from '../api/errors.js'
import { validateCommand, validateKey, validateLeaseCommand, validateLimit, validateRange } from '../api/validate.js'
import type { ConfState, Entry, HardState, SnapshotMetadata } from '../raft/types.js'
import { chainHash, stateHash as nextStateHash } from './chain.js'
import { checkRunEnd, decodeLogRun, encodeLogAppend, RunError, truncateLogRun } from './log-run.js'
import {
  CompactedError, CorruptionError, DataDirLockedError, FormatVersionError, IdentityMismatchError, NotInitializedError,
  SnapshotError, SnapshotInProgressError, StaleSnapshotError, StoreClosedError
} from './errors.js'
import { decodeEventRun, decodeEvents, encodeEventRuns, encodeEvents } from './events.js'
import type { RevisionBytes } from './events.js'
import {
  attachBounds, attachedKeyOf, attachKey, bytesId, eventKey, eventRevisionOf, genPrefix, KV_END, KV_START, kvBounds, kvKey, kvPrefix,
  leaseIdOf, leaseKey, LOG_END, logIndexOf, logKey, META, MAX_GENERATION, TABLE_ATTACH, TABLE_LEASES, userKeyOf, writeU64
} from './keys.js'
import { decodeLease, encodeLease, leaseIdFromBytes, LeaseView } from './leases.js'
import type { KvSource } from './overlay.js'
import { NOT_LOADED, Overlay } from './overlay.js'
import { KvCache } from './kv-cache.js'
import type { KvRecord, LogRecord } from './records.js'
import {
  cloneConfState, cloneHardState, confStateFromRecord, confStateToRecord, decodeKvRecord,
  emptyConfState, encodeKvRecord, HASH_BYTES, RecordError, ZERO_HASH
} from './records.js'
import { SnapshotReader } from './snapshot-reader.js'
import { decodeChunk, unpackRecords } from './snapshot-stream.js'
import { applyTxn, newBudget, rangePage, toKeyValue } from './state-machine.js'
import type { Effect, TxnOutcome } from './state-machine.js'
import * as wire from './store-wire.js'

/** On-disk format written by this build. An unknown version is refused at open. */
export const FORMAT_VERSION = 2
/** Revisions of change events kept by default (watches can resume this far back). */
export const DEFAULT_EVENT_WINDOW = 100_000
/** Log entries kept behind the applied index by default when a snapshot compacts the log. */
export const DEFAULT_LOG_RETAIN = 5_000
/** Most entries returned by one readEntries call. */
export const MAX_READ_ENTRIES = 10_000

export interface RaftStoreOptions {
  /** Revisions of change events to keep (0 = keep none: no event table writes, every read is compacted). */
  eventWindow?: number
  /** Log entries kept behind the snapshot index when compacting (≥ 0). */
  logRetain?: number
  /** Create the store when the data dir holds none (default true). */
  create?: boolean
  /** The node id this data dir belongs to; recorded on creation, checked afterwards. */
  nodeId?: number
}

/** Snapshot metadata plus the hashes a replica needs to continue the chain and compare state. */
export interface StoreSnapshotMetadata extends SnapshotMetadata {
  /** Chain hash h[index] (hex). */
  chainHash: string
  /** Running state hash at index (hex). */
  stateHash: string
}

/** What open found on disk: enough to restart Raft. */
export interface Recovered {
  hardState: HardState
  confState: ConfState
  applied: number
  snapshotMeta?: StoreSnapshotMetadata
  /** First log index on disk (may be ≤ the snapshot index: the retained window). */
  firstIndex: number
  lastIndex: number
  lastTerm: number
  /** The log after the snapshot (index > snapshotMeta.index, or the whole log without a snapshot), in order. */
  entries: Entry[]
}

/** One Ready's worth of work (see Ready in raft/types.ts). */
export interface PersistInput {
  entries: Entry[]
  hardState?: HardState
  committedEntries: Entry[]
  /** The configuration after applying the conf changes among committedEntries. */
  confState?: ConfState
  /** fsync the batch (default true). */
  mustSync?: boolean
}

/** The outcome of one newly applied, non-empty normal entry. */
export type ApplyResult = { index: number, requestId: Uint8Array } & CommandResult

type BatchOp = { type: 'put', key: Buffer, value: Uint8Array } | { type: 'del', key: Buffer }
type Db = ClassicLevel<Buffer, Buffer>

interface LogPoint {
  index: number
  term: number
  hash: Buffer
}

interface ParsedEntry {
  entry: Entry
  cmd?: Command
  lease?: LeaseCommand
  error?: AspenError
}

/** Lease commands refused at apply (deterministically, from the state): a typed result, nothing changed. */
function isApplyRefusal (err: unknown): err is AspenError {
  return err instanceof LimitError || err instanceof LeaseNotFoundError || err instanceof LeaseRefusedError
}

const EMPTY = new Uint8Array(0)
const EMPTY_BUF = Buffer.alloc(0)

function u32 (n: number): Buffer {
  const b = Buffer.allocUnsafe(4)
  b.writeUInt32BE(n)
  return b
}

function hex (b: Uint8Array): string {
  return Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('hex')
}

function fromHex (s: string, what: string): Buffer {
  if (!/^[0-9a-f]{64}$/.test(s)) throw new SnapshotError(`${what} must be 64 hex digits`)
  return Buffer.from(s, 'hex')
}

function isLocked (err: unknown): boolean {
  const e = err as { code?: string, cause?: { code?: string } }
  return e?.code === 'LEVEL_LOCKED' || e?.cause?.code === 'LEVEL_LOCKED'
}

function checkCount (n: number | undefined, min: number, what: string): void {
  invariant(n === undefined || (Number.isSafeInteger(n) && n >= min), () => `${what} must be an integer ≥ ${min}, got ${n}`)
}

/** The unified Raft log + KV state machine of one node. */
export class RaftStore {
  private readonly eventWindow: number
  private readonly logRetain: number
  private identity!: wire.IdentityRecord
  private hs: HardState = { term: 0, vote: 0, commit: 0 }
  private lastIndex = 0
  private logStart: LogPoint = { index: 0, term: 0, hash: ZERO_HASH }
  private applied: LogPoint = { index: 0, term: 0, hash: ZERO_HASH }
  private confState: ConfState = emptyConfState()
  private stateHashValue: Buffer = ZERO_HASH
  private gen = 1
  private eventsFloor = 1
  private snapMeta: StoreSnapshotMetadata | undefined
  // terms and chain hashes of [applied.index, lastIndex]: element 0 is the applied entry
  private tailTerms: number[] = [0]
  private tailHashes: Buffer[] = [ZERO_HASH]
  private recoveredState!: Recovered
  private queue: Promise<void> = Promise.resolve()
  private closed = false
  private failed: Error | undefined
  private installing = false
  private readonly readers = new Set<SnapshotReader>()
  private readonly cache = new KvCache()
  /** The lease table as of the last synced batch (bounded by MAX_LEASES). */
  private leases = new Map<number, LeaseInfo>()
  private readonly appliedListeners = new Set<(applied: number) => void>()

  private constructor (private readonly db: Db, readonly dataDir: string, opts: RaftStoreOptions) {
    this.eventWindow = opts.eventWindow ?? DEFAULT_EVENT_WINDOW
    this.logRetain = opts.logRetain ?? DEFAULT_LOG_RETAIN
  }

  /**
   * Opens (or creates) the store in DATA_DIR/raft: takes the LevelDB lock, checks the format version, deletes
   * orphans of interrupted snapshot installs and compactions, and verifies the log's hash chain.
   */
  static async open (dataDir: string, opts: RaftStoreOptions = {}): Promise<RaftStore> {
    checkCount(opts.eventWindow, 0, 'eventWindow')
    checkCount(opts.logRetain, 0, 'logRetain')
    checkCount(opts.nodeId, 1, 'nodeId')
    const dir = join(dataDir, 'raft')
    if (opts.create === false && !existsSync(dir)) throw new NotInitializedError(dataDir)
    await mkdir(dir, { recursive: true })
    const db: Db = new ClassicLevel<Buffer, Buffer>(dir, { keyEncoding: 'buffer', valueEncoding: 'buffer' })
    try {
      await db.open()
    } catch (err) {
      if (isLocked(err)) throw new DataDirLockedError(dataDir, { cause: err })
      throw err
    }
    const store = new RaftStore(db, dataDir, opts)
    try {
      await store.load(opts)
    } catch (err) {
      await db.close()
      throw err
    }
    return store
  }

  // ---------------------------------------------------------------- open / recovery

  private corrupt (table: string, index: number | undefined, detail: string): CorruptionError {
    return new CorruptionError(this.dataDir, table, index, detail)
  }

  private async readRecord<T> (key: Buffer, table: string, decode: (b: Uint8Array) => T): Promise<T | undefined> {
    const v = await this.db.get(key)
    if (v === undefined) return undefined
    try {
      return decode(v)
    } catch (err) {
      throw this.corrupt(table, undefined, `undecodable record: ${(err as Error).message}`)
    }
  }

  private async requireRecord<T> (key: Buffer, table: string, decode: (b: Uint8Array) => T): Promise<T> {
    const r = await this.readRecord(key, table, decode)
    if (r === undefined) throw this.corrupt(table, undefined, 'record is missing')
    return r
  }

  private async load (opts: RaftStoreOptions): Promise<void> {
    const fv = await this.db.get(META.formatVersion)
    if (fv === undefined) {
      const any = await this.db.keys({ limit: 1 }).all()
      if (any.length > 0) throw new FormatVersionError(this.dataDir, 'missing', FORMAT_VERSION)
      if (opts.create === false) throw new NotInitializedError(this.dataDir)
      await this.initialize(opts.nodeId ?? 0)
    } else if (fv.length !== 4 || fv.readUInt32BE(0) !== FORMAT_VERSION) {
      throw new FormatVersionError(this.dataDir, fv.length === 4 ? String(fv.readUInt32BE(0)) : `0x${fv.toString('hex')}`, FORMAT_VERSION)
    }

    this.identity = await this.requireRecord(META.identity, 'identity', (b) => wire.IdentityRecord.decode(b))
    if (opts.nodeId !== undefined) {
      if (this.identity.nodeId === 0) {
        this.identity = { ...this.identity, nodeId: opts.nodeId }
        await this.db.put(META.identity, Buffer.from(wire.IdentityRecord.encode(this.identity)), { sync: true })
      } else if (this.identity.nodeId !== opts.nodeId) {
        throw new IdentityMismatchError(`data dir ${this.dataDir} belongs to node ${this.identity.nodeId}, not node ${opts.nodeId}`)
      }
    }
    const hs = await this.requireRecord(META.hardState, 'hardState', (b) => wire.HardStateRecord.decode(b))
    const ap = await this.requireRecord(META.applied, 'applied', (b) => wire.AppliedRecord.decode(b))
    const ls = await this.requireRecord(META.logStart, 'logStart', (b) => wire.LogStartRecord.decode(b))
    const sn = await this.readRecord(META.snapshot, 'snapshot', (b) => wire.SnapshotMetaRecord.decode(b))
    const gen = await this.requireRecord(META.generation, 'generation', (b) => {
      if (b.length !== 4) throw new RecordError(`${b.length} bytes`)
      return Buffer.from(b).readUInt32BE(0)
    })
    const ef = await this.requireRecord(META.eventsFloor, 'eventsFloor', (b) => {
      if (b.length !== 8) throw new RecordError(`${b.length} bytes`)
      return Buffer.from(b).readUInt32BE(0) * 2 ** 32 + Buffer.from(b).readUInt32BE(4)
    })
    for (const [name, h] of [['applied', ap.chainHash], ['applied', ap.stateHash], ['logStart', ls.chainHash]] as const) {
      if (h.length !== HASH_BYTES) throw this.corrupt(name, undefined, `hash of ${h.length} bytes`)
    }
    if (!(ls.index <= ap.index && ap.index <= hs.commit && hs.commit <= hs.lastIndex)) {
      throw this.corrupt('hardState', undefined, `inconsistent positions: log start ${ls.index}, applied ${ap.index}, commit ${hs.commit}, last ${hs.lastIndex}`)
    }

    this.hs = { term: hs.term, vote: hs.vote, commit: hs.commit }
    this.lastIndex = hs.lastIndex
    this.logStart = { index: ls.index, term: ls.term, hash: Buffer.from(ls.chainHash) }
    this.confState = confStateFromRecord(ap.confState)
    this.stateHashValue = Buffer.from(ap.stateHash)
    this.gen = gen
    this.eventsFloor = ef
    this.snapMeta = sn === undefined ? undefined : snapshotMetaFromRecord(sn)

    // Orphans: KV generations of interrupted installs, log keys outside [first, last] left by a crash between a
    // switch/compaction batch and its cleanup, events below the floor. All are unreachable from the records above.
    await this.db.clear({ gte: KV_START, lt: kvPrefix(gen) })
    await this.db.clear({ gte: kvPrefix(gen + 1), lt: KV_END })
    await this.db.clear({ gte: logKey(0), lte: logKey(ls.index) })
    await this.db.clear({ gt: logKey(hs.lastIndex), lt: LOG_END })
    await this.db.clear({ gte: eventKey(0), lt: eventKey(ef) })
    for (const table of [TABLE_LEASES, TABLE_ATTACH]) {
      await this.db.clear({ gte: genPrefix(table, 0), lt: genPrefix(table, gen) })
      await this.db.clear({ gte: genPrefix(table, gen + 1), lt: Buffer.of(table + 1) })
    }
    this.leases = await this.loadLeases(gen)

    const entries = await this.verifyLog(ap, sn?.index ?? ls.index)

    const snapIndex = this.snapMeta?.index
    if (snapIndex !== undefined && snapIndex >= this.logStart.index && snapIndex <= this.lastIndex) {
      // the snapshot's chain hash must agree with the log when the log still covers it
      const h = snapIndex === this.applied.index ? this.applied.hash : await this.diskHash(snapIndex)
      if (h !== undefined && hex(h) !== this.snapMeta?.chainHash) throw this.corrupt('snapshot', snapIndex, 'snapshot chain hash does not match the log')
    }

    this.recoveredState = {
      hardState: cloneHardState(this.hs),
      confState: cloneConfState(this.confState),
      applied: this.applied.index,
      snapshotMeta: this.snapMeta === undefined ? undefined : { ...this.snapMeta, confState: cloneConfState(this.snapMeta.confState) },
      firstIndex: this.logStart.index + 1,
      lastIndex: this.lastIndex,
      lastTerm: this.tailTerms[this.tailTerms.length - 1],
      entries
    }
  }

  private async loadLeases (gen: number): Promise<Map<number, LeaseInfo>> {
    const out = new Map<number, LeaseInfo>()
    for await (const [k, v] of this.db.iterator({ gte: genPrefix(TABLE_LEASES, gen), lt: genPrefix(TABLE_LEASES, gen + 1) })) {
      const id = leaseIdOf(k)
      try {
        out.set(id, decodeLease(id, v))
      } catch (err) {
        throw this.corrupt('leases', undefined, `lease ${id}: ${(err as Error).message}`)
      }
    }
    return out
  }

  private async diskHash (index: number): Promise<Buffer | undefined> {
    if (index === this.logStart.index) return this.logStart.hash
    return (await this.diskRecord(index))?.chainHash
  }

  /** Runs `fn` on a log run read from disk; a RunError becomes a CorruptionError naming the entry. */
  private logRunOrCorrupt<T> (fn: () => T, what = ''): T {
    try {
      return fn()
    } catch (err) {
      if (err instanceof RunError) throw this.corrupt('log', err.index, `${what}${err.message}`)
      throw err
    }
  }

  /** Decodes a run read from disk; an undecodable one is a CorruptionError naming the entry. */
  private decodeRun (runLast: number, v: Buffer): LogRecord[] {
    return this.logRunOrCorrupt(() => decodeLogRun(runLast, v), 'torn or undecodable entry: ')
  }

  /** CorruptionError unless the decoded run ends where its key says. */
  private checkRunEnd (runLast: number, recs: readonly LogRecord[]): void {
    this.logRunOrCorrupt(() => { checkRunEnd(runLast, recs) })
  }

  /** The stored record of entry `index` (from the first run whose last index is at or after it), or undefined. */
  private async diskRecord (index: number): Promise<LogRecord | undefined> {
    const found = await this.db.iterator({ gte: logKey(index), lt: LOG_END, limit: 1 }).all()
    if (found.length === 0) return undefined
    const records = this.decodeRun(logIndexOf(found[0][0]), found[0][1])
    const first = records[0].entry.index
    return index >= first ? records[index - first] : undefined
  }

  private async initialize (nodeId: number): Promise<void> {
    const identity: wire.IdentityRecord = { storeId: randomUUID(), nodeId, peerId: '', createdAtMs: Date.now() }
    const ef = Buffer.alloc(8)
    ef.writeUInt32BE(1, 4)
    await this.db.batch([
      { type: 'put', key: META.identity, value: Buffer.from(wire.IdentityRecord.encode(identity)) },
      { type: 'put', key: META.hardState, value: Buffer.from(wire.HardStateRecord.encode({ term: 0, vote: 0, commit: 0, lastIndex: 0 })) },
      { type: 'put', key: META.applied, value: this.appliedRecord({ index: 0, term: 0, hash: ZERO_HASH }, emptyConfState(), ZERO_HASH) },
      { type: 'put', key: META.logStart, value: Buffer.from(wire.LogStartRecord.encode({ index: 0, term: 0, chainHash: ZERO_HASH as Uint8Array<ArrayBuffer> })) },
      { type: 'put', key: META.generation, value: u32(1) },
      { type: 'put', key: META.eventsFloor, value: ef },
      // written last in the same atomic batch: its presence means the store is complete
      { type: 'put', key: META.formatVersion, value: u32(FORMAT_VERSION) }
    ], { sync: true })
  }

  /** Verifies the chain over the whole retained log; returns the entries after `keepAfter`; fills the tail. */
  private async verifyLog (ap: wire.AppliedRecord, keepAfter: number): Promise<Entry[]> {
    const entries: Entry[] = []
    let expected = this.logStart.index + 1
    let prev = this.logStart.hash
    const terms: number[] = []
    const hashes: Buffer[] = []
    if (ap.index === this.logStart.index) {
      terms.push(this.logStart.term)
      hashes.push(this.logStart.hash)
    }
    // runs ending after the log start; the first may straddle it (its entries up to the start are compacted)
    const it = this.db.iterator({ gt: logKey(this.logStart.index), lte: logKey(this.lastIndex), highWaterMarkBytes: 1024 * 1024 })
    try {
      while (true) {
        const page = await it.nextv(64)
        if (page.length === 0) break
        for (const [k, v] of page) {
          const runLast = logIndexOf(k)
          const recs = this.decodeRun(runLast, v)
          const runFirst = recs[0].entry.index
          if (runFirst > expected) throw this.corrupt('log', expected, `entry ${expected} is missing (next present: ${runFirst})`)
          if (runFirst < expected && expected !== this.logStart.index + 1) throw this.corrupt('log', runFirst, `log runs overlap at entry ${runFirst}`)
          for (const rec of recs) {
            const index = rec.entry.index
            if (index < expected) continue
            const h = chainHash(prev, rec.entry)
            if (!h.equals(rec.chainHash)) throw this.corrupt('log', index, 'chain hash mismatch (entry or stored hash altered)')
            if (index > keepAfter) entries.push(rec.entry)
            if (index >= ap.index) {
              terms.push(rec.entry.term)
              hashes.push(h)
            }
            prev = h
            expected++
          }
          this.checkRunEnd(runLast, recs)
        }
      }
    } finally {
      await it.close()
    }
    if (expected !== this.lastIndex + 1) throw this.corrupt('log', expected, `entry ${expected} is missing (log should end at ${this.lastIndex})`)
    invariant(terms.length === this.lastIndex - ap.index + 1, 'tail covers [applied, last]')
    if (!hashes[0].equals(ap.chainHash)) throw this.corrupt('applied', ap.index, 'applied chain hash does not match the log')
    if (terms[0] !== ap.term) throw this.corrupt('applied', ap.index, `applied term ${ap.term} does not match the log term ${terms[0]}`)
    this.applied = { index: ap.index, term: ap.term, hash: hashes[0] }
    this.tailTerms = terms
    this.tailHashes = hashes
    return entries
  }

  // ---------------------------------------------------------------- accessors

  /** The store UUID created with the data dir (a wiped node gets a new one). */
  get storeId (): string {
    return this.identity.storeId
  }

  /** The node id recorded for this data dir (0 = none recorded). */
  get nodeId (): number {
    return this.identity.nodeId
  }

  /** What open found on disk (unchanged by later writes, except `bootstrap`, which replaces it). */
  recovered (): Recovered {
    return this.recoveredState
  }

  /** Current positions. */
  status (): { applied: number, appliedTerm: number, commit: number, firstIndex: number, lastIndex: number, lastTerm: number, eventsFloor: number, generation: number } {
    return {
      applied: this.applied.index,
      appliedTerm: this.applied.term,
      commit: this.hs.commit,
      firstIndex: this.logStart.index + 1,
      lastIndex: this.lastIndex,
      lastTerm: this.tailTerms[this.tailTerms.length - 1],
      eventsFloor: this.eventsFloor,
      generation: this.gen
    }
  }

  /** The current hard state. */
  hardState (): HardState {
    return cloneHardState(this.hs)
  }

  /** The configuration as of the applied index. */
  appliedConfState (): ConfState {
    return cloneConfState(this.confState)
  }

  /** Metadata of the last snapshot taken or installed. */
  snapshotMeta (): StoreSnapshotMetadata | undefined {
    return this.snapMeta === undefined ? undefined : { ...this.snapMeta, confState: cloneConfState(this.snapMeta.confState) }
  }

  /** The running hash of applied effects at the applied index (equal on replicas at equal index). */
  stateHash (): { index: number, hash: string } {
    return { index: this.applied.index, hash: hex(this.stateHashValue) }
  }

  /** The chain hash h[applied] (equal on replicas whose logs agree up to that index). */
  chainHash (): { index: number, hash: string } {
    return { index: this.applied.index, hash: hex(this.applied.hash) }
  }

  /** The peer id recorded for this data dir, if any. */
  getPeerId (): string | undefined {
    return this.identity.peerId === '' ? undefined : this.identity.peerId
  }

  /** Records the peer id on first call; a different one later is refused with IdentityMismatchError. */
  async setPeerId (peerId: string): Promise<void> {
    invariant(peerId.length > 0 && peerId.length <= 256, 'peer id must be 1..256 characters')
    await this.exclusive(async () => {
      if (this.identity.peerId === peerId) return
      if (this.identity.peerId !== '') {
        throw new IdentityMismatchError(`data dir ${this.dataDir} was created with peer id ${this.identity.peerId}, not ${peerId}`)
      }
      const next = { ...this.identity, peerId }
      await this.write([{ type: 'put', key: META.identity, value: Buffer.from(wire.IdentityRecord.encode(next)) }], true)
      this.identity = next
    })
  }

  // ---------------------------------------------------------------- serialisation of writers

  private usable (): void {
    if (this.closed) throw new StoreClosedError(`store at ${this.dataDir} is closed`)
    if (this.failed !== undefined) throw new StoreClosedError(`store at ${this.dataDir} stopped after a failed write: ${this.failed.message}`, { cause: this.failed })
  }

  private async exclusive<T> (fn: () => Promise<T>): Promise<T> {
    this.usable()
    const prev = this.queue
    let release!: () => void
    this.queue = new Promise<void>((resolve) => { release = resolve })
    try {
      await prev
      this.usable()
      return await fn()
    } finally {
      release()
    }
  }

  /** A write whose failure leaves the disk state unknown: the store stops (fail-stop) and must be reopened. */
  private async write (ops: BatchOp[], sync: boolean): Promise<void> {
    try {
      // an array batch crosses into N-API once; a chained batch pays a native call per operation
      await this.db.batch(ops as Array<BatchOperation<Db, Buffer, Buffer>>, { sync })
    } catch (err) {
      this.failed = err as Error
      throw err
    }
  }

  private async cleanup (fn: () => Promise<void>): Promise<void> {
    try {
      await fn()
    } catch (err) {
      this.failed = err as Error
      throw err
    }
  }

  // ---------------------------------------------------------------- persist (the write path)

  private tailTerm (index: number): number {
    return this.tailTerms[index - this.applied.index]
  }

  private tailHash (index: number): Buffer {
    return this.tailHashes[index - this.applied.index]
  }

  private appliedRecord (at: LogPoint, conf: ConfState, stateHash: Uint8Array): Buffer {
    return Buffer.from(wire.AppliedRecord.encode({
      index: at.index, term: at.term, chainHash: at.hash as Uint8Array<ArrayBuffer>, confState: confStateToRecord(conf), stateHash: stateHash as Uint8Array<ArrayBuffer>
    }))
  }

  /**
   * Persists one Ready in ONE batch (synced unless mustSync is false): appends `entries` (dropping any conflicting
   * suffix), the hard state, and applies the newly committed entries (those above the applied index) to the KV
   * tables with their events, applied index, configuration and state hash. Returns one result per applied
   * non-empty normal entry. Invariant violations (overwriting committed entries, applying beyond commit or
   * beyond the log, gaps) throw InvariantError with nothing written.
   */
  async persist (rd: PersistInput): Promise<ApplyResult[]> {
    return await this.exclusive(async () => await this.persistLocked(rd))
  }

  private async persistLocked (rd: PersistInput): Promise<ApplyResult[]> {
    const ops: BatchOp[] = []
    const ents = rd.entries
    const first = ents.length > 0 ? ents[0].index : this.lastIndex + 1
    const newLast = ents.length > 0 ? ents[ents.length - 1].index : this.lastIndex
    let newHashes: Buffer[] = []
    if (ents.length > 0) {
      invariant(first > this.hs.commit, () => `entries from ${first} would overwrite committed entries (commit ${this.hs.commit})`)
      invariant(first <= this.lastIndex + 1, () => `entries from ${first} leave a gap after last index ${this.lastIndex}`)
      const append = encodeLogAppend(ents, this.tailHash(first - 1), this.tailTerm(first - 1))
      // a conflicting suffix goes first (deletes before the puts that may reuse a key): the runs ending at or
      // after `first` are deleted, and the one straddling it is rewritten as its prefix
      if (first <= this.lastIndex) await this.truncationOps(first, ops)
      for (const r of append.runs) ops.push({ type: 'put', key: r.key, value: r.value })
      newHashes = append.hashes
    }
    const termAt = (index: number): number => index >= first ? ents[index - first].term : this.tailTerm(index)
    const hashAt = (index: number): Buffer => index >= first ? newHashes[index - first] : this.tailHash(index)

    const hs = rd.hardState === undefined ? this.hs : cloneHardState(rd.hardState)
    invariant(hs.term >= this.hs.term, () => `hard state term went back from ${this.hs.term} to ${hs.term}`)
    invariant(hs.commit >= this.hs.commit, () => `commit went back from ${this.hs.commit} to ${hs.commit}`)
    invariant(hs.commit <= newLast, () => `commit ${hs.commit} is beyond the last index ${newLast}`)
    if (rd.hardState !== undefined || ents.length > 0) {
      ops.push({ type: 'put', key: META.hardState, value: Buffer.from(wire.HardStateRecord.encode({ ...hs, lastIndex: newLast })) })
    }

    // apply the newly committed entries
    const toApply = rd.committedEntries.filter((e) => e.index > this.applied.index)
    for (let i = 0; i < toApply.length; i++) {
      const e = toApply[i]
      if (e.index !== this.applied.index + 1 + i) invariant(false, `committed entry ${e.index} does not follow applied ${this.applied.index + i}`)
      if (e.index > hs.commit) invariant(false, `entry ${e.index} is not committed (commit ${hs.commit})`)
      if (e.index > newLast || termAt(e.index) !== e.term) invariant(false, `committed entry ${e.index}/${e.term} is not the logged entry`)
    }
    let results: ApplyResult[] = []
    let cacheUpdates: Array<[string, Buffer | null]> = []
    let leaseChanges: Array<[number, LeaseInfo | null]> = []
    let applied = this.applied
    const conf = rd.confState === undefined ? this.confState : cloneConfState(rd.confState)
    let sHash = this.stateHashValue
    let floor = this.eventsFloor
    if (toApply.length > 0) {
      const out = await this.applyEntries(toApply, ops, sHash)
      results = out.results
      sHash = out.stateHash
      cacheUpdates = out.cacheUpdates
      leaseChanges = out.leaseChanges
      const last = toApply[toApply.length - 1]
      applied = { index: last.index, term: last.term, hash: hashAt(last.index) }
      const slack = Math.max(1, this.eventWindow >> 3)
      if (this.eventWindow === 0 || applied.index - floor + 1 > this.eventWindow + slack) {
        floor = applied.index - this.eventWindow + 1
        const b = Buffer.allocUnsafe(8)
        b.writeUInt32BE(Math.floor(floor / 2 ** 32), 0)
        b.writeUInt32BE(floor >>> 0, 4)
        ops.push({ type: 'put', key: META.eventsFloor, value: b })
      }
    }
    if (toApply.length > 0 || rd.confState !== undefined) {
      ops.push({ type: 'put', key: META.applied, value: this.appliedRecord(applied, conf, sHash) })
    }

    if (ops.length === 0) return results
    await this.write(ops, rd.mustSync ?? true)

    // the batch is durable: move the in-memory state to match it
    if (ents.length > 0) {
      const keep = first - this.applied.index
      this.tailTerms.length = keep
      this.tailHashes.length = keep
      for (let i = 0; i < ents.length; i++) {
        this.tailTerms.push(ents[i].term)
        this.tailHashes.push(newHashes[i])
      }
      this.lastIndex = newLast
    }
    this.hs = hs
    for (const [id, rec] of cacheUpdates) this.cache.set(id, rec)
    for (const [id, l] of leaseChanges) {
      if (l === null) this.leases.delete(id)
      else this.leases.set(id, l)
    }
    if (applied.index > this.applied.index) {
      const drop = applied.index - this.applied.index
      this.tailTerms.splice(0, drop)
      this.tailHashes.splice(0, drop)
      this.applied = applied
    }
    this.confState = conf
    this.stateHashValue = sHash
    if (floor > this.eventsFloor) {
      const oldFloor = this.eventsFloor
      this.eventsFloor = floor
      // without a window nothing is written below the floor (leftovers of an earlier window go at the next open)
      if (this.eventWindow > 0) await this.cleanup(async () => { await this.db.clear({ gte: eventKey(oldFloor), lt: eventKey(floor) }) })
    }
    if (toApply.length > 0) this.notifyApplied()
    return results
  }

  /** Operations removing entries [first, last] from the log (the run holding first - 1 keeps that part). */
  private async truncationOps (first: number, ops: BatchOp[]): Promise<void> {
    const it = this.db.iterator({ gte: logKey(first), lte: logKey(this.lastIndex) })
    try {
      let head = true
      for await (const [k, v] of it) {
        ops.push({ type: 'del', key: k })
        if (head) {
          const prefix = truncateLogRun(this.decodeRun(logIndexOf(k), v), first)
          if (prefix !== undefined) ops.push({ type: 'put', key: prefix.key, value: prefix.value })
          head = false
        }
      }
    } finally {
      await it.close()
    }
  }

  private notifyApplied (): void {
    const applied = this.applied.index
    for (const l of this.appliedListeners) {
      try {
        l(applied)
      } catch {
        // a listener's failure is its own; the batch is durable either way
      }
    }
  }

  /** Calls `listener` with the applied index after every batch that applied entries (and after a snapshot install). Returns an unsubscribe. */
  onApplied (listener: (applied: number) => void): () => void {
    this.appliedListeners.add(listener)
    return () => { this.appliedListeners.delete(listener) }
  }

  private parse (e: Entry): ParsedEntry {
    if (e.type !== 'normal' || e.data.length === 0) return { entry: e }
    try {
      if (e.data.length > MAX_REQUEST_BYTES) throw new RequestTooLargeError('encoded request is too large', MAX_REQUEST_BYTES, e.data.length)
      const cmd = decodeLogCommand(e.data)
      if (isLeaseCommand(cmd)) {
        validateLeaseCommand(cmd)
        return { entry: e, lease: cmd }
      }
      validateCommand(cmd, { encodedBytes: e.data.length })
      return { entry: e, cmd }
    } catch (err) {
      // only request faults become (deterministic) results; anything else is a fault of this replica
      if (err instanceof DecodeError || err instanceof LimitError || err instanceof InvalidRequestError) return { entry: e, error: err }
      throw err
    }
  }

  private async applyEntries (toApply: Entry[], ops: BatchOp[], sHash: Buffer):
  Promise<{ results: ApplyResult[], stateHash: Buffer, cacheUpdates: Array<[string, Buffer | null]>, leaseChanges: Array<[number, LeaseInfo | null]> }> {
    const parsed = toApply.map((e) => this.parse(e))
    const source = await this.prefetch(parsed)
    const root = new Overlay(source)
    const leases = new LeaseView(this.leases)
    const usable = (id: number): boolean => leases.usable(id)
    // attachments written by this batch (not yet on disk) and attachment keys this batch deleted
    const attach = new Map<string, { lease: number, key: Uint8Array }>()
    const detached = new Set<string>()
    const results: ApplyResult[] = []
    // effects per entry, hashed afterwards in one tight loop (keeps the hash code and data hot in cache)
    const hashed: Array<[number, Buffer]> = []
    // the change events of this batch's revisions, stored as event runs
    const events: RevisionBytes[] = []
    for (const p of parsed) {
      const index = p.entry.index
      if (p.error !== undefined) {
        results.push({ index, requestId: p.cmd?.requestId ?? EMPTY, ok: false, code: p.error.code, message: p.error.message })
        continue
      }
      if (p.lease !== undefined) {
        try {
          const out = await this.applyLease(p.lease, index, root, leases, attach, detached, ops)
          results.push({ index, requestId: p.lease.requestId, ok: true, response: out.response })
          if (out.effects.length > 0) {
            const ev = encodeEvents(out.effects)
            events.push([index, ev])
            hashed.push([index, ev])
          } else if (p.lease.lease.type === 'grant') {
            // grants change no key but are state all the same: they enter the state hash (0x02: not an event type)
            hashed.push([index, Buffer.concat([Buffer.of(2), encodeLease(leases.get(out.leaseId) as LeaseInfo)])])
          }
        } catch (err) {
          if (!isApplyRefusal(err)) throw err
          results.push({ index, requestId: p.lease.requestId, ok: false, code: err.code, message: err.message })
        }
        continue
      }
      if (p.cmd === undefined) continue // no-op or conf change: nothing to apply to the KV state
      let out: TxnOutcome
      try {
        // synchronous unless the transaction scans a range or names a key that was not prefetched
        const pending = applyTxn(root, p.cmd.txn, index, usable)
        out = pending instanceof Promise ? await pending : pending
      } catch (err) {
        // a response over the budget, or a put naming a missing lease, is a property of the request and the state,
        // hence the same on every replica
        if (!isApplyRefusal(err)) throw err
        results.push({ index, requestId: p.cmd.requestId, ok: false, code: err.code, message: err.message })
        continue
      }
      results.push({ index, requestId: p.cmd.requestId, ok: true, response: out.response })
      for (const e of out.effects) {
        if (e.type !== 'put' || e.rec.lease === 0) continue
        const ak = attachKey(this.gen, e.rec.lease, e.key)
        const id = bytesId(ak)
        attach.set(id, { lease: e.rec.lease, key: e.key })
        detached.delete(id)
      }
      if (out.effects.length > 0) {
        const ev = encodeEvents(out.effects)
        events.push([index, ev])
        hashed.push([index, ev])
      }
    }
    for (const [index, ev] of hashed) sHash = nextStateHash(sHash, index, ev)
    if (this.eventWindow > 0) for (const run of encodeEventRuns(events)) ops.push({ type: 'put', key: run.key, value: run.value })
    const cacheUpdates: Array<[string, Buffer | null]> = []
    for (const w of root.pending()) {
      if (w.rec === null) {
        ops.push({ type: 'del', key: kvKey(this.gen, w.key) })
        cacheUpdates.push([w.id, null])
      } else {
        const value = encodeKvRecord(w.rec)
        ops.push({ type: 'put', key: kvKey(this.gen, w.key), value })
        cacheUpdates.push([w.id, value])
      }
    }
    for (const a of attach.values()) ops.push({ type: 'put', key: attachKey(this.gen, a.lease, a.key), value: EMPTY_BUF })
    const leaseChanges = [...leases.changes()]
    for (const [id, l] of leaseChanges) {
      if (l === null) ops.push({ type: 'del', key: leaseKey(this.gen, id) })
      else ops.push({ type: 'put', key: leaseKey(this.gen, id), value: encodeLease(l) })
    }
    return { results, stateHash: sHash, cacheUpdates, leaseChanges }
  }

  /**
   * Applies a lease command at `index`. A grant creates the lease (id 0 → `index`); a revoke deletes up to
   * MAX_LEASE_REVOKE_KEYS of the keys still attached to the lease (through `root`, so they become delete events)
   * and removes the lease, or marks it revoking when keys remain (the leader proposes another revoke).
   * Refusals throw LeaseNotFoundError / LeaseRefusedError before anything changed.
   */
  private async applyLease (cmd: LeaseCommand, index: number, root: Overlay, leases: LeaseView,
    attach: Map<string, { lease: number, key: Uint8Array }>, detached: Set<string>, ops: BatchOp[]):
    Promise<{ response: TxnResponse, effects: Effect[], leaseId: number }> {
    const op = cmd.lease
    if (op.type === 'grant') {
      const id = op.id === 0 ? index : op.id
      if (leases.get(id) !== undefined) throw new LeaseRefusedError(`lease ${id} already exists`)
      if (leases.count() >= MAX_LEASES) throw new LeaseRefusedError(`the cluster holds ${MAX_LEASES} leases, the most it keeps; revoke some first`)
      leases.set(id, { id, ttlSeconds: op.ttlSeconds, grantRevision: index, revoking: false })
      return { response: { succeeded: true, revision: index, responses: [] }, effects: [], leaseId: id }
    }
    const lease = leases.get(op.id)
    if (lease === undefined) throw new LeaseNotFoundError(op.id)
    const effects: Effect[] = []
    let deleted = 0
    let visited = 0
    const visit = async (id: string, attachKeyBytes: Buffer, key: Uint8Array): Promise<void> => {
      visited++
      detached.add(id)
      attach.delete(id)
      ops.push({ type: 'del', key: attachKeyBytes })
      const rec = await root.get(key)
      // the attachment may be stale: the key was deleted or put again without (or with another) lease since
      if (rec === undefined || rec.lease !== op.id) return
      const k = Uint8Array.from(key)
      root.set(k, null)
      effects.push({ type: 'delete', key: k })
      deleted++
    }
    // this batch's own attachments first (they are not on disk yet), then the disk's
    for (const [id, a] of [...attach]) {
      if (visited >= MAX_LEASE_REVOKE_KEYS) break
      if (a.lease === op.id) await visit(id, attachKey(this.gen, a.lease, a.key), a.key)
    }
    let more = false
    const it = this.db.iterator({ ...attachBounds(this.gen, op.id), keys: true, values: false })
    try {
      while (true) {
        const page = await it.nextv(256)
        if (page.length === 0) break
        for (const [k] of page) {
          const id = bytesId(k)
          if (detached.has(id)) continue
          if (visited >= MAX_LEASE_REVOKE_KEYS) { more = true; break }
          await visit(id, k, attachedKeyOf(k))
        }
        if (more) break
      }
    } finally {
      await it.close()
    }
    leases.set(op.id, more ? { ...lease, revoking: true } : null)
    return { response: { succeeded: true, revision: index, responses: [{ type: 'deleteRange', deleted, more }] }, effects, leaseId: op.id }
  }

  /** Reads, in one getMany, the current records of every key the commands name (both branches). */
  private async prefetch (parsed: ParsedEntry[]): Promise<KvSource> {
    const ids = new Map<string, Uint8Array>()
    for (const p of parsed) {
      if (p.cmd === undefined) continue
      const { compare, success, failure } = p.cmd.txn
      for (const c of compare) ids.set(bytesId(c.key), c.key)
      for (const op of success.concat(failure)) {
        if (op.type === 'put' || op.type === 'delete' || op.type === 'get') ids.set(bytesId(op.key), op.key)
      }
    }
    const known = new Map<string, KvRecord | null>()
    const missing: string[] = []
    for (const id of ids.keys()) {
      const c = this.cache.get(id)
      if (c === undefined) missing.push(id)
      else known.set(id, c === null ? null : this.decodeKv(c))
    }
    if (missing.length > 0) {
      const values = await this.db.getMany(missing.map((id) => kvKey(this.gen, ids.get(id) as Uint8Array)))
      for (let i = 0; i < missing.length; i++) {
        const v = values[i]
        known.set(missing[i], v === undefined ? null : this.decodeKv(v))
        // what the disk holds now; this batch's own writes replace it once they are durable
        this.cache.set(missing[i], v ?? null)
      }
    }
    return this.source(this.gen, known)
  }

  private decodeKv (v: Buffer): KvRecord {
    try {
      return decodeKvRecord(v)
    } catch (err) {
      throw this.corrupt('kv', undefined, (err as Error).message)
    }
  }

  /** Read access to generation `gen` of the KV table, answering point reads from `known` when it has them. */
  private source (gen: number, known?: Map<string, KvRecord | null>): KvSource {
    const db = this.db
    const decode = (v: Buffer): KvRecord => this.decodeKv(v)
    return {
      peek (id) {
        const k = known?.get(id)
        return k === undefined ? NOT_LOADED : k ?? undefined
      },
      async get (id, key) {
        const k = known?.get(id)
        if (k !== undefined) return k ?? undefined
        const v = await db.get(kvKey(gen, key))
        return v === undefined ? undefined : decode(v)
      },
      async * scan (start, end) {
        const it = db.iterator(kvBounds(gen, start, end))
        try {
          let size = 16
          while (true) {
            const page = await it.nextv(size)
            if (page.length === 0) return
            for (const [k, v] of page) yield { key: userKeyOf(k), rec: decode(v) }
            size = Math.min(size * 4, 1024)
          }
        } finally {
          await it.close()
        }
      }
    }
  }

  // ---------------------------------------------------------------- reads of the applied state

  /** The applied value of `key`, or undefined. */
  async get (key: Uint8Array): Promise<KeyValue | undefined> {
    this.usable()
    validateKey(key)
    const v = await this.db.get(kvKey(this.gen, key))
    return v === undefined ? undefined : toKeyValue(key, this.decodeKv(v), false, true)
  }

  /**
   * One page of [start, end) of the applied state: at most `limit` keys (0/undefined = MAX_PAGE_KEYS) and
   * MAX_PAGE_BYTES of keys+values; `next` continues when `more`. LimitError above MAX_PAGE_KEYS.
   */
  async range (req: RangeRequest): Promise<RangeResult> {
    this.usable()
    validateRange(req.start, req.end)
    validateLimit(req.limit ?? 0)
    const src = this.source(this.gen)
    // fresh buffers from LevelDB: no copy needed
    return await rangePage(src, req.start, req.end, req.limit ?? 0, req.keysOnly === true, newBudget(), false)
  }

  /**
   * Change events from `fromRevision` on, whole revisions only, at most `limit` events (at least one revision).
   * `next` is where to resume. CompactedError when fromRevision is below the retained window.
   */
  async events (fromRevision: number, limit = 1000): Promise<{ revisions: RevisionEvents[], next: number }> {
    this.usable()
    invariant(Number.isSafeInteger(fromRevision) && fromRevision >= 1, 'fromRevision must be a positive integer')
    validateLimit(limit)
    const max = limit === 0 ? MAX_PAGE_KEYS : limit
    if (fromRevision < this.eventsFloor) throw new CompactedError(fromRevision, this.eventsFloor)
    const upTo = this.applied.index
    if (fromRevision > upTo) return { revisions: [], next: fromRevision }
    const revisions: RevisionEvents[] = []
    let count = 0
    // the first run holds fromRevision or the next revision that changed something; runs ending after upTo are
    // not read (a run is written whole, with the applied index that covers it)
    const it = this.db.iterator({ gte: eventKey(fromRevision), lte: eventKey(upTo) })
    try {
      while (true) {
        const page = await it.nextv(16)
        if (page.length === 0) break
        for (const [k, v] of page) {
          const runLast = eventRevisionOf(k)
          let run
          try {
            run = decodeEventRun(runLast, v)
          } catch (err) {
            throw this.corrupt('events', runLast, (err as Error).message)
          }
          for (const { revision, events: bytes } of run) {
            if (revision < fromRevision) continue
            let events
            try {
              events = decodeEvents(revision, bytes)
            } catch (err) {
              throw this.corrupt('events', revision, (err as Error).message)
            }
            if (revisions.length > 0 && count + events.length > max) return { revisions, next: revision }
            revisions.push({ revision, events })
            count += events.length
          }
        }
      }
    } finally {
      await it.close()
    }
    return { revisions, next: upTo + 1 }
  }

  /** The leases as of the applied index, by id (at most MAX_LEASES). */
  leaseList (): LeaseInfo[] {
    this.usable()
    return [...this.leases.values()].sort((x, y) => x.id - y.id).map((l) => ({ ...l }))
  }

  /** The leases as of the applied index, unordered and uncopied (for a periodic scan; callers must not keep them). */
  leaseValues (): Iterable<Readonly<LeaseInfo>> {
    return this.leases.values()
  }

  /** Lease `id` as of the applied index, or undefined. */
  lease (id: number): LeaseInfo | undefined {
    const l = this.leases.get(id)
    return l === undefined ? undefined : { ...l }
  }

  /** Up to `limit` keys attached to lease `id` now (attachments checked against the keys' current lease). */
  async leaseKeys (id: number, limit = 1000): Promise<Uint8Array[]> {
    this.usable()
    validateLimit(limit)
    const out: Uint8Array[] = []
    const gen = this.gen
    const it = this.db.iterator({ ...attachBounds(gen, id), values: false })
    try {
      for await (const [k] of it) {
        if (out.length >= (limit === 0 ? MAX_PAGE_KEYS : limit)) break
        const key = Uint8Array.from(attachedKeyOf(k))
        const v = await this.db.get(kvKey(gen, key))
        if (v !== undefined && this.decodeKv(v).lease === id) out.push(key)
      }
    } finally {
      await it.close()
    }
    return out
  }

  /** Log entries [lo, hi) from disk, at most MAX_READ_ENTRIES and about maxBytes of payload (at least one entry). */
  async readEntries (lo: number, hi: number, maxBytes = MAX_PAGE_BYTES): Promise<Entry[]> {
    this.usable()
    if (lo <= this.logStart.index) throw new CompactedError(lo, this.logStart.index + 1)
    invariant(hi <= this.lastIndex + 1 && lo <= hi, () => `entries [${lo}, ${hi}) are beyond the log (last ${this.lastIndex})`)
    const out: Entry[] = []
    let bytes = 0
    const end = Math.min(hi, lo + MAX_READ_ENTRIES)
    if (lo >= end) return out
    // the first run holds lo; later runs follow it without gaps
    const it = this.db.iterator({ gte: logKey(lo), lte: logKey(this.lastIndex) })
    try {
      let expected = lo
      reading: for await (const [k, v] of it) {
        const recs = this.decodeRun(logIndexOf(k), v)
        this.checkRunEnd(logIndexOf(k), recs)
        if (recs[0].entry.index > expected) throw this.corrupt('log', expected, 'entry is missing')
        for (const { entry } of recs) {
          if (entry.index < expected) continue
          if (entry.index >= end || (out.length > 0 && bytes + entry.data.length > maxBytes)) break reading
          out.push(entry)
          bytes += entry.data.length
          expected++
        }
      }
    } finally {
      await it.close()
    }
    if (out.length === 0) throw this.corrupt('log', lo, 'entry is missing')
    return out
  }

  /** A hash over the whole KV table at one consistent point (for comparing replicas at the same index). */
  async kvHash (): Promise<{ index: number, hash: string }> {
    this.usable()
    const snapshot = this.db.snapshot()
    try {
      const ap = wire.AppliedRecord.decode(await this.db.get(META.applied, { snapshot }) as Buffer)
      const gen = (await this.db.get(META.generation, { snapshot }) as Buffer).readUInt32BE(0)
      const h = createHash('sha256')
      const len = Buffer.allocUnsafe(8)
      const it = this.db.iterator({ ...kvBounds(gen, EMPTY, EMPTY), snapshot, highWaterMarkBytes: 1024 * 1024 })
      try {
        while (true) {
          const page = await it.nextv(1000)
          if (page.length === 0) break
          for (const [k, v] of page) {
            const key = userKeyOf(k)
            len.writeUInt32BE(key.length, 0)
            len.writeUInt32BE(v.length, 4)
            h.update(len).update(key).update(v)
          }
        }
      } finally {
        await it.close()
      }
      return { index: ap.index, hash: h.digest('hex') }
    } finally {
      await snapshot.close()
    }
  }

  // ---------------------------------------------------------------- snapshots

  /**
   * Creates the initial state of a new cluster in a pristine store: an empty KV state at `meta` (Raft's bootstrap
   * snapshot: index 1, term 1, the founding configuration) and `hardState`, in one synced batch. The chain and
   * state hashes at that index are zero on every founding member. `recovered()` then describes the new state.
   */
  async bootstrap (meta: SnapshotMetadata, hardState: HardState): Promise<void> {
    await this.exclusive(async () => {
      invariant(this.lastIndex === 0 && this.applied.index === 0 && this.hs.commit === 0 && this.hs.term === 0,
        () => `store at ${this.dataDir} is not pristine (last index ${this.lastIndex}, term ${this.hs.term}); cannot bootstrap`)
      invariant(Number.isSafeInteger(meta.index) && meta.index > 0 && Number.isSafeInteger(meta.term) && meta.term > 0, 'bootstrap index and term must be positive')
      invariant(hardState.term >= meta.term && hardState.commit === meta.index, 'bootstrap hard state must commit the bootstrap index')
      const point: LogPoint = { index: meta.index, term: meta.term, hash: ZERO_HASH }
      const conf = cloneConfState(meta.confState)
      const snap: StoreSnapshotMetadata = { index: meta.index, term: meta.term, confState: conf, chainHash: hex(ZERO_HASH), stateHash: hex(ZERO_HASH) }
      const hs = cloneHardState(hardState)
      await this.write(this.snapshotSwitchOps(point, conf, hs, snap, ZERO_HASH), true)
      this.adoptSnapshotState(point, conf, hs, snap)
      this.recoveredState = {
        hardState: cloneHardState(hs),
        confState: cloneConfState(conf),
        applied: meta.index,
        snapshotMeta: { ...snap, confState: cloneConfState(conf) },
        firstIndex: meta.index + 1,
        lastIndex: meta.index,
        lastTerm: meta.term,
        entries: []
      }
    })
  }

  /** The records that make a snapshot at `point` the whole state (bootstrap and install write the same ones). */
  private snapshotSwitchOps (point: LogPoint, conf: ConfState, hs: HardState, snap: StoreSnapshotMetadata, stateHash: Uint8Array): BatchOp[] {
    const floor = Buffer.allocUnsafe(8)
    writeU64(floor, 0, point.index + 1)
    return [
      { type: 'put', key: META.applied, value: this.appliedRecord(point, conf, stateHash) },
      { type: 'put', key: META.hardState, value: Buffer.from(wire.HardStateRecord.encode({ ...hs, lastIndex: point.index })) },
      { type: 'put', key: META.logStart, value: Buffer.from(wire.LogStartRecord.encode({ index: point.index, term: point.term, chainHash: point.hash as Uint8Array<ArrayBuffer> })) },
      { type: 'put', key: META.snapshot, value: Buffer.from(wire.SnapshotMetaRecord.encode(snapshotMetaToRecord(snap))) },
      { type: 'put', key: META.eventsFloor, value: floor }
    ]
  }

  /** The in-memory positions after snapshotSwitchOps were written: an empty log that starts at the snapshot. */
  private adoptSnapshotState (point: LogPoint, conf: ConfState, hs: HardState, snap: StoreSnapshotMetadata): void {
    this.applied = point
    this.confState = conf
    this.hs = hs
    this.lastIndex = point.index
    this.logStart = point
    this.snapMeta = snap
    this.eventsFloor = point.index + 1
    this.tailTerms = [point.term]
    this.tailHashes = [point.hash]
  }

  /**
   * Records a snapshot at the applied index (the KV tables are the snapshot; nothing is copied) and compacts the
   * log, keeping `logRetain` entries behind it. Before anything is applied there is nothing to record: the
   * metadata at index 0 is returned and nothing is written.
   */
  async createSnapshot (): Promise<StoreSnapshotMetadata> {
    return await this.exclusive(async () => {
      if (this.applied.index === 0) return { index: 0, term: 0, confState: cloneConfState(this.confState), chainHash: hex(ZERO_HASH), stateHash: hex(ZERO_HASH) }
      const meta: StoreSnapshotMetadata = {
        index: this.applied.index,
        term: this.applied.term,
        confState: cloneConfState(this.confState),
        chainHash: hex(this.applied.hash),
        stateHash: hex(this.stateHashValue)
      }
      const ops: BatchOp[] = [{ type: 'put', key: META.snapshot, value: Buffer.from(wire.SnapshotMetaRecord.encode(snapshotMetaToRecord(meta))) }]
      const newStart = Math.max(this.logStart.index, meta.index - this.logRetain)
      let start = this.logStart
      if (newStart > this.logStart.index) {
        const rec = await this.diskRecord(newStart)
        if (rec === undefined) throw this.corrupt('log', newStart, 'entry is missing')
        start = { index: newStart, term: rec.entry.term, hash: Buffer.from(rec.chainHash) }
        ops.push({ type: 'put', key: META.logStart, value: Buffer.from(wire.LogStartRecord.encode({ index: start.index, term: start.term, chainHash: start.hash as Uint8Array<ArrayBuffer> })) })
      }
      await this.write(ops, true)
      const oldStart = this.logStart.index
      this.snapMeta = meta
      this.logStart = start
      if (start.index > oldStart) {
        // runs ending at or before the new start go; one straddling it stays (its older entries are skipped on read)
        await this.cleanup(async () => { await this.db.clear({ gt: logKey(oldStart), lte: logKey(start.index) }) })
      }
      return { ...meta, confState: cloneConfState(meta.confState) }
    })
  }

  /**
   * Frees disk space after deletes (the NOSPACE alarm's compaction): drops change events below `eventsFloor`
   * (clamped to applied + 1; a watch resuming below it gets COMPACTED) in one synced batch, then has LevelDB
   * compact every table so deleted and overwritten records leave the files. A failed compaction is reported, not
   * fatal: it changes no data.
   */
  async compactStorage (eventsFloor: number): Promise<void> {
    await this.exclusive(async () => {
      const floor = Math.min(eventsFloor, this.applied.index + 1)
      if (floor <= this.eventsFloor) return
      const b = Buffer.allocUnsafe(8)
      writeU64(b, 0, floor)
      await this.write([{ type: 'put', key: META.eventsFloor, value: b }], true)
      const old = this.eventsFloor
      this.eventsFloor = floor
      await this.cleanup(async () => { await this.db.clear({ gte: eventKey(old), lt: eventKey(floor) }) })
    })
    this.usable()
    // outside the writer queue: LevelDB compacts beside concurrent writes, and this may take a while
    await this.db.compactRange(Buffer.of(0x00), Buffer.alloc(16, 0xff))
  }

  /**
   * Opens a reader over the applied state: its metadata and its chunks come from one LevelDB snapshot, so they
   * agree. The metadata is at the applied index when this is called (≥ the last createSnapshot index).
   */
  async openSnapshotReader (): Promise<SnapshotReader> {
    return await this.exclusive(async () => {
      const snapshot = this.db.snapshot()
      try {
        const ap = wire.AppliedRecord.decode(await this.db.get(META.applied, { snapshot }) as Buffer)
        const gen = (await this.db.get(META.generation, { snapshot }) as Buffer).readUInt32BE(0)
        const meta: StoreSnapshotMetadata = {
          index: ap.index,
          term: ap.term,
          confState: confStateFromRecord(ap.confState),
          chainHash: hex(ap.chainHash),
          stateHash: hex(ap.stateHash)
        }
        const reader = new SnapshotReader(this.db, snapshot, gen, meta, () => { this.readers.delete(reader) })
        this.readers.add(reader)
        return reader
      } catch (err) {
        await snapshot.close()
        throw err
      }
    })
  }

  /**
   * Installs a streamed snapshot crash-safely: chunks are verified (sequence, per-chunk and whole-stream
   * checksums, counts, record layout) and written into a fresh KV generation beside the live one; then ONE synced
   * batch switches generation, applied index, configuration, hashes, hard state commit and log start (the log is
   * discarded). A crash before the switch leaves the old state (the orphan generation is deleted on open), after it
   * the new one. Refused with StaleSnapshotError when meta.index ≤ commit.
   */
  async installSnapshot (meta: StoreSnapshotMetadata, chunks: AsyncIterable<Uint8Array>): Promise<void> {
    this.usable()
    if (this.installing) throw new SnapshotInProgressError(`a snapshot install is already running on ${this.dataDir}`)
    invariant(Number.isSafeInteger(meta.index) && meta.index > 0 && Number.isSafeInteger(meta.term) && meta.term > 0, 'snapshot index and term must be positive')
    const chain = fromHex(meta.chainHash, 'chainHash')
    const sHash = fromHex(meta.stateHash, 'stateHash')
    if (meta.index <= this.hs.commit) throw new StaleSnapshotError(`snapshot at ${meta.index} is not above commit ${this.hs.commit}`)
    invariant(this.gen < MAX_GENERATION, 'KV generations exhausted')
    this.installing = true
    const gen = this.gen + 1
    let switched = false
    try {
      await this.clearGeneration(gen)
      const leases = await this.streamInto(gen, meta, chunks)
      await this.exclusive(async () => {
        if (meta.index <= this.hs.commit) throw new StaleSnapshotError(`snapshot at ${meta.index} is not above commit ${this.hs.commit}`)
        const point: LogPoint = { index: meta.index, term: meta.term, hash: chain }
        const conf = cloneConfState(meta.confState)
        const hs: HardState = { term: Math.max(this.hs.term, meta.term), vote: meta.term > this.hs.term ? 0 : this.hs.vote, commit: meta.index }
        const snap: StoreSnapshotMetadata = { ...meta, confState: conf }
        await this.write([{ type: 'put', key: META.generation, value: u32(gen) }, ...this.snapshotSwitchOps(point, conf, hs, snap, sHash)], true)
        switched = true
        this.cache.clear()
        const oldGen = this.gen
        const oldFloor = this.eventsFloor
        this.gen = gen
        this.leases = leases
        this.stateHashValue = sHash
        this.adoptSnapshotState(point, conf, hs, snap)
        this.notifyApplied()
        await this.cleanup(async () => {
          await this.clearGeneration(oldGen)
          await this.db.clear({ gte: logKey(0), lt: LOG_END })
          await this.db.clear({ gte: eventKey(oldFloor), lt: eventKey(meta.index + 1) })
        })
      })
    } catch (err) {
      if (!switched && !this.closed && this.failed === undefined) {
        await this.clearGeneration(gen).catch(() => {})
      }
      throw err
    } finally {
      this.installing = false
    }
  }

  /** Deletes generation `gen` of the KV, lease and attachment tables. */
  private async clearGeneration (gen: number): Promise<void> {
    await this.db.clear({ gte: kvPrefix(gen), lt: kvPrefix(gen + 1) })
    await this.db.clear({ gte: genPrefix(TABLE_LEASES, gen), lt: genPrefix(TABLE_LEASES, gen + 1) })
    await this.db.clear({ gte: genPrefix(TABLE_ATTACH, gen), lt: genPrefix(TABLE_ATTACH, gen + 1) })
  }

  /** Writes the stream into generation `gen` (KV records, the attachments they imply, leases); returns the leases. */
  private async streamInto (gen: number, meta: StoreSnapshotMetadata, chunks: AsyncIterable<Uint8Array>): Promise<Map<number, LeaseInfo>> {
    const leases = new Map<number, LeaseInfo>()
    const total = createHash('sha256')
    let seq = 0
    let keys = 0
    let bytes = 0
    let done = false
    let lastKey: Buffer | undefined
    for await (const raw of chunks) {
      if (this.closed) throw new StoreClosedError(`store at ${this.dataDir} closed during snapshot install`)
      if (done) throw new SnapshotError('snapshot stream continues after its last chunk')
      const c = decodeChunk(raw)
      if (c.index !== meta.index || c.term !== meta.term) throw new SnapshotError(`chunk is for snapshot ${c.index}/${c.term}, expected ${meta.index}/${meta.term}`)
      if (c.seq !== seq) throw new SnapshotError(`chunk ${c.seq} arrived, expected chunk ${seq}`)
      seq++
      total.update(c.records)
      bytes += c.records.length
      const ops: BatchOp[] = []
      for (const r of unpackRecords(c.records)) {
        if (r.key.length === 0 || r.key.length > 1024) throw new SnapshotError(`snapshot key of ${r.key.length} bytes`)
        if (lastKey !== undefined && Buffer.compare(lastKey, r.key) >= 0) throw new SnapshotError('snapshot keys are not strictly ascending')
        lastKey = r.key
        let rec: KvRecord
        try {
          rec = decodeKvRecord(r.value)
        } catch (err) {
          throw new SnapshotError(`bad KV record in snapshot: ${(err as Error).message}`)
        }
        ops.push({ type: 'put', key: kvKey(gen, r.key), value: r.value })
        // the attachment index is derived state: rebuilt from the records rather than streamed
        if (rec.lease !== 0) ops.push({ type: 'put', key: attachKey(gen, rec.lease, r.key), value: EMPTY_BUF })
        keys++
      }
      total.update(c.leases)
      for (const r of unpackRecords(c.leases)) {
        let l: LeaseInfo
        try {
          const id = leaseIdFromBytes(r.key)
          l = decodeLease(id, r.value)
        } catch (err) {
          throw new SnapshotError(`bad lease record in snapshot: ${(err as Error).message}`)
        }
        if (leases.has(l.id) || leases.size >= MAX_LEASES) throw new SnapshotError(`duplicate lease ${l.id} (or too many leases) in snapshot`)
        leases.set(l.id, l)
        ops.push({ type: 'put', key: leaseKey(gen, l.id), value: Buffer.from(r.value) })
      }
      lastKey = lastKey === undefined ? undefined : Buffer.from(lastKey)
      if (ops.length > 0) await this.db.batch(ops, { sync: false })
      if (c.last) {
        done = true
        if (!total.digest().equals(c.totalChecksum)) throw new SnapshotError('snapshot stream fails its whole-stream checksum')
        if (c.totalKeys !== keys || c.totalBytes !== bytes) throw new SnapshotError(`snapshot stream has ${keys} keys / ${bytes} bytes, its trailer says ${c.totalKeys} / ${c.totalBytes}`)
        if (c.totalLeases !== leases.size) throw new SnapshotError(`snapshot stream has ${leases.size} leases, its trailer says ${c.totalLeases}`)
      }
    }
    if (!done) throw new SnapshotError('snapshot stream ended before its last chunk')
    return leases
  }

  // ---------------------------------------------------------------- shutdown

  /** Waits for the write in progress, closes open snapshot readers and the database. Idempotent. */
  async close (): Promise<void> {
    if (this.closed) return
    this.closed = true
    await this.queue
    for (const r of [...this.readers]) await r.close()
    await this.db.close()
  }
}

function snapshotMetaToRecord (m: StoreSnapshotMetadata): wire.SnapshotMetaRecord {
  return {
    index: m.index,
    term: m.term,
    confState: confStateToRecord(m.confState),
    chainHash: Buffer.from(m.chainHash, 'hex') as Uint8Array<ArrayBuffer>,
    stateHash: Buffer.from(m.stateHash, 'hex') as Uint8Array<ArrayBuffer>
  }
}

function snapshotMetaFromRecord (r: wire.SnapshotMetaRecord): StoreSnapshotMetadata {
  return { index: r.index, term: r.term, confState: confStateFromRecord(r.confState), chainHash: hex(r.chainHash), stateHash: hex(r.stateHash) }
}
