// Test helpers for the store: temporary data dirs on real disk, entry builders, full scans.
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { setFlagsFromString } from 'node:v8'
import { runInNewContext } from 'node:vm'
import { ClassicLevel } from 'classic-level'
import type { Command, KeyValue, Txn } from '../../../src/api/kv.js'
import { encodeCommand, encodeLeaseCommand } from '../../../src/api/codec.js'
import type { LeaseOp } from '../../../src/api/kv.js'
import type { Entry } from '../../../src/raft/types.js'
import type { RaftStore } from '../../../src/store/index.js'

/** A fresh directory under os.tmpdir(); remove it with `cleanup`. */
export function tempDir (tag = 'store'): string {
  return mkdtempSync(join(tmpdir(), `aspen-test-${tag}-`))
}

/** Opens the LevelDB at `levelDir` (a data dir's `raft/`, or a backup of it) around `fn`, for tampering and inspection. */
export async function withRawDb<T> (levelDir: string, fn: (db: ClassicLevel<Buffer, Buffer>) => Promise<T>): Promise<T> {
  const db = new ClassicLevel<Buffer, Buffer>(levelDir, { keyEncoding: 'buffer', valueEncoding: 'buffer' })
  await db.open()
  try {
    return await fn(db)
  } finally {
    await db.close()
  }
}

/** Removes a temp dir (best effort, never throws). */
export function cleanup (dir: string): void {
  rmSync(dir, { recursive: true, force: true })
}

/** UTF-8 bytes. */
export function b (s: string): Uint8Array {
  return new TextEncoder().encode(s)
}

/** Bytes as UTF-8 text. */
export function s (u: Uint8Array | undefined): string | undefined {
  return u === undefined ? undefined : new TextDecoder().decode(u)
}

/** A normal entry carrying `txn` (or an empty no-op when txn is undefined). */
export function entry (index: number, term: number, txn?: Txn, requestId = `r${index}`): Entry {
  const cmd: Command | undefined = txn === undefined ? undefined : { requestId: b(requestId), txn }
  return { index, term, type: 'normal', data: cmd === undefined ? new Uint8Array(0) : encodeCommand(cmd) }
}

/** A normal entry carrying a lease command. */
export function leaseEntry (index: number, term: number, lease: LeaseOp, requestId = `l${index}`): Entry {
  return { index, term, type: 'normal', data: encodeLeaseCommand({ requestId: b(requestId), lease }) }
}

/** Appends and commits one lease command after the store's last index; returns its apply result. */
export async function commitLease (store: RaftStore, lease: LeaseOp, term = 1): Promise<Awaited<ReturnType<RaftStore['persist']>>[number]> {
  const st = store.status()
  const e = leaseEntry(st.lastIndex + 1, term, lease)
  const [r] = await store.persist({ entries: [e], hardState: { term, vote: 1, commit: e.index }, committedEntries: [e] })
  return r
}

/** Raw bytes as a normal entry (for garbage and over-limit payloads). */
export function rawEntry (index: number, term: number, data: Uint8Array): Entry {
  return { index, term, type: 'normal', data }
}

/**
 * Appends and commits `txns` as entries after the store's last index (single-node style, one synced batch) and
 * returns the apply results.
 */
export async function commit (store: RaftStore, txns: Array<Txn | undefined>, term = 1): Promise<Awaited<ReturnType<RaftStore['persist']>>> {
  const st = store.status()
  const entries = txns.map((t, i) => entry(st.lastIndex + 1 + i, term, t))
  const last = st.lastIndex + txns.length
  return await store.persist({ entries, hardState: { term, vote: 1, commit: last }, committedEntries: entries })
}

/** Every key-value of the applied state, paging with continuation tokens. */
export async function scanAll (store: RaftStore, pageLimit = 1000): Promise<KeyValue[]> {
  const out: KeyValue[] = []
  let start: Uint8Array = new Uint8Array(0)
  for (;;) {
    const page = await store.range({ start, end: new Uint8Array(0), limit: pageLimit })
    out.push(...page.kvs)
    if (!page.more) return out
    start = page.next as Uint8Array
  }
}

/** Runs a full garbage collection (exposed at run time) so memory baselines do not include stale garbage. */
export function gc (): void {
  setFlagsFromString('--expose-gc')
  const collect = runInNewContext('gc') as () => void
  collect()
}
