// A 3-member etcd cluster (Debian's etcd-server, default settings: fsync on, heartbeat 100 ms, election 1000 ms)
// on 127.0.0.1 with data dirs on the same disk as the Aspen run, driven through the `etcd3` npm client (gRPC).
import { spawn, spawnSync, type ChildProcess } from 'node:child_process'
import { createWriteStream } from 'node:fs'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Etcd3 } from 'etcd3'
import { freePort } from './free-port.js'
import type { KvTarget } from './load-generator.js'
import { waitFor } from './wait.js'

/** `etcd --version` first line, or undefined when etcd is not installed. */
export function etcdVersion (bin = 'etcd'): string | undefined {
  const r = spawnSync(bin, ['--version'], { encoding: 'utf8' })
  if (r.status !== 0) return undefined
  return r.stdout.split('\n')[0].trim()
}

interface Member {
  name: string
  clientPort: number
  peerPort: number
  dataDir: string
  proc?: ChildProcess
  exit?: Promise<number | null>
}

/** Three etcd members. */
export class EtcdBenchCluster {
  private readonly members: Member[] = []
  private clients: Etcd3[] = []

  private constructor (readonly root: string, private readonly bin: string) {}

  static async create (n: number, opts: { bin?: string, dir?: string } = {}): Promise<EtcdBenchCluster> {
    const root = await mkdtemp(join(opts.dir ?? tmpdir(), 'etcd-bench-'))
    const c = new EtcdBenchCluster(root, opts.bin ?? 'etcd')
    for (let i = 1; i <= n; i++) {
      c.members.push({ name: `e${i}`, clientPort: await freePort(), peerPort: await freePort(), dataDir: join(root, `e${i}`) })
    }
    return c
  }

  private initialCluster (): string {
    return this.members.map(m => `${m.name}=http://127.0.0.1:${m.peerPort}`).join(',')
  }

  endpoint (i: number): string { return `http://127.0.0.1:${this.members[i].clientPort}` }
  endpoints (): string[] { return this.members.map((_, i) => this.endpoint(i)) }
  size (): number { return this.members.length }

  pids (): number[] { return this.members.flatMap(m => m.proc?.pid === undefined ? [] : [m.proc.pid]) }
  pid (i: number): number | undefined { return this.members[i].proc?.pid }

  /** Spawns member `i` (state "new" on first boot, its data dir afterwards). */
  spawnMember (i: number): void {
    const m = this.members[i]
    if (m.proc !== undefined) throw new Error(`etcd member ${m.name} already running`)
    const log = createWriteStream(join(this.root, `${m.name}.log`), { flags: 'a' })
    const proc = spawn(this.bin, [
      '--name', m.name, '--data-dir', m.dataDir,
      '--listen-client-urls', `http://127.0.0.1:${m.clientPort}`, '--advertise-client-urls', `http://127.0.0.1:${m.clientPort}`,
      '--listen-peer-urls', `http://127.0.0.1:${m.peerPort}`, '--initial-advertise-peer-urls', `http://127.0.0.1:${m.peerPort}`,
      '--initial-cluster', this.initialCluster(), '--initial-cluster-state', 'new', '--initial-cluster-token', 'bench',
      '--logger', 'zap', '--log-level', 'warn'
    ], { stdio: ['ignore', 'ignore', 'pipe'] })
    proc.stderr?.pipe(log)
    m.proc = proc
    m.exit = new Promise(resolve => proc.on('exit', (code) => { if (m.proc === proc) m.proc = undefined; resolve(code) }))
  }

  /** Starts every member and waits until a write succeeds. */
  async start (): Promise<void> {
    for (let i = 0; i < this.members.length; i++) this.spawnMember(i)
    const c = this.client(this.endpoints())
    await waitFor('etcd cluster to accept a write', async () => { await c.put('bench/ready').value('1'); return true }, 60_000, 100)
  }

  /** A client on `hosts`; closed by destroy(). */
  client (hosts: string[], timeoutMs = 5000): Etcd3 {
    const c = new Etcd3({ hosts, dialTimeout: timeoutMs, defaultCallOptions: () => ({ deadline: Date.now() + timeoutMs }) })
    this.clients.push(c)
    return c
  }

  /** Index of the member the running members name as leader. */
  async leader (timeoutMs = 30_000): Promise<number> {
    return await waitFor('an etcd leader', async () => {
      for (let i = 0; i < this.members.length; i++) {
        if (this.members[i].proc === undefined) continue
        const c = new Etcd3({ hosts: this.endpoint(i), dialTimeout: 2000 })
        try {
          const st = await c.maintenance.status()
          if (st.leader !== '0' && st.leader === st.header.member_id) return i
        } catch { /* not up yet */ } finally { c.close() }
      }
      return undefined
    }, timeoutMs, 50)
  }

  /** A KV target bound to `hosts` (the leader for throughput runs). Reads are linearizable (etcd3's default). */
  target (hosts: string[]): { target: KvTarget, close: () => Promise<void> } {
    const c = this.client(hosts, 10_000)
    return {
      target: {
        put: async (key, value) => { await c.put(key).value(Buffer.from(value.buffer, value.byteOffset, value.byteLength)) },
        get: async (key) => { await c.get(key).buffer() }
      },
      close: async () => { c.close(); this.clients = this.clients.filter(x => x !== c) }
    }
  }

  /** Sends `signal` to member `i` and waits for its exit. */
  async signal (i: number, signal: NodeJS.Signals): Promise<void> {
    const m = this.members[i]
    if (m.proc === undefined) return
    m.proc.kill(signal)
    await m.exit
    m.proc = undefined
  }

  async destroy (): Promise<void> {
    for (const c of this.clients) c.close()
    this.clients = []
    for (const m of this.members) if (m.proc !== undefined) { m.proc.kill('SIGKILL'); await m.exit }
    await rm(this.root, { recursive: true, force: true })
  }
}
