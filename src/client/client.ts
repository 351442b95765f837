// The public TypeScript client: connect with a ticket (or bootstrap multiaddrs) and the cookie, then put / get /
// del / scan / cas / txn with typed results and errors. It holds one libp2p host (dial-only, sealed by the
// cookie's pnet key) and one client stream per node it talks to. Writes go to whichever node it reaches (followers
// forward to the leader); on NOT_LEADER it follows the leader hint; reads are retried on another node when a
// connection fails (they are idempotent), writes never are (their outcome would be unknown).
import { generateKeyPair } from '@libp2p/crypto/keys'
import { createHost, deriveClusterKeys, openClientConnection, parseTicket } from '../p2p/index.js'
import type { AspenHost, ClientConnection, ClientResponse, PeerAddress } from '../p2p/index.js'
import { decodeTxnResponse, decodeWatchAnswer, encodeTxn, encodeWatchRequest } from '../api/codec.js'
import { ops, prefixEnd, prefixRange } from '../api/kv.js'
import type { KeyValue, OpResponse, RangeResponse, Txn, TxnResponse } from '../api/kv.js'
import { setImmediate as yieldToEventLoop } from 'node:timers/promises'
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

/** A watch asked for revisions the cluster no longer keeps; resume from `oldestRevision` (after re-reading the state). */
export class WatchCompactedError extends AspenError {
  readonly code = 'COMPACTED'
  constructor (readonly requestedRevision: number, readonly oldestRevision: number) {
    super(`revision ${requestedRevision} is compacted; the oldest revision still available is ${oldestRevision}: re-read the keys, then watch from there`)
  }
}

/** One change seen by a watch. A delete carries the key, `modRevision` = the deleting revision, and zeros elsewhere. */
export interface WatchEvent extends KeyValue {
  type: 'put' | 'delete'
}

export interface WatchOptions {
  /** First revision to report (default: the next one, i.e. only changes from now on). */
  fromRevision?: number
  /** Watch exactly this key instead of every key with this prefix. */
  exact?: boolean
  /** Ends the watch (the iterator then finishes without an error). */
  signal?: AbortSignal
  /** How long a node may hold one poll when nothing changes (default 10 s). */
  pollMs?: number
  /** Give up with UnreachableError after this long without any node answering (default 30 s). */
  reconnectTimeoutMs?: number
}

/** A lease as the leader reports it. */
export interface LeaseStatus {
  id: number
  ttlSeconds: number
  grantRevision: number
  /** Milliseconds until the leader ends it (never less than promised by the last keep-alive). */
  remainingMs: number
  /** Keys attached (base64), when asked for. */
  keys?: string[]
}

/** Codes after which a watch poll is retried on another member. */
const WATCH_RETRY_CODES = new Set(['NOT_MEMBER', 'NO_QUORUM', 'NOT_LEADER', 'STOPPING', 'UNAVAILABLE', 'OVERLOADED', 'TIMEOUT', 'INTERNAL', 'CONNECTION_CLOSED'])

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
  /** Separate streams for watch polls, so held polls never delay other requests. */
  private readonly watchConns = new Map<string, Promise<ClientConnection>>()
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
    for (const p of [...this.conns.values(), ...this.watchConns.values()]) {
      const c = await p.catch(() => undefined)
      await c?.close().catch(() => {})
    }
    this.conns.clear()
    this.watchConns.clear()
    await this.host.stop()
  }

  private async connectTo (peer: PeerAddress, timeoutMs: number, pool = this.conns): Promise<ClientConnection> {
    const cached = pool.get(peer.peerId)
    if (cached !== undefined) {
      const c = await cached.catch(() => undefined)
      if (c !== undefined && !c.closed) return c
      pool.delete(peer.peerId)
    }
    // the dial gets the request's deadline (up to 15 s): a loaded machine may need more than a few seconds
    const p = openClientConnection(this.host, peer, { dialTimeoutMs: Math.min(timeoutMs, 15_000) })
    pool.set(peer.peerId, p)
    p.catch(() => { if (pool.get(peer.peerId) === p) pool.delete(peer.peerId) })
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

  /**
   * Sends one request, following leader hints; `idempotent` requests are retried on other nodes on connection loss.
   * A failure is reported only after the event loop turned once: some failures (a stopped host, a full dial queue)
   * settle through promises alone, and a caller retrying in a loop would otherwise starve every timer and socket
   * of the process, including the ones that would end the failure.
   */
  async call (method: string, body: Uint8Array, opts: { timeoutMs?: number, idempotent?: boolean } = {}): Promise<Uint8Array> {
    try {
      return await this.send(method, body, opts)
    } catch (err) {
      await yieldToEventLoop()
      throw err
    }
  }

  private async send (method: string, body: Uint8Array, opts: { timeoutMs?: number, idempotent?: boolean }): Promise<Uint8Array> {
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

  /** Puts `value` under `key` (attached to `lease` when given); resolves with the revision it was applied at. */
  async put (key: Bytes, value: Bytes, opts: { timeoutMs?: number, lease?: number } = {}): Promise<{ revision: number }> {
    const r = await this.txn(ops.put(bytes(key), bytes(value), opts.lease !== undefined && opts.lease !== 0 ? { lease: opts.lease } : {}), opts)
    return { revision: r.revision }
  }

  /** Grants a lease of `ttlSeconds` (id chosen by the cluster unless given); keys put with it go when it expires. */
  async grantLease (ttlSeconds: number, opts: { id?: number, timeoutMs?: number } = {}): Promise<{ id: number, ttlSeconds: number }> {
    return await this.control('lease.grant', { ttlSeconds, id: opts.id ?? 0 }, { timeoutMs: opts.timeoutMs })
  }

  /** Restarts the TTL of lease `id` on the leader (ClusterError LEASE_NOT_FOUND once it expired or was revoked). */
  async keepAlive (id: number, opts: { timeoutMs?: number } = {}): Promise<{ id: number, ttlSeconds: number }> {
    return await this.control('lease.keepAlive', { id }, { timeoutMs: opts.timeoutMs, idempotent: true })
  }

  /** Ends lease `id` now and deletes its keys. */
  async revokeLease (id: number, opts: { timeoutMs?: number } = {}): Promise<{ id: number, deleted: number }> {
    return await this.control('lease.revoke', { id }, { timeoutMs: opts.timeoutMs })
  }

  /** Every lease with its remaining time (as the leader sees it). */
  async leases (opts: { timeoutMs?: number } = {}): Promise<LeaseStatus[]> {
    return (await this.control<{ leases: LeaseStatus[] }>('lease.list', {}, { timeoutMs: opts.timeoutMs, idempotent: true })).leases
  }

  /** Lease `id` with its remaining time (and up to 1000 attached keys, base64, with `keys`). */
  async timeToLive (id: number, opts: { keys?: boolean, timeoutMs?: number } = {}): Promise<LeaseStatus> {
    return await this.control('lease.timeToLive', { id, keys: opts.keys === true }, { timeoutMs: opts.timeoutMs, idempotent: true })
  }

  /** Adds the members the cluster reports (with the addresses discovery found) to the nodes this client may use. */
  private async learnMembers (): Promise<void> {
    try {
      const st = await this.control<StatusPeers>('cluster.status', {}, { idempotent: true })
      const members = new Set((st.members ?? []).map(m => m.peerId).filter((p): p is string => p !== null))
      for (const p of st.peers ?? []) {
        if (!members.has(p.peerId) || this.peers.some(q => q.peerId === p.peerId)) continue
        const addrs = p.addrs.map(a => a.replace(/\/p2p\/[^/]+$/, '')).filter(a => a.length > 0).slice(0, 8)
        if (addrs.length > 0 && this.peers.length < 64) this.peers.push({ peerId: p.peerId, addrs })
      }
    } catch {
      // best effort: the watch still works with the nodes the ticket named
    }
  }

  /**
   * Streams every change under `prefixOrKey` in revision order, from `fromRevision` (default: from now on), with no
   * gaps and no repeats. The node serving it may die or lose leadership: the watch moves to another member and
   * resumes after the last revision it reported. Throws WatchCompactedError when the revisions asked for are gone.
   */
  async * watch (prefixOrKey: Bytes, opts: WatchOptions = {}): AsyncGenerator<WatchEvent> {
    const start = bytes(prefixOrKey)
    const end = opts.exact === true ? Uint8Array.from([...start, 0]) : prefixEnd(start)
    const pollMs = opts.pollMs ?? 10_000
    const giveUpMs = opts.reconnectTimeoutMs ?? 30_000
    let next = opts.fromRevision ?? 0
    if (next === 0) {
      // a linearizable read answers with the applied revision it was served at: watch what comes after it
      const r = await this.call('kv.read.linearizable', encodeTxn({ compare: [], success: [{ type: 'get', key: start.length > 0 ? start : new Uint8Array([0]) }], failure: [] }), { idempotent: true })
      next = decodeTxnResponse(r).revision + 1
    }
    await this.learnMembers()
    let peerIndex = Math.max(0, this.peers.findIndex(p => p.peerId === this.preferred))
    let failingSince: number | undefined
    const aborted = (): boolean => opts.signal?.aborted === true
    while (!aborted()) {
      const peer = this.peers[peerIndex % this.peers.length]
      let answer
      try {
        const conn = await this.connectTo(peer, this.timeoutMs, this.watchConns)
        const res = await conn.request('kv.watch', encodeWatchRequest({ start, end, fromRevision: next, waitMs: pollMs, limit: 0 }), { deadlineMs: pollMs + this.timeoutMs, signal: opts.signal })
        if (res.error !== undefined) {
          if (!WATCH_RETRY_CODES.has(res.error.code)) throw new ClusterError(res.error.code, res.error.message, res.leaderHint?.nodeId)
          throw new WatchRetry(res.error.code, res.error.message)
        }
        answer = decodeWatchAnswer(res.body)
      } catch (err) {
        if (aborted()) return
        if (err instanceof ClusterError) throw err
        // the node is gone, stopping or not serving: try the next member, resuming at `next`
        this.watchConns.delete(peer.peerId)
        peerIndex++
        failingSince ??= performance.now()
        if (performance.now() - failingSince > giveUpMs) throw new UnreachableError(`watch: no member answered for ${giveUpMs} ms: ${err instanceof Error ? err.message : String(err)}`)
        await new Promise(resolve => setTimeout(resolve, Math.min(200, 20 * peerIndex)))
        continue
      }
      failingSince = undefined
      if (answer.compacted) throw new WatchCompactedError(next, answer.oldestRevision)
      for (const e of answer.events) yield { type: e.type, ...e.kv }
      if (answer.nextRevision < next) throw new ClusterError('INTERNAL', `watch went back from revision ${next} to ${answer.nextRevision}`)
      next = answer.nextRevision
    }
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

/** A member as cluster.status lists it (only the fields the client uses). */
interface StatusPeers {
  members?: Array<{ nodeId: number, peerId: string | null }>
  peers?: Array<{ peerId: string, nodeId: number | null, addrs: string[] }>
}

/** A watch poll answered with an error worth retrying elsewhere. */
class WatchRetry extends AspenError {
  constructor (readonly code: string, message: string) { super(message) }
}

/** Connects to an Aspen cluster (see ConnectOptions). */
export async function connect (opts: ConnectOptions): Promise<AspenClient> {
  return await AspenClient.connect(opts)
}
