// CliActions wired to the real thing: `start` runs src/node, every cluster/kv command goes through the public
// client (src/client). The CLI holds no protocol logic of its own.
// Heavy modules (libp2p, LevelDB, the node) are imported on first use, so `aspen --help` and usage errors stay fast.
import { readFile } from 'node:fs/promises'
import type { Logger } from 'pino'
import type { AspenClient } from '../client/index.js'
import type { NodeConfig } from '../node/config.js'
import type { RunInfo } from '../node/run-info.js'
import { notWiredActions, type CliActions, type ClusterStatus, type NodeView, type RequestContext, type MembershipChangeResult } from './actions.js'

/** A client for the command's target: the local node's addresses from run/node.json, or the ticket. */
async function clientFor (ctx: RequestContext): Promise<AspenClient> {
  const { connect } = await import('../client/index.js')
  const { encodeTicket } = await import('../p2p/index.js')
  const t = ctx.target
  if (t.kind === 'ticket') return await connect({ ticket: t.ticket, cookie: t.cookie, timeoutMs: ctx.timeoutMs })
  const info = JSON.parse(await readFile(t.runInfoPath, 'utf8')) as RunInfo
  const ticket = encodeTicket({ clusterId: info.clusterId, peers: [{ peerId: info.peerId, addrs: info.addrs.map(a => a.replace(/\/p2p\/[^/]+$/, '')).slice(0, 8) }] })
  return await connect({ ticket, cookie: t.cookie, timeoutMs: ctx.timeoutMs })
}

/** Runs `fn` with a connected client and always closes it. */
export async function withClient<T> (ctx: RequestContext, fn: (c: AspenClient) => Promise<T>): Promise<T> {
  const c = await clientFor(ctx)
  try {
    return await fn(c)
  } finally {
    await c.close()
  }
}

async function makeLogger (config: NodeConfig, pretty: boolean): Promise<Logger> {
  const { pino } = await import('pino')
  const level = config.logLevel
  const base = { level, base: { node: config.nodeId } }
  if (pretty) return pino({ ...base, transport: { target: 'pino-pretty', options: { destination: 2, translateTime: 'HH:MM:ss.l', ignore: 'pid,hostname' } } })
  return pino(base, pino.destination({ fd: 2, sync: false }))
}

/** Runs a node until SIGTERM/SIGINT (graceful) or a second signal (at once). */
async function runNode (config: NodeConfig, opts: { prettyLogs: boolean }): Promise<void> {
  const log = await makeLogger(config, opts.prettyLogs)
  const { startNode } = await import('../node/node.js')
  const node = await startNode(config, { logger: log })
  let signals = 0
  const onSignal = (sig: NodeJS.Signals): void => {
    signals++
    if (signals > 1) { log.warn(`second ${sig}: exiting at once`); log.flush(); process.exit(1) }
    log.info(`${sig} received: stopping gracefully (send it again to exit at once)`)
    void node.stop()
  }
  process.on('SIGTERM', onSignal)
  process.on('SIGINT', onSignal)
  await node.done
  process.off('SIGTERM', onSignal)
  process.off('SIGINT', onSignal)
  log.flush()
  if (node.fatalError !== undefined) throw node.fatalError
}

/** The cluster id the data dir's config names (derived from its cookie), or null without a readable config. */
async function clusterIdOf (dataDir: string): Promise<string | null> {
  try {
    const { loadConfig } = await import('../node/config.js')
    const { deriveClusterKeys } = await import('../p2p/index.js')
    return deriveClusterKeys(loadConfig(dataDir, process.env, {}).cookie).clusterId
  } catch {
    return null
  }
}

/** Asks every member for its own status (addresses from the reached node's discovery view), in parallel. */
async function nodeViews (c: AspenClient, reached: ClusterStatus, timeoutMs: number): Promise<NodeView[]> {
  const ownAddrs = Array.isArray(reached.addrs) ? (reached.addrs as unknown[]).filter((a): a is string => typeof a === 'string') : []
  const strip = (a: string): string => a.replace(/\/p2p\/[^/]+$/, '')
  const views = await Promise.all(reached.members.map(async (m): Promise<Omit<NodeView, 'lag'>> => {
    if (m.nodeId === reached.nodeId) return { nodeId: m.nodeId, role: reached.role, term: reached.term, commitIndex: reached.commitIndex, appliedIndex: reached.appliedIndex }
    const addrs = m.peerId === reached.peerId ? ownAddrs : (reached.peers.find(p => p.peerId === m.peerId)?.addrs ?? [])
    if (m.peerId === null || addrs.length === 0) return { nodeId: m.nodeId, role: 'unknown', term: null, commitIndex: null, appliedIndex: null, error: 'no address known' }
    try {
      const s = await c.controlAt<ClusterStatus>({ peerId: m.peerId, addrs: addrs.map(strip).slice(0, 8) }, 'cluster.status', {}, { timeoutMs })
      return { nodeId: m.nodeId, role: s.role, term: s.term, commitIndex: s.commitIndex, appliedIndex: s.appliedIndex }
    } catch (e) {
      return { nodeId: m.nodeId, role: 'unreachable', term: null, commitIndex: null, appliedIndex: null, error: e instanceof Error ? e.message : String(e) }
    }
  }))
  const commit = Math.max(...views.map(v => v.commitIndex ?? 0))
  return views.map(v => ({ ...v, lag: v.appliedIndex === null ? null : Math.max(0, commit - v.appliedIndex) }))
}

const membership = async (c: AspenClient, method: string, body: unknown, timeoutMs: number): Promise<MembershipChangeResult> =>
  await c.control<MembershipChangeResult>(method, body, { timeoutMs })

/** The CLI actions of a full build. */
export function wiredActions (): CliActions {
  const base = notWiredActions()
  return {
    createIdentity: async (dataDir: string) => {
      const { loadOrCreateIdentity } = await import('../p2p/index.js')
      return { peerId: (await loadOrCreateIdentity(dataDir)).peerId.toString() }
    },
    startNode: runNode,
    cluster: {
      ...base.cluster,
      init: async (ctx) => await withClient(ctx, async c => await c.control('cluster.init', {}, { timeoutMs: ctx.timeoutMs })),
      status: async (ctx) => await withClient(ctx, async c => await c.control<ClusterStatus>('cluster.status', {}, { timeoutMs: ctx.timeoutMs, idempotent: true })),
      nodeViews: async (ctx, reached) => await withClient(ctx, async c => await nodeViews(c, reached, Math.min(ctx.timeoutMs, 2000))),
      health: async (ctx) => await withClient(ctx, async c => {
        const st = await c.control<ClusterStatus>('cluster.status', {}, { timeoutMs: ctx.timeoutMs, idempotent: true })
        const problems: string[] = []
        const voters = st.membership.voters.length
        const reachable = st.members.filter(m => m.role === 'voter' && m.reachable).length
        if (st.leaderId === null) problems.push('no leader is known to the node asked')
        if (reachable < Math.floor(voters / 2) + 1) problems.push(`only ${reachable} of ${voters} voters are reachable`)
        for (const m of st.members) if (!m.reachable) problems.push(`node ${m.nodeId} (${m.role}) is not reachable`)
        return { healthy: problems.length === 0, leaderId: st.leaderId, term: st.term, votersReachable: reachable, voters, problems }
      }),
      addLearner: async (ctx, r) => await withClient(ctx, async c => await membership(c, 'cluster.addLearner', r, ctx.timeoutMs)),
      promote: async (ctx, r) => await withClient(ctx, async c => {
        const st = await c.control<ClusterStatus>('cluster.status', {}, { timeoutMs: ctx.timeoutMs, idempotent: true })
        const voters = [...new Set([...st.membership.voters, r.nodeId])]
        const learners = st.membership.learners.filter(id => id !== r.nodeId)
        return await membership(c, 'cluster.changeMembership', { voters, learners, force: r.force }, ctx.timeoutMs)
      }),
      changeMembership: async (ctx, r) => await withClient(ctx, async c => await membership(c, 'cluster.changeMembership', r, ctx.timeoutMs)),
      remove: async (ctx, r) => await withClient(ctx, async c => await membership(c, 'cluster.remove', r, ctx.timeoutMs)),
      transferLeader: async (ctx, r) => await withClient(ctx, async c => await c.control('cluster.transferLeader', r, { timeoutMs: ctx.timeoutMs })),
      snapshot: async (ctx) => await withClient(ctx, async c => await c.control('cluster.snapshot', {}, { timeoutMs: ctx.timeoutMs })),
      ticket: async (ctx) => await withClient(ctx, async c => await c.control('cluster.ticket', {}, { timeoutMs: ctx.timeoutMs, idempotent: true })),
      metrics: async (ctx) => await withClient(ctx, async c => await c.control('cluster.metrics', {}, { timeoutMs: ctx.timeoutMs, idempotent: true })),
      backup: async (ctx, r) => await withClient(ctx, async c => await c.backup(r.out, { timeoutMs: ctx.timeoutMs, onProgress: r.onProgress, signal: ctx.signal }))
    },
    kv: {
      ...base.kv,
      put: async (ctx, r) => await withClient(ctx, async c => {
        const lease = r.ttlS !== undefined ? (await c.grantLease(r.ttlS, { timeoutMs: ctx.timeoutMs })).id : r.lease
        const p = await c.put(r.key, r.value, { timeoutMs: ctx.timeoutMs, lease })
        return lease !== undefined ? { ...p, lease } : p
      }),
      get: async (ctx, r) => await withClient(ctx, async c => await c.get(r.key, { consistency: r.consistency, timeoutMs: ctx.timeoutMs })),
      del: async (ctx, r) => await withClient(ctx, async c => await c.del(r.key, { timeoutMs: ctx.timeoutMs })),
      scan: async (ctx, r) => await withClient(ctx, async c => {
        const kvs = []
        let after: Uint8Array | undefined
        let more = true
        while (more && kvs.length < r.limit) {
          const page = await c.scan(r.prefix, { limit: Math.min(10_000, r.limit - kvs.length), after, consistency: r.consistency, timeoutMs: ctx.timeoutMs })
          kvs.push(...page.kvs)
          more = page.more
          after = page.next
          if (after === undefined) break
        }
        return { kvs, more }
      }),
      cas: async (ctx, r) => await withClient(ctx, async c => await c.cas(r.key, r.expected, r.value, { timeoutMs: ctx.timeoutMs })),
      txn: async (ctx, txn) => await withClient(ctx, async c => await c.txn(txn, { timeoutMs: ctx.timeoutMs })),
      watch: async (ctx, r) => await withClient(ctx, async c => {
        for await (const ev of c.watch(r.prefix, { fromRevision: r.fromRevision === 0 ? undefined : r.fromRevision, signal: ctx.signal })) {
          const { type, ...kv } = ev
          r.onEvent({ type, kv })
        }
      })
    },
    lease: {
      grant: async (ctx, r) => await withClient(ctx, async c => await c.grantLease(r.ttlSeconds, { id: r.id, timeoutMs: ctx.timeoutMs })),
      keepAlive: async (ctx, r) => await withClient(ctx, async c => {
        while (true) {
          const k = await c.keepAlive(r.id, { timeoutMs: ctx.timeoutMs })
          r.onRenew(k)
          if (r.once) return
          await new Promise<void>(resolve => {
            const t = setTimeout(resolve, Math.max(200, k.ttlSeconds * 1000 / 3))
            ctx.signal.addEventListener('abort', () => { clearTimeout(t); resolve() }, { once: true })
          })
          if (ctx.signal.aborted) return
        }
      }),
      revoke: async (ctx, r) => await withClient(ctx, async c => await c.revokeLease(r.id, { timeoutMs: ctx.timeoutMs })),
      list: async (ctx) => await withClient(ctx, async c => await c.leases({ timeoutMs: ctx.timeoutMs })),
      timeToLive: async (ctx, r) => await withClient(ctx, async c => await c.timeToLive(r.id, { keys: r.keys, timeoutMs: ctx.timeoutMs }))
    },
    ops: {
      restore: async (r) => {
        const { restoreBackup } = await import('../node/restore.js')
        return await restoreBackup(r.config, r.from, r.force)
      },
      recoverInspect: async (r) => {
        const { inspectDataDir } = await import('../node/recover.js')
        return await inspectDataDir(r.dataDir, await clusterIdOf(r.dataDir))
      },
      recoverForceNewCluster: async (r) => {
        const { forceNewCluster } = await import('../node/recover.js')
        return await forceNewCluster(r.config)
      }
    }
  }
}
