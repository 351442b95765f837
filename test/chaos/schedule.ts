// The chaos fault schedule: a pure function of the seed (and the run length). Faults come in rounds that hold
// one fault of every enabled kind in a seeded order, so a run of R rounds has at least R faults of each kind.
// Targets are roles ("the leader", "a follower"), resolved against the live cluster when the fault fires.
import { Rng } from '../sim/rng.js'

export const FAULT_KINDS = ['kill', 'pause', 'partition', 'membership', 'snapshot'] as const
export type FaultKind = typeof FAULT_KINDS[number]

/** Which node a fault hits, resolved when it fires. */
export type TargetRole = 'leader' | 'follower' | 'any'

/** How a partition cuts the target off (Raft frames only; client connections stay up). */
export type PartitionShape =
  /** Nothing to or from the target (symmetric). */
  | 'isolate'
  /** The target hears nobody but can still send (one-way). */
  | 'deaf'
  /** The target's messages reach nobody but it still hears everyone (one-way). */
  | 'mute'

/** A disturbance held while a membership change or a snapshot runs ("during faults"). */
export interface BackgroundFault {
  kind: 'pause' | 'partition'
  shape: PartitionShape
  target: TargetRole
}

export interface FaultSpec {
  /** Sequence number in the schedule. */
  n: number
  kind: FaultKind
  /** Planned start, ms after the fault phase began. */
  atMs: number
  /** How long the fault is held (a killed node stays down, a paused one stopped, a partition in place). */
  holdMs: number
  target: TargetRole
  shape: PartitionShape
  background: BackgroundFault
  /** An independent seed for the runtime choices of this fault (which follower, which voter to remove). */
  seed: number
}

export interface ScheduleOptions {
  seed: number
  /** Length of the fault phase. */
  seconds: number
  /** Kinds to schedule (default: all). */
  kinds?: readonly FaultKind[]
  /** One fault per slot (default 3,000 ms). */
  slotMs?: number
  /** Plan at least this many rounds (one fault of every kind each), whatever the length (default 0). */
  minRounds?: number
}

/** Most faults one schedule may hold (a typo must not plan a year of faults). */
export const MAX_FAULTS = 100_000

export const DEFAULT_SLOT_MS = 3000

/** Plans the faults of a run; the same seed and options always give the same list. */
export function faultSchedule (opts: ScheduleOptions): FaultSpec[] {
  const kinds = opts.kinds ?? FAULT_KINDS
  if (kinds.length === 0) return []
  const slotMs = opts.slotMs ?? DEFAULT_SLOT_MS
  const count = Math.min(MAX_FAULTS, Math.max(Math.floor(opts.seconds * 1000 / slotMs), (opts.minRounds ?? 0) * kinds.length))
  const rng = new Rng(opts.seed).fork('chaos-schedule')
  const out: FaultSpec[] = []
  let round: FaultKind[] = []
  for (let n = 0; n < count; n++) {
    if (round.length === 0) round = shuffle(rng, [...kinds])
    const kind = round.shift() as FaultKind
    const target: TargetRole = rng.pick(kind === 'kill' || kind === 'partition' ? ['leader', 'leader', 'follower', 'any'] : ['leader', 'follower', 'any'])
    const shape: PartitionShape = rng.pick(['isolate', 'isolate', 'deaf', 'mute'])
    const background: BackgroundFault = { kind: rng.pick(['pause', 'partition']), shape: rng.pick(['isolate', 'deaf', 'mute']), target: 'follower' }
    // Leave at least ~1 s of every slot fault-free so the cluster makes progress between faults.
    const holdMs = rng.between(300, Math.max(300, slotMs - 1000))
    out.push({ n, kind, atMs: n * slotMs, holdMs, target, shape, background, seed: rng.int(0x7fffffff) })
  }
  return out
}

function shuffle<T> (rng: Rng, items: T[]): T[] {
  for (let i = items.length - 1; i > 0; i--) {
    const j = rng.int(i + 1)
    const t = items[i]
    items[i] = items[j]
    items[j] = t
  }
  return items
}

/** Counts faults per kind. */
export function countByKind (faults: ReadonlyArray<{ kind: FaultKind }>): Record<FaultKind, number> {
  const out = Object.fromEntries(FAULT_KINDS.map(k => [k, 0])) as Record<FaultKind, number>
  for (const f of faults) out[f.kind]++
  return out
}
