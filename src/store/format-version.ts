// The on-disk format version of DATA_DIR/raft and forward migration. Runs before the store opens: an older format
// is first copied whole to DATA_DIR/raft.bak-v<N> (the operator's way back to the previous build), then migrated
// step by step, each step in one synced batch that also writes the new version (a crash leaves a consistent older
// or newer format, never a mix). A newer format than this build knows is refused and nothing is written.
import { existsSync } from 'node:fs'
import { cp, rename, rm } from 'node:fs/promises'
import { join } from 'node:path'
import { ClassicLevel } from 'classic-level'
import { AspenError, invariant } from '../errors.js'
import { DataDirLockedError } from './errors.js'
import { META } from './keys.js'
import { FORMAT_VERSION } from './raft-store.js'

/** The format this build writes (the store's own constant: one source of truth). */
export const STORE_FORMAT_VERSION = FORMAT_VERSION

/** Most migration steps one open may run (a bound, not a real expectation). */
export const MAX_MIGRATION_STEPS = 64

/** The LevelDB of DATA_DIR/raft as a migration sees it. */
export type FormatDb = ClassicLevel<Buffer, Buffer>

/** One forward step: turns a store of format `from` into format `from + 1` by returning the batch to write. */
export interface Migration {
  readonly from: number
  /** One line for the log: what changes on disk. */
  readonly describe: string
  /** The operations of the step (the version record is added by the runner, in the same batch). */
  plan (db: FormatDb): Promise<Array<{ type: 'put', key: Buffer, value: Buffer } | { type: 'del', key: Buffer }>>
}

/**
 * Forward migrations of this build, one per older format still supported.
 *   1 → 2: the log moves from one record per entry to runs (log-run.ts). A format-1 record reads as a run of one
 *          entry keyed by its index, so nothing is rewritten; the version bump keeps format-1 builds (which
 *          would misread runs) off the upgraded data dir.
 */
export const MIGRATIONS: readonly Migration[] = [
  { from: 1, describe: 'log entries are stored in runs (format-1 entries stay readable as runs of one)', plan: async () => [] }
]

/** The data dir holds a newer format than this build understands; nothing was changed. */
export class StoreFormatTooNewError extends AspenError {
  readonly code = 'FORMAT_TOO_NEW'
  constructor (readonly dataDir: string, readonly found: number, readonly supported: number) {
    super(`data dir ${dataDir} has store format version ${found}, newer than version ${supported} written by this build; ` +
      'run a build that supports it (a downgrade is only possible from the raft.bak-v* backup an upgrade left behind)')
  }
}

/** No migration path from the data dir's format to this build's (too old, or a step is missing). */
export class StoreMigrationError extends AspenError {
  readonly code = 'FORMAT_MIGRATION'
}

/** What prepareStoreFormat found and did. */
export type FormatOutcome =
  | { kind: 'absent' }
  | { kind: 'current', version: number }
  | { kind: 'migrated', from: number, to: number, backupDir: string, steps: string[] }

export interface PrepareFormatOptions {
  /** The format to reach (tests pass their own); default STORE_FORMAT_VERSION. */
  current?: number
  /** Migrations to use; default MIGRATIONS. */
  migrations?: readonly Migration[]
  /** One line per step. */
  log?: (msg: string) => void
}

/** The backup directory name of format `version`. */
export function backupDirName (version: number): string {
  return `raft.bak-v${version}`
}

/** Decodes the version record (4 bytes big-endian); undefined when absent or malformed. */
export function decodeFormatVersion (v: Buffer | undefined): number | undefined {
  if (v === undefined || v.length !== 4) return undefined
  return v.readUInt32BE(0)
}

/** Encodes a version record. */
export function encodeFormatVersion (version: number): Buffer {
  invariant(Number.isInteger(version) && version >= 0 && version <= 0xffff_ffff, () => `bad format version ${version}`)
  const b = Buffer.alloc(4)
  b.writeUInt32BE(version, 0)
  return b
}

/** The chain of migrations from `from` to `to`, or a typed error naming the missing step. */
export function migrationPath (from: number, to: number, migrations: readonly Migration[]): Migration[] {
  invariant(from < to, () => `migration path from ${from} to ${to} goes backwards`)
  if (to - from > MAX_MIGRATION_STEPS) throw new StoreMigrationError(`format ${from} is ${to - from} versions behind ${to}; at most ${MAX_MIGRATION_STEPS} steps are supported`)
  const path: Migration[] = []
  for (let v = from; v < to; v++) {
    const step = migrations.find(m => m.from === v)
    if (step === undefined) {
      throw new StoreMigrationError(`no migration from store format ${v} to ${v + 1} in this build (the data dir has format ${from}, this build writes ${to}); ` +
        'upgrade through an intermediate release first')
    }
    path.push(step)
  }
  return path
}

async function openDb (dataDir: string, dir: string): Promise<FormatDb> {
  const db: FormatDb = new ClassicLevel<Buffer, Buffer>(dir, { keyEncoding: 'buffer', valueEncoding: 'buffer', createIfMissing: false })
  try {
    await db.open()
  } catch (err) {
    const e = err as { code?: string, cause?: { code?: string } }
    if (e?.code === 'LEVEL_LOCKED' || e?.cause?.code === 'LEVEL_LOCKED') throw new DataDirLockedError(dataDir, { cause: err })
    throw err
  }
  return db
}

/** Copies the closed raft dir to raft.bak-v<version> (via a temp name, so a half copy never looks complete). */
async function backup (dataDir: string, version: number): Promise<string> {
  const target = join(dataDir, backupDirName(version))
  // An interrupted earlier migration of the same version already saved the original: keep that one.
  if (existsSync(target)) return target
  const tmp = `${target}.tmp`
  await rm(tmp, { recursive: true, force: true })
  await cp(join(dataDir, 'raft'), tmp, { recursive: true, errorOnExist: true })
  await rename(tmp, target)
  return target
}

/**
 * Brings DATA_DIR/raft to the format this build writes, before RaftStore.open: nothing to do for a missing or
 * current store; an older one is backed up then migrated; a newer one is refused (StoreFormatTooNewError) with
 * nothing changed. A store without a version record is left for RaftStore.open to judge.
 */
export async function prepareStoreFormat (dataDir: string, opts: PrepareFormatOptions = {}): Promise<FormatOutcome> {
  const current = opts.current ?? STORE_FORMAT_VERSION
  const migrations = opts.migrations ?? MIGRATIONS
  const dir = join(dataDir, 'raft')
  if (!existsSync(join(dir, 'CURRENT'))) return { kind: 'absent' }
  let db = await openDb(dataDir, dir)
  let found: number | undefined
  try {
    found = decodeFormatVersion(await db.get(META.formatVersion))
  } finally {
    await db.close()
  }
  if (found === undefined || found === current) return found === undefined ? { kind: 'absent' } : { kind: 'current', version: found }
  if (found > current) throw new StoreFormatTooNewError(dataDir, found, current)
  const path = migrationPath(found, current, migrations)
  const backupDir = await backup(dataDir, found)
  opts.log?.(`store format ${found} is older than ${current}: backed up to ${backupDir}, migrating`)
  const steps: string[] = []
  db = await openDb(dataDir, dir)
  try {
    for (const step of path) {
      const ops = await step.plan(db)
      await db.batch([...ops, { type: 'put', key: META.formatVersion, value: encodeFormatVersion(step.from + 1) }], { sync: true })
      steps.push(`${step.from}→${step.from + 1}: ${step.describe}`)
      opts.log?.(`store format migrated ${step.from} → ${step.from + 1}: ${step.describe}`)
    }
  } finally {
    await db.close()
  }
  return { kind: 'migrated', from: found, to: current, backupDir, steps }
}
