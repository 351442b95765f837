// Test helpers for the raft core: seeded randomness, node construction, Ready processing and a tiny in-memory
// network that delivers messages between a few RawNodes (no faults beyond dropping/holding; the fault-injecting
// simulator lives in test/sim).

import { decodeConfChange } from '../../../src/raft/confchange-codec.js'
import type { RaftBug, RaftConfig } from '../../../src/raft/config.js'
import { emptyConfState } from '../../../src/raft/conf-state.js'
import type { Raft } from '../../../src/raft/raft.js'
import { RawNode } from '../../../src/raft/rawnode.js'
import { MemoryStorage } from '../../../src/raft/storage.js'
import type { ConfState, Entry, Message, NodeId, ReadState, Ready } from '../../../src/raft/types.js'
import { NONE } from '../../../src/raft/types.js'

/** mulberry32: small deterministic PRNG in [0, 1). */
export function seededRandom (seed: number): () => number {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6D2B79F5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

/** Builds entries with the given terms starting at index `from`. */
export function ents (from: number, ...terms: number[]): Entry[] {
  return terms.map((term, i) => ({ term, index: from + i, type: 'normal', data: new Uint8Array([term, i]) }))
}

/** A MemoryStorage whose configuration (at index 0) is `voters` + `learners`, optionally holding `log`. */
export function storageWith (voters: NodeId[], learners: NodeId[] = [], log: Entry[] = [], term = 0): MemoryStorage {
  const s = new MemoryStorage()
  const cs: ConfState = { ...emptyConfState(), voters, learners }
  s.applySnapshot({ metadata: { index: 0, term: 0, confState: cs }, data: new Uint8Array(0) })
  s.append(log)
  if (term > 0) s.setHardState({ term, vote: 0, commit: 0 })
  return s
}

export interface NodeOpts extends Partial<Omit<RaftConfig, 'id' | 'storage'>> {
  /** Start from a bootstrap snapshot (index 1, term 1) instead of a configuration at index 0; needed for joiners. */
  bootstrapped?: boolean
  learners?: NodeId[]
  log?: Entry[]
  term?: number
  storage?: MemoryStorage
  bugs?: ReadonlySet<RaftBug>
}

/** A RawNode over a fresh MemoryStorage (election 10, heartbeat 1, fixed seed unless given). */
export function newNode (id: NodeId, voters: NodeId[], opts: NodeOpts = {}): { rn: RawNode, storage: MemoryStorage } {
  let storage = opts.storage
  if (storage === undefined && opts.bootstrapped === true && voters.length > 0) {
    storage = new MemoryStorage()
    storage.bootstrap(voters, opts.learners ?? [])
  }
  storage ??= storageWith(voters, opts.learners ?? [], opts.log ?? [], opts.term ?? 0)
  const { learners: _l, log: _g, term: _t, storage: _s, bootstrapped: _b, ...rest } = opts
  const rn = new RawNode({
    id,
    electionTick: 10,
    heartbeatTick: 1,
    random: seededRandom(id * 7919),
    checkQuorum: false,
    preVote: false,
    ...rest,
    storage
  })
  return { rn, storage }
}

/** Persists a Ready into storage the way the contract says (snapshot, entries, hard state). */
export function persist (storage: MemoryStorage, rd: Ready): void {
  if (rd.snapshot !== undefined) storage.applySnapshot(rd.snapshot)
  if (rd.entries.length > 0) storage.append(rd.entries)
  if (rd.hardState !== undefined) storage.setHardState(rd.hardState)
}

/** Messages of a Ready in sending order (immediate first). */
export function allMessages (rd: Ready): Message[] {
  return [...rd.messages, ...rd.messagesAfterPersist]
}

/** Processes one Ready without applying conf changes; returns it. Useful for single-node tests. */
export function cycle (rn: RawNode, storage: MemoryStorage): Ready {
  const rd = rn.ready()
  persist(storage, rd)
  rn.advance(rd)
  return rd
}

/** Repeats cycle() while there is a Ready; returns every message produced. */
export function drain (rn: RawNode, storage: MemoryStorage, limit = 100): Message[] {
  const out: Message[] = []
  for (let i = 0; i < limit && rn.hasReady(); i++) out.push(...allMessages(cycle(rn, storage)))
  return out
}

/** The non-empty normal entries' data as strings. */
export function dataOf (es: readonly Entry[]): string[] {
  return es.filter((e) => e.type === 'normal' && e.data.byteLength > 0).map((e) => new TextDecoder().decode(e.data))
}

/** UTF-8 bytes. */
export function b (s: string): Uint8Array {
  return new TextEncoder().encode(s)
}

export interface NetNode {
  id: NodeId
  rn: RawNode
  storage: MemoryStorage
  applied: Entry[]
  readStates: ReadState[]
  confState: ConfState | undefined
}

/**
 * A tiny deterministic network: messages are queued in send order and delivered by deliverAll(); a filter can
 * drop or hold them. Each node's Ready is processed by the contract (persist, send, apply, advance).
 */
export class Network {
  readonly nodes = new Map<NodeId, NetNode>()
  queue: Message[] = []
  /** Return false to drop a message. */
  filter: (m: Message) => boolean = () => true
  /** Every message ever sent, for assertions. */
  readonly sent: Message[] = []

  constructor (ids: NodeId[], opts: NodeOpts | ((id: NodeId) => NodeOpts) = {}) {
    for (const id of ids) this.add(id, ids, typeof opts === 'function' ? opts(id) : opts)
  }

  /** Adds a node (voters is its initial configuration; an empty list for a node that will join). */
  add (id: NodeId, voters: NodeId[], opts: NodeOpts = {}): NetNode {
    const { rn, storage } = newNode(id, voters, opts)
    const n: NetNode = { id, rn, storage, applied: [], readStates: [], confState: undefined }
    this.nodes.set(id, n)
    return n
  }

  /** The node with this id. */
  node (id: NodeId): NetNode {
    const n = this.nodes.get(id)
    if (n === undefined) throw new Error(`no node ${id}`)
    return n
  }

  /** Processes Readies of every node until none has one. */
  processReadies (): void {
    for (let round = 0; round < 100; round++) {
      let any = false
      for (const n of this.nodes.values()) {
        if (!n.rn.hasReady()) continue
        any = true
        const rd = n.rn.ready()
        persist(n.storage, rd)
        for (const m of allMessages(rd)) this.send(m)
        for (const e of rd.committedEntries) {
          n.applied.push(e)
          if (e.type === 'confChange') n.confState = n.rn.applyConfChange(decodeConfChange(e.data))
        }
        n.readStates.push(...rd.readStates)
        n.rn.advance(rd)
      }
      if (!any) return
    }
    throw new Error('processReadies did not settle')
  }

  /** Queues a message (cloned, so receivers cannot share mutable state with senders). */
  send (m: Message): void {
    const c = structuredClone(m)
    this.sent.push(c)
    this.queue.push(c)
  }

  /** Delivers queued messages (and what they cause) until the network is quiet. */
  stabilize (maxSteps = 10_000): void {
    this.processReadies()
    for (let i = 0; i < maxSteps; i++) {
      const m = this.queue.shift()
      if (m === undefined) return
      this.deliver(m)
      this.processReadies()
    }
    throw new Error('network did not stabilize')
  }

  /** Delivers one message if it passes the filter and its target exists. */
  deliver (m: Message): void {
    if (!this.filter(m)) return
    const n = this.nodes.get(m.to)
    if (n === undefined) return
    n.rn.step(m)
  }

  /** Drops all traffic to and from `id`. */
  isolate (id: NodeId): void {
    const prev = this.filter
    this.filter = (m) => m.from !== id && m.to !== id && prev(m)
  }

  /** Restores full connectivity. */
  heal (): void {
    this.filter = () => true
  }

  /** Ticks `id` n times, processing its Readies after each tick (messages stay queued). */
  tick (id: NodeId, n = 1): void {
    for (let i = 0; i < n; i++) {
      this.node(id).rn.tick()
      this.processReadies()
    }
  }

  /** Ticks every node n times, stabilizing after each round. */
  tickAll (n = 1): void {
    for (let i = 0; i < n; i++) {
      for (const node of this.nodes.values()) node.rn.tick()
      this.stabilize()
    }
  }

  /** Campaigns `id` and stabilizes. */
  elect (id: NodeId): void {
    this.node(id).rn.campaign()
    this.stabilize()
  }

  /** The id every node considers leader if they agree, else NONE. */
  leader (): NodeId {
    const leaders = [...this.nodes.values()].filter((n) => n.rn.status().softState.role === 'leader')
    return leaders.length === 1 ? leaders[0].id : NONE
  }

  /** Proposes on `id` and stabilizes. */
  propose (id: NodeId, data: string): void {
    this.node(id).rn.propose(b(data))
    this.stabilize()
  }
}

/** A node plus its Raft internals, for white-box paper tests. */
export function newRaft (id: NodeId, voters: NodeId[], opts: NodeOpts = {}): { rn: RawNode, storage: MemoryStorage, r: Raft } {
  const { rn, storage } = newNode(id, voters, opts)
  return { rn, storage, r: rn.raftForTesting }
}

/** Makes the node leader of the next term directly and drains the resulting Readies. Returns the messages sent. */
export function forceLeader (rn: RawNode, storage: MemoryStorage): Message[] {
  const r = rn.raftForTesting
  r.becomeCandidate()
  r.becomeLeader()
  r.bcastAppend()
  return drain(rn, storage)
}

/** A network message with defaults for what a test does not care about. */
export function msg (m: Partial<Message> & Pick<Message, 'type' | 'from' | 'to'>): Message {
  return {
    term: 0,
    logTerm: 0,
    index: 0,
    entries: [],
    commit: 0,
    reject: false,
    rejectHint: 0,
    context: new Uint8Array(0),
    ...m
  }
}

/** Takes the queued messages out of a Raft without a Ready cycle (self-addressed ones included). */
export function takeMessages (rn: RawNode): Message[] {
  const r = rn.raftForTesting
  const out = [...r.msgs, ...r.msgsAfterPersist]
  r.msgs = []
  r.msgsAfterPersist = []
  return out
}

/** Ticks all nodes until one is leader (bounded); returns its id. */
export function tickUntilLeader (net: Network, maxTicks = 200): NodeId {
  for (let i = 0; i < maxTicks; i++) {
    const l = net.leader()
    if (l !== NONE) return l
    net.tickAll(1)
  }
  throw new Error('no leader elected')
}

/** A fake monotonic clock for lease tests. */
export class FakeClock {
  t = 0
  readonly now = (): number => this.t
}
