// A narrated, in-process run of a 3-node Raft cluster for people: an election, a few writes, the leader
// crashing, a new election, the old leader coming back from its disk and catching up, and a read-back.
// Everything is simulated in memory on a fake clock (no network, no timers), so it runs in milliseconds
// and says the same thing every time.

import { invariant } from '../errors.js'
import { bootstrapState, MemoryStorage, RawNode } from '../raft/index.js'
import type { Message, NodeId, Ready } from '../raft/index.js'

const TICK_MS = 10
const ELECTION_TICK = 10
const HEARTBEAT_TICK = 2
/** Safety net: no phase of the demo may take longer than this many ticks. */
const MAX_TICKS_PER_PHASE = 1000

const encoder = new TextEncoder()
const decoder = new TextDecoder()

/** One demo node: the Raft state machine, its "disk" (storage) and its key-value map. */
interface DemoNode {
  id: NodeId
  raw: RawNode | undefined
  storage: MemoryStorage
  kv: Map<string, string>
  role: string
  reads: Map<string, number>
}

/** Runs the narrated demo, handing each line of the story to `print`. */
export function runSimDemo (print: (line: string) => void): void {
  let seed = 7
  const random = (): number => {
    seed = (Math.imul(seed, 1103515245) + 12345) >>> 0
    return seed / 4294967296
  }
  let ticks = 0
  const ids: NodeId[] = [1, 2, 3]
  const nodes = new Map<NodeId, DemoNode>()
  const inFlight: Message[] = []

  const start = (n: DemoNode): void => {
    n.raw = new RawNode({ id: n.id, electionTick: ELECTION_TICK, heartbeatTick: HEARTBEAT_TICK, storage: n.storage, applied: 1, random })
    n.kv = new Map()
    n.role = 'follower'
  }
  const { snapshot, hardState } = bootstrapState(ids)
  for (const id of ids) {
    const storage = new MemoryStorage()
    storage.applySnapshot(snapshot)
    storage.setHardState(hardState)
    const n: DemoNode = { id, raw: undefined, storage, kv: new Map(), role: 'follower', reads: new Map() }
    start(n)
    nodes.set(id, n)
  }
  const at = (): string => `[${String(ticks * TICK_MS).padStart(5)} ms]`
  const leader = (): DemoNode | undefined => [...nodes.values()].find(n => n.raw !== undefined && n.role === 'leader')

  /** Persist, send, apply: the Ready contract, done synchronously (the disk never loses anything here). */
  const handle = (n: DemoNode, rd: Ready): void => {
    if (rd.softState !== undefined && rd.softState.role !== n.role) {
      n.role = rd.softState.role
      if (n.role === 'leader') print(`${at()} node ${n.id} won the election and is now the leader (term ${n.raw?.status().hardState.term}).`)
    }
    inFlight.push(...rd.messages)
    if (rd.snapshot !== undefined) n.storage.applySnapshot(rd.snapshot)
    n.storage.append(rd.entries)
    if (rd.hardState !== undefined) n.storage.setHardState(rd.hardState)
    inFlight.push(...rd.messagesAfterPersist)
    for (const e of rd.committedEntries) {
      if (e.type !== 'normal' || e.data.length === 0) continue
      const [key, value] = decoder.decode(e.data).split('=')
      n.kv.set(key, value)
    }
    for (const rs of rd.readStates) n.reads.set(decoder.decode(rs.requestCtx), rs.index)
    n.raw?.advance(rd)
  }
  /** Delivers every message in flight (and what they cause) until the cluster is quiet. */
  const settle = (): void => {
    for (let rounds = 0; rounds < 10_000; rounds++) {
      let busy = false
      for (const n of nodes.values()) {
        while (n.raw?.hasReady() === true) {
          busy = true
          handle(n, n.raw.ready())
        }
      }
      const batch = inFlight.splice(0)
      for (const m of batch) {
        const to = nodes.get(m.to)
        if (to?.raw === undefined) continue // a crashed node hears nothing
        to.raw.step(m)
        busy = true
      }
      if (!busy) return
    }
  }
  const tick = (): void => {
    ticks++
    for (const n of nodes.values()) n.raw?.tick()
    settle()
  }
  const runUntil = (what: string, done: () => boolean): void => {
    for (let i = 0; i < MAX_TICKS_PER_PHASE && !done(); i++) tick()
    invariant(done(), () => `demo stuck waiting for: ${what}`)
  }
  const write = (key: string, value: string): void => {
    const l = leader()
    if (l?.raw === undefined) return
    l.raw.propose(encoder.encode(`${key}=${value}`))
    settle()
    const holders = [...nodes.values()].filter(n => n.raw !== undefined && n.kv.get(key) === value).map(n => n.id)
    print(`${at()} wrote ${key} = ${value} through leader ${l.id}; committed once a majority stored it, applied on nodes ${holders.join(', ')}.`)
  }

  print(`Three Raft nodes (1, 2, 3) start with empty logs. Nobody is leader yet; each waits a random`)
  print(`election timeout (${ELECTION_TICK * TICK_MS}–${2 * ELECTION_TICK * TICK_MS} ms) before asking the others for votes.`)
  runUntil('a first leader', () => leader() !== undefined)
  write('color', 'blue')
  write('shape', 'circle')
  write('color', 'green')

  const old = leader() as DemoNode
  const lastIndex = old.storage.lastIndex()
  print(`${at()} node ${old.id} (the leader) crashes. What it wrote to disk survives: its log up to entry ${lastIndex}.`)
  old.raw = undefined
  old.role = 'down'
  const lostAt = ticks
  runUntil('a new leader', () => leader() !== undefined)
  const next = leader() as DemoNode
  print(`${at()} the other two stopped hearing heartbeats and elected node ${next.id} after ${(ticks - lostAt) * TICK_MS} ms.`)
  write('size', 'large')
  print(`${at()} with node ${old.id} down, 2 of 3 nodes are still a majority, so writes keep committing.`)

  start(old)
  print(`${at()} node ${old.id} restarts from its disk (term ${old.storage.initialState().hardState.term}, log up to entry ${old.storage.lastIndex()}) and rejoins as a follower.`)
  runUntil(`node ${old.id} to catch up`, () => old.kv.get('size') === 'large')
  print(`${at()} node ${old.id} replayed its log and received the entries it missed: it now has size = ${old.kv.get('size')}.`)

  const reader = leader() as DemoNode
  reader.raw?.readIndex(encoder.encode('check'))
  runUntil('a confirmed read', () => reader.reads.has('check'))
  const readIndex = reader.reads.get('check') ?? 0
  print(`${at()} a linearizable read on leader ${reader.id} (confirmed by a heartbeat round, index ${readIndex}): color = ${reader.kv.get('color')}, shape = ${reader.kv.get('shape')}, size = ${reader.kv.get('size')}.`)
  const same = [...nodes.values()].every(n => n.kv.get('color') === 'green' && n.kv.get('size') === 'large')
  print(same ? 'All three nodes hold the same data: nothing acknowledged was lost.' : 'The nodes disagree — this should never happen.')
}
