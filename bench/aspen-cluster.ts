// A benchmark cluster of real `aspen start` processes on 127.0.0.1 with default settings (balanced profile, fsync
// on). Only safety.cooldown_s is 0, so the three voters can be formed at once (it limits membership changes, not
// the data path). stderr of every node goes to a log file next to its data dir.
import { spawn, type ChildProcess } from 'node:child_process'
import { createWriteStream, existsSync, readFileSync } from 'node:fs'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { connect, type AspenClient } from '../src/client/index.js'
import { writeInitialConfig } from '../src/node/config.js'
import type { RunInfo } from '../src/node/run-info.js'
import type { NodeStatus } from '../src/node/node.js'
import { encodeTicket } from '../src/p2p/index.js'
import type { PeerAddress } from '../src/p2p/index.js'
import type { KvTarget } from './load-generator.js'
import { freePort } from './free-port.js'
import { waitFor } from './wait.js'

const ROOT = resolve(import.meta.dirname, '../..')
const CLI = join(ROOT, 'dist/src/cli/main.js')

interface BenchNode {
  id: number
  dataDir: string
  /** Fixed listen port, so a node restarted (or a whole cluster cold-started) is found at the same address. */
  port: number
  /** Its full multiaddr with /p2p/ once it ran (bootstrap for the others). */
  addr?: string
  proc?: ChildProcess
  exit?: Promise<number | null>
}

/** Extra node (V8) flags for one node, e.g. ['--cpu-prof', '--cpu-prof-dir=DIR']. */
export type NodeFlags = (id: number) => string[]

/** Three (or more) aspen processes and a client. */
export class AspenBenchCluster {
  readonly cookie = 'bench-cookie-' + Math.random().toString(36).slice(2) + '-0123456789abcdef'
  private readonly nodes = new Map<number, BenchNode>()
  private clients: AspenClient[] = []

  private constructor (readonly root: string, private readonly nodeFlags: NodeFlags) {}

  /** Initialises `n` nodes (ids 1..n) in a fresh temp dir; none is started. */
  static async create (n: number, opts: { nodeFlags?: NodeFlags, dir?: string } = {}): Promise<AspenBenchCluster> {
    const root = await mkdtemp(join(opts.dir ?? tmpdir(), 'aspen-bench-'))
    const c = new AspenBenchCluster(root, opts.nodeFlags ?? (() => []))
    for (let id = 1; id <= n; id++) await c.addNode(id)
    return c
  }

  /** Writes the config of node `id` (as `aspen init` does). */
  async addNode (id: number): Promise<void> {
    const dataDir = join(this.root, `n${id}`)
    const port = await freePort()
    await writeInitialConfig(dataDir, { nodeId: id, cookie: this.cookie, cooldownS: 0, listen: [`/ip4/127.0.0.1/tcp/${port}`], http: '127.0.0.1:0' })
    this.nodes.set(id, { id, dataDir, port })
  }

  ids (): number[] { return [...this.nodes.keys()] }

  private node (id: number): BenchNode {
    const n = this.nodes.get(id)
    if (n === undefined) throw new Error(`no node ${id}`)
    return n
  }

  /** Pids of the running nodes. */
  pids (): number[] {
    return [...this.nodes.values()].flatMap(n => n.proc?.pid === undefined ? [] : [n.proc.pid])
  }

  pid (id: number): number | undefined { return this.node(id).proc?.pid }

  runInfo (id: number): RunInfo | undefined {
    const p = join(this.node(id).dataDir, 'run', 'node.json')
    if (!existsSync(p)) return undefined
    try { return JSON.parse(readFileSync(p, 'utf8')) as RunInfo } catch { return undefined }
  }

  peer (id: number): PeerAddress {
    const info = this.runInfo(id)
    if (info === undefined) throw new Error(`node ${id} has no run info`)
    return { peerId: info.peerId, addrs: info.addrs.map(a => a.replace(/\/p2p\/[^/]+$/, '')).filter(a => a.includes('/tcp/')).slice(0, 4) }
  }

  /** Spawns node `id` (bootstrapping from every other node that ever ran) without waiting for it. */
  spawnNode (id: number): BenchNode {
    const n = this.node(id)
    if (n.proc !== undefined) throw new Error(`node ${id} already running`)
    const boot: string[] = []
    for (const other of this.nodes.values()) {
      if (other.id === id) continue
      other.addr ??= this.runInfo(other.id)?.addrs.find(x => x.includes(`/tcp/${other.port}/`))
      if (other.addr !== undefined) boot.push('--bootstrap', other.addr)
    }
    const log = createWriteStream(join(this.root, `n${id}.log`), { flags: 'a' })
    const proc = spawn(process.execPath, [...this.nodeFlags(id), CLI, 'start', '--data-dir', n.dataDir, ...boot], { stdio: ['ignore', 'ignore', 'pipe'] })
    proc.stderr?.pipe(log)
    n.proc = proc
    n.exit = new Promise(resolve => proc.on('exit', (code) => { if (n.proc === proc) n.proc = undefined; resolve(code) }))
    return n
  }

  /** Starts node `id` and waits until it wrote its run info (its host listens). */
  async start (id: number): Promise<void> {
    const n = this.node(id)
    const runFile = join(n.dataDir, 'run', 'node.json')
    await rm(runFile, { force: true })
    const proc = this.spawnNode(id).proc
    await waitFor(`aspen node ${id} to start`, () => {
      if (n.proc !== proc) throw new Error(`node ${id} exited during start-up; see ${join(this.root, `n${id}.log`)}`)
      return existsSync(runFile)
    }, 60_000)
    n.addr ??= this.runInfo(id)?.addrs.find(x => x.includes(`/tcp/${n.port}/`))
  }

  /** Fixed address of node `id` (known once it ran): usable while it is down, e.g. for a cold start. */
  fixedPeer (id: number): PeerAddress {
    const a = this.node(id).addr
    if (a === undefined) throw new Error(`node ${id} never ran`)
    const m = /^(.*)\/p2p\/([^/]+)$/.exec(a)
    if (m === null) throw new Error(`unexpected address ${a}`)
    return { peerId: m[2], addrs: [m[1]] }
  }

  /** A client that knows every node's fixed address, running or not. */
  async clientAll (timeoutMs = 5000): Promise<AspenClient> {
    const peers = this.ids().filter(id => this.node(id).addr !== undefined).map(id => this.fixedPeer(id)).map(p => ({ peerId: p.peerId, addrs: [...p.addrs] }))
    const clusterId = this.clusterId
    if (clusterId === undefined) throw new Error('cluster id unknown: no node ran yet')
    const c = await connect({ ticket: encodeTicket({ clusterId, peers }), cookie: this.cookie, timeoutMs })
    this.clients.push(c)
    return c
  }

  private clusterId: string | undefined

  /** Sends `signal` and waits for the exit. */
  async signal (id: number, signal: NodeJS.Signals): Promise<void> {
    const n = this.node(id)
    if (n.proc === undefined) return
    n.proc.kill(signal)
    await n.exit
    n.proc = undefined
  }

  /** A client whose ticket names the given nodes (default: every running node). */
  async client (ids?: number[], timeoutMs = 5000): Promise<AspenClient> {
    const use = ids ?? [...this.nodes.values()].filter(n => n.proc !== undefined).map(n => n.id)
    const infos = use.map(id => this.runInfo(id)).filter((x): x is RunInfo => x !== undefined)
    this.clusterId ??= infos[0].clusterId
    const ticket = encodeTicket({ clusterId: infos[0].clusterId, peers: use.map(id => this.peer(id)).map(p => ({ peerId: p.peerId, addrs: [...p.addrs] })) })
    const c = await connect({ ticket, cookie: this.cookie, timeoutMs })
    this.clients.push(c)
    return c
  }

  /** Status of node `id`, asked directly. */
  async status (id: number, c: AspenClient): Promise<NodeStatus> {
    return await c.controlAt<NodeStatus>(this.peer(id), 'cluster.status', {}, { timeoutMs: 3000 })
  }

  /** Starts every node, makes node 1 a cluster and adds the others as voters; returns the leader id. */
  async form (): Promise<number> {
    const ids = this.ids()
    await this.start(ids[0])
    for (const id of ids.slice(1)) await this.start(id)
    const c = await this.client()
    await c.controlAt(this.peer(ids[0]), 'cluster.init', {}, { timeoutMs: 10_000 })
    for (const id of ids.slice(1)) {
      await waitFor(`node ${id} added as learner`, async () => await c.control('cluster.addLearner', { nodeId: id }, { timeoutMs: 5000 }).then(() => true), 60_000, 200)
    }
    await waitFor('voters promoted', async () => await c.control('cluster.changeMembership', { voters: ids }, { timeoutMs: 5000 }).then(() => true), 60_000, 200)
    return await this.leader()
  }

  /** The leader every running node agrees on. */
  async leader (timeoutMs = 30_000): Promise<number> {
    const c = await this.client()
    try {
      return await waitFor('an agreed aspen leader', async () => {
        const ids = [...this.nodes.values()].filter(n => n.proc !== undefined).map(n => n.id)
        const views = await Promise.all(ids.map(async id => await this.status(id, c).then(s => s.leaderId).catch(() => null)))
        const l = views[0]
        return l !== null && views.every(v => v === l) ? l : undefined
      }, timeoutMs, 50)
    } finally {
      await this.dropClient(c)
    }
  }

  private async dropClient (c: AspenClient): Promise<void> {
    this.clients = this.clients.filter(x => x !== c)
    await c.close().catch(() => {})
  }

  /** A KV target bound to the nodes `ids` (the leader for the throughput runs, like the etcd side). */
  async target (ids: number[]): Promise<{ target: KvTarget, close: () => Promise<void> }> {
    const c = await this.client(ids, 10_000)
    return {
      target: {
        put: async (key, value) => { await c.put(key, value) },
        get: async (key) => { await c.get(key) }
      },
      close: async () => { await this.dropClient(c) }
    }
  }

  /** SIGKILLs everything and removes the data (unless `keep`). */
  async destroy (keep = false): Promise<void> {
    // Servers first: closing a client whose requests are still in flight can wait on them.
    for (const n of this.nodes.values()) {
      if (n.proc !== undefined) { n.proc.kill('SIGKILL'); await n.exit }
    }
    const clients = this.clients
    this.clients = []
    await Promise.race([Promise.allSettled(clients.map(async c => { await c.close() })), new Promise(resolve => setTimeout(resolve, 5000).unref())])
    if (!keep) await rm(this.root, { recursive: true, force: true })
  }

  /** Data dir of node `id`. */
  dataDir (id: number): string { return this.node(id).dataDir }
}
