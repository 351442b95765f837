// Starting a node on a loaded machine (the test machine is shared: loads of 20-30 on 2 cores were seen) can take
// far longer than the integration harness's 20 s start-up wait. The harness leaves the process running when it
// gives up, so keep waiting for its run file; a process that exits during start-up is still a failure.
import type { TestCluster } from '../integration/harness.js'

/** How long a node may take to start. */
export const SLOW_START_MS = 180_000

/** Starts node `id` of `tc`, waiting up to `timeoutMs` for it to serve. */
export async function startPatiently (tc: TestCluster, id: number, timeoutMs = SLOW_START_MS): Promise<void> {
  try {
    await tc.start(id)
    return
  } catch (err) {
    if (tc.nodes.get(id)?.proc === undefined) throw err
  }
  const deadline = performance.now() + timeoutMs
  while (tc.runInfo(id) === undefined) {
    if (tc.nodes.get(id)?.proc === undefined) throw new Error(`node ${id} exited during start-up:\n${tc.logs(id).slice(-3000)}`)
    if (performance.now() > deadline) throw new Error(`node ${id} did not start within ${timeoutMs} ms`)
    await new Promise(resolve => setTimeout(resolve, 100))
  }
}

/** Starts the nodes (patiently) and forms the cluster like TestCluster.form: init on the first, add, promote. */
export async function formPatiently (tc: TestCluster, ids: number[] = [...tc.nodes.keys()], timeoutMs = 120_000): Promise<void> {
  for (const id of ids) if (tc.nodes.get(id)?.proc === undefined) await startPatiently(tc, id)
  const c = await tc.client(10_000)
  const first = tc.runInfo(ids[0])
  if (first === undefined) throw new Error(`node ${ids[0]} has no run info`)
  const peer = { peerId: first.peerId, addrs: first.addrs.map(a => a.replace(/\/p2p\/[^/]+$/, '')) }
  await retry('cluster init', async () => await c.controlAt(peer, 'cluster.init', {}, { timeoutMs: 20_000 }), timeoutMs)
  for (const id of ids.slice(1)) await retry(`add-learner ${id}`, async () => await c.control('cluster.addLearner', { nodeId: id }, { timeoutMs: 10_000 }), timeoutMs)
  if (ids.length > 1) await retry('promote', async () => await c.control('cluster.changeMembership', { voters: ids }, { timeoutMs: 10_000 }), timeoutMs)
}

async function retry (what: string, fn: () => Promise<unknown>, timeoutMs: number): Promise<void> {
  const deadline = performance.now() + timeoutMs
  let last: unknown
  while (performance.now() < deadline) {
    try {
      await fn()
      return
    } catch (err) {
      last = err
      // "already initialized" after a retry of an init whose answer was lost: the first attempt took effect.
      if (err instanceof Error && 'code' in err && err.code === 'ALREADY_INITIALIZED') return
    }
    await new Promise(resolve => setTimeout(resolve, 300))
  }
  throw new Error(`${what} did not succeed within ${timeoutMs} ms: ${last instanceof Error ? last.message : String(last)}`)
}
