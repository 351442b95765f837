// The node's side of the client protocol: one handler per method. KV bodies are protobuf (src/api); cluster
// control bodies are small JSON documents. A follower forwards what needs the leader (writes, cluster changes)
// and serves linearizable reads itself after a ReadIndex round through the leader.
import type { ClientCall, ClientReply, ClientConnection, PeerAddress } from '../p2p/index.js'
import { openClientConnection } from '../p2p/index.js'
import { decodeTxn, encodeTxnResponse } from '../api/codec.js'
import type { GetOp, RangeOp } from '../api/kv.js'
import { InvalidRequestError } from '../api/errors.js'
import { AspenError } from '../errors.js'
import type { AspenNode } from './node.js'
import { NotLeaderError, RequestTimeoutError } from './raft-driver.js'
import type { ReadConsistency } from './kv-service.js'

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
  /** A hash of the whole KV table at the applied index (replicas at equal index must agree). */
  kvHash: 'cluster.kvHash',
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

const LEADER_ONLY = new Set<string>([METHODS.txn, METHODS.addLearner, METHODS.changeMembership, METHODS.remove, METHODS.transferLeader])

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

  constructor (private readonly node: AspenNode) {}

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

  /** Closes the forwarding connection. */
  async close (): Promise<void> {
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
      case METHODS.status: return jsonBody(node.status())
      case METHODS.ticket: return jsonBody({ ticket: node.ticket() })
      case METHODS.metrics: {
        node.refreshMetrics()
        return jsonBody({ text: await node.metrics.registry.metrics() })
      }
      case METHODS.nodeInfo: return jsonBody({ nodeId: node.nodeId, peerId: node.identity.peerId.toString(), storeId: node.store.storeId, addrs: node.host.getMultiaddrs().map(String) })
      case METHODS.snapshot: return jsonBody(await node.takeSnapshot())
      case METHODS.kvHash: return jsonBody(await node.store.kvHash())
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

function optString (x: unknown, what: string): string | undefined {
  if (x === undefined || x === null) return undefined
  if (typeof x !== 'string') throw new InvalidRequestError(`${what} must be a string`)
  return x
}
