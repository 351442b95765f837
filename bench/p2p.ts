// P2P benchmark: Raft-frame throughput over one /aspen/raft stream between two hosts on loopback (TCP + pnet +
// noise + yamux), next to a raw TCP socket carrying the same length-prefixed frames in the same run; plus the
// time to detect a frozen (SIGSTOP) peer. Usage: node dist/bench/p2p.js [--seconds N] [--rounds N] [--json]
import { spawn } from 'node:child_process'
import { mkdtemp, rm } from 'node:fs/promises'
import { createServer, connect } from 'node:net'
import type { AddressInfo, Socket } from 'node:net'
import { cpus, loadavg, tmpdir } from 'node:os'
import { join } from 'node:path'
import { createInterface } from 'node:readline'
import { fileURLToPath } from 'node:url'
import { generateKeyPair } from '@libp2p/crypto/keys'
import type { Message } from '../src/raft/types.js'
import { createHost } from '../src/p2p/host.js'
import type { AspenHost } from '../src/p2p/host.js'
import { deriveClusterKeys } from '../src/p2p/cookie.js'
import { RaftTransport } from '../src/p2p/raft-transport.js'
import { encodeFrame, FrameDecoder } from '../src/p2p/frame.js'
import { startP2PNode } from '../src/p2p/p2p-node.js'
import { MemoryRegistry } from '../src/p2p/registry.js'

const COOKIE = 'bench-p2p'
const argv = process.argv.slice(2)
/** Value of a numeric `--name N` flag, or `def`. */
function flag (name: string, def: number): number {
  const i = argv.indexOf(name)
  const v = i < 0 ? Number.NaN : Number(argv[i + 1])
  return Number.isFinite(v) && v > 0 ? v : def
}
const seconds = flag('--seconds', 2)
const rounds = flag('--rounds', 3)
const json = argv.includes('--json')

interface Result {
  transport: string
  frameBytes: number
  frames: number
  seconds: number
  framesPerSec: number
  mbPerSec: number
}

function appFrame (seq: number, size: number): Message {
  return { type: 'app', to: 2, from: 1, term: 1, logTerm: 1, index: seq, entries: [{ term: 1, index: seq + 1, type: 'normal', data: new Uint8Array(size) }], commit: seq, reject: false, rejectHint: 0, context: new Uint8Array(0) }
}

async function host (): Promise<AspenHost> {
  return await createHost({ privateKey: await generateKeyPair('Ed25519'), keys: deriveClusterKeys(COOKIE), listen: ['/ip4/127.0.0.1/tcp/0'], autonat: false })
}

const immediate = async (): Promise<void> => { await new Promise((resolve) => setImmediate(resolve)) }

/** Raft frames A → B over one stream for `seconds`; the sender keeps ≤ 8 MiB queued (no drops). */
async function raftThroughput (frameBytes: number): Promise<Result> {
  const a = await host()
  const b = await host()
  const addr = (h: AspenHost): { peerId: string, addrs: string[] } => ({ peerId: h.peerId.toString(), addrs: h.getMultiaddrs().map(String) })
  const ta = new RaftTransport({ host: a, selfId: 1, resolvePeer: () => addr(b), authorize: () => ({ kind: 'allow' }) })
  const tb = new RaftTransport({ host: b, selfId: 2, resolvePeer: () => addr(a), authorize: () => ({ kind: 'allow' }) })
  await ta.start()
  await tb.start()
  let received = 0
  tb.onMessage((msgs) => { received += msgs.length })
  ta.send(2, [appFrame(0, 1)])
  while (received === 0) await immediate()
  received = 0
  const perTick = Math.max(1, Math.floor(256 * 1024 / (frameBytes + 64)))
  const start = performance.now()
  const end = start + seconds * 1000
  let seq = 0
  while (performance.now() < end) {
    const queued = ta.peers()[0]?.queuedBytes ?? 0
    if (queued < 8 * 1024 * 1024) ta.send(2, Array.from({ length: perTick }, () => appFrame(++seq, frameBytes)))
    await immediate()
  }
  const elapsed = (performance.now() - start) / 1000
  const frames = received
  const drops = ta.metrics.raftDroppedQueueFull
  await ta.stop()
  await tb.stop()
  await a.stop()
  await b.stop()
  if (drops > 0) throw new Error(`benchmark dropped ${drops} frames`)
  return { transport: 'libp2p /aspen/raft (pnet+noise+yamux)', frameBytes, frames, seconds: elapsed, framesPerSec: frames / elapsed, mbPerSec: frames * frameBytes / elapsed / 1e6 }
}

/** The same length-prefixed frames over a raw loopback TCP socket, honouring socket back-pressure. */
async function tcpThroughput (frameBytes: number): Promise<Result> {
  let received = 0
  const server = createServer((sock: Socket) => {
    const d = new FrameDecoder()
    sock.on('data', (chunk: Buffer) => { received += d.push(chunk).length })
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const port = (server.address() as AddressInfo).port
  const sock = connect(port, '127.0.0.1')
  sock.setNoDelay(true)
  await new Promise<void>((resolve) => sock.once('connect', () => { resolve() }))
  const perWrite = Math.max(1, Math.floor(256 * 1024 / (frameBytes + 4)))
  const batch = Buffer.concat(Array.from({ length: perWrite }, () => encodeFrame(new Uint8Array(frameBytes))))
  const start = performance.now()
  const end = start + seconds * 1000
  while (performance.now() < end) {
    if (!sock.write(batch)) await new Promise((resolve) => sock.once('drain', resolve))
    else await immediate()
  }
  const elapsed = (performance.now() - start) / 1000
  const frames = received
  sock.destroy()
  await new Promise((resolve) => server.close(resolve))
  return { transport: 'raw TCP socket', frameBytes, frames, seconds: elapsed, framesPerSec: frames / elapsed, mbPerSec: frames * frameBytes / elapsed / 1e6 }
}

/** Runs a p2p node in this file's own child process (for the frozen-peer measurement). */
async function childMain (dataDir: string, bootstrap: string): Promise<void> {
  const registry = new MemoryRegistry()
  const node = await startP2PNode({ dataDir, cookie: COOKIE, nodeId: 2, listen: ['/ip4/127.0.0.1/tcp/0'], bootstrap: [bootstrap], registry, resolvePeer: (id) => registry.resolve(id), authorize: () => ({ kind: 'allow' }), autonat: false })
  process.stdout.write(`READY ${node.peerId}\n`)
  process.on('SIGTERM', () => { void node.stop().finally(() => process.exit(0)) })
}

/** Milliseconds from SIGSTOP of a connected peer process to the connection monitor dropping it. */
async function frozenPeerDetection (): Promise<number> {
  const root = await mkdtemp(join(tmpdir(), 'aspen-bench-'))
  const registry = new MemoryRegistry()
  const parent = await startP2PNode({ dataDir: join(root, 'p'), cookie: COOKIE, nodeId: 1, listen: ['/ip4/127.0.0.1/tcp/0'], registry, resolvePeer: (id) => registry.resolve(id), authorize: () => ({ kind: 'allow' }), autonat: false })
  const child = spawn(process.execPath, [fileURLToPath(import.meta.url), '--child', join(root, 'c'), parent.addrs()[0]], { stdio: ['ignore', 'pipe', 'inherit'] })
  try {
    const peerId = await new Promise<string>((resolve, reject) => {
      const timer = setTimeout(() => { reject(new Error('child did not start')) }, 15_000)
      createInterface({ input: child.stdout }).on('line', (l) => { if (l.startsWith('READY ')) { clearTimeout(timer); resolve(l.slice(6)) } })
    })
    while (!parent.host.getConnections().some((c) => c.remotePeer.toString() === peerId)) await new Promise((resolve) => setTimeout(resolve, 20))
    await new Promise((resolve) => setTimeout(resolve, 1500)) // let a few pings succeed first
    const detected = new Promise<number>((resolve) => {
      parent.host.addEventListener('peer:disconnect', (evt) => { if (evt.detail.toString() === peerId) resolve(Date.now()) })
    })
    const frozenAt = Date.now()
    child.kill('SIGSTOP')
    const at = await Promise.race([detected, new Promise<number>((resolve) => setTimeout(() => { resolve(Number.NaN) }, 30_000))])
    return at - frozenAt
  } finally {
    child.kill('SIGCONT')
    child.kill('SIGKILL')
    await parent.stop()
    await rm(root, { recursive: true, force: true })
  }
}

/** The run with the median frames/s. */
function median (runs: Result[]): Result {
  const sorted = [...runs].sort((x, y) => x.framesPerSec - y.framesPerSec)
  return sorted[Math.floor(sorted.length / 2)]
}

async function main (): Promise<void> {
  const results: Result[] = []
  for (const size of [256, 64 * 1024]) {
    // Alternate the two transports so both see the same machine conditions; report each one's median.
    const tcp: Result[] = []
    const raft: Result[] = []
    for (let round = 0; round < rounds; round++) {
      tcp.push(await tcpThroughput(size))
      raft.push(await raftThroughput(size))
    }
    results.push(median(tcp), median(raft))
  }
  const detectionMs = await frozenPeerDetection()
  const load = loadavg().map((l) => l.toFixed(1)).join(' ')
  if (json) {
    process.stdout.write(JSON.stringify({ node: process.version, seconds, rounds, cpus: cpus().length, loadavg: load, results, frozenPeerDetectionMs: detectionMs }, null, 2) + '\n')
    return
  }
  process.stdout.write(`P2P benchmark (Node ${process.version}, ${cpus().length} CPUs, load average ${load}; median of ${rounds} × ${seconds} s runs, loopback, one stream)\n`)
  process.stdout.write('transport                                   frame      frames/s        MB/s\n')
  for (const r of results) {
    process.stdout.write(`${r.transport.padEnd(42)} ${String(r.frameBytes).padStart(6)} B ${Math.round(r.framesPerSec).toLocaleString('en-US').padStart(12)} ${r.mbPerSec.toFixed(1).padStart(11)}\n`)
  }
  process.stdout.write(`frozen peer (SIGSTOP) detected after ${detectionMs} ms (connection monitor: ping every 1 s, timeout ≥ 2.5 s)\n`)
}

if (argv[0] === '--child') await childMain(argv[1], argv[2])
else await main()
