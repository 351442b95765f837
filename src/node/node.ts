// A running Aspen node: the seed's recovery flow (config → store → identity → raft state → p2p → rejoin), the
// driver loop, the client service and graceful stop. Every phase logs one line with its duration.
import { join } from 'node:path'
import type { Logger } from 'pino'
import { RawNode, MemoryStorage, bootstrapState } from '../raft/index.js'
import type { ConfChange, ConfState, Entry, Message, NodeId } from '../raft/types.js'
import { RaftStore, NodeRegistry } from '../store/index.js'
import type { StoreSnapshotMetadata } from '../store/index.js'
import { prepareStoreFormat } from '../store/format-version.js'
import { loadOrCreateIdentity, startP2PNode, raftDrops, parseWireVersion } from '../p2p/index.js'
import type {
  AspenHost, Identity, InboundPeer, InboundVerdict, PeerAddress, ClientCall, ClientReply, IncomingSnapshot, P2PNode,
  RaftTransport, SnapshotTransport, ClientServer, DiscoveredPeer
} from '../p2p/index.js'
import { AspenError } from '../errors.js'
import type { NodeConfig } from './config.js'
import { createNodeMetrics, type NodeMetrics } from './metrics.js'
import { RaftDriver } from './raft-driver.js'
import { KvService } from './kv-service.js'
import { decodeContext, type MemberBinding } from './members.js'
import { writeRunInfo, removeRunInfo } from './run-info.js'
import { startHttp, type HttpHandle } from '../http/server.js'
import { ClientApi } from './client-api.js'
import { ClusterControl } from './cluster-control.js'
import { encodeSnapshotEnvelope, decodeSnapshotEnvelope } from './snapshot-envelope.js'
import { AlarmService, DiskFullError, isDiskFull } from './alarm-service.js'
import { isSystemKey, type Alarm } from './alarm.js'
import { dirBytes, freeBytes } from './quota.js'

/**
 * The core's storage view after a restart: the log and snapshot from the store, and the configuration as
 * APPLIED (the store's), not as of the last snapshot — the core does not replay conf changes below `applied`.
 */
class RecoveredStorage extends MemoryStorage {
  constructor (private readonly appliedConf: ConfState) { super() }
  override initialState (): ReturnType<MemoryStorage['initialState']> {
    return { ...super.initialState(), confState: this.appliedConf }
  }
}

/** The data dir belongs to another identity than the key that was loaded. */
export class PeerIdMismatchError extends AspenError {
  readonly code = 'PEER_ID_MISMATCH'
}

/** A snapshot came from a peer that may not speak for the node it claims (not a member, or impersonating one). */
export class UnauthorizedPeerError extends AspenError {
  readonly code = 'UNAUTHORIZED_PEER'
}

export interface StartNodeOptions {
  logger: Logger
  /** Injected for tests; defaults to Math.random. */
  random?: () => number
}

/** What a node reports in /status and `aspen cluster status --json`. */
export interface NodeStatus {
  nodeId: number
  peerId: string
  clusterId: string
  role: string
  term: number
  leaderId: number | null
  commitIndex: number
  appliedIndex: number
  lastIndex: number
  votingRights: boolean
  /** True when a leader believes this node holds entries it does not have (its log was wiped or lost). */
  lostLog: boolean
  /** Running hash of every applied effect, at `index`: equal on replicas at the same index. */
  stateHash: { index: number, hash: string }
  membership: { voters: number[], learners: number[], votersOutgoing: number[] }
  members: Array<{ nodeId: number, peerId: string | null, role: 'voter' | 'learner', reachable: boolean, lastContactMs: number | null, lag: number | null, match: number | null }>
  /** Active cluster alarms (NOSPACE: writes are refused) as this node applied them. */
  alarms: Alarm[]
  /** DATA_DIR/raft size and quota as last measured (null before the first check; freeBytes -1 = unknown). */
  space: { usedBytes: number, freeBytes: number, quotaBytes: number } | null
  peers: Array<{ peerId: string, nodeId: number | null, addrs: string[], lastSeen: number }>
  addrs: string[]
  http?: string
}

const now = (): number => performance.now()

/** A running node. */
export class AspenNode {
  readonly metrics: NodeMetrics
  p2p!: P2PNode
  store!: RaftStore
  registry!: NodeRegistry
  identity!: Identity
  host!: AspenHost
  raftTransport!: RaftTransport
  snapshotTransport!: SnapshotTransport
  clientServer!: ClientServer
  memStorage!: MemoryStorage
  rawNode!: RawNode
  driver!: RaftDriver
  kv!: KvService
  control!: ClusterControl
  api!: ClientApi
  alarms!: AlarmService
  private http: HttpHandle | undefined
  private ticker: NodeJS.Timeout | undefined
  private maintenance: NodeJS.Timeout | undefined
  /** node id → binding, from applied conf changes (authoritative) and discovery / inbound traffic (provisional). */
  readonly bindings = new Map<number, MemberBinding>()
  /** Peers we learned a node id for from their inbound traffic, for nodes not (yet) bound. */
  private readonly provisional = new Map<number, PeerAddress>()
  /** Monotonic ms a peer was last fully caught up (match == last index), for promotion checks. */
  readonly lastFullyMatched = new Map<number, number>()
  readonly lastContact = new Map<number, number>()
  /** Wall ms of the last committed voter-set change (replicated through the conf change context). */
  lastVoterChangeAt: number | undefined
  votingRights = true
  /** Set when a leader's heartbeat names a commit beyond this node's log: the node lost entries it had acknowledged. */
  private lostLog = false
  private sendingSnapshot = new Set<number>()
  private lastSnapshotIndex = 0
  private snapshotting = false
  private stopping = false
  private startedApplied = 0
  readonly random: () => number
  private stopResolve!: () => void
  /** Resolves when the node has stopped (graceful stop or fatal error). */
  readonly done: Promise<void>
  fatalError: unknown

  constructor (readonly config: NodeConfig, readonly log: Logger, random?: () => number) {
    this.metrics = createNodeMetrics()
    this.random = random ?? Math.random
    this.done = new Promise(resolve => { this.stopResolve = resolve })
  }

  get nodeId (): number { return this.config.nodeId }

  private async phase<T> (name: string, fn: () => Promise<T>): Promise<T> {
    const t0 = now()
    const r = await fn()
    this.log.info({ phase: name, ms: Math.round((now() - t0) * 10) / 10 }, `start-up: ${name}`)
    return r
  }

  /** Runs the start-up phases; on failure everything opened so far is closed again. */
  async start (): Promise<void> {
    const c = this.config
    try {
      for (const w of c.warnings) this.log.warn(w)
      await this.phase('check store format', async () => await prepareStoreFormat(c.dataDir, { log: (m) => { this.log.warn(m) } }))
      this.store = await this.phase('open store (chain verified)', async () =>
        await RaftStore.open(c.dataDir, { nodeId: c.nodeId, logRetain: c.raft.logRetain, create: true }))
      this.registry = await this.phase('open node registry', async () => await NodeRegistry.open(c.dataDir))
      this.identity = await this.phase('load identity', async () => await loadOrCreateIdentity(c.dataDir, { secretKey: c.secretKey }))
      for (const w of this.identity.warnings) this.log.warn(w)
      const peerId = this.identity.peerId.toString()
      const recorded = this.store.getPeerId()
      if (recorded === undefined) await this.store.setPeerId(peerId)
      else if (recorded !== peerId) {
        throw new PeerIdMismatchError(`the data dir ${c.dataDir} belongs to peer ${recorded}, but the identity loaded is ${peerId}; ` +
          'restore the original identity.key (or secret_key), or start from an empty data dir and re-add the node')
      }
      await this.phase('restore raft state', async () => { await this.loadBindings(); this.buildRaft() })
      await this.phase('start p2p', async () => { await this.startP2p() })
      this.kv = new KvService(() => this.driver, this.store, {
        nodeId: c.nodeId,
        unsafeLocalReads: c.testing.enabled && c.testing.unsafeLocalReads,
        onRead: (path) => { this.metrics.reads.inc({ path }) },
        admit: (txn) => { this.alarms.admit(txn) },
        hidden: isSystemKey
      })
      this.alarms = this.createAlarmService()
      this.alarms.start()
      this.control = new ClusterControl(this)
      this.api = new ClientApi(this)
      this.clientServer.setHandler(async (call: ClientCall): Promise<ClientReply> => await this.api.handle(call))
      // A node without voting rights (wiped data dir) does not tick: a follower's ticks only drive its election
      // timeout, so it keeps following and never campaigns (its self-vote could be its second vote in a term).
      this.ticker = setInterval(() => { if (this.votingRights) this.driver.tick() }, c.raft.timing.tickMs)
      this.ticker.unref()
      this.maintenance = setInterval(() => { this.maintain() }, 250)
      this.maintenance.unref()
      if (c.http.enabled) {
        const addr = c.http.address
        this.http = await this.phase('start http', async () => await startHttp(addr, {
          healthy: () => !this.stopping,
          ready: () => this.isReady(),
          status: () => this.status(),
          metrics: async () => { this.refreshMetrics(); return { contentType: this.metrics.registry.contentType, body: await this.metrics.registry.metrics() } }
        }))
      }
      await this.writeRunFiles()
      this.driver.kick()
      const st = this.store.status()
      this.log.info({ nodeId: c.nodeId, peerId, clusterId: this.p2p.clusterId, applied: st.applied, lastIndex: st.lastIndex, http: this.http?.address },
        `node ${c.nodeId} started (applied ${st.applied}, last index ${st.lastIndex})`)
    } catch (err) {
      await this.closeAll()
      throw err
    }
  }

  private createAlarmService (): AlarmService {
    const c = this.config
    this.metrics.quotaBytes.set(c.quotaBytes)
    return new AlarmService({
      memberId: c.nodeId,
      quotaBytes: c.quotaBytes,
      store: this.store,
      driver: () => this.driver,
      canPropose: () => !this.stopping && this.isMember() && this.driver.leader() !== 0,
      isLeader: () => this.rawNode.status().softState.role === 'leader',
      members: () => { const cs = this.rawNode.status().confState; return [...cs.voters, ...cs.learners, ...cs.votersOutgoing] },
      measure: async () => ({ usedBytes: await dirBytes(join(c.dataDir, 'raft')), freeBytes: await freeBytes(c.dataDir) }),
      compact: async () => { await this.compactStorage() },
      requestTimeoutMs: c.requestTimeoutMs,
      log: { info: (m) => { this.log.info(m) }, warn: (m) => { this.log.warn(m) }, error: (m) => { this.log.error(m) } },
      onReading: (r, alarms) => {
        this.metrics.dataBytes.set(r.usedBytes)
        if (Number.isFinite(r.freeBytes)) this.metrics.diskFreeBytes.set(r.freeBytes)
        this.metrics.alarmActive.set({ type: 'NOSPACE' }, alarms.some(a => a.type === 'NOSPACE') ? 1 : 0)
      }
    })
  }

  /** Frees disk space: a snapshot (truncates the log), change history up to the applied index, LevelDB compaction. */
  async compactStorage (): Promise<void> {
    try {
      await this.takeSnapshot()
    } catch (err) {
      if (!(err instanceof SnapshotBusyError)) throw err
    }
    await this.store.compactStorage(this.store.status().applied + 1)
  }

  /** Rebuilds the member bindings from the registry's record of applied conf changes. */
  private async loadBindings (): Promise<void> {
    for (const info of await this.registry.all()) {
      if (info.storeId !== undefined && info.storeId !== '') {
        this.bindings.set(info.nodeId, { nodeId: info.nodeId, peerId: info.peerId, storeId: info.storeId, addrs: info.addrs })
      }
    }
    this.lastVoterChangeAt = await this.registry.lastVoterChangeAt()
    this.refreshVotingRights()
  }

  /**
   * A leader only names a commit up to what this node acknowledged as durable, so a commit beyond the local log
   * means the log was lost (data dir wiped or restored from an older copy). Such a node must not vote or count
   * for a quorum until it is removed and re-added; etcd panics here, we say so and wait. Returns true to drop
   * the heartbeat. A later heartbeat that fits the log (after re-adding, match starts at 0) clears the state.
   */
  private noteHeartbeatCommit (from: NodeId, commit: number): boolean {
    const last = this.rawNode.status().lastIndex
    const lost = commit > last
    if (lost && !this.lostLog) {
      this.log.error(`leader ${from} believes node ${this.nodeId} holds entries up to ${commit} but its log ends at ${last}: ` +
        'its data was lost (wiped or replaced data dir?). It takes no part in votes until an operator runs ' +
        `\`aspen cluster remove ${this.nodeId}\` then \`aspen cluster add-learner ${this.nodeId}\``)
    }
    if (lost !== this.lostLog) {
      this.lostLog = lost
      this.refreshVotingRights()
    }
    return lost
  }

  /** A node whose membership record names another store UUID (its data dir was wiped) must not vote. */
  private refreshVotingRights (): void {
    const mine = this.bindings.get(this.nodeId)
    const had = this.votingRights
    this.votingRights = !this.lostLog && (mine === undefined || mine.storeId === this.store.storeId)
    if (had && !this.votingRights) {
      this.log.warn(`node ${this.nodeId} was added to the cluster with another data dir (store ${mine?.storeId}); ` +
        `this one is ${this.store.storeId}, so it will not vote or campaign. Run \`aspen cluster remove ${this.nodeId}\` ` +
        `then \`aspen cluster add-learner ${this.nodeId}\` to bring it back`)
    }
    if (!had && this.votingRights) this.log.info(`node ${this.nodeId} has voting rights again`)
  }

  private buildRaft (): void {
    const rec = this.store.recovered()
    this.memStorage = new RecoveredStorage(rec.confState)
    if (rec.snapshotMeta !== undefined && rec.snapshotMeta.index > 0) {
      this.memStorage.applySnapshot({ metadata: { index: rec.snapshotMeta.index, term: rec.snapshotMeta.term, confState: rec.snapshotMeta.confState }, data: new Uint8Array(0) })
    }
    this.memStorage.append(rec.entries)
    this.memStorage.setHardState(rec.hardState)
    this.startedApplied = rec.applied
    this.lastSnapshotIndex = rec.snapshotMeta?.index ?? 0
    const t = this.config.raft.timing
    this.rawNode = new RawNode({
      id: this.nodeId,
      electionTick: t.electionTick,
      heartbeatTick: t.heartbeatTick,
      storage: this.memStorage,
      applied: rec.applied,
      maxSizePerMsg: 1024 * 1024,
      maxInflightMsgs: 256,
      checkQuorum: true,
      preVote: true,
      readOnlyOption: 'safe',
      // Linearizable reads always take a ReadIndex round; reads asking for 'lease' consistency use the lease.
      leaseReads: true,
      random: this.random,
      now,
      tickMs: t.tickMs,
      logger: {
        debug: (m: string) => { this.log.debug(m) },
        info: (m: string) => { this.log.info(m) },
        warn: (m: string) => { this.log.warn(m) }
      }
    })
    if (this.driver !== undefined) this.driver.stop()
    this.driver = new RaftDriver(this.rawNode, this.memStorage, {
      persist: async (rd) => await this.store.persist(rd),
      applied: () => this.store.status().applied
    }, {
      send: (msgs) => { this.send(msgs) },
      onConfChange: (entry, cc, cs) => { this.onConfChange(entry, cc, cs) },
      onAdvance: (info) => {
        this.metrics.fsyncSeconds.observe(info.persistMs / 1000)
        if (info.entries > 0) this.metrics.readyBatchEntries.observe(info.entries)
      },
      onFatal: (err) => { void this.fatal(err) }
    })
  }

  /** Creates the cluster: this node becomes its only voter (like etcd's initial cluster of one). */
  async bootstrapCluster (): Promise<void> {
    const st = this.store.status()
    if (st.lastIndex > 0 || st.applied > 0 || this.store.appliedConfState().voters.length > 0) {
      throw new AlreadyInitializedError(`node ${this.nodeId} already belongs to a cluster (last index ${st.lastIndex}); nothing to do`)
    }
    const { snapshot, hardState } = bootstrapState([this.nodeId])
    await this.store.bootstrap(snapshot.metadata, hardState)
    const self: MemberBinding = { nodeId: this.nodeId, peerId: this.identity.peerId.toString(), storeId: this.store.storeId, addrs: this.host.getMultiaddrs().map(String) }
    await this.recordBinding(self)
    this.buildRaft()
    this.rawNode.campaign()
    this.driver.kick()
  }

  // ------------------------------------------------------------------------------------------------ p2p wiring

  private async startP2p (): Promise<void> {
    const c = this.config
    const p2pLog = {
      debug: (o: object, m: string) => { this.log.debug(o, m) },
      info: (o: object, m: string) => { this.log.info(o, m) },
      warn: (o: object, m: string) => { this.log.warn(o, m) },
      error: (o: object, m: string) => { this.log.error(o, m) }
    }
    // Rolling-upgrade tests make a node speak another wire version (only with ASPEN_TESTING=1).
    const wire = c.testing.enabled ? parseWireVersion(process.env.ASPEN_TEST_WIRE_VERSION ?? '') : undefined
    if (wire !== undefined) this.log.warn(`testing: speaking wire version ${wire.major}.${wire.minor}`)
    this.p2p = await startP2PNode({
      ...(wire !== undefined ? { wireVersion: wire } : {}),
      dataDir: c.dataDir,
      identity: this.identity,
      cookie: c.cookie,
      nodeId: c.nodeId,
      listen: c.listen,
      announce: c.announce,
      bootstrap: c.bootstrap,
      relayServer: c.relay,
      relays: c.relays,
      registry: {
        upsert: (peer) => { this.onDiscovered(peer) },
        bindingFor: (id) => this.bindings.get(id)?.peerId
      },
      resolvePeer: (id: NodeId): PeerAddress | undefined => this.resolvePeer(id),
      authorize: (peerId: string): InboundVerdict => this.authorize(peerId),
      logger: p2pLog
    })
    this.host = this.p2p.host
    this.raftTransport = this.p2p.raft
    this.snapshotTransport = this.p2p.snapshots
    this.clientServer = this.p2p.clientServer
    this.raftTransport.onMessage((msgs, from) => {
      const t = now()
      for (const m of msgs) {
        if (!this.acceptsFrom(from, m.from)) {
          this.metrics.raftRejectedPeer.inc()
          continue
        }
        if (from.nodeId === undefined && !this.bindings.has(m.from)) this.provisional.set(m.from, { peerId: from.peerId, addrs: [] })
        this.lastContact.set(m.from, t)
        // A wiped data dir (new store UUID) must not vote twice in a term; an empty store has promised nothing
        // and may not stand for a voter either until the leader's snapshot tells it who it is.
        if ((m.type === 'vote' || m.type === 'preVote') && (!this.votingRights || this.store.status().applied === 0)) continue
        if (m.type === 'heartbeat' && this.noteHeartbeatCommit(m.from, m.commit)) continue
        this.driver.step(m)
      }
    })
    this.raftTransport.onUnreachable((id) => { this.rawNode.reportUnreachable(id) })
    this.raftTransport.onRemoved(() => {
      this.log.warn(`node ${this.nodeId} was removed from the cluster; it stops taking part (restart after \`aspen cluster add-learner ${this.nodeId}\` to rejoin)`)
    })
    this.snapshotTransport.onSnapshot(async (snap) => { await this.receiveSnapshot(snap) })
  }

  /** A verified announcement from cookie discovery: remember where that node is (never changes membership). */
  private onDiscovered (peer: DiscoveredPeer): void {
    const prev = this.registryCache.get(peer.nodeId)
    this.registryCache.set(peer.nodeId, { peerId: peer.peerId, addrs: [...peer.addrs], lastSeen: Date.now() })
    // Persist only address changes: the registry lets a restarted node find members whose addresses changed.
    if (prev === undefined || prev.peerId !== peer.peerId || prev.addrs.join(' ') !== peer.addrs.join(' ')) {
      const b = this.bindings.get(peer.nodeId)
      void this.registry.upsert({ nodeId: peer.nodeId, peerId: peer.peerId, addrs: [...peer.addrs], lastSeen: Date.now(), storeId: b !== undefined && b.peerId === peer.peerId ? b.storeId : '' }).catch(() => {})
    }
  }

  /** Where node `id` can be reached: its binding, else what discovery or its own traffic told us. */
  resolvePeer (id: NodeId): PeerAddress | undefined {
    const b = this.bindings.get(id)
    const reg = this.registryCache.get(id)
    if (b !== undefined) return { peerId: b.peerId, addrs: reg !== undefined && reg.peerId === b.peerId ? reg.addrs : b.addrs }
    if (reg !== undefined) return { peerId: reg.peerId, addrs: reg.addrs }
    return this.provisional.get(id)
  }

  /** Latest registry rows (discovery), mirrored in memory for the hot path. */
  readonly registryCache = new Map<number, { peerId: string, addrs: string[], lastSeen: number }>()

  /** Inbound Raft/snapshot streams: members, nodes being added, and anyone while we belong to no cluster yet. */
  private authorize (peerId: string): InboundVerdict {
    for (const b of this.bindings.values()) if (b.peerId === peerId) return { kind: 'allow', nodeId: b.nodeId }
    if (this.removedPeers.has(peerId)) return { kind: 'removed' }
    // A node that is not (yet) a member, or that knows no bindings (fresh, or data from before bindings), accepts
    // traffic from peers holding the cookie (pnet already proved that); the leader adds it.
    return { kind: 'allow' }
  }

  readonly removedPeers = new Set<string>()

  /**
   * Whether a Raft message claiming to come from node `claimed` may be stepped, given the peer it arrived on. The
   * cookie only proves a peer belongs to the deployment, not to this cluster's membership: a bound peer speaks
   * only for its own node id; an unbound one is heard while this node has no configuration yet (a fresh node
   * waiting for the leader that adds it), or for an id the configuration lists that no peer is bound to. Anything
   * else (a non-member, or a peer claiming a member's or our own id) could raise our term, depose the leader or
   * write into our log, so it is dropped.
   */
  private acceptsFrom (from: InboundPeer, claimed: NodeId): boolean {
    if (from.nodeId !== undefined) return from.nodeId === claimed
    if (claimed === this.nodeId || this.bindings.has(claimed)) return false
    const cs = this.rawNode.status().confState
    if (cs.voters.length === 0 && cs.votersOutgoing.length === 0) return true
    return cs.voters.includes(claimed) || cs.learners.includes(claimed) || cs.votersOutgoing.includes(claimed) || cs.learnersNext.includes(claimed)
  }

  private send (msgs: Message[]): void {
    const byPeer = new Map<number, Message[]>()
    for (const m of msgs) {
      if (m.type === 'snap') { void this.sendSnapshot(m); continue }
      let l = byPeer.get(m.to)
      if (l === undefined) { l = []; byPeer.set(m.to, l) }
      l.push(m)
    }
    for (const [to, l] of byPeer) this.raftTransport.send(to, l)
  }

  // ------------------------------------------------------------------------------------------------ snapshots

  /** Streams the store's state to a follower that lacks the log, then delivers the Raft snapshot message. */
  private async sendSnapshot (m: Message): Promise<void> {
    if (this.sendingSnapshot.has(m.to)) return
    // A test partition covers snapshot streams too, or a snapshot would cross it.
    if (this.raftTransport.dropsTo(m.to)) { this.rawNode.reportSnapshot(m.to, 'failure'); return }
    this.sendingSnapshot.add(m.to)
    const t0 = now()
    let reader
    try {
      reader = await this.store.openSnapshotReader()
      const meta = reader.meta
      // The core asked for its own snapshot metadata; ours is at the applied index (newer is fine: it is committed).
      const msg: Message = { ...m, snapshot: { metadata: { index: meta.index, term: meta.term, confState: meta.confState }, data: new Uint8Array(0) } }
      const env = encodeSnapshotEnvelope({ meta, message: msg, bindings: [...this.bindings.values()] })
      const r = await this.snapshotTransport.send(m.to, env, reader.chunks())
      this.metrics.snapshotsSent.inc()
      this.log.info({ to: m.to, index: meta.index, bytes: r.bytes, ms: Math.round(now() - t0) }, `snapshot at ${meta.index} sent to node ${m.to}`)
      this.rawNode.reportSnapshot(m.to, 'finish')
    } catch (err) {
      this.log.warn({ to: m.to, err: errMsg(err) }, `snapshot to node ${m.to} failed`)
      this.rawNode.reportSnapshot(m.to, 'failure')
    } finally {
      await reader?.close()
      this.sendingSnapshot.delete(m.to)
      this.driver.kick()
    }
  }

  /** Installs a snapshot from the leader (crash-safe in the store), then hands the Raft message to the core. */
  private async receiveSnapshot (snap: IncomingSnapshot): Promise<void> {
    const env = decodeSnapshotEnvelope(snap.metadata)
    if (env.message.to !== this.nodeId || !this.acceptsFrom(snap.from, env.message.from)) {
      this.metrics.raftRejectedPeer.inc()
      throw new UnauthorizedPeerError(`snapshot from peer ${snap.from.peerId} claiming node ${env.message.from} refused: not a member it may speak for`)
    }
    if (this.raftTransport.dropsFrom(env.message.from)) throw new PartitionedError(`testing: traffic from node ${env.message.from} is being dropped`)
    const meta: StoreSnapshotMetadata = env.meta
    const t0 = now()
    if (meta.index > this.store.hardState().commit) {
      await this.driver.pause(async () => {
        await this.store.installSnapshot(meta, snap.chunks)
        for (const b of env.bindings) await this.recordBinding(b)
      })
      this.metrics.snapshotsInstalled.inc()
      this.log.info({ index: meta.index, ms: Math.round(now() - t0) }, `installed snapshot at ${meta.index} from node ${env.message.from}`)
    } else {
      for await (const _ of snap.chunks) { /* drain: we already have this state */ }
    }
    // The core restores from the message (the store already holds the state) and the Ready carries it to memStorage.
    this.driver.step(env.message)
  }

  // ------------------------------------------------------------------------------------------------ membership

  private onConfChange (entry: Entry, cc: ConfChange, cs: ConfState): void {
    let ctx
    try {
      ctx = decodeContext(cc.context)
    } catch (err) {
      this.log.warn({ index: entry.index, err: errMsg(err) }, 'conf change with an unreadable context')
      return
    }
    if (ctx.voterChange) {
      this.lastVoterChangeAt = Math.max(this.lastVoterChangeAt ?? 0, ctx.at)
      // Kept across restarts: a leader restarted right after a voter change must still enforce the cooldown.
      void this.registry.setLastVoterChangeAt(ctx.at).catch((err: unknown) => { this.log.warn({ err: errMsg(err) }, 'could not record the voter change time') })
    }
    for (const b of ctx.bindings) void this.recordBinding(b)
    for (const id of ctx.released) {
      const b = this.bindings.get(id)
      if (b !== undefined && !cs.voters.includes(id) && !cs.learners.includes(id)) {
        this.removedPeers.add(b.peerId)
        this.bindings.delete(id)
        void this.registry.remove(id).catch(() => {})
      }
    }
    this.control.onConfChangeApplied(entry.index)
    this.log.info({ index: entry.index, voters: cs.voters, learners: cs.learners, outgoing: cs.votersOutgoing, forced: ctx.forced },
      `membership now voters [${cs.voters.join(',')}] learners [${cs.learners.join(',')}]${cs.votersOutgoing.length > 0 ? ` (joint with [${cs.votersOutgoing.join(',')}])` : ''}`)
    if (!cs.voters.includes(this.nodeId) && !cs.learners.includes(this.nodeId) && !cs.votersOutgoing.includes(this.nodeId)) {
      this.log.warn(`node ${this.nodeId} is no longer a member of the cluster`)
    }
  }

  /** Records an authoritative binding (from the log or a snapshot) in memory and in the registry. */
  async recordBinding (b: MemberBinding): Promise<void> {
    this.bindings.set(b.nodeId, b)
    this.removedPeers.delete(b.peerId)
    this.provisional.delete(b.nodeId)
    this.refreshVotingRights()
    const cached = this.registryCache.get(b.nodeId)
    await this.registry.upsert({ nodeId: b.nodeId, peerId: b.peerId, addrs: cached?.addrs ?? b.addrs, lastSeen: cached?.lastSeen ?? 0, storeId: b.storeId })
  }

  // ------------------------------------------------------------------------------------------------ upkeep

  private maintain (): void {
    if (this.stopping) return
    const st = this.rawNode.status()
    if (st.progress !== undefined) {
      const t = now()
      for (const [id, p] of st.progress) if (p.match >= st.lastIndex) this.lastFullyMatched.set(id, t)
    }
    const applied = this.store.status().applied
    if (!this.snapshotting && applied - this.lastSnapshotIndex >= this.config.raft.snapshotEvery) void this.takeSnapshot()
  }

  /** Takes a snapshot at the applied index and compacts the log (the store keeps a trailing window). */
  async takeSnapshot (): Promise<{ index: number, term: number }> {
    if (this.snapshotting) throw new SnapshotBusyError('a snapshot is already being taken; retry shortly')
    this.snapshotting = true
    try {
      const meta = await this.store.createSnapshot()
      if (meta.index > 0) {
        // The core's own snapshot view: metadata only; data is streamed from the store when a follower needs it.
        if (meta.index > this.memStorage.snapshot().metadata.index && meta.index <= this.memStorage.lastIndex()) {
          this.memStorage.createSnapshot(meta.index, meta.confState, new Uint8Array(0))
        }
      }
      const compactTo = Math.min(meta.index, this.memStorage.lastIndex()) - this.config.raft.logRetain
      if (compactTo > this.memStorage.firstIndex()) this.memStorage.compact(compactTo)
      this.lastSnapshotIndex = meta.index
      this.log.info({ index: meta.index }, `snapshot taken at ${meta.index}`)
      return { index: meta.index, term: meta.term }
    } finally {
      this.snapshotting = false
    }
  }

  /** True while this node is a voter or learner of the configuration it has applied. */
  isMember (): boolean {
    const cs = this.rawNode.status().confState
    return cs.voters.includes(this.nodeId) || cs.learners.includes(this.nodeId) || cs.votersOutgoing.includes(this.nodeId)
  }

  isReady (): boolean {
    if (this.stopping || this.rawNode === undefined) return false
    const st = this.rawNode.status()
    return st.softState.leader !== 0 && this.store.status().applied >= this.startedApplied
  }

  refreshMetrics (): void {
    const st = this.rawNode.status()
    const s = this.store.status()
    this.metrics.term.set(st.hardState.term)
    this.metrics.isLeader.set(st.softState.role === 'leader' ? 1 : 0)
    this.metrics.commitIndex.set(st.hardState.commit)
    this.metrics.appliedIndex.set(s.applied)
    this.metrics.applyLag.set(st.hardState.commit - s.applied)
    this.metrics.p2pFramesIn.set(this.p2p.metrics.raftFramesIn ?? 0)
    this.metrics.p2pFramesOut.set(this.p2p.metrics.raftFramesOut ?? 0)
    this.metrics.p2pDrops.set(raftDrops(this.p2p.metrics))
    this.metrics.discoveryPeers.set(this.registryCache.size)
    if (this.alarms !== undefined) this.metrics.alarmActive.set({ type: 'NOSPACE' }, this.alarms.list().some(a => a.type === 'NOSPACE') ? 1 : 0)
  }

  /** The node's view of itself and the cluster. */
  status (): NodeStatus {
    const st = this.rawNode.status()
    const s = this.store.status()
    const cs = st.confState
    const t = now()
    const members: NodeStatus['members'] = []
    for (const [ids, role] of [[cs.voters, 'voter'], [cs.learners, 'learner']] as const) {
      for (const id of ids) {
        const p = st.progress?.get(id)
        const contact = id === this.nodeId ? t : this.lastContact.get(id)
        members.push({
          nodeId: id,
          peerId: this.bindings.get(id)?.peerId ?? (id === this.nodeId ? this.identity.peerId.toString() : null),
          role,
          reachable: id === this.nodeId || (contact !== undefined && t - contact < this.electionTimeoutMs() * 2),
          lastContactMs: contact === undefined ? null : Math.round(t - contact),
          lag: p === undefined ? null : Math.max(0, st.lastIndex - p.match),
          match: p === undefined ? null : p.match
        })
      }
    }
    return {
      nodeId: this.nodeId,
      peerId: this.identity.peerId.toString(),
      clusterId: this.p2p.clusterId,
      role: st.softState.role,
      term: st.hardState.term,
      leaderId: st.softState.leader === 0 ? null : st.softState.leader,
      commitIndex: st.hardState.commit,
      appliedIndex: s.applied,
      lastIndex: st.lastIndex,
      votingRights: this.votingRights,
      lostLog: this.lostLog,
      stateHash: this.store.stateHash(),
      membership: { voters: [...cs.voters], learners: [...cs.learners], votersOutgoing: [...cs.votersOutgoing] },
      members,
      alarms: this.alarms?.list() ?? [],
      space: this.spaceStatus(),
      peers: [...this.registryCache.entries()].map(([nodeId, r]) => ({ peerId: r.peerId, nodeId, addrs: r.addrs, lastSeen: r.lastSeen })),
      addrs: this.host.getMultiaddrs().map(String),
      ...(this.http !== undefined ? { http: this.http.address } : {})
    }
  }

  private spaceStatus (): NodeStatus['space'] {
    const r = this.alarms?.monitor.last
    return r === undefined ? null : { usedBytes: r.usedBytes, freeBytes: Number.isFinite(r.freeBytes) ? r.freeBytes : -1, quotaBytes: r.quotaBytes }
  }

  electionTimeoutMs (): number {
    const t = this.config.raft.timing
    return t.tickMs * t.electionTick
  }

  /** A ticket for this cluster: the cluster id and this node's addresses (never the cookie). */
  ticket (): string {
    const others = [...this.bindings.values()].filter(b => b.nodeId !== this.nodeId).map(b => this.resolvePeer(b.nodeId)).filter((p): p is PeerAddress => p !== undefined)
    return this.p2p.ticket(others.slice(0, 15).map(p => ({ peerId: p.peerId, addrs: [...p.addrs] })))
  }

  private async writeRunFiles (): Promise<void> {
    await writeRunInfo(this.config.dataDir, {
      nodeId: this.nodeId,
      peerId: this.identity.peerId.toString(),
      clusterId: this.p2p.clusterId,
      addrs: this.host.getMultiaddrs().map(String),
      ...(this.http !== undefined ? { http: this.http.address } : {}),
      pid: process.pid,
      startedAt: new Date().toISOString()
    }, this.ticket())
  }

  // ------------------------------------------------------------------------------------------------ stop

  private async fatal (err: unknown): Promise<void> {
    if (isDiskFull(err)) {
      // ENOSPC: the store stopped at the failed batch (fail-stop, nothing half-applied); the chain is verified at restart.
      err = new DiskFullError(`disk full (ENOSPC) writing ${this.config.dataDir}: the node stops without the failed batch. ` +
        'Free space on the device (or move the data dir), then restart the node; its log is verified at start-up ' +
        `and it raises the NOSPACE alarm while usage is above quota_bytes (${this.config.quotaBytes}) or the device is nearly full`, { cause: err })
    }
    this.fatalError = err
    this.log.fatal({ err: errMsg(err) }, `fatal: ${errMsg(err)}; stopping (restart the node: it recovers from its data dir)`)
    await this.stop()
  }

  /** Graceful stop: refuse new requests, hand over leadership, finish, close streams and the database. */
  async stop (): Promise<void> {
    if (this.stopping) { await this.done; return }
    this.stopping = true
    this.log.info('stopping')
    try {
      if (this.rawNode !== undefined && this.fatalError === undefined) await this.control?.handOverLeadership(Math.min(2000, this.electionTimeoutMs() * 2))
    } catch (err) {
      this.log.warn({ err: errMsg(err) }, 'leadership hand-over failed')
    }
    await this.closeAll()
    this.log.info('stopped')
    this.stopResolve()
  }

  private async closeAll (): Promise<void> {
    if (this.ticker !== undefined) clearInterval(this.ticker)
    if (this.maintenance !== undefined) clearInterval(this.maintenance)
    this.alarms?.stop()
    this.driver?.stop()
    await this.driver?.idle()
    const quiet = async (fn: () => Promise<void> | undefined): Promise<void> => { try { await fn() } catch { /* closing anyway */ } }
    await quiet(async () => await this.http?.close())
    await quiet(async () => await this.api?.close())
    await quiet(async () => await this.p2p?.stop())
    await quiet(async () => await this.store?.close())
    await quiet(async () => await this.registry?.close())
    await quiet(async () => await removeRunInfo(this.config.dataDir))
  }
}

/** `cluster init` on a node that already belongs to a cluster. */
export class AlreadyInitializedError extends AspenError {
  readonly code = 'ALREADY_INITIALIZED'
}

/** Test-only partition: a snapshot from a peer whose traffic is being dropped is refused. */
export class PartitionedError extends AspenError {
  readonly code = 'PARTITIONED'
}

/** A snapshot is being taken already. */
export class SnapshotBusyError extends AspenError {
  readonly code = 'SNAPSHOT_BUSY'
}

/** Message of an unknown error value, for logs. */
export function errMsg (err: unknown): string {
  return err instanceof Error ? err.message : String(err)
}

/** Starts a node from its resolved config; resolves once it serves (or throws the start-up error). */
export async function startNode (config: NodeConfig, opts: StartNodeOptions): Promise<AspenNode> {
  const node = new AspenNode(config, opts.logger, opts.random)
  await node.start()
  return node
}

