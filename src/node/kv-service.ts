// The KV service of one node: writes go through the log (validate → propose → answer after apply), reads are
// served from the applied state after a ReadIndex barrier (linearizable), or at once (stale). It knows nothing of
// transports: the client protocol handler calls it, and forwards to the leader when this node is not it.
import { randomBytes } from 'node:crypto'
import { encodeCommand, encodeLeaseCommand, type CommandResult } from '../api/codec.js'
import type { GetOp, LeaseOp, OpResponse, RangeOp, RangeRequest, RangeResult, KeyValue, Txn, TxnResponse } from '../api/kv.js'
import { MAX_REQUEST_BYTES } from '../api/limits.js'
import { RequestTooLargeError } from '../api/errors.js'
import { validateKey, validateLeaseOp, validateLimit, validateRange, validateTxn } from '../api/validate.js'
import { AspenError } from '../errors.js'
import type { RaftDriver } from './raft-driver.js'

export type ReadConsistency = 'linearizable' | 'lease' | 'stale'

/** A command was refused at apply time by a deterministic check (a limit, a malformed op); nothing changed. */
export class CommandRefusedError extends AspenError {
  constructor (readonly code: string, message: string) { super(message) }
}

/** The read side of the store the service needs. */
export interface KvReader {
  get (key: Uint8Array): Promise<KeyValue | undefined>
  range (req: RangeRequest): Promise<RangeResult>
}

/** How a read was confirmed: a ReadIndex round, the leader lease, or not at all (stale or unsafe). */
export type ReadPath = 'readIndex' | 'lease' | 'local'

export interface KvServiceOptions {
  nodeId: number
  /** Called once per served read with how it was confirmed (metrics). */
  onRead?: (path: ReadPath) => void
  /** Test-only fault (chaos harness proves it can fail): serve linearizable reads without ReadIndex. */
  unsafeLocalReads?: boolean
  /** Refuses a client transaction before it is proposed (reserved keys; puts under a NOSPACE alarm). */
  admit?: (txn: Txn) => void
  /** Keys the cluster keeps for itself: never returned by reads. */
  hidden?: (key: Uint8Array) => boolean
}

/** Turns one applied command result into a response or a typed error. */
function unwrap (r: CommandResult): TxnResponse {
  if (r.ok) return r.response
  throw new CommandRefusedError(r.code, r.message)
}

/** Serves KV requests on one node. */
export class KvService {
  private readonly idPrefix: Buffer
  private seq = 0n

  constructor (private readonly driver: () => RaftDriver, private readonly reader: KvReader, private readonly opts: KvServiceOptions) {
    // node id + a per-boot nonce: request ids never repeat across restarts, so a late apply cannot answer a new waiter.
    this.idPrefix = Buffer.concat([Buffer.from(new Uint32Array([opts.nodeId]).buffer), randomBytes(4)])
  }

  private nextRequestId (): Uint8Array {
    const id = Buffer.allocUnsafe(16)
    this.idPrefix.copy(id, 0)
    id.writeBigUInt64BE(++this.seq, 8)
    return id
  }

  /** Runs a transaction through the log; resolves with its response once applied on this node. */
  async txn (txn: Txn, timeoutMs: number): Promise<TxnResponse> {
    validateTxn(txn)
    this.opts.admit?.(txn)
    const requestId = this.nextRequestId()
    const data = encodeCommand({ requestId, txn })
    if (data.length > MAX_REQUEST_BYTES) throw new RequestTooLargeError('request is too large', MAX_REQUEST_BYTES, data.length)
    const applied = await this.driver().propose(requestId, data, timeoutMs)
    return unwrap(applied)
  }

  /** Runs a lease command through the log; resolves with its response once applied on this node. */
  async lease (op: LeaseOp, timeoutMs: number): Promise<TxnResponse> {
    validateLeaseOp(op)
    const requestId = this.nextRequestId()
    return unwrap(await this.driver().propose(requestId, encodeLeaseCommand({ requestId, lease: op }), timeoutMs))
  }

  /** Serves read-only ops from the applied state at the requested consistency. */
  async read (ops: Array<GetOp | RangeOp>, consistency: ReadConsistency, timeoutMs: number): Promise<OpResponse[]> {
    for (const op of ops) {
      if (op.type === 'get') validateKey(op.key)
      else { validateRange(op.start, op.end); validateLimit(op.limit) }
    }
    let path: ReadPath = 'local'
    if (this.opts.unsafeLocalReads !== true) {
      if (consistency === 'linearizable') {
        await this.driver().readBarrier(timeoutMs)
        path = 'readIndex'
      } else if (consistency === 'lease') {
        path = await this.driver().leaseReadBarrier(timeoutMs)
      }
    }
    this.opts.onRead?.(path)
    const out: OpResponse[] = []
    const hidden = this.opts.hidden
    for (const op of ops) {
      if (op.type === 'get') {
        const kv = hidden?.(op.key) === true ? undefined : await this.reader.get(op.key)
        out.push(kv === undefined ? { type: 'get' } : { type: 'get', kv })
      } else {
        const r = await this.reader.range({ start: op.start, end: op.end, limit: op.limit, keysOnly: op.keysOnly })
        const kvs = hidden === undefined ? r.kvs : r.kvs.filter(kv => !hidden(kv.key))
        out.push({ type: 'range', kvs, more: r.more, ...(r.next !== undefined ? { next: r.next } : {}) })
      }
    }
    return out
  }
}
