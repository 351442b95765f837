// The chaos run's client history: every operation with its invocation and response time (one monotonic clock in
// the harness process) and what the client learnt. Streamed to a JSON-lines file as it happens, so a failed run
// leaves the whole history for analysis; the checker gets the same records in memory.
import { createWriteStream, type WriteStream } from 'node:fs'
import type { KvInput, KvOperation, Outcome } from '../sim/linearizability.js'

/** One recorded operation. `unique` writes go to keys of their own and are checked for loss at the end. */
export interface ChaosOp {
  client: number
  input: KvInput
  call: number
  return: number | null
  outcome: Outcome
  value?: string | null
  /** Node the worker prefers (its first contact). */
  via: number
  /** Error code when the operation failed or its outcome is unknown. */
  error?: string
  unique?: boolean
}

/** Most operations held in memory (one per line on disk as well); a run beyond it stops its clients. */
export const MAX_HISTORY_OPS = 5_000_000

/** Collects operations in memory and on disk. */
export class HistoryRecorder {
  readonly ops: ChaosOp[] = []
  private readonly out: WriteStream
  private closed = false

  constructor (readonly path: string) {
    this.out = createWriteStream(path, { flags: 'w' })
  }

  get full (): boolean { return this.ops.length >= MAX_HISTORY_OPS }

  /** Records one finished (or given up) operation. */
  record (op: ChaosOp): void {
    if (this.full || this.closed) return
    this.ops.push(op)
    this.out.write(JSON.stringify(op) + '\n')
  }

  /** Flushes and closes the file. */
  async close (): Promise<void> {
    if (this.closed) return
    this.closed = true
    await new Promise<void>((resolve) => { this.out.end(resolve) })
  }
}

/** The operations in the checker's shape. */
export function toKvOperations (ops: readonly ChaosOp[]): KvOperation[] {
  return ops.map(o => ({
    client: o.client,
    input: o.input,
    call: o.call,
    return: o.return,
    outcome: o.outcome,
    ...(o.value !== undefined ? { value: o.value } : {})
  }))
}
