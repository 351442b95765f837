// The running NAT scenario: the namespaces of netns.ts plus one peer process per machine (two relays on the public
// segment, node A behind router 1, node B behind router 2, and a stranger with another cookie on A's LAN).
// Everything it starts it also stops, on success, on failure and on SIGINT/SIGTERM.
import { generateKeyPair, privateKeyToProtobuf } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { randomBytes } from 'node:crypto'
import { existsSync, realpathSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import type { NodeId } from '../../src/raft/types.js'
import { buildNatTopology, NAT_ADDRS, TopologyError } from './netns.js'
import type { NamespaceRole, NatTopology } from './netns.js'
import { PeerProcess, PeerProcessError } from './peer-client.js'
import type { PeerRole } from './peer-protocol.js'

/** Port every peer listens on (each has its own namespace, so they never clash). */
export const PEER_PORT = 4001
/**
 * Deadline for a peer process to start its host once configured (ms). Loading Node + libp2p takes ~0.7 s of CPU;
 * on an overloaded 2-core machine (other test suites running) five of them have been seen to need ~20 s.
 */
const READY_TIMEOUT_MS = 45_000

export const NODE_IDS = { a: 1, b: 2, relay1: 101, relay2: 102, stranger: 9 } as const satisfies Record<string, NodeId>
export type PeerName = keyof typeof NODE_IDS
export const PEER_NAMES: readonly PeerName[] = ['relay1', 'relay2', 'a', 'b', 'stranger']

interface Identity {
  hex: string
  peerId: string
}

async function newIdentity (): Promise<Identity> {
  const key = await generateKeyPair('Ed25519')
  return { hex: Buffer.from(privateKeyToProtobuf(key)).toString('hex'), peerId: peerIdFromPrivateKey(key).toString() }
}

/** The Node 24 binary the project runs on (node_modules/.bin/node), never the system node. */
export function node24Path (): string {
  const link = fileURLToPath(new URL('../../../node_modules/.bin/node', import.meta.url))
  if (!existsSync(link)) throw new PeerProcessError(`${link} is missing: run npm install (the project depends on the node 24 package)`)
  return realpathSync(link)
}

/** `/ip4/<ip>/tcp/<PEER_PORT>` plus `/p2p/<peerId>` when given. */
export function tcpAddr (ip: string, peerId?: string): string {
  return `/ip4/${ip}/tcp/${PEER_PORT}${peerId === undefined ? '' : `/p2p/${peerId}`}`
}

/** Waits for every promise (so nothing is still starting during cleanup), then throws the first failure. */
async function allSettledOrThrow (ps: Array<Promise<void>>): Promise<void> {
  const failed = (await Promise.allSettled(ps)).find((r) => r.status === 'rejected')
  if (failed !== undefined) throw failed.reason
}

export class NatEnv {
  readonly peers: Partial<Record<PeerName, PeerProcess>> = {}
  readonly ids: Record<PeerName, Identity>
  /** How long each start-up phase took, for the report. */
  readonly timings: string[] = []
  private closed = false
  private readonly onSignal = (signal: NodeJS.Signals): void => {
    this.closeSync()
    process.exit(signal === 'SIGINT' ? 130 : 143)
  }

  private readonly onExit = (): void => { this.closeSync() }

  private topology: NatTopology | undefined
  private readonly configs = new Map<PeerName, Parameters<PeerProcess['configure']>[0]>()

  private constructor (ids: Record<PeerName, Identity>, private readonly nodePath: string) {
    this.ids = ids
    process.once('SIGINT', this.onSignal)
    process.once('SIGTERM', this.onSignal)
    process.once('exit', this.onExit)
  }

  /** Builds the namespaces and starts the relays, then A, B and the stranger. Cleans up if anything fails. */
  static async start (): Promise<NatEnv> {
    const nodePath = node24Path()
    const ids = {
      a: await newIdentity(), b: await newIdentity(), relay1: await newIdentity(), relay2: await newIdentity(), stranger: await newIdentity()
    }
    let mark = Date.now()
    // Signal handlers first: a SIGINT during the (synchronous) build is handled right after it, with cleanup.
    const env = new NatEnv(ids, nodePath)
    const lap = (what: string): void => {
      env.timings.push(`${what} ${Date.now() - mark} ms`)
      mark = Date.now()
    }
    try {
      env.topology = buildNatTopology()
      lap('namespaces')
      // Every process loads its modules now, in parallel; each starts its host once configured below.
      for (const name of PEER_NAMES) env.peers[name] = env.spawn(name)
      const cookie = `nat-test-cookie-${randomBytes(8).toString('hex')}`
      const relays = [tcpAddr(NAT_ADDRS.relay1, ids.relay1.peerId), tcpAddr(NAT_ADDRS.relay2, ids.relay2.peerId)]
      await allSettledOrThrow([
        env.configure('relay1', 'relay', cookie, NAT_ADDRS.relay1, [], [relays[1]]),
        env.configure('relay2', 'relay', cookie, NAT_ADDRS.relay2, [], [relays[0]])
      ])
      lap('relays')
      // createHost fails when a configured relay cannot be reached, so A and B start after the relays.
      await allSettledOrThrow([
        env.configure('a', 'node', cookie, NAT_ADDRS.a, relays, relays),
        env.configure('b', 'node', cookie, NAT_ADDRS.b, relays, relays),
        // Same LAN as A (TCP reaches A directly), bootstrapping from the relay and from A, but with another cookie.
        // No relay reservation: with a relay it cannot reach, createHost would not even start.
        env.configure('stranger', 'node', `another-cookie-${randomBytes(8).toString('hex')}`, NAT_ADDRS.stranger, [],
          [relays[0], tcpAddr(NAT_ADDRS.a, ids.a.peerId)])
      ])
      lap('nodes')
    } catch (e) {
      await env.close()
      throw e
    }
    return env
  }

  /** The namespaces (throws before they exist). */
  get topo (): NatTopology {
    if (this.topology === undefined) throw new TopologyError('the NAT topology has not been built')
    return this.topology
  }

  /** The running peer `name` (throws if it was not started). */
  peer (name: PeerName): PeerProcess {
    const p = this.peers[name]
    if (p === undefined) throw new PeerProcessError(`peer ${name} is not running`)
    return p
  }

  /** Exit and stderr of every peer, for a failure report. */
  diagnostics (): string {
    return Object.values(this.peers).map((p) => `--- ${p.name} (${p.unexpectedExit() ?? (p.exited ? 'stopped by the test' : 'running')}):\n${p.stderr()}`).join('\n')
  }

  /** Which of the two relays has peer id `peerId`. */
  relayNamed (peerId: string): 'relay1' | 'relay2' | undefined {
    if (this.ids.relay1.peerId === peerId) return 'relay1'
    if (this.ids.relay2.peerId === peerId) return 'relay2'
    return undefined
  }

  private spawn (name: PeerName): PeerProcess {
    return PeerProcess.spawn({
      ns: this.topo.ns[name satisfies NamespaceRole],
      nodePath: this.nodePath,
      script: fileURLToPath(new URL('./peer-process.js', import.meta.url)),
      name,
      nodeId: NODE_IDS[name]
    })
  }

  private async configure (name: PeerName, role: PeerRole, cookie: string, ip: string, relays: string[], bootstrap: string[]): Promise<void> {
    const cfg = { role, name, cookie, privateKeyHex: this.ids[name].hex, nodeId: NODE_IDS[name], listen: [tcpAddr(ip)], relays, bootstrap }
    this.configs.set(name, cfg)
    await this.peer(name).configure(cfg, READY_TIMEOUT_MS)
  }

  /** Starts peer `name` again (after it exited) with the same identity, address and configuration. */
  async restart (name: PeerName): Promise<PeerProcess> {
    const cfg = this.configs.get(name)
    if (cfg === undefined) throw new PeerProcessError(`peer ${name} was never configured`)
    const p = this.peers[name] = this.spawn(name)
    await p.configure(cfg, READY_TIMEOUT_MS)
    return p
  }

  /** Stops every peer (gracefully, then SIGKILL) and removes the namespaces and the route. */
  async close (): Promise<void> {
    if (this.closed) return
    await Promise.all(Object.values(this.peers).map(async (p) => { await p.stop(2000) }))
    this.closeSync()
  }

  /** Synchronous last resort (signals, process exit): SIGKILL the peers, remove the network. */
  private closeSync (): void {
    if (this.closed) return
    this.closed = true
    process.removeListener('SIGINT', this.onSignal)
    process.removeListener('SIGTERM', this.onSignal)
    process.removeListener('exit', this.onExit)
    for (const p of Object.values(this.peers)) p.kill()
    this.topology?.destroy()
  }
}
