// The public TypeScript client: connect with a ticket (or bootstrap multiaddrs) and the cookie, then put / get /
// del / scan / cas / txn with typed results and errors. It holds one libp2p host (dial-only, sealed by the
// cookie's pnet key) and one client stream per node it talks to. Writes go to whichever node it reaches (followers
// forward to the leader); on NOT_LEADER it follows the leader hint; reads are retried on another node when a
// connection fails (they are idempotent), writes never are (their outcome would be unknown).
import { generateKeyPair } from '@libp2p/crypto/keys'
import { createHost, deriveClusterKeys, openClientConnection, parseTicket } from '../p2p/index.js'
import type { AspenHost, ClientConnection, ClientResponse, PeerAddress } from '../p2p/index.js'
import { decodeTxnResponse, encodeTxn } from '../api/codec.js'
import { ops, prefixRange } from '../api/kv.js'
import type { KeyValue, OpResponse, RangeResponse, Txn, TxnResponse } from '../api/kv.js'
import { AspenError } from '../errors.js'
import { writeBackup, type BackupOptions, type BackupResult } from './backup.js'

export type ReadConsistency = 'linearizable' | 'lease' | 'stale'

export interface ConnectOptions {
  /** `aspen1…` ticket (from `aspen cluster ticket` or DATA_DIR/run/ticket). */
  ticket?: string
  /** Or multiaddrs ending in /p2p/<peer id>. */
  bootstrap?: string[]
  /** The cluster cookie (never sent: it only derives the keys that seal connections). */
  cookie: string
  /** Default deadline of a request in ms (default 5000). */
  timeoutMs?: number
}

/** An error the cluster answered with (its `code` is the server's: NOT_LEADER, NO_QUORUM, KEY_TOO_LARGE, ...). */
export class ClusterError extends AspenError {
  constructor (readonly code: string, message: string, readonly leaderHint?: number) { super(message) }
}

/** No node of the cluster could be reached. */
export class UnreachableError extends AspenError {
  readonly code = 'UNREACHABLE'
}

/** Nothing is stored under the key. */
export class KeyNotFoundError extends AspenError {
  readonly code = 'KEY_NOT_FOUND'
}

const enc = new TextEncoder()
/** Accepts strings (UTF-8) or bytes wherever the API takes a key or value. */
export type Bytes = Uint8Array | string
const bytes = (b: Bytes): Uint8Array => typeof b === 'string' ? enc.encode(b) : b

/** Transport failures (timeouts, closed connections) surface as ClusterError with the transport's code. */
function asClusterError (err: unknown): AspenError {
  if (err instanceof ClusterError || err instanceof UnreachableError) return err
  if (err instanceof AspenError) return new ClusterError(err.code, err.message)
  return new ClusterError('INTERNAL', err instanceof Error ? err.message : String(err))
}

/** Most redirects followed for one request. */
const MAX_REDIRECTS = 3

/** A connection to an Aspen cluster. */
export class AspenClient {
  private readonly conns = new Map<string, Promise<ClientConnection>>()
  private preferred: string | undefined

  private constructor (private readonly host: AspenHost, private readonly peers: PeerAddress[], readonly timeoutMs: number) {}

  /** Connects to a cluster; fails with UnreachableError if no node answers within the timeout. */
  static async connect (opts: ConnectOptions): Promise<AspenClient> {
    const keys = deriveClusterKeys(opts.cookie)
    const peers: PeerAddress[] = []
    if (opts.ticket !== undefined) {
      const t = parseTicket(opts.ticket)
      if (t.clusterId !== keys.clusterId) {
        throw new ClusterError('WRONG_COOKIE', `the ticket is for cluster ${t.clusterId} but the cookie is for cluster ${keys.clusterId}: use that cluster's cookie`)
      }
      for (const p of t.peers) peers.push({ peerId: p.peerId, addrs: p.addrs })
    }
    for (const a of opts.bootstrap ?? []) {
      const m = /\/p2p\/([^/]+)$/.exec(a)
      if (m === null) throw new ClusterError('BAD_ADDRESS', `bootstrap address ${a} must end with /p2p/<peer id>`)
      peers.push({ peerId: m[1], addrs: [a.slice(0, a.length - m[0].length)] })
    }
    if (peers.length === 0) throw new ClusterError('BAD_ADDRESS', 'connect needs a ticket or at least one bootstrap address')
    const host = await createHost({ privateKey: await generateKeyPair('Ed25519'), keys, listen: [], autonat: false })
    const c = new AspenClient(host, peers, opts.timeoutMs ?? 5000)
    try {
      await c.connection(undefined, c.timeoutMs)
    } catch (err) {
      await c.close()
      throw err
    }
    return c
  }

  /** Closes every stream and the host. */
  async close (): Promise<void> {
    for (const p of this.conns.values()) {
      const c = await p.catch(() => undefined)
      await c?.close().catch(() => {})
    }
    this.conns.clear()
    await this.host.stop()
  }

  private async connectTo (peer: PeerAddress, timeoutMs: number): Promise<ClientConnection> {
    const cached = this.conns.get(peer.peerId)
    if (cached !== undefined) {
      const c = await cached.catch(() => undefined)
      if (c !== undefined && !c.closed) return c
      this.conns.delete(peer.peerId)
    }
    const p = openClientConnection(this.host, peer, { dialTimeoutMs: Math.min(timeoutMs, 5000) })
    this.conns.set(peer.peerId, p)
    p.catch(() => { if (this.conns.get(peer.peerId) === p) this.conns.delete(peer.peerId) })
    return await p
  }

  /** A connection to `peer`, or to the preferred node, or to the first node of the ticket that answers. */
  private async connection (peer: PeerAddress | undefined, timeoutMs: number): Promise<ClientConnection> {
    if (peer !== undefined) return await this.connectTo(peer, timeoutMs)
    const order = [...this.peers].sort((a, b) => (a.peerId === this.preferred ? -1 : b.peerId === this.preferred ? 1 : 0))
    let last: unknown
    for (const p of order) {
      try {
        const c = await this.connectTo(p, timeoutMs)
        this.preferred = p.peerId
        return c
      } catch (err) {
        last = err
      }
    }
    throw new UnreachableError(`no node of the cluster answered (${order.length} tried): ${last instanceof Error ? last.message : String(last)}`)
  }

  /** Sends one request, following leader hints; `idempotent` requests are retried on other nodes on connection loss. */
  async call (method: string, body: Uint8Array, opts: { timeoutMs?: number, idempotent?: boolean } = {}): Promise<Uint8Array> {
    const timeoutMs = opts.timeoutMs ?? this.timeoutMs
    const deadline = performance.now() + timeoutMs
    let target: PeerAddress | undefined
    let lastErr: unknown
    for (let attempt = 0; attempt <= MAX_REDIRECTS + this.peers.length; attempt++) {
      const left = deadline - performance.now()
      if (left <= 0) break
      let res: ClientResponse
      try {
        const conn = await this.connection(target, left)
        res = await conn.request(method, body, { deadlineMs: Math.max(1, Math.ceil(deadline - performance.now())) })
      } catch (err) {
        lastErr = err
        if (opts.idempotent !== true) throw asClusterError(err)
        if (target !== undefined) this.conns.delete(target.peerId)
        else if (this.preferred !== undefined) { this.conns.delete(this.preferred); this.preferred = this.peers.find(p => p.peerId !== this.preferred)?.peerId }
        target = undefined
        continue
      }
      if (res.error === undefined) return res.body
      const redirectable = res.error.code === 'NOT_LEADER' || res.error.code === 'NOT_MEMBER'
      if (redirectable && res.leaderHint?.peerId !== undefined && attempt < MAX_REDIRECTS) {
        target = { peerId: res.leaderHint.peerId, addrs: res.leaderHint.addrs ?? [] }
        if (!this.peers.some(p => p.peerId === target?.peerId)) this.peers.push(target)
        continue
      }
      if (res.error.code === 'NOT_MEMBER') {
        // A removed node without a hint: try the next node we know.
        const bad = target?.peerId ?? this.preferred
        this.preferred = this.peers.find(p => p.peerId !== bad)?.peerId
        target = undefined
        lastErr = new ClusterError(res.error.code, res.error.message)
        continue
      }
      throw new ClusterError(res.error.code, res.error.message, res.leaderHint?.nodeId)
    }
    if (lastErr !== undefined) throw asClusterError(lastErr)
    throw new ClusterError('TIMEOUT', `no answer within ${timeoutMs} ms`)
  }

  /** Runs a transaction atomically through the log. */
  async txn (txn: Txn, opts: { timeoutMs?: number } = {}): Promise<TxnResponse> {
    return decodeTxnResponse(await this.call('kv.txn', encodeTxn(txn), opts))
  }

  /** Puts `value` under `key`; resolves with the revision it was applied at. */
  async put (key: Bytes, value: Bytes, opts: { timeoutMs?: number } = {}): Promise<{ revision: number }> {
    const r = await this.txn(ops.put(bytes(key), bytes(value)), opts)
    return { revision: r.revision }
  }

  /** Deletes `key`; resolves with how many keys were deleted (0 or 1). */
  async del (key: Bytes, opts: { timeoutMs?: number } = {}): Promise<{ deleted: number, revision: number }> {
    const r = await this.txn(ops.del(bytes(key)), opts)
    const d = r.responses[0]
    return { deleted: d?.type === 'delete' ? d.deleted : 0, revision: r.revision }
  }

  /** Compare-and-set: writes `value` only if the current value equals `expected` (undefined: the key must be absent). */
  async cas (key: Bytes, expected: Bytes | undefined, value: Bytes, opts: { timeoutMs?: number } = {}): Promise<{ succeeded: boolean, revision: number, current?: KeyValue }> {
    const r = await this.txn(ops.cas(bytes(key), expected === undefined ? undefined : bytes(expected), bytes(value)), opts)
    const g = r.succeeded ? undefined : r.responses[0]
    return { succeeded: r.succeeded, revision: r.revision, ...(g?.type === 'get' && g.kv !== undefined ? { current: g.kv } : {}) }
  }

  private async read (txn: Txn, consistency: ReadConsistency, timeoutMs?: number): Promise<OpResponse[]> {
    const body = await this.call(`kv.read.${consistency}`, encodeTxn(txn), { timeoutMs, idempotent: true })
    return decodeTxnResponse(body).responses
  }

  /** Reads `key` (linearizable by default); undefined when absent. */
  async get (key: Bytes, opts: { consistency?: ReadConsistency, timeoutMs?: number } = {}): Promise<KeyValue | undefined> {
    const [r] = await this.read({ compare: [], success: [{ type: 'get', key: bytes(key) }], failure: [] }, opts.consistency ?? 'linearizable', opts.timeoutMs)
    return r?.type === 'get' ? r.kv : undefined
  }

  /** One page of keys under `prefix` (or in [start, end)); pass `next` back as `after` for the following page. */
  async scan (prefix: Bytes, opts: { limit?: number, after?: Uint8Array, consistency?: ReadConsistency, timeoutMs?: number, keysOnly?: boolean } = {}): Promise<RangeResponse> {
    const { start, end } = prefixRange(bytes(prefix))
    const [r] = await this.read({ compare: [], success: [{ type: 'range', start: opts.after ?? start, end, limit: opts.limit ?? 0, keysOnly: opts.keysOnly }], failure: [] }, opts.consistency ?? 'linearizable', opts.timeoutMs)
    if (r?.type !== 'range') throw new ClusterError('INTERNAL', 'unexpected response to a range read')
    return r
  }

  /** Calls a cluster-control method with a JSON body and returns its JSON answer. */
  async control<T> (method: string, body: unknown = {}, opts: { timeoutMs?: number, idempotent?: boolean } = {}): Promise<T> {
    const res = await this.call(method, enc.encode(JSON.stringify(body)), opts)
    return JSON.parse(new TextDecoder().decode(res)) as T
  }

  /**
   * Writes a consistent backup of the whole key space (taken by the leader at a committed index) to the file
   * `out`, atomically: `out` ends up holding the whole checksummed backup or is left as it was.
   */
  async backup (out: string, opts: BackupOptions = {}): Promise<BackupResult> {
    return await writeBackup(this, out, opts)
  }

  /** Sends the request to one specific node (by peer id and addresses), e.g. for its own status. */
  async controlAt<T> (peer: PeerAddress, method: string, body: unknown = {}, opts: { timeoutMs?: number } = {}): Promise<T> {
    const timeoutMs = opts.timeoutMs ?? this.timeoutMs
    const conn = await this.connectTo(peer, timeoutMs)
    const res = await conn.request(method, enc.encode(JSON.stringify(body)), { deadlineMs: timeoutMs })
    if (res.error !== undefined) throw new ClusterError(res.error.code, res.error.message, res.leaderHint?.nodeId)
    return JSON.parse(new TextDecoder().decode(res.body)) as T
  }
}

/** Connects to an Aspen cluster (see ConnectOptions). */
export async function connect (opts: ConnectOptions): Promise<AspenClient> {
  return await AspenClient.connect(opts)
}
