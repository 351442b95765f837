// Discovery by cookie: every node publishes a sealed announcement {cluster id, node id, peer id, addresses,
// timestamp, nonce} on the cookie-derived gossipsub topic — every 10 s, backing off to 60 s while its view is
// stable, and at once when its addresses change or it learns of a new peer (so newcomers converge in about a
// gossip round). Received announcements are verified in gossipsub's topic validator (so bad ones are not
// forwarded either) and recorded in the node's registry. Discovery never changes Raft membership.
import { TopicValidatorResult } from '@libp2p/gossipsub'
import type { Message as GossipMessage } from '@libp2p/gossipsub'
import type { PeerId } from '@libp2p/interface'
import { peerIdFromString } from '@libp2p/peer-id'
import { randomBytes } from 'node:crypto'
import type { NodeId } from '../raft/types.js'
import { MAX_ANNOUNCED_ADDRS, MAX_ANNOUNCEMENT_BYTES, NONCE_BYTES, sealAnnouncement } from './announcement.js'
import { AnnouncementVerifier } from './announcement-verifier.js'
import type { AnnouncementVerifierOptions, VerifiedAnnouncement } from './announcement-verifier.js'
import { parseBootstrap, PeerKeeper } from './bootstrap.js'
import type { ClusterKeys } from './cookie.js'
import { parseAddrs } from './dial.js'
import type { AspenHost } from './host.js'
import { errText, silentLogger } from './logger.js'
import type { P2PLogger } from './logger.js'
import { createP2PMetrics } from './metrics.js'
import type { AnnouncementRejectReason, P2PMetrics } from './metrics.js'
import { KeyedRateLimiter } from './rate-limiter.js'
import type { RateLimit } from './rate-limiter.js'
import type { DiscoveryRegistry } from './registry.js'

export interface DiscoveryTiming {
  /** Publish interval while the view changes (ms). */
  minIntervalMs: number
  /** Publish interval once the view is stable (ms). */
  maxIntervalMs: number
  /** Delay that coalesces bursts of triggers into one publish (ms). */
  debounceMs: number
}

export const DEFAULT_DISCOVERY_TIMING: DiscoveryTiming = { minIntervalMs: 10_000, maxIntervalMs: 60_000, debounceMs: 300 }
/**
 * Our own publish budget: the receivers' burst (3) with a slower refill (10/min < 12/min), so a receiver's bucket
 * for us never holds fewer tokens than ours and it never drops an announcement of ours.
 */
export const SELF_PUBLISH_RATE: RateLimit = { burst: 3, perMinute: 10 }

/** Rejections that say nothing bad about the forwarding peer: ignored rather than penalised by gossipsub. */
const IGNORED: ReadonlySet<AnnouncementRejectReason> = new Set<AnnouncementRejectReason>(['stale', 'replayed', 'rate-limited', 'binding-conflict', 'self'])

export interface DiscoveryOptions {
  host: AspenHost
  keys: ClusterKeys
  nodeId: NodeId
  registry: DiscoveryRegistry
  /** Multiaddrs (with /p2p/<id>) or `aspen1…` tickets to dial and keep. */
  bootstrap?: readonly string[]
  clock?: () => number
  random?: () => number
  logger?: P2PLogger
  metrics?: P2PMetrics
  timing?: Partial<DiscoveryTiming>
  /** Overrides for the verifier (freshness window, rate limit); tests use them. */
  verifier?: Partial<Pick<AnnouncementVerifierOptions, 'maxSkewMs' | 'rate' | 'maxTrackedPeers'>>
  dialTimeoutMs?: number
}

/** Publishes this node's announcements and records verified ones from others. */
export class Discovery {
  readonly metrics: P2PMetrics
  readonly verifier: AnnouncementVerifier
  private readonly log: P2PLogger
  private readonly clock: () => number
  private readonly timing: DiscoveryTiming
  private readonly selfRate: KeyedRateLimiter
  private readonly keeper: PeerKeeper
  private readonly known = new Map<NodeId, string>()
  private running = false
  private interval: number
  private changed = true
  private lastAddrs = ''
  private periodicTimer: NodeJS.Timeout | undefined
  private soonTimer: NodeJS.Timeout | undefined
  private publishing = false

  private readonly onSelfUpdate = (): void => {
    const addrs = this.announceAddrs().join(' ')
    if (addrs === this.lastAddrs) return
    this.lastAddrs = addrs
    this.viewChanged()
  }

  private readonly onSubscriptionChange = (evt: CustomEvent<{ peerId: PeerId, subscriptions: Array<{ topic: string, subscribe: boolean }> }>): void => {
    // A peer that just subscribed has heard nothing from us yet (gossipsub keeps no history).
    if (evt.detail.subscriptions.some((s) => s.topic === this.opts.keys.topic && s.subscribe)) this.publishSoon()
  }

  constructor (private readonly opts: DiscoveryOptions) {
    this.metrics = opts.metrics ?? createP2PMetrics()
    this.log = opts.logger ?? silentLogger
    this.clock = opts.clock ?? Date.now
    this.timing = { ...DEFAULT_DISCOVERY_TIMING, ...opts.timing }
    this.interval = this.timing.minIntervalMs
    this.selfRate = new KeyedRateLimiter(SELF_PUBLISH_RATE, this.clock, 1)
    this.verifier = new AnnouncementVerifier({
      clusterId: opts.keys.clusterId,
      hmacKey: opts.keys.hmacKey,
      selfPeerId: opts.host.peerId.toString(),
      clock: this.clock,
      bindingFor: (nodeId) => opts.registry.bindingFor(nodeId),
      ...opts.verifier
    })
    this.keeper = new PeerKeeper({
      host: opts.host,
      targets: parseBootstrap(opts.bootstrap ?? [], opts.keys.clusterId),
      metrics: this.metrics,
      logger: this.log,
      ...(opts.dialTimeoutMs !== undefined ? { dialTimeoutMs: opts.dialTimeoutMs } : {}),
      ...(opts.random !== undefined ? { random: opts.random } : {})
    })
  }

  /** Subscribes to the cookie topic, starts publishing and dialling bootstrap peers. */
  start (): void {
    if (this.running) return
    this.running = true
    const pubsub = this.opts.host.services.pubsub
    pubsub.topicValidators.set(this.opts.keys.topic, (_propagationSource, msg) => this.validate(msg))
    pubsub.subscribe(this.opts.keys.topic)
    pubsub.addEventListener('subscription-change', this.onSubscriptionChange)
    this.lastAddrs = this.announceAddrs().join(' ')
    this.opts.host.addEventListener('self:peer:update', this.onSelfUpdate)
    this.keeper.start()
    this.publishSoon()
    this.armPeriodic()
  }

  /** Stops publishing and re-dialling; leaves the topic. */
  stop (): void {
    if (!this.running) return
    this.running = false
    this.keeper.stop()
    if (this.periodicTimer !== undefined) clearTimeout(this.periodicTimer)
    if (this.soonTimer !== undefined) clearTimeout(this.soonTimer)
    this.periodicTimer = undefined
    this.soonTimer = undefined
    this.opts.host.removeEventListener('self:peer:update', this.onSelfUpdate)
    const pubsub = this.opts.host.services.pubsub
    pubsub.removeEventListener('subscription-change', this.onSubscriptionChange)
    try {
      pubsub.unsubscribe(this.opts.keys.topic)
    } catch {
      // pubsub may already be stopped
    }
    pubsub.topicValidators.delete(this.opts.keys.topic)
  }

  /** The current publish interval (ms): grows from 10 s to 60 s while nothing changes. */
  get publishIntervalMs (): number {
    return this.interval
  }

  /** Bootstrap targets currently connected. */
  bootstrapConnected (): number {
    return this.keeper.connectedCount()
  }

  /** Publishes an announcement as soon as the self rate limit allows (debounced). */
  publishSoon (): void {
    if (!this.running || this.soonTimer !== undefined) return
    const delay = Math.max(this.timing.debounceMs, this.selfRate.waitMs('self'))
    this.soonTimer = setTimeout(() => {
      this.soonTimer = undefined
      void this.publish()
    }, delay)
  }

  /** The addresses we announce: our multiaddrs without the trailing /p2p/<self>, at most MAX_ANNOUNCED_ADDRS. */
  announceAddrs (): string[] {
    const suffix = `/p2p/${this.opts.host.peerId.toString()}`
    const out: string[] = []
    for (const ma of this.opts.host.getMultiaddrs()) {
      let s = ma.toString()
      if (s.endsWith(suffix)) s = s.slice(0, -suffix.length)
      if (!out.includes(s)) out.push(s)
      if (out.length === MAX_ANNOUNCED_ADDRS) break
    }
    return out
  }

  private viewChanged (): void {
    this.changed = true
    this.interval = this.timing.minIntervalMs
    this.armPeriodic()
    this.publishSoon()
  }

  private armPeriodic (): void {
    if (!this.running) return
    if (this.periodicTimer !== undefined) clearTimeout(this.periodicTimer)
    this.periodicTimer = setTimeout(() => {
      this.periodicTimer = undefined
      // Stable since the last periodic round: back off (10 s → 20 s → 40 s → 60 s).
      if (!this.changed) this.interval = Math.min(this.timing.maxIntervalMs, this.interval * 2)
      this.changed = false
      void this.publish(true).finally(() => { this.armPeriodic() })
    }, this.interval)
  }

  /** Publishes one announcement. A periodic round never takes the last token (kept for event-driven ones). */
  private async publish (periodic = false): Promise<void> {
    if (!this.running || this.publishing) return
    const pubsub = this.opts.host.services.pubsub
    // Nobody would hear it: keep the token. A subscriber arriving later triggers a publish.
    if (pubsub.getSubscribers(this.opts.keys.topic).length === 0) return
    if (!this.selfRate.tryTake('self', periodic ? 1 : 0)) {
      if (!periodic) this.publishSoon()
      return
    }
    this.publishing = true
    try {
      let addrs = this.announceAddrs()
      let sealed: Uint8Array | undefined
      while (sealed === undefined) {
        try {
          sealed = sealAnnouncement({
            clusterId: this.opts.keys.clusterId,
            nodeId: this.opts.nodeId,
            peerId: this.opts.host.peerId.toString(),
            addrs,
            timestampMs: this.clock(),
            nonce: randomBytes(NONCE_BYTES)
          }, this.opts.keys.hmacKey)
        } catch (e) {
          // Over MAX_ANNOUNCEMENT_BYTES: drop addresses from the end until it fits.
          if (addrs.length === 0) throw e
          addrs = addrs.slice(0, -1)
        }
      }
      await pubsub.publish(this.opts.keys.topic, sealed)
      this.metrics.discoveryPublished++
    } catch (e) {
      this.log.debug({ err: errText(e) }, 'announcement publish failed')
    } finally {
      this.publishing = false
    }
  }

  private validate (msg: GossipMessage): TopicValidatorResult {
    if (msg.data.byteLength > MAX_ANNOUNCEMENT_BYTES) {
      this.metrics.discoveryRejected['too-large']++
      return TopicValidatorResult.Reject
    }
    const from = msg.type === 'signed' ? msg.from.toString() : undefined
    const r = this.verifier.verify(msg.data, from)
    if (!r.ok) {
      this.metrics.discoveryRejected[r.reason]++
      if (r.reason === 'binding-conflict') {
        this.log.warn({ nodeId: r.nodeId, peerId: r.peerId, boundTo: r.nodeId === undefined ? undefined : this.opts.registry.bindingFor(r.nodeId) },
          'announcement claims a member node id from a different peer; rejected')
      } else if (r.reason !== 'self') {
        this.log.debug({ reason: r.reason, peerId: r.peerId, nodeId: r.nodeId }, 'announcement rejected')
      }
      return IGNORED.has(r.reason) ? TopicValidatorResult.Ignore : TopicValidatorResult.Reject
    }
    this.metrics.discoveryAccepted++
    this.record(r.announcement)
    return TopicValidatorResult.Accept
  }

  private record (a: VerifiedAnnouncement): void {
    const key = `${a.peerId} ${a.addrs.join(' ')}`
    if (this.known.get(a.nodeId) !== key) {
      this.known.set(a.nodeId, key)
      this.viewChanged()
    }
    const addrs = parseAddrs(a.addrs)
    if (addrs.length > 0) {
      this.opts.host.peerStore.merge(peerIdFromString(a.peerId), { multiaddrs: addrs }).catch((e: unknown) => {
        this.log.debug({ peerId: a.peerId, err: errText(e) }, 'peer store update failed')
      })
    }
    try {
      const r = this.opts.registry.upsert({ nodeId: a.nodeId, peerId: a.peerId, addrs: a.addrs, lastSeen: this.clock() })
      if (r instanceof Promise) r.catch((e: unknown) => { this.log.warn({ nodeId: a.nodeId, err: errText(e) }, 'registry upsert failed') })
    } catch (e) {
      this.log.warn({ nodeId: a.nodeId, err: errText(e) }, 'registry upsert failed')
    }
  }
}
