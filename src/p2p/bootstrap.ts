// Bootstrap: gossipsub needs at least one connection before any announcement can travel, so a node dials its
// bootstrap peers (multiaddrs or tickets) and keeps them: a lost connection is re-dialled with capped backoff.
import type { Libp2p } from '@libp2p/interface'
import { peerIdFromString } from '@libp2p/peer-id'
import { multiaddr } from '@multiformats/multiaddr'
import { Backoff } from './backoff.js'
import type { BackoffPolicy } from './backoff.js'
import { P2PConfigError, TicketError } from './errors.js'
import { errText, silentLogger } from './logger.js'
import type { P2PLogger } from './logger.js'
import { createP2PMetrics } from './metrics.js'
import type { P2PMetrics } from './metrics.js'
import { parseTicket, TICKET_PREFIX, ticketMultiaddrs } from './ticket.js'

/** One peer to keep connected: its multiaddrs (with /p2p/<id> when known). */
export interface BootstrapTarget {
  peerId?: string
  addrs: string[]
}

export const BOOTSTRAP_BACKOFF: BackoffPolicy = { initialMs: 250, maxMs: 30_000, factor: 2, jitter: 0.2 }

/**
 * Turns config `bootstrap` entries (multiaddrs, or `aspen1…` tickets) into targets grouped by peer id. A ticket
 * for another cluster is refused (its cluster id differs from the one our cookie derives; pass undefined to skip
 * that check). Throws P2PConfigError.
 */
export function parseBootstrap (entries: readonly string[], clusterId: string | undefined): BootstrapTarget[] {
  const byPeer = new Map<string, string[]>()
  const anonymous: string[] = []
  const add = (addr: string): void => {
    let ma
    try {
      ma = multiaddr(addr)
    } catch (e) {
      throw new P2PConfigError(`bootstrap: "${addr}" is not a multiaddr (${errText(e)})`)
    }
    const p2p = ma.getComponents().filter((c) => c.name === 'p2p')
    const last = p2p[p2p.length - 1]?.value
    // In a circuit address the last /p2p/ is the target, earlier ones are relays.
    if (last === undefined) {
      anonymous.push(ma.toString())
      return
    }
    try {
      peerIdFromString(last)
    } catch {
      throw new P2PConfigError(`bootstrap: "${addr}" has an invalid peer id`)
    }
    const list = byPeer.get(last) ?? []
    if (!list.includes(ma.toString())) list.push(ma.toString())
    byPeer.set(last, list)
  }
  for (const raw of entries) {
    const e = raw.trim()
    if (e === '') continue
    if (e.toLowerCase().startsWith(TICKET_PREFIX)) {
      let t
      try {
        t = parseTicket(e)
      } catch (err) {
        throw new P2PConfigError(`bootstrap: bad ticket: ${err instanceof TicketError ? err.message : errText(err)}`)
      }
      if (clusterId !== undefined && t.clusterId !== clusterId) {
        throw new P2PConfigError(`bootstrap: the ticket is for cluster ${t.clusterId} but this node's cookie belongs to cluster ${clusterId}; check the cookie`)
      }
      for (const a of ticketMultiaddrs(t)) add(a)
    } else {
      add(e)
    }
  }
  return [...[...byPeer].map(([peerId, addrs]) => ({ peerId, addrs })), ...anonymous.map((a) => ({ addrs: [a] }))]
}

export type KeeperHost = Pick<Libp2p, 'dial' | 'getConnections' | 'addEventListener' | 'removeEventListener' | 'peerId'>

export interface PeerKeeperOptions {
  host: KeeperHost
  targets: readonly BootstrapTarget[]
  dialTimeoutMs?: number
  /** How often a connected target is re-checked (ms). */
  checkIntervalMs?: number
  backoff?: BackoffPolicy
  metrics?: P2PMetrics
  logger?: P2PLogger
  random?: () => number
}

interface Kept {
  target: BootstrapTarget
  peerId: string | undefined
  backoff: Backoff
  timer: NodeJS.Timeout | undefined
  dialing: boolean
}

/** Keeps a connection to each target, re-dialling with backoff. */
export class PeerKeeper {
  private readonly kept: Kept[]
  private running = false
  private readonly metrics: P2PMetrics
  private readonly log: P2PLogger
  private readonly onDisconnect = (evt: CustomEvent<{ toString: () => string }>): void => {
    const id = evt.detail.toString()
    for (const k of this.kept) {
      if (k.peerId === id) this.schedule(k, k.backoff.next())
    }
  }

  constructor (private readonly opts: PeerKeeperOptions) {
    this.metrics = opts.metrics ?? createP2PMetrics()
    this.log = opts.logger ?? silentLogger
    const self = opts.host.peerId.toString()
    this.kept = opts.targets
      .filter((t) => t.peerId !== self)
      .map((t) => ({ target: t, peerId: t.peerId, backoff: new Backoff(opts.backoff ?? BOOTSTRAP_BACKOFF, opts.random), timer: undefined, dialing: false }))
  }

  /** Starts dialling every target. */
  start (): void {
    if (this.running) return
    this.running = true
    this.opts.host.addEventListener('peer:disconnect', this.onDisconnect)
    for (const k of this.kept) this.schedule(k, 0)
  }

  /** Stops re-dialling (existing connections stay). */
  stop (): void {
    this.running = false
    this.opts.host.removeEventListener('peer:disconnect', this.onDisconnect)
    for (const k of this.kept) {
      if (k.timer !== undefined) clearTimeout(k.timer)
      k.timer = undefined
    }
  }

  /** Targets currently connected. */
  connectedCount (): number {
    return this.kept.filter((k) => k.peerId !== undefined && this.opts.host.getConnections(peerIdFromString(k.peerId)).length > 0).length
  }

  private schedule (k: Kept, delayMs: number): void {
    if (!this.running) return
    if (k.timer !== undefined) clearTimeout(k.timer)
    k.timer = setTimeout(() => {
      k.timer = undefined
      void this.check(k)
    }, delayMs)
  }

  private async check (k: Kept): Promise<void> {
    if (!this.running || k.dialing) return
    if (k.peerId !== undefined && this.opts.host.getConnections(peerIdFromString(k.peerId)).length > 0) {
      this.schedule(k, this.opts.checkIntervalMs ?? 5000)
      return
    }
    k.dialing = true
    this.metrics.bootstrapDials++
    try {
      const conn = await this.opts.host.dial(k.target.addrs.map((a) => multiaddr(a)), { signal: AbortSignal.timeout(this.opts.dialTimeoutMs ?? 5000) })
      k.peerId = conn.remotePeer.toString()
      k.backoff.reset()
      this.log.debug({ peerId: k.peerId }, 'connected to bootstrap peer')
      this.schedule(k, this.opts.checkIntervalMs ?? 5000)
    } catch (e) {
      this.metrics.bootstrapDialFailures++
      const delay = k.backoff.next()
      this.log.debug({ addrs: k.target.addrs, err: errText(e), retryMs: delay }, 'bootstrap dial failed')
      this.schedule(k, delay)
    } finally {
      k.dialing = false
    }
  }
}

export interface DialBootstrapOptions {
  /** The cluster id our cookie derives; tickets for other clusters are refused. */
  clusterId?: string
  logger?: P2PLogger
  metrics?: P2PMetrics
  dialTimeoutMs?: number
}

/**
 * Dials and keeps the bootstrap peers without running discovery (Discovery does this itself; use one or the
 * other). Returns the started keeper; call stop() on shutdown. Throws P2PConfigError for bad entries.
 */
export function dialBootstrapPeers (host: KeeperHost, entries: readonly string[], opts: DialBootstrapOptions = {}): PeerKeeper {
  const keeper = new PeerKeeper({
    host,
    targets: parseBootstrap(entries, opts.clusterId),
    ...(opts.logger !== undefined ? { logger: opts.logger } : {}),
    ...(opts.metrics !== undefined ? { metrics: opts.metrics } : {}),
    ...(opts.dialTimeoutMs !== undefined ? { dialTimeoutMs: opts.dialTimeoutMs } : {})
  })
  keeper.start()
  return keeper
}
