// The test's handle on one peer process running inside a network namespace: starts it with
// `ip netns exec NS <node 24> dist/test/nat/peer-process.js`, hands it its configuration on stdin, and turns the
// JSON lines it writes into awaited replies (peer-protocol.ts).
import { spawn } from 'node:child_process'
import type { ChildProcessWithoutNullStreams } from 'node:child_process'
import { createInterface } from 'node:readline'
import { AspenError } from '../../src/errors.js'
import type { NodeId } from '../../src/raft/types.js'
import type { PeerConfig, PeerEvent, PeerReply, PeerRequest, PeerStatus } from './peer-protocol.js'

/** Bytes of stderr kept for diagnostics. */
const STDERR_TAIL_BYTES = 64 * 1024
/** Default deadline of one request (ms). */
const DEFAULT_REQUEST_TIMEOUT_MS = 10_000

/** A peer process failed, exited or did not answer in time. */
export class PeerProcessError extends AspenError {
  readonly code = 'NAT_PEER_PROCESS'
}

type RequestBody = PeerRequest extends infer R ? R extends { id: number } ? Omit<R, 'id'> : never : never

export interface PeerSpawnOptions {
  /** Network namespace to run in. */
  ns: string
  /** Absolute path of the Node 24 binary. */
  nodePath: string
  /** Absolute path of dist/test/nat/peer-process.js. */
  script: string
  name: string
  nodeId: NodeId
}

/** A running peer process. */
export class PeerProcess {
  private readonly pending = new Map<number, { resolve: (v: unknown) => void, reject: (e: Error) => void, timer: NodeJS.Timeout }>()
  private nextId = 1
  private stderrTail = ''
  private exitInfo: string | undefined
  private killedByTest = false
  private readonly exitedPromise: Promise<void>
  private readonly ready: PromiseWithResolvers<string> = Promise.withResolvers<string>()
  peerId = ''

  private constructor (readonly name: string, readonly nodeId: NodeId, private readonly child: ChildProcessWithoutNullStreams) {
    // Nobody may be waiting for readiness yet; the rejection is observed by configure().
    this.ready.promise.catch(() => undefined)
    this.exitedPromise = new Promise((resolve) => {
      const ended = (info: string): void => {
        if (this.exitInfo !== undefined) return
        this.exitInfo = info
        this.ready.reject(new PeerProcessError(`${name} ${info} before it was ready; stderr: ${this.stderr()}`))
        for (const p of this.pending.values()) {
          clearTimeout(p.timer)
          p.reject(new PeerProcessError(`${name} ${info} before replying; stderr: ${this.stderr()}`))
        }
        this.pending.clear()
        resolve()
      }
      child.once('exit', (code, signal) => { ended(signal !== null ? `killed by ${signal}` : `exit code ${String(code)}`) })
      // Spawning itself failed (no `ip`?): there will be no 'exit'.
      child.on('error', (e) => { ended(`could not be started (${e.message})`) })
    })
    child.stderr.setEncoding('utf8')
    child.stderr.on('data', (chunk: string) => { this.appendDiagnostic(chunk) })
    // A broken stdin pipe (process gone) shows up as an exit; nothing to do here.
    child.stdin.on('error', () => undefined)
    createInterface({ input: child.stdout, crlfDelay: Infinity }).on('line', (line) => { this.onLine(line) })
  }

  /**
   * Starts the process. It loads its modules (the slow part of starting, ~0.7 s of CPU) and then waits for its
   * configuration, so the test can spawn every peer at once and configure each when its relays are up.
   */
  static spawn (opts: PeerSpawnOptions): PeerProcess {
    // NAT_TEST_DEBUG=<pattern> turns on libp2p's debug logs in the peers (they land in the stderr tails).
    const debug = process.env.NAT_TEST_DEBUG
    const env = { ...process.env, ...(debug !== undefined && debug !== '' ? { DEBUG: debug } : {}) }
    const child = spawn('ip', ['netns', 'exec', opts.ns, opts.nodePath, opts.script], { stdio: ['pipe', 'pipe', 'pipe'], env })
    return new PeerProcess(opts.name, opts.nodeId, child)
  }

  /** Hands the peer its configuration and waits until its host has started. */
  async configure (config: PeerConfig, readyTimeoutMs: number): Promise<void> {
    this.child.stdin.write(JSON.stringify(config) + '\n')
    let timer: NodeJS.Timeout | undefined
    const timeout = new Promise<never>((_resolve, reject) => {
      timer = setTimeout(() => { reject(new PeerProcessError(`${this.name} not ready ${readyTimeoutMs} ms after its configuration; stderr: ${this.stderr()}`)) }, readyTimeoutMs)
    })
    try {
      this.peerId = await Promise.race([this.ready.promise, timeout])
    } finally {
      clearTimeout(timer)
    }
  }

  private appendDiagnostic (text: string): void {
    this.stderrTail = (this.stderrTail + text).slice(-STDERR_TAIL_BYTES)
  }

  private onLine (line: string): void {
    let msg: PeerEvent | PeerReply
    try {
      msg = JSON.parse(line) as PeerEvent | PeerReply
    } catch {
      this.appendDiagnostic(`[stdout] ${line}\n`)
      return
    }
    if ('event' in msg) {
      if (msg.event === 'ready') {
        this.ready.resolve(msg.peerId)
      } else {
        this.appendDiagnostic(`[fatal] ${msg.error}\n`)
        this.ready.reject(new PeerProcessError(`${this.name} failed: ${msg.error}; stderr: ${this.stderr()}`))
      }
      return
    }
    const p = this.pending.get(msg.id)
    if (p === undefined) return
    this.pending.delete(msg.id)
    clearTimeout(p.timer)
    if (msg.ok) p.resolve(msg.result)
    else p.reject(new PeerProcessError(`${this.name}: ${msg.error}`))
  }

  /** The process id (of node: `ip netns exec` execs it in place). */
  get pid (): number | undefined {
    return this.child.pid
  }

  get exited (): boolean {
    return this.exitInfo !== undefined
  }

  /** How the process ended if it ended without the test stopping or killing it. */
  unexpectedExit (): string | undefined {
    return this.killedByTest ? undefined : this.exitInfo
  }

  /** The last few KiB the process wrote to stderr. */
  stderr (): string {
    return this.stderrTail.trim() === '' ? '(empty)' : this.stderrTail
  }

  /** Sends a request and waits for its reply. */
  async request<T> (body: RequestBody, timeoutMs = DEFAULT_REQUEST_TIMEOUT_MS): Promise<T> {
    if (this.exitInfo !== undefined) throw new PeerProcessError(`${this.name} already ${this.exitInfo}`)
    const id = this.nextId++
    return await new Promise<T>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id)
        reject(new PeerProcessError(`${this.name} did not answer ${body.cmd} within ${timeoutMs} ms`))
      }, timeoutMs)
      this.pending.set(id, { resolve: (v) => { resolve(v as T) }, reject, timer })
      this.child.stdin.write(JSON.stringify({ ...body, id }) + '\n')
    })
  }

  /** The peer's current view (registry, connections, counters). */
  async status (): Promise<PeerStatus> {
    return await this.request<PeerStatus>({ cmd: 'status' })
  }

  /** SIGKILL, by pid. */
  kill (): void {
    this.killedByTest = true
    if (this.exitInfo === undefined) this.child.kill('SIGKILL')
  }

  /** Resolves when the process has exited. */
  async waitExit (): Promise<void> {
    await this.exitedPromise
  }

  /** Asks the peer to stop gracefully; SIGKILLs it if it has not exited after `timeoutMs`. */
  async stop (timeoutMs = 3000): Promise<void> {
    if (this.exitInfo !== undefined) return
    this.killedByTest = true
    if (this.peerId === '') {
      // Not configured: the next stdin line would be taken for its configuration.
      this.kill()
      await this.exitedPromise
      return
    }
    const timer = setTimeout(() => { this.kill() }, timeoutMs)
    try {
      await this.request({ cmd: 'stop' }, timeoutMs).catch(() => undefined)
      await this.exitedPromise
    } finally {
      clearTimeout(timer)
    }
  }
}
