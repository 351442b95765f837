// One real `aspen` process whose data dir lives on a lazyfs mount: start, SIGKILL, and a client that reaches it.
import { spawn, type ChildProcess } from 'node:child_process'
import { existsSync, readFileSync } from 'node:fs'
import { rm } from 'node:fs/promises'
import { join } from 'node:path'
import { connect, type AspenClient } from '../../../src/client/index.js'
import type { RunInfo } from '../../../src/node/run-info.js'
import { encodeTicket } from '../../../src/p2p/index.js'
import { CLI, NODE_BIN, waitFor } from '../harness.js'

/** A single-node cluster member running from `dataDir`. */
export class PowerNode {
  proc?: ChildProcess
  log: string[] = []
  private exit?: Promise<number | null>

  constructor (readonly dataDir: string, readonly cookie: string) {}

  runInfo (): RunInfo | undefined {
    const p = join(this.dataDir, 'run', 'node.json')
    if (!existsSync(p)) return undefined
    try { return JSON.parse(readFileSync(p, 'utf8')) as RunInfo } catch { return undefined }
  }

  /** Starts the node; resolves once it listens (run info written), rejects if it exits first. */
  async start (): Promise<void> {
    await rm(join(this.dataDir, 'run', 'node.json'), { force: true })
    const proc = spawn(NODE_BIN, [CLI, 'start', '--data-dir', this.dataDir], {
      stdio: ['ignore', 'ignore', 'pipe'],
      env: { ...process.env, ASPEN_TESTING: '1', ASPEN_LOG_LEVEL: 'info' }
    })
    this.proc = proc
    this.log = []
    proc.stderr?.setEncoding('utf8').on('data', (d: string) => { this.log.push(d); if (this.log.length > 2000) this.log.splice(0, 1000) })
    this.exit = new Promise(resolve => proc.on('exit', (code) => { if (this.proc === proc) this.proc = undefined; resolve(code) }))
    await waitFor('node to start', () => {
      if (this.proc !== proc) throw new Error(`node exited during start-up:\n${this.logs()}`)
      return this.runInfo() !== undefined
    }, 30_000)
  }

  /** SIGKILL and wait for the exit (the process and its open files are gone afterwards). */
  async kill (): Promise<void> {
    const p = this.proc
    if (p === undefined) return
    p.kill('SIGKILL')
    await this.exit
    this.proc = undefined
  }

  /** Graceful stop (SIGTERM). */
  async stop (): Promise<void> {
    const p = this.proc
    if (p === undefined) return
    p.kill('SIGTERM')
    await this.exit
    this.proc = undefined
  }

  /** A client for this node (its addresses change on every start: listen port 0). */
  async client (timeoutMs = 5000): Promise<AspenClient> {
    const info = this.runInfo()
    if (info === undefined) throw new Error('node has no run info')
    const ticket = encodeTicket({ clusterId: info.clusterId, peers: [{ peerId: info.peerId, addrs: info.addrs.map(a => a.replace(/\/p2p\/[^/]+$/, '')).slice(0, 8) }] })
    return await connect({ ticket, cookie: this.cookie, timeoutMs })
  }

  logs (): string {
    return this.log.join('').slice(-4000)
  }
}
