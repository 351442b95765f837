// A cluster of real `aspen` processes on 127.0.0.1 for integration tests: fresh temp data dirs, the `fast` raft
// profile, cooldown 0 (tests make several voter changes), SIGKILL / SIGTERM / SIGSTOP on demand, and a client.
import { spawn, type ChildProcess } from 'node:child_process'
import { existsSync, readFileSync } from 'node:fs'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { connect, type AspenClient } from '../../src/client/index.js'
import { writeInitialConfig } from '../../src/node/config.js'
import type { RunInfo } from '../../src/node/run-info.js'
import type { NodeStatus } from '../../src/node/node.js'
import { encodeTicket } from '../../src/p2p/index.js'

/**
 * How long a node may take to start, or a cluster to form. A hang detector, not a speed bound: on a loaded 2-core
 * machine (test files run two at a time, each with its own processes) Node start-up alone takes tens of seconds.
 */
const START_DEADLINE_MS = 60_000

const ROOT = resolve(import.meta.dirname, '../../..')
/** Node 24 from node_modules (never the system node). */
export const NODE_BIN = process.execPath
export const CLI = join(ROOT, 'dist/src/cli/main.js')

/** Polls `cond` until it returns a truthy value or `timeoutMs` passes (then throws with `what`). */
export async function waitFor<T> (what: string, cond: () => Promise<T | undefined | false> | T | undefined | false, timeoutMs = 15_000, everyMs = 25): Promise<T> {
  const deadline = performance.now() + timeoutMs
  let lastErr: unknown
  while (performance.now() < deadline) {
    try {
      const v = await cond()
      if (v !== undefined && v !== false) return v
    } catch (err) {
      lastErr = err
    }
    await new Promise(resolve => setTimeout(resolve, everyMs))
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${lastErr !== undefined ? ` (last error: ${lastErr instanceof Error ? lastErr.message : String(lastErr)})` : ''}`)
}

export interface TestNode {
  id: number
  dataDir: string
  proc?: ChildProcess
  log: string[]
  exit?: Promise<number | null>
}

export interface ClusterOptions {
  profile?: 'fast' | 'balanced'
  snapshotEvery?: number
  logRetain?: number
  extraToml?: string
  env?: Record<string, string>
}

/** A test cluster; call `destroy()` in `after`. */
export class TestCluster {
  readonly nodes = new Map<number, TestNode>()
  readonly cookie = 'test-cookie-' + Math.random().toString(36).slice(2) + '-0123456789abcdef'
  private clients: AspenClient[] = []

  private constructor (readonly root: string, readonly opts: ClusterOptions) {}

  /** Creates `n` initialised (not started) nodes with ids 1..n. */
  static async create (n: number, opts: ClusterOptions = {}): Promise<TestCluster> {
    const root = await mkdtemp(join(tmpdir(), 'aspen-it-'))
    const c = new TestCluster(root, opts)
    for (let id = 1; id <= n; id++) await c.addNode(id)
    return c
  }

  /** Initialises the data dir of node `id` (aspen init, in process). */
  async addNode (id: number): Promise<TestNode> {
    const dataDir = join(this.root, `n${id}`)
    await writeInitialConfig(dataDir, { nodeId: id, cookie: this.cookie, profile: this.opts.profile ?? 'balanced', cooldownS: 0, listen: ['/ip4/127.0.0.1/tcp/0'], http: '127.0.0.1:0' })
    if (this.opts.snapshotEvery !== undefined || this.opts.logRetain !== undefined || this.opts.extraToml !== undefined) {
      const path = join(dataDir, 'config.toml')
      let text = readFileSync(path, 'utf8')
      if (this.opts.snapshotEvery !== undefined) text = text.replace(/^snapshot_every = .*$/m, `snapshot_every = ${this.opts.snapshotEvery}`)
      if (this.opts.logRetain !== undefined) text = text.replace(/^log_retain = .*$/m, `log_retain = ${this.opts.logRetain}`)
      if (this.opts.extraToml !== undefined) text += '\n' + this.opts.extraToml + '\n'
      await writeFile(path, text, { mode: 0o600 })
    }
    const node: TestNode = { id, dataDir, log: [] }
    this.nodes.set(id, node)
    return node
  }

  node (id: number): TestNode {
    const n = this.nodes.get(id)
    if (n === undefined) throw new Error(`no node ${id}`)
    return n
  }

  /** Bootstrap addresses: every running node's addresses (from run/node.json). */
  bootstrapAddrs (except?: number): string[] {
    const out: string[] = []
    for (const n of this.nodes.values()) {
      if (n.id === except || n.proc === undefined) continue
      const info = this.runInfo(n.id)
      if (info !== undefined) out.push(...info.addrs.filter(a => a.includes('/tcp/')).slice(0, 1))
    }
    return out
  }

  runInfo (id: number): RunInfo | undefined {
    const p = join(this.node(id).dataDir, 'run', 'node.json')
    if (!existsSync(p)) return undefined
    try { return JSON.parse(readFileSync(p, 'utf8')) as RunInfo } catch { return undefined }
  }

  /**
   * Starts node `id` and waits until it wrote its run info (its p2p host listens). Bootstrap addresses: every
   * running node's, unless `opts.bootstrap` names them (an empty list: none).
   */
  async start (id: number, args: string[] = [], opts: { bootstrap?: string[] } = {}): Promise<TestNode> {
    const n = this.node(id)
    if (n.proc !== undefined) throw new Error(`node ${id} already running`)
    const runFile = join(n.dataDir, 'run', 'node.json')
    await rm(runFile, { force: true })
    const boot = (opts.bootstrap ?? this.bootstrapAddrs(id)).flatMap(a => ['--bootstrap', a])
    const proc = spawn(NODE_BIN, [CLI, 'start', '--data-dir', n.dataDir, ...boot, ...args], {
      stdio: ['ignore', 'ignore', 'pipe'],
      env: { ...process.env, ASPEN_TESTING: '1', ASPEN_LOG_LEVEL: process.env.ASPEN_TEST_LOG_LEVEL ?? 'info', ...this.opts.env }
    })
    n.proc = proc
    n.log = []
    proc.stderr?.setEncoding('utf8')
    proc.stderr?.on('data', (d: string) => { n.log.push(d); if (n.log.length > 2000) n.log.splice(0, 1000) })
    n.exit = new Promise(resolve => proc.on('exit', (code) => { if (n.proc === proc) n.proc = undefined; resolve(code) }))
    await waitFor(`node ${id} to start`, () => {
      if (n.proc !== proc) throw new Error(`node ${id} exited during start-up:\n${n.log.join('').slice(-3000)}`)
      return existsSync(runFile)
    }, START_DEADLINE_MS)
    return n
  }

  /** Sends `signal`; for SIGKILL/SIGTERM waits for the exit. */
  async signal (id: number, signal: NodeJS.Signals): Promise<number | null | undefined> {
    const n = this.node(id)
    const p = n.proc
    if (p === undefined) return undefined
    p.kill(signal)
    if (signal === 'SIGSTOP' || signal === 'SIGCONT') return undefined
    const code = await n.exit
    n.proc = undefined
    return code
  }

  async kill (id: number): Promise<void> { await this.signal(id, 'SIGKILL') }
  async stop (id: number): Promise<number | null | undefined> { return await this.signal(id, 'SIGTERM') }

  /** A client that knows every running node. */
  async client (timeoutMs = 5000): Promise<AspenClient> {
    return await this.clientOf([...this.nodes.values()].filter(n => n.proc !== undefined).map(n => n.id), timeoutMs)
  }

  /** A client that knows only the given running nodes (its stale reads then show their own state). */
  async clientOf (ids: number | number[], timeoutMs = 5000): Promise<AspenClient> {
    const infos = (Array.isArray(ids) ? ids : [ids]).map(id => this.runInfo(id)).filter((x): x is RunInfo => x !== undefined)
    const ticket = encodeTicket({ clusterId: infos[0].clusterId, peers: infos.map(i => ({ peerId: i.peerId, addrs: i.addrs.map(a => a.replace(/\/p2p\/[^/]+$/, '')).slice(0, 8) })) })
    const c = await connect({ ticket, cookie: this.cookie, timeoutMs })
    this.clients.push(c)
    return c
  }

  /** Status of node `id` asked directly (its own view). */
  async status (id: number, client?: AspenClient): Promise<NodeStatus> {
    const info = this.runInfo(id)
    if (info === undefined) throw new Error(`node ${id} has no run info`)
    const c = client ?? await this.client()
    return await c.controlAt<NodeStatus>({ peerId: info.peerId, addrs: info.addrs.map(a => a.replace(/\/p2p\/[^/]+$/, '')) }, 'cluster.status', {}, { timeoutMs: 3000 })
  }

  /** Runs the CLI with `args` and returns its exit code and output. */
  async cli (args: string[], input?: Uint8Array): Promise<{ code: number | null, stdout: string, stderr: string }> {
    return await runCliProcess(args, input, { ASPEN_COOKIE: this.cookie })
  }

  /** Initialises the cluster on node 1, adds the others as learners and promotes them all. */
  async form (ids: number[] = [...this.nodes.keys()]): Promise<AspenClient> {
    for (const id of ids) if (this.node(id).proc === undefined) await this.start(id)
    const c = await this.client()
    const first = this.runInfo(ids[0]) as RunInfo
    await c.controlAt({ peerId: first.peerId, addrs: first.addrs.map(a => a.replace(/\/p2p\/[^/]+$/, '')) }, 'cluster.init', {}, { timeoutMs: 10_000 })
    for (const id of ids.slice(1)) {
      await waitFor(`node ${id} added as learner`, async () => await c.control('cluster.addLearner', { nodeId: id }, { timeoutMs: 5000 }).then(() => true), START_DEADLINE_MS, 200)
    }
    if (ids.length > 1) {
      await waitFor('voters promoted', async () => await c.control('cluster.changeMembership', { voters: ids }, { timeoutMs: 5000 }).then(() => true), START_DEADLINE_MS, 200)
    }
    return c
  }

  /** The id of the node every running node agrees is the leader. */
  async leader (timeoutMs = 10_000): Promise<number> {
    const c = await this.client()
    return await waitFor('an agreed leader', async () => {
      const ids = [...this.nodes.values()].filter(n => n.proc !== undefined).map(n => n.id)
      const views = await Promise.all(ids.map(async id => await this.status(id, c).then(s => s.leaderId).catch(() => null)))
      const l = views[0]
      return l !== null && views.every(v => v === l) ? l : undefined
    }, timeoutMs, 50)
  }

  /** Logs of a node (for failure messages). */
  logs (id: number): string {
    return this.node(id).log.join('').slice(-5000)
  }

  /** Runs a test step; on failure the error carries the tail of every node's log, so CI output explains it. */
  async explain<T> (fn: () => Promise<T>): Promise<T> {
    try {
      return await fn()
    } catch (err) {
      const logs = [...this.nodes.keys()].map(id => `--- node ${id} log tail ---\n${this.logs(id).slice(-2500)}`).join('\n')
      if (err instanceof Error) err.message += `\n${logs}`
      throw err
    }
  }

  async destroy (): Promise<void> {
    for (const c of this.clients) await c.close().catch(() => {})
    this.clients = []
    for (const n of this.nodes.values()) {
      if (n.proc !== undefined) {
        n.proc.kill('SIGCONT')
        n.proc.kill('SIGKILL')
        await n.exit
      }
    }
    await rm(this.root, { recursive: true, force: true })
  }
}

/** Runs `aspen ARGS` as a real process. */
export async function runCliProcess (args: string[], input?: Uint8Array, env: Record<string, string> = {}): Promise<{ code: number | null, stdout: string, stderr: string }> {
  const p = spawn(NODE_BIN, [CLI, ...args], { stdio: ['pipe', 'pipe', 'pipe'], env: { ...process.env, ...env } })
  let stdout = ''
  let stderr = ''
  p.stdout.setEncoding('utf8').on('data', (d: string) => { stdout += d })
  p.stderr.setEncoding('utf8').on('data', (d: string) => { stderr += d })
  if (input !== undefined) p.stdin.end(input)
  else p.stdin.end()
  const code = await new Promise<number | null>(resolve => p.on('exit', resolve))
  return { code, stdout, stderr }
}

