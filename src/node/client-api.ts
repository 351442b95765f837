// The node's side of the client protocol: one handler per method. KV bodies are protobuf (src/api); cluster
// control bodies are small JSON documents. A follower forwards what needs the leader (writes, cluster changes)
// and serves linearizable reads itself after a ReadIndex round through the leader.
import type { ClientCall, ClientReply, ClientConnection, PeerAddress } from '../p2p/index.js'
import { openClientConnection } from '../p2p/index.js'
import { decodeTxn, decodeWatchRequest, encodeTxnResponse, encodeWatchAnswer } from '../api/codec.js'
import type { GetOp, RangeOp } from '../api/kv.js'
import { InvalidRequestError } from '../api/errors.js'
import { AspenError } from '../errors.js'
import type { AspenNode } from './node.js'
import { NotLeaderError, RequestTimeoutError } from './raft-driver.js'
import type { ReadConsistency } from './kv-service.js'
import { LeaseKeeper } from './lease-keeper.js'
import { WatchService } from './watch-service.js'
import { isSystemKey } from './alarm.js'
import { BackupSessions } from './backup.js'

/** Client methods (the wire names). */
export const METHODS = {
  txn: 'kv.txn',
  /** Reads: `kv.read.linearizable`, `kv.read.lease`, `kv.read.stale`; the body is a Txn of get/range ops. */
  read: 'kv.read',
  clusterInit: 'cluster.init',
  status: 'cluster.status',
  addLearner: 'cluster.addLearner',
  changeMembership: 'cluster.changeMembership',
  remove: 'cluster.remove',
  transferLeader: 'cluster.transferLeader',
  snapshot: 'cluster.snapshot',
  ticket: 'cluster.ticket',
  metrics: 'cluster.metrics',
  nodeInfo: 'node.info',
  /** Long-poll watch (protobuf WatchRequest → WatchResponse, version 1); served by any member. */
  watch: 'kv.watch',
  /** Lease methods (JSON bodies), served by the leader, which keeps lease deadlines. */
  leaseGrant: 'lease.grant',
  leaseKeepAlive: 'lease.keepAlive',
  leaseRevoke: 'lease.revoke',
  leaseList: 'lease.list',
  leaseTimeToLive: 'lease.timeToLive',
  /** Backups are pulled in pieces: open (JSON header), next (raw chunk bytes; empty = end), close. */
  backupOpen: 'cluster.backup.open',
  backupNext: 'cluster.backup.next',
  backupClose: 'cluster.backup.close',
  /** sha256 over this node's whole KV table at its applied index (compare replicas, or a restore with its backup). */
  kvHash: 'node.kvHash',
  /** Active alarms (NOSPACE) as the node reached has applied them. */
  alarmList: 'cluster.alarm.list',
  /** Compacts the node reached, then clears NOSPACE alarms (members still short of space raise theirs again). */
  alarmDisarm: 'cluster.alarm.disarm',
  /** Test-only: drop Raft frames to / from chosen node ids (refused unless ASPEN_TESTING=1 and [testing] fault_injection). */
  testingFaults: 'testing.faults'
} as const

/** No leader could be found (a minority partition, or an election in progress) before the deadline. */
export class NoQuorumError extends AspenError {
  readonly code = 'NO_QUORUM'
}

/** A test-only method was called on a node that does not run with ASPEN_TESTING=1 and `[testing] fault_injection = true`. */
export class TestingDisabledError extends AspenError {
  readonly code = 'TESTING_DISABLED'
}

/** Most node ids one fault-injection request may name. */
const MAX_FAULT_PEERS = 128

/** The method is not known to this node. */
export class UnknownMethodError extends AspenError {
  readonly code = 'UNKNOWN_METHOD'
}

const LEADER_ONLY = new Set<string>([METHODS.txn, METHODS.addLearner, METHODS.changeMembership, METHODS.remove, METHODS.transferLeader,
  METHODS.leaseGrant, METHODS.leaseKeepAlive, METHODS.leaseRevoke, METHODS.leaseList, METHODS.leaseTimeToLive,
  // a backup comes from the leader: the freshest committed state, and every piece from the node holding the session
  METHODS.backupOpen, METHODS.backupNext, METHODS.backupClose])

/** Largest JSON body accepted for control methods. */
const MAX_JSON_BODY = 64 * 1024

/** Parses a JSON control body; a typed error for anything that is not a JSON object. */
export function parseJsonBody (body: Uint8Array): Record<string, unknown> {
  if (body.length === 0) return {}
  if (body.length > MAX_JSON_BODY) throw new InvalidRequestError(`control request of ${body.length} bytes exceeds ${MAX_JSON_BODY}`)
  try {
    const o: unknown = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(body))
    if (typeof o !== 'object' || o === null || Array.isArray(o)) throw new Error('not an object')
    return o as Record<string, unknown>
  } catch (err) {
    throw new InvalidRequestError(`control request body is not a JSON object: ${err instanceof Error ? err.message : String(err)}`)
  }
}

/** Encodes a JSON control response. */
export function jsonBody (o: unknown): Uint8Array {
  return new TextEncoder().encode(JSON.stringify(o))
}

function readConsistency (s: unknown): ReadConsistency {
  if (s === undefined || s === '' || s === 'linearizable') return 'linearizable'
  if (s === 'lease' || s === 'stale') return s
  throw new InvalidRequestError(`unknown read consistency "${String(s)}": use linearizable, lease or stale`)
}

/** Dispatches client calls for one node. */
export class ClientApi {
  private leaderConn: { peerId: string, conn: Promise<ClientConnection> } | undefined
  /** kv.watch calls over the store's change events. */
  readonly watches: WatchService
  /** Lease deadlines and expiry (acting while this node leads). */
  readonly leases: LeaseKeeper
  private backupSessions: BackupSessions | undefined

  constructor (private readonly node: AspenNode) {
    this.watches = new WatchService(node.store, isSystemKey)
    this.leases = new LeaseKeeper({
      leases: () => node.store.leaseValues(),
      lease: (id) => node.store.lease(id),
      leaderTerm: () => {
        const st = node.rawNode.status()
        return st.softState.role === 'leader' ? st.hardState.term : undefined
      },
      propose: async (op, timeoutMs) => await node.kv.lease(op, timeoutMs),
      now: () => performance.now(),
      electionTimeoutMs: node.electionTimeoutMs(),
      proposeTimeoutMs: node.config.requestTimeoutMs,
      onExpired: (id) => { node.log.info({ lease: id }, `lease ${id} expired; its keys were deleted`) },
      onError: (err, id) => { node.log.warn({ lease: id, err: err instanceof Error ? err.message : String(err) }, `ending lease ${id} failed; retrying`) }
    })
    this.leases.start()
  }

  /** Handles one call; every failure becomes a typed error reply (never an exception out of here). */
  async handle (call: ClientCall): Promise<ClientReply> {
    // Answer a little before the client gives up, so it gets our typed error (NO_QUORUM...) rather than its own timeout.
    const asked = call.deadlineMs > 0 ? call.deadlineMs : this.node.config.requestTimeoutMs
    const timeoutMs = Math.max(1, Math.floor(asked * 0.9) - 20)
    const deadline = performance.now() + timeoutMs
    try {
      if (call.method.startsWith('kv.') && !this.node.isMember()) {
        const leader = this.node.driver.leader()
        return {
          error: { code: 'NOT_MEMBER', message: `node ${this.node.nodeId} is not a member of the cluster (removed, or not yet added); ask another node` },
          ...(leader !== 0 && leader !== this.node.nodeId ? { leaderHint: this.leaderHint(leader) } : {})
        }
      }
      if (LEADER_ONLY.has(call.method)) {
        const leader = await this.awaitLeader(deadline)
        if (leader !== this.node.nodeId) return await this.forward(leader, call, deadline)
      } else if (call.method === `${METHODS.read}.lease`) {
        // Only the leader holds the lease: a follower forwards (one hop) rather than run a ReadIndex round (two).
        const leader = await this.awaitLeader(deadline)
        if (leader !== this.node.nodeId) return await this.forward(leader, call, deadline)
      } else if (call.method === `${METHODS.read}.linearizable`) {
        // The core drops a ReadIndex request while it knows no leader: wait for one first (or answer NO_QUORUM).
        await this.awaitLeader(deadline)
      }
      return { body: await this.dispatch(call, Math.max(1, Math.ceil(deadline - performance.now()))) }
    } catch (err) {
      this.node.metrics.requests.inc({ method: call.method, code: err instanceof AspenError ? err.code : 'INTERNAL' })
      return this.errorReply(err)
    }
  }

  private errorReply (err: unknown): ClientReply {
    let e = err
    if (e instanceof RequestTimeoutError && this.node.driver.leader() === 0) {
      e = new NoQuorumError('no leader: the cluster has no quorum reachable from this node (or an election is running); retry later')
    }
    if (e instanceof AspenError) {
      const leader = this.node.driver.leader()
      const hint = e instanceof NotLeaderError && leader !== 0 ? this.leaderHint(leader) : undefined
      return { error: { code: e.code, message: e.message }, ...(hint !== undefined ? { leaderHint: hint } : {}) }
    }
    return { error: { code: 'INTERNAL', message: err instanceof Error ? err.message : String(err) } }
  }

  private leaderHint (leader: number): { nodeId: number, peerId?: string, addrs?: string[] } {
    const p = this.node.resolvePeer(leader)
    return { nodeId: leader, ...(p !== undefined ? { peerId: p.peerId, addrs: [...p.addrs] } : {}) }
  }

  /** Waits until some leader is known (polling the core each tick), or fails with NoQuorum at the deadline. */
  async awaitLeader (deadline: number): Promise<number> {
    const tick = this.node.config.raft.timing.tickMs
    while (true) {
      const l = this.node.driver.leader()
      if (l !== 0) return l
      if (performance.now() + tick > deadline) {
        throw new NoQuorumError('no leader: the cluster has no quorum reachable from this node (or an election is running); retry later')
      }
      await new Promise(resolve => setTimeout(resolve, tick))
    }
  }

  private async forward (leader: number, call: ClientCall, deadline: number): Promise<ClientReply> {
    const target = this.node.resolvePeer(leader)
    if (target === undefined) throw new NotLeaderError(`node ${this.node.nodeId} is not the leader and does not know how to reach leader ${leader}`, leader)
    const conn = await this.connectionTo(target)
    const res = await conn.request(call.method, call.body, { deadlineMs: Math.max(1, Math.ceil(deadline - performance.now())), signal: call.signal })
    return { body: res.body, ...(res.error !== undefined ? { error: res.error } : {}), ...(res.leaderHint !== undefined ? { leaderHint: res.leaderHint } : {}) }
  }

  private async connectionTo (target: PeerAddress): Promise<ClientConnection> {
    const cur = this.leaderConn
    if (cur !== undefined && cur.peerId === target.peerId) {
      const c = await cur.conn.catch(() => undefined)
      if (c !== undefined && !c.closed) return c
    }
    const conn = openClientConnection(this.node.host, target, { dialTimeoutMs: 3000 })
    this.leaderConn = { peerId: target.peerId, conn }
    conn.catch(() => { if (this.leaderConn?.conn === conn) this.leaderConn = undefined })
    return await conn
  }

  /** The backup sessions of this node, created on first use. */
  private backups (): BackupSessions {
    const node = this.node
    this.backupSessions ??= new BackupSessions({
      nodeId: node.nodeId,
      clusterId: node.p2p.clusterId,
      waitApplied: async (deadline) => {
        // every write acknowledged before the backup was asked for is committed by now: wait until it is applied
        const commit = node.rawNode.status().hardState.commit
        while (node.store.status().applied < commit) {
          if (performance.now() > deadline) throw new RequestTimeoutError(`node ${node.nodeId} did not apply up to ${commit} in time for the backup`)
          await new Promise(resolve => setTimeout(resolve, node.config.raft.timing.tickMs))
        }
      },
      openReader: async () => await node.store.openSnapshotReader()
    })
    return this.backupSessions
  }

  /** Closes the forwarding connection. */
  async close (): Promise<void> {
    this.leases.stop()
    await this.backupSessions?.closeAll()
    const c = await this.leaderConn?.conn.catch(() => undefined)
    this.leaderConn = undefined
    await c?.close()
  }

  private async dispatch (call: ClientCall, timeoutMs: number): Promise<Uint8Array> {
    const node = this.node
    const ctl = node.control
    switch (call.method) {
      case METHODS.txn: {
        const r = await node.kv.txn(decodeTxn(call.body), timeoutMs)
        node.metrics.requests.inc({ method: call.method, code: 'OK' })
        return encodeTxnResponse(r)
      }
      case `${METHODS.read}.linearizable`:
      case `${METHODS.read}.lease`:
      case `${METHODS.read}.stale`: {
        const consistency = readConsistency(call.method.slice(METHODS.read.length + 1))
        const txn = decodeTxn(call.body)
        if (txn.compare.length > 0 || txn.failure.length > 0 || !txn.success.every(op => op.type === 'get' || op.type === 'range')) {
          throw new InvalidRequestError('a read carries only get and range operations')
        }
        const responses = await node.kv.read(txn.success as Array<GetOp | RangeOp>, consistency, timeoutMs)
        node.metrics.requests.inc({ method: call.method, code: 'OK' })
        return encodeTxnResponse({ succeeded: true, revision: node.store.status().applied, responses })
      }
      case METHODS.watch: {
        // a node that knows no leader may be cut off from new revisions: send the watcher to another member
        if (node.driver.leader() === 0) throw new NoQuorumError(`node ${node.nodeId} knows no leader (partitioned, or an election is running); watch from another member`)
        const answer = await this.watches.poll(decodeWatchRequest(call.body), Math.max(0, timeoutMs - 50), call.signal)
        return encodeWatchAnswer(answer)
      }
      case METHODS.leaseGrant: {
        const b = parseJsonBody(call.body)
        return jsonBody(await this.leases.grant(int(b.ttlSeconds, 'ttlSeconds'), b.id === undefined || b.id === 0 ? 0 : int(b.id, 'id'), timeoutMs))
      }
      case METHODS.leaseKeepAlive: return jsonBody(this.leases.keepAlive(int(parseJsonBody(call.body).id, 'id')))
      case METHODS.leaseRevoke: return jsonBody(await this.leases.revoke(int(parseJsonBody(call.body).id, 'id'), timeoutMs))
      case METHODS.leaseList: return jsonBody({ leases: this.leases.list() })
      case METHODS.leaseTimeToLive: {
        const b = parseJsonBody(call.body)
        const id = int(b.id, 'id')
        const st = this.leases.status(id)
        const keys = b.keys === true ? (await node.store.leaseKeys(id, 1000)).map(k => Buffer.from(k).toString('base64')) : undefined
        return jsonBody({ ...st, ...(keys !== undefined ? { keys } : {}) })
      }
      case METHODS.status: return jsonBody(node.status())
      case METHODS.ticket: return jsonBody({ ticket: node.ticket() })
      case METHODS.metrics: {
        node.refreshMetrics()
        return jsonBody({ text: await node.metrics.registry.metrics() })
      }
      case METHODS.nodeInfo: return jsonBody({ nodeId: node.nodeId, peerId: node.identity.peerId.toString(), storeId: node.store.storeId, addrs: node.host.getMultiaddrs().map(String) })
      case METHODS.snapshot: return jsonBody(await node.takeSnapshot())
      case METHODS.alarmList: return jsonBody({ alarms: await node.alarms.refresh(), space: node.status().space })
      case METHODS.alarmDisarm: {
        const r = await node.alarms.disarm()
        return jsonBody({ cleared: r.cleared, space: r.reading, alarms: node.alarms.list() })
      }
      case METHODS.testingFaults: {
        // Over the client protocol rather than HTTP: only cookie holders can reach it (pnet), and it is refused
        // outright unless the node was started for testing, so a stray local process cannot partition a node.
        if (!node.config.testing.faultInjection) {
          throw new TestingDisabledError('fault injection is off: it needs ASPEN_TESTING=1 and [testing] fault_injection = true')
        }
        const b = parseJsonBody(call.body)
        const dropTo = b.dropTo === undefined ? [] : intList(b.dropTo, 'dropTo')
        const dropFrom = b.dropFrom === undefined ? [] : intList(b.dropFrom, 'dropFrom')
        if (dropTo.length > MAX_FAULT_PEERS || dropFrom.length > MAX_FAULT_PEERS) throw new InvalidRequestError(`at most ${MAX_FAULT_PEERS} node ids per list`)
        node.raftTransport.setFaults({ dropTo: new Set(dropTo), dropFrom: new Set(dropFrom) })
        node.log.warn({ dropTo, dropFrom }, 'testing: raft fault injection set')
        return jsonBody({ dropTo, dropFrom })
      }
      case METHODS.clusterInit: return jsonBody(await ctl.init(timeoutMs))
      case METHODS.addLearner: {
        const b = parseJsonBody(call.body)
        return jsonBody(await ctl.addLearner(int(b.nodeId, 'nodeId'), optString(b.addr, 'addr'), b.force === true, timeoutMs))
      }
      case METHODS.changeMembership: {
        const b = parseJsonBody(call.body)
        return jsonBody(await ctl.changeMembership(intList(b.voters, 'voters'), b.learners === undefined ? undefined : intList(b.learners, 'learners'), b.force === true, timeoutMs))
      }
      case METHODS.remove: {
        const b = parseJsonBody(call.body)
        return jsonBody(await ctl.remove(int(b.nodeId, 'nodeId'), b.force === true, timeoutMs))
      }
      case METHODS.transferLeader: {
        const b = parseJsonBody(call.body)
        return jsonBody(await ctl.transferLeader(b.nodeId === undefined || b.nodeId === null ? undefined : int(b.nodeId, 'nodeId'), timeoutMs))
      }
      case METHODS.kvHash: return jsonBody(await node.store.kvHash())
      case METHODS.backupOpen: return jsonBody(await this.backups().open(performance.now() + timeoutMs))
      case METHODS.backupNext: return await this.backups().next(sessionId(parseJsonBody(call.body).id))
      case METHODS.backupClose: {
        await this.backups().close(sessionId(parseJsonBody(call.body).id))
        return jsonBody({})
      }
      default:
        throw new UnknownMethodError(`unknown method "${call.method}" (is the client newer than this node?)`)
    }
  }
}

function int (x: unknown, what: string): number {
  if (typeof x !== 'number' || !Number.isSafeInteger(x) || x <= 0) throw new InvalidRequestError(`${what} must be a positive integer`)
  return x
}

function intList (x: unknown, what: string): number[] {
  if (!Array.isArray(x)) throw new InvalidRequestError(`${what} must be a list of node ids`)
  return x.map((v, i) => int(v, `${what}[${i}]`))
}

function sessionId (x: unknown): string {
  if (typeof x !== 'string' || x.length === 0 || x.length > 64) throw new InvalidRequestError('id must be a backup session id')
  return x
}

function optString (x: unknown, what: string): string | undefined {
  if (x === undefined || x === null) return undefined
  if (typeof x !== 'string') throw new InvalidRequestError(`${what} must be a string`)
  return x
}
