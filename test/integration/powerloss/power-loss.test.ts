// Power loss proves the fsync discipline (SIGKILL alone does not: the page cache survives it). A real one-node
// `aspen` process runs with its data dir on lazyfs (scripts/fault/lazyfs.py), which forgets every write not yet
// fsynced when the power is cut. Under a write load, at a seeded random moment, we SIGKILL the node, cut the power
// (the backing dir rolls back to its durable state), verify the store's chain by opening it, remount, restart
// the node, and check that every acknowledged write is there. The second test runs the same cycle on a filesystem
// that ignores fsync and shows that acknowledged writes are then lost, so the first test can fail.
import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { mkdir, mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { AspenClient } from '../../../src/client/index.js'
import { writeInitialConfig } from '../../../src/node/config.js'
import { RaftStore } from '../../../src/store/index.js'
import { waitFor } from '../harness.js'
import { fuseUnavailable, LazyMount, type CutStats } from './lazy-mount.js'
import { PowerNode } from './power-node.js'
import { seededRandom } from '../../unit/raft/helpers.js'

const CYCLES = 6
const WRITERS = 4
const KILL_AFTER_MS: [number, number] = [150, 1200]
const PUT_TIMEOUT_MS = 3000
const FIRST_ACK_TIMEOUT_MS = 30_000
const PREFIX = 'p/'

const unavailable = fuseUnavailable()
if (unavailable !== undefined) console.log(`# power-loss tests skipped: ${unavailable}`)


const dec = new TextDecoder()

/** One machine: a backing dir, a mount point, the node's data dir on the mount. */
class Machine {
  mount?: LazyMount
  readonly node: PowerNode
  readonly acked = new Map<string, string>()

  constructor (readonly root: string, readonly cookie: string) {
    this.node = new PowerNode(join(root, 'mnt', 'n1'), cookie)
  }

  get backingDataDir (): string { return join(this.root, 'backing', 'n1') }

  async powerOn (ignoreFsync = false): Promise<void> {
    this.mount = await LazyMount.mount(join(this.root, 'backing'), join(this.root, 'mnt'), { ignoreFsync })
  }

  /** Initialises and starts the node and makes it a one-voter cluster. */
  async install (): Promise<void> {
    await writeInitialConfig(this.node.dataDir, { nodeId: 1, cookie: this.cookie, profile: 'fast', cooldownS: 0, listen: ['/ip4/127.0.0.1/tcp/0'], http: 'off' })
    await this.node.start()
    const c = await this.node.client()
    try {
      await c.control('cluster.init', {}, { timeoutMs: 10_000 })
    } finally {
      await c.close()
    }
  }

  /** Concurrent writers put fresh keys until `stop`; the node is killed at a seeded moment after the first ack. */
  async loadAndKill (cycle: number, killAfterMs: number): Promise<number> {
    const c = await this.node.client(PUT_TIMEOUT_MS)
    let stop = false
    let firstAck: () => void = () => {}
    const acked = new Promise<void>(resolve => { firstAck = resolve })
    let ackedThisCycle = 0
    const writer = async (w: number): Promise<void> => {
      for (let i = 0; !stop; i++) {
        const key = `${PREFIX}${cycle}/${w}/${i}`
        const value = `v${cycle}.${w}.${i}.${'x'.repeat(i % 200)}`
        try {
          await c.put(key, value, { timeoutMs: PUT_TIMEOUT_MS })
        } catch {
          continue // outcome unknown (the node died under it): not acknowledged, not checked
        }
        this.acked.set(key, value)
        ackedThisCycle++
        firstAck()
      }
    }
    const writers = Array.from({ length: WRITERS }, async (_, w) => await writer(w))
    let noAck: NodeJS.Timeout | undefined
    try {
      await Promise.race([acked, new Promise((_resolve, reject) => { noAck = setTimeout(() => reject(new Error(`no write acknowledged within ${FIRST_ACK_TIMEOUT_MS} ms`)), FIRST_ACK_TIMEOUT_MS) })])
    } catch (err) {
      stop = true
      await Promise.all(writers)
      await c.close()
      throw err
    } finally {
      clearTimeout(noAck)
    }
    await new Promise(resolve => setTimeout(resolve, killAfterMs)) // the kill point itself, not a synchronisation
    await this.node.kill()
    stop = true
    await Promise.all(writers)
    await c.close()
    return ackedThisCycle
  }

  /** Cuts the power and unmounts; then the backing dir holds what a machine finds after a power loss. */
  async powerCut (): Promise<CutStats> {
    const m = this.mount as LazyMount
    const stats = await m.cut()
    await m.unmount()
    this.mount = undefined
    return stats
  }

  /** Keys under PREFIX that are missing or hold another value than acknowledged. */
  async lostWrites (c: AspenClient): Promise<string[]> {
    const found = new Map<string, string>()
    let after: Uint8Array | undefined
    for (let page = 0; page < 10_000; page++) {
      const r = await c.scan(PREFIX, { limit: 1000, after, timeoutMs: 10_000 })
      for (const kv of r.kvs) found.set(dec.decode(kv.key), dec.decode(kv.value))
      if (!r.more || r.next === undefined) break
      after = r.next
    }
    return [...this.acked].filter(([k, v]) => found.get(k) !== v).map(([k]) => k)
  }

  /** Opening the store verifies its hash chain (it throws CorruptionError on a broken one). */
  async verifyChain (): Promise<{ applied: number, lastIndex: number }> {
    const store = await RaftStore.open(this.backingDataDir, { create: false })
    try {
      const r = store.recovered()
      return { applied: r.applied, lastIndex: r.lastIndex }
    } finally {
      await store.close()
    }
  }

  async restartAndRead (timeoutMs = 30_000): Promise<string[]> {
    await this.node.start()
    const c = await this.node.client(5000)
    try {
      return await waitFor('the restarted node to serve reads', async () => await this.lostWrites(c), timeoutMs, 100)
    } finally {
      await c.close()
    }
  }

  async destroy (): Promise<void> {
    await this.node.kill()
    await this.mount?.unmount()
    await rm(this.root, { recursive: true, force: true })
  }
}

async function newMachine (): Promise<Machine> {
  const root = await mkdtemp(join(tmpdir(), 'aspen-power-'))
  await mkdir(join(root, 'backing'), { recursive: true })
  await mkdir(join(root, 'mnt'), { recursive: true })
  return new Machine(root, 'power-cookie-' + Math.random().toString(36).slice(2) + '-0123456789abcdef')
}

describe('power loss: a store on a filesystem that drops unsynced writes', { skip: unavailable }, () => {
  let m: Machine
  before(async () => { m = await newMachine() })
  after(async () => { await m?.destroy() })

  it('every acknowledged write survives power cuts at random points under load, and the chain verifies', async () => {
    const seed = Number(process.env.ASPEN_POWERLOSS_SEED ?? Math.floor(Math.random() * 2 ** 31))
    const rand = seededRandom(seed)
    const t0 = performance.now()
    await m.powerOn()
    await m.install()
    let dropped = 0
    try {
      for (let cycle = 0; cycle < CYCLES; cycle++) {
        const killAfter = Math.floor(KILL_AFTER_MS[0] + rand() * (KILL_AFTER_MS[1] - KILL_AFTER_MS[0]))
        const acked = await m.loadAndKill(cycle, killAfter)
        const cut = await m.powerCut()
        dropped += cut.files
        const chain = await m.verifyChain()
        await m.powerOn()
        const lost = await m.restartAndRead()
        console.log(`# power-loss seed=${seed} cycle=${cycle} killAfterMs=${killAfter} ackedThisCycle=${acked} ackedTotal=${m.acked.size} ` +
          `cut(files=${cut.files} restoredBytes=${cut.restoredBytes} removed=${cut.removed}) applied=${chain.applied} lost=${lost.length}`)
        assert.deepEqual(lost, [], `seed ${seed}, cycle ${cycle}: acknowledged writes lost after the power cut`)
      }
    } catch (err) {
      if (err instanceof Error) err.message += `\n--- node log tail ---\n${m.node.logs()}`
      throw err
    }
    assert.ok(m.acked.size >= CYCLES * 10, `the load did work: ${m.acked.size} acknowledged writes`)
    assert.ok(dropped > 0, 'the cuts dropped unsynced state (otherwise nothing was tested)')
    console.log(`# power-loss summary seed=${seed} cycles=${CYCLES} acked=${m.acked.size} lost=0 seconds=${((performance.now() - t0) / 1000).toFixed(1)}`)
  })
})

describe('power loss: the test can fail', { skip: unavailable }, () => {
  let m: Machine
  before(async () => { m = await newMachine() })
  after(async () => { await m?.destroy() })

  it('with fsync ignored by the filesystem, acknowledged writes are lost at the power cut', async () => {
    await m.powerOn()
    await m.install()
    await m.node.stop()
    await m.mount?.unmount()
    await m.powerOn(true) // from here on fsync returns success but makes nothing durable
    await m.node.start()
    const acked = await m.loadAndKill(0, 600)
    assert.ok(acked > 0)
    await m.powerCut()
    await m.powerOn()
    let lost: string[]
    try {
      lost = await m.restartAndRead(8000)
    } catch (err) {
      // the node cannot even come back: everything acknowledged is gone with it
      console.log(`# ignore-fsync: the node did not recover (${err instanceof Error ? err.message.split('\n')[0] : String(err)})`)
      lost = [...m.acked.keys()]
    }
    console.log(`# ignore-fsync: acked=${m.acked.size} lost=${lost.length}`)
    assert.ok(lost.length > 0, 'a filesystem that ignores fsync must lose acknowledged writes at a power cut')
  })
})
