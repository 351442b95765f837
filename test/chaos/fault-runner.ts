// Carries out one scheduled fault on the live cluster: resolve the target role, inject, hold, heal. Membership
// changes and snapshots run while a background pause or partition of a follower is in place.
import { Rng } from '../sim/rng.js'
import type { ChaosCluster } from './chaos-cluster.js'
import type { BackgroundFault, FaultKind, FaultSpec } from './schedule.js'

/** A fault that was actually injected. */
export interface FaultRecord {
  n: number
  kind: FaultKind
  node?: number
  detail: string
  /** When it was injected, ms after the fault phase began, and for how long it was held. */
  atMs: number
  ms: number
}

const hold = async (ms: number): Promise<void> => { await new Promise(resolve => setTimeout(resolve, ms)) }

/** Starts a background disturbance; returns the function that ends it. */
async function startBackground (c: ChaosCluster, bg: BackgroundFault, rng: Rng, exclude: number[]): Promise<{ stop: () => Promise<void>, what: string }> {
  const id = await c.pick(bg.target, rng, exclude)
  if (id === undefined) return { stop: async () => {}, what: 'none' }
  if (bg.kind === 'pause') {
    await c.pause(id)
    return { stop: async () => { await c.resume(id) }, what: `pause ${id}` }
  }
  const h = await c.partition(id, bg.shape)
  return { stop: async () => { await c.lift(h) }, what: `${bg.shape} ${id}` }
}

/** Runs fault `f`; returns its record, or undefined when it could not be injected (e.g. no node fits). */
export async function runFault (c: ChaosCluster, f: FaultSpec, phaseStart: number, onNewAddresses: () => void): Promise<FaultRecord | undefined> {
  const rng = new Rng(f.seed)
  const atMs = Math.round(performance.now() - phaseStart)
  const t0 = performance.now()
  const rec = (node: number | undefined, detail: string): FaultRecord =>
    ({ n: f.n, kind: f.kind, ...(node !== undefined ? { node } : {}), detail, atMs, ms: Math.round(performance.now() - t0) })
  switch (f.kind) {
    case 'kill': {
      const id = await c.pick(f.target, rng)
      if (id === undefined) return undefined
      await c.kill(id)
      await hold(f.holdMs)
      await c.restart(id)
      onNewAddresses()
      return rec(id, `SIGKILL ${f.target} ${id}, down ${f.holdMs} ms, restarted`)
    }
    case 'pause': {
      const id = await c.pick(f.target, rng)
      if (id === undefined) return undefined
      await c.pause(id)
      await hold(f.holdMs)
      await c.resume(id)
      return rec(id, `SIGSTOP ${f.target} ${id} for ${f.holdMs} ms`)
    }
    case 'partition': {
      const id = await c.pick(f.target, rng)
      if (id === undefined) return undefined
      const h = await c.partition(id, f.shape)
      await hold(f.holdMs)
      await c.lift(h)
      return rec(id, `${f.shape} ${f.target} ${id} for ${f.holdMs} ms`)
    }
    case 'membership': {
      const bg = await startBackground(c, f.background, rng, [])
      try {
        const done = await c.membershipStep(rng, Math.max(3000, f.holdMs))
        if (done === undefined) return undefined
        onNewAddresses()
        const left = f.holdMs - (performance.now() - t0)
        if (left > 0) await hold(left)
        return rec(undefined, `${done} during ${bg.what}`)
      } finally {
        await bg.stop()
      }
    }
    case 'snapshot': {
      const id = await c.pick(f.target, rng)
      if (id === undefined) return undefined
      const bg = await startBackground(c, f.background, rng, [id])
      try {
        const r = await c.controlAt<{ index: number }>(id, 'cluster.snapshot', {}, 5000).catch(() => undefined)
        if (r === undefined) return undefined
        const left = f.holdMs - (performance.now() - t0)
        if (left > 0) await hold(left)
        return rec(id, `snapshot on ${f.target} ${id} at ${r.index} during ${bg.what}`)
      } finally {
        await bg.stop()
      }
    }
  }
}
