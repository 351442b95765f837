// Real peer processes: a frozen peer (SIGSTOP) is detected by the connection monitor within a 10 s deadline and
// traffic resumes after SIGCONT; a peer killed with SIGKILL and restarted on the same data dir comes back with the
// same peer id and the Raft stream reconnects by itself (its new address arrives through discovery).
import { describe, it, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import type { ChildProcess } from 'node:child_process'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { createInterface } from 'node:readline'
import { fileURLToPath } from 'node:url'
import { startP2PNode } from '../../../src/p2p/p2p-node.js'
import type { P2PNode } from '../../../src/p2p/p2p-node.js'
import { MemoryRegistry } from '../../../src/p2p/registry.js'
import { openClientConnection } from '../../../src/p2p/client-transport.js'
import { heartbeat, heartbeatSeq, LOOPBACK, waitFor } from './helpers.js'

const COOKIE = 'peer-process-test'
const CHILD = join(dirname(fileURLToPath(import.meta.url)), 'peer-child.js')

interface Child {
  proc: ChildProcess
  peerId: string
  addrs: string[]
  created: boolean
}

async function spawnChild (dataDir: string, bootstrap: string[]): Promise<Child> {
  const proc = spawn(process.execPath, [CHILD, JSON.stringify({ dataDir, cookie: COOKIE, nodeId: 2, bootstrap })], { stdio: ['ignore', 'pipe', 'inherit'] })
  const lines = createInterface({ input: proc.stdout as NodeJS.ReadableStream })
  return await new Promise<Child>((resolve, reject) => {
    const timer = setTimeout(() => { proc.kill('SIGKILL'); reject(new Error('child did not start within 15 s')) }, 15_000)
    proc.once('exit', (code) => { clearTimeout(timer); reject(new Error(`child exited with ${code}`)) })
    lines.on('line', (line) => {
      if (!line.startsWith('READY ')) return
      clearTimeout(timer)
      const info = JSON.parse(line.slice(6)) as { peerId: string, addrs: string[], created: boolean }
      resolve({ proc, ...info })
    })
  })
}

describe('peer processes', () => {
  let root: string
  let parent: P2PNode
  const registry = new MemoryRegistry()
  let child: Child | undefined
  let seq = 0
  let pump: NodeJS.Timeout | undefined
  const echoes: number[] = []

  before(async () => {
    root = await mkdtemp(join(tmpdir(), 'aspen-peer-proc-'))
    parent = await startP2PNode({
      dataDir: join(root, 'parent'),
      cookie: COOKIE,
      nodeId: 1,
      listen: LOOPBACK,
      registry,
      resolvePeer: (id) => registry.resolve(id),
      authorize: () => ({ kind: 'allow', nodeId: 2 }),
      autonat: false,
      dialTimeoutMs: 2000
    })
    parent.raft.onMessage((msgs) => { for (const m of msgs) echoes.push(heartbeatSeq(m)) })
    child = await spawnChild(join(root, 'child'), [parent.addrs()[0]])
    await waitFor(() => registry.get(2)?.peerId === child?.peerId, 15_000, 'the child to be discovered')
    // Raft-style traffic: a heartbeat every 50 ms.
    pump = setInterval(() => { parent.raft.send(2, [heartbeat(1, 2, seq++)]) }, 50)
    await waitFor(() => echoes.length > 0, 10_000, 'first echo')
  })

  after(async () => {
    if (pump !== undefined) clearInterval(pump)
    if (child !== undefined && child.proc.exitCode === null) {
      child.proc.kill('SIGCONT')
      child.proc.kill('SIGKILL')
    }
    await parent?.stop()
    await rm(root, { recursive: true, force: true })
  })

  it('a frozen peer (SIGSTOP) is detected within 10 s and traffic resumes after SIGCONT', async () => {
    assert.ok(child !== undefined)
    const c = child
    let disconnectedAt = 0
    const onDisconnect = (evt: CustomEvent<{ toString: () => string }>): void => {
      if (evt.detail.toString() === c.peerId && disconnectedAt === 0) disconnectedAt = Date.now()
    }
    parent.host.addEventListener('peer:disconnect', onDisconnect)
    try {
      const frozenAt = Date.now()
      c.proc.kill('SIGSTOP')
      await waitFor(() => disconnectedAt > 0, 10_000, 'the frozen peer to be detected')
      const detectionMs = disconnectedAt - frozenAt
      assert.ok(detectionMs < 10_000)
      process.stdout.write(`# frozen peer detected after ${detectionMs} ms\n`)
      const lastBeforeCont = seq
      c.proc.kill('SIGCONT')
      await waitFor(() => echoes.some((s) => s > lastBeforeCont), 10_000, 'traffic to resume after SIGCONT')
    } finally {
      parent.host.removeEventListener('peer:disconnect', onDisconnect)
    }
  })

  it('a killed peer restarted on the same data dir returns with the same peer id and traffic reconnects', async () => {
    assert.ok(child !== undefined)
    const before = child
    const exited = new Promise((resolve) => before.proc.once('exit', resolve))
    before.proc.kill('SIGKILL')
    await exited
    const lastBeforeRestart = seq
    const restarted = await spawnChild(join(root, 'child'), [parent.addrs()[0]])
    child = restarted
    assert.equal(restarted.peerId, before.peerId, 'same identity after restart')
    assert.equal(restarted.created, false)
    assert.notDeepEqual(restarted.addrs, before.addrs, 'it listens on a new port')
    await waitFor(() => echoes.some((s) => s > lastBeforeRestart), 15_000, 'traffic to reach the restarted peer')
    // Client requests round-trip to it as well.
    const conn = await openClientConnection(parent.host, { peerId: restarted.peerId, addrs: restarted.addrs })
    try {
      const r = await conn.request('echo', new Uint8Array([1, 2, 3]), { deadlineMs: 5000 })
      assert.deepEqual(r.body, new Uint8Array([1, 2, 3]))
    } finally {
      await conn.close()
    }
  })
})
