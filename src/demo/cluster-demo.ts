// `npm run demo`: a narrated 3-node cluster of real `aspen` processes on 127.0.0.1 with fresh temp data dirs.
// It initialises the cluster, adds nodes 2 and 3 as learners and promotes them, writes keys, kills the leader
// with SIGKILL, shows the new leader, restarts the killed node (same peer id, caught up), stops all three and
// starts them again, reads every key back, and cleans up.
import { spawn, type ChildProcess } from 'node:child_process'
import { existsSync, readFileSync } from 'node:fs'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { connect, type AspenClient } from '../client/index.js'
import { writeInitialConfig, generateCookie } from '../node/config.js'
import { runInfoPath, type RunInfo } from '../node/run-info.js'
import type { NodeStatus } from '../node/node.js'
import { encodeTicket } from '../p2p/index.js'

const CLI = resolve(import.meta.dirname, '../cli/main.js')

interface DemoNode { id: number, dir: string, proc?: ChildProcess, exited?: Promise<void> }

/** Polls `cond` until it yields a value, or throws after `ms`. */
async function until<T> (what: string, cond: () => Promise<T | undefined>, ms = 20_000): Promise<T> {
  const end = performance.now() + ms
  let last: unknown
  while (performance.now() < end) {
    try {
      const v = await cond()
      if (v !== undefined) return v
    } catch (err) { last = err }
    await new Promise(resolve => setTimeout(resolve, 50))
  }
  throw new Error(`demo: timed out waiting for ${what}${last instanceof Error ? ` (${last.message})` : ''}`)
}

/** Runs the narrated demo; `say` prints one line. */
export async function runClusterDemo (say: (line: string) => void): Promise<void> {
  const t0 = performance.now()
  const elapsed = (): string => `[${((performance.now() - t0) / 1000).toFixed(1).padStart(5)}s]`
  const step = (s: string): void => { say(`${elapsed()} ${s}`) }
  const root = await mkdtemp(join(tmpdir(), 'aspen-demo-'))
  const cookie = generateCookie()
  const nodes: DemoNode[] = [1, 2, 3].map(id => ({ id, dir: join(root, `node${id}`) }))
  const clients: AspenClient[] = []
  const info = (n: DemoNode): RunInfo => JSON.parse(readFileSync(runInfoPath(n.dir), 'utf8')) as RunInfo
  const peerOf = (n: DemoNode): { peerId: string, addrs: string[] } => { const i = info(n); return { peerId: i.peerId, addrs: i.addrs.map(a => a.replace(/\/p2p\/[^/]+$/, '')) } }

  const start = async (n: DemoNode): Promise<void> => {
    const boot = nodes.filter(o => o !== n && o.proc !== undefined).flatMap(o => ['--bootstrap', info(o).addrs[0]])
    const p = spawn(process.execPath, [CLI, 'start', '--data-dir', n.dir, '--log-level', 'warn', ...boot], { stdio: ['ignore', 'ignore', 'ignore'] })
    n.proc = p
    n.exited = new Promise(resolve => p.on('exit', () => { if (n.proc === p) n.proc = undefined; resolve() }))
    await until(`node ${n.id} to start`, async () => existsSync(runInfoPath(n.dir)) ? true : undefined)
  }
  const client = async (): Promise<AspenClient> => {
    const live = nodes.filter(n => n.proc !== undefined)
    const ticket = encodeTicket({ clusterId: info(live[0]).clusterId, peers: live.map(peerOf) })
    const c = await connect({ ticket, cookie, timeoutMs: 5000 })
    clients.push(c)
    return c
  }
  const statusOf = async (c: AspenClient, n: DemoNode): Promise<NodeStatus> => await c.controlAt<NodeStatus>(peerOf(n), 'cluster.status', {}, { timeoutMs: 3000 })
  const agreedLeader = async (c: AspenClient): Promise<number> => await until('a leader', async () => {
    const views = await Promise.all(nodes.filter(n => n.proc !== undefined).map(async n => (await statusOf(c, n)).leaderId))
    return views[0] !== null && views.every(v => v === views[0]) ? views[0] : undefined
  })

  try {
    step(`Creating three data dirs under ${root} (aspen init: node id, cookie, loopback listen address).`)
    for (const n of nodes) await writeInitialConfig(n.dir, { nodeId: n.id, cookie, profile: 'fast', cooldownS: 0, listen: ['/ip4/127.0.0.1/tcp/0'], http: 'off' })
    for (const n of nodes) await start(n)
    step(`Started three \`aspen start\` processes; each has a persistent libp2p identity: ${nodes.map(n => `node ${n.id} = ${info(n).peerId.slice(0, 16)}…`).join(', ')}.`)

    let c = await client()
    await c.controlAt(peerOf(nodes[0]), 'cluster.init', {}, { timeoutMs: 10_000 })
    step('cluster init on node 1: it is now a one-voter cluster and elected itself leader.')
    for (const id of [2, 3]) {
      await until(`adding node ${id}`, async () => await c.control('cluster.addLearner', { nodeId: id }, { timeoutMs: 5000 }))
      step(`add-learner ${id}: the leader found node ${id} (same cookie), recorded its peer id, and sent it a snapshot.`)
    }
    const m = await until('promotion', async () => await c.control<{ membership: { voters: number[] } }>('cluster.changeMembership', { voters: [1, 2, 3] }, { timeoutMs: 5000 }))
    step(`change-membership --voters 1,2,3 went through joint consensus; voters are now [${m.membership.voters.join(', ')}].`)

    const keys = Array.from({ length: 20 }, (_, i) => `demo/key-${String(i).padStart(2, '0')}`)
    for (const k of keys) await c.put(k, `value of ${k}`)
    step(`Wrote ${keys.length} keys; each was acknowledged only after a majority had it on disk (one synced LevelDB batch per step).`)

    const leader = await agreedLeader(c)
    const victim = nodes[leader - 1]
    const victimPeer = info(victim).peerId
    victim.proc?.kill('SIGKILL')
    await victim.exited
    step(`Killed the leader, node ${leader}, with SIGKILL (no chance to flush anything).`)
    await c.close()
    c = await client()
    const newLeader = await agreedLeader(c)
    step(`The two survivors elected node ${newLeader} as the new leader.`)
    await c.put('demo/after-failover', 'written while a node was down')
    step('Wrote one more key while node ' + leader + ' was down.')

    await start(victim)
    const st = await until(`node ${leader} to catch up`, async () => {
      const s = await statusOf(c, victim)
      const l = await statusOf(c, nodes[newLeader - 1])
      return s.appliedIndex >= l.commitIndex && s.leaderId !== null ? s : undefined
    })
    step(`Restarted node ${leader}: same peer id (${st.peerId === victimPeer ? 'yes' : 'NO'}, ${st.peerId.slice(0, 16)}…), it caught up to index ${st.appliedIndex} and follows node ${st.leaderId}.`)

    await c.close()
    for (const n of nodes) n.proc?.kill('SIGTERM')
    await Promise.all(nodes.map(async n => await n.exited))
    step('Stopped all three nodes gracefully (SIGTERM): the whole cluster is down.')
    for (const n of nodes) await start(n)
    c = await client()
    const l3 = await agreedLeader(c)
    step(`Started all three again from their data dirs; they re-elected node ${l3}.`)
    let ok = 0
    for (const k of [...keys, 'demo/after-failover']) {
      const kv = await c.get(k)
      if (kv !== undefined) ok++
    }
    step(`Read back ${ok} of ${keys.length + 1} keys with linearizable reads: ${ok === keys.length + 1 ? 'every acknowledged write survived.' : 'SOME WRITES ARE MISSING.'}`)
    if (ok !== keys.length + 1) throw new Error('demo: acknowledged writes are missing')
  } finally {
    for (const c of clients) await c.close().catch(() => {})
    for (const n of nodes) { n.proc?.kill('SIGKILL'); await n.exited }
    await rm(root, { recursive: true, force: true })
    step('Cleaned up the processes and temp data dirs.')
  }
}
