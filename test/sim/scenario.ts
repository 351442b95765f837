// Scenario mixes: every seed draws one profile and randomizes its knobs. The profiles exist so that each
// kind of fault the injected bugs depend on actually happens often: Figure-8 style leader churn on five
// nodes, split votes with late vote responses, a cluster grown from one voter, lease reads around
// leadership transfers, crash-heavy runs with slow disks, and a plain mixed profile.

import type { NetworkFaults } from './network.js'
import { Rng } from './rng.js'

export type ProfileName = 'mixed' | 'figure8' | 'splitVote' | 'growFromOne' | 'leaseTransfer' | 'crashy' | 'election'

export const PROFILES: readonly ProfileName[] = ['mixed', 'figure8', 'splitVote', 'growFromOne', 'leaseTransfer', 'crashy', 'election']

/** Relative frequency of each profile when a seed draws one. */
const WEIGHTS: Record<ProfileName, number> = {
  mixed: 30, figure8: 15, splitVote: 12, growFromOne: 12, leaseTransfer: 12, crashy: 12, election: 7
}

/** What the director may do, as relative weights per decision. */
export interface ActionWeights {
  crash: number
  crashLeader: number
  pause: number
  partition: number
  isolateLeader: number
  oneWay: number
  transfer: number
  transferIsolate: number
  addLearner: number
  promote: number
  removeVoter: number
  removeLeader: number
  removeLearner: number
  replace: number
  snapshot: number
  slowDisk: number
  netChange: number
  figure8: number
  nothing: number
}

/** Every knob of one run, derived from the seed. */
export interface SimParams {
  profile: ProfileName
  initialVoters: number
  initialLearners: number
  /** Upper bound on node ids ever created (membership changes add fresh ids). */
  maxNodes: number
  tickMs: number
  electionTick: number
  heartbeatTick: number
  preVote: boolean
  checkQuorum: boolean
  readOnly: 'safe' | 'leaseBased'
  maxSizePerMsg: number
  maxInflightMsgs: number
  /** Per-node clock rate lies in [1 - clockDrift, 1 + clockDrift]. */
  clockDrift: number
  /** The lease's clock-drift bound given to the core: covers the worst rate difference over an election timeout. */
  leaseDriftMs: number
  /** Disk write latency in ms, and the chance/size of a slow write. */
  diskMinMs: number
  diskMaxMs: number
  diskSlowChance: number
  diskSlowMaxMs: number
  faults: NetworkFaults
  /** Length of the faulty phase in ms; a settle phase follows. */
  durationMs: number
  /** Mean time between director decisions in ms. */
  directorEveryMs: number
  actions: ActionWeights
  /** Longest a crashed node stays down / a node stays paused / a partition lasts, in ms. */
  maxDownMs: number
  maxPauseMs: number
  maxPartitionMs: number
  /** Snapshot and compact when this many applied entries are in the log; keep this many behind. */
  snapshotEvery: number
  snapshotKeep: number
  clients: number
  keys: number
  thinkMinMs: number
  thinkMaxMs: number
  /** Client gives up (outcome unknown) after this many ms. */
  clientTimeoutMs: number
  /** Share of gets served by ReadIndex (the rest go through the log). */
  readIndexShare: number
  /**
   * With 'safe' ReadIndex: share of those gets that ask the leader's lease first (RawNode.leaseReadIndex, the
   * node's 'lease' consistency) and fall back to ReadIndex; 0 = the lease is not kept.
   */
  leaseReadShare: number
}

const NO_ACTIONS: ActionWeights = {
  crash: 0, crashLeader: 0, pause: 0, partition: 0, isolateLeader: 0, oneWay: 0, transfer: 0, transferIsolate: 0,
  addLearner: 0, promote: 0, removeVoter: 0, removeLeader: 0, removeLearner: 0, replace: 0, snapshot: 0, slowDisk: 0, netChange: 0, figure8: 0, nothing: 0
}

/** Picks the profile for a seed (unless forced) and randomizes its parameters. */
export function makeParams (seed: number, durationMs: number, force?: ProfileName): SimParams {
  const rng = new Rng(seed).fork('params')
  const profile = force ?? weightedProfile(rng)
  const base: SimParams = {
    profile,
    initialVoters: rng.pick([3, 3, 5]),
    initialLearners: rng.chance(0.2) ? 1 : 0,
    maxNodes: 9,
    // The node's "fast" timing profile: 100 ms election timeout (in 2 ms ticks), heartbeats every 10–30 ms.
    tickMs: 2,
    electionTick: 50,
    heartbeatTick: 5 * rng.pick([1, 2, 2, 3]),
    preVote: rng.chance(0.8),
    checkQuorum: rng.chance(0.8),
    readOnly: 'safe',
    maxSizePerMsg: rng.pick([1, 256, 4096, 1 << 20]),
    maxInflightMsgs: rng.pick([1, 4, 64, 256]),
    clockDrift: rng.next() * 0.03,
    leaseDriftMs: 0,
    diskMinMs: 0,
    diskMaxMs: rng.pick([1, 3, 6]),
    diskSlowChance: rng.pick([0, 0.02, 0.1]),
    diskSlowMaxMs: 40,
    faults: {
      drop: rng.pick([0, 0.005, 0.02, 0.05]),
      duplicate: rng.pick([0, 0.01, 0.03]),
      minLatencyMs: 0.5,
      maxLatencyMs: rng.pick([3, 6, 12]),
      spike: rng.pick([0, 0.005, 0.02]),
      spikeMaxMs: rng.pick([50, 150, 300])
    },
    durationMs,
    directorEveryMs: rng.pick([100, 200, 300]),
    actions: {
      ...NO_ACTIONS,
      crash: 3, crashLeader: 2, pause: 1, partition: 2, isolateLeader: 1, oneWay: 1, transfer: 2, transferIsolate: 1,
      addLearner: 1, promote: 1, removeVoter: 1, removeLeader: 0.5, removeLearner: 0.5, replace: 0.5, snapshot: 1, slowDisk: 1, netChange: 1, figure8: 0.5, nothing: 6
    },
    maxDownMs: 1500,
    maxPauseMs: 400,
    maxPartitionMs: 1500,
    snapshotEvery: rng.pick([20, 50, 200]),
    snapshotKeep: rng.pick([0, 5, 20]),
    clients: rng.between(3, 5),
    keys: rng.between(2, 4),
    thinkMinMs: 5,
    thinkMaxMs: 60,
    clientTimeoutMs: 400,
    readIndexShare: 0.6,
    leaseReadShare: 0
  }
  if (rng.chance(0.35) && base.checkQuorum) base.readOnly = 'leaseBased'
  switch (profile) {
    case 'mixed':
      break
    case 'figure8':
      // Five voters, one entry per message and leader churn: prior-term entries reach a majority one at a time.
      base.initialVoters = 5
      base.initialLearners = 0
      base.maxSizePerMsg = 1
      base.maxInflightMsgs = rng.pick([1, 2])
      base.thinkMaxMs = 20
      base.diskSlowChance = 0.05
      base.directorEveryMs = 100
      base.actions = { ...NO_ACTIONS, figure8: 6, crashLeader: 2, crash: 1, isolateLeader: 1, partition: 1, nothing: 2 }
      base.clients = rng.between(6, 10)
      base.keys = 3
      base.maxDownMs = 600
      base.maxPartitionMs = 600
      break
    case 'splitVote':
      // Late and duplicated vote responses: frequent elections on a network with long delays.
      base.initialVoters = rng.pick([3, 5, 5])
      base.preVote = rng.chance(0.2)
      base.checkQuorum = rng.chance(0.3)
      base.readOnly = 'safe'
      base.faults = { drop: 0.03, duplicate: 0.1, minLatencyMs: 1, maxLatencyMs: rng.pick([10, 25, 60]), spike: rng.pick([0.1, 0.3]), spikeMaxMs: 300 }
      base.directorEveryMs = 150
      base.actions = { ...NO_ACTIONS, crashLeader: 3, crash: 2, partition: 3, isolateLeader: 3, oneWay: 1, pause: 1, nothing: 2 }
      base.maxPartitionMs = 500
      base.maxDownMs = 500
      break
    case 'growFromOne':
      // A cluster initialized on one node, grown by learners and promotions while the lone voter crashes.
      base.initialVoters = 1
      base.initialLearners = rng.between(1, 2)
      base.diskMaxMs = 8
      base.diskSlowChance = 0.2
      base.thinkMaxMs = 25
      base.directorEveryMs = 150
      base.actions = { ...NO_ACTIONS, crashLeader: 4, crash: 1, addLearner: 1, promote: 1, removeVoter: 1, removeLeader: 0.5, snapshot: 1, nothing: 3 }
      base.maxDownMs = 400
      break
    case 'leaseTransfer':
      // Lease reads while leadership moves, with the old leader cut off from hearing the new term.
      base.checkQuorum = true
      base.readOnly = 'leaseBased'
      base.readIndexShare = 0.85
      base.clients = rng.between(4, 8)
      base.thinkMaxMs = 15
      base.directorEveryMs = 150
      base.actions = { ...NO_ACTIONS, transferIsolate: 5, transfer: 2, pause: 2, crashLeader: 1, nothing: 3 }
      break
    case 'crashy':
      // Crashes at any moment against slow disks: unpersisted state must never leak.
      base.diskMaxMs = 10
      base.diskSlowChance = 0.2
      base.directorEveryMs = 100
      base.actions = { ...NO_ACTIONS, crash: 6, crashLeader: 3, snapshot: 1, slowDisk: 1, nothing: 3 }
      base.maxDownMs = 300
      break
    case 'election':
      // Leader loss on a quiet LAN (sub-millisecond latency, fast disks), with the node's default "balanced" timing
      // (heartbeat 100 ms, election timeout 500–1000 ms): how long until a new leader?
      base.tickMs = 5
      base.electionTick = 100
      base.heartbeatTick = 20
      base.faults = { drop: 0, duplicate: 0, minLatencyMs: 0.1, maxLatencyMs: 0.6, spike: 0, spikeMaxMs: 0 }
      base.diskMaxMs = 1
      base.diskSlowChance = 0
      base.directorEveryMs = 1500
      base.initialVoters = rng.pick([3, 5])
      base.actions = { ...NO_ACTIONS, crashLeader: 4, pause: 1, removeLeader: 1, addLearner: 1, promote: 1, nothing: 1 }
      base.maxDownMs = 1200
      base.maxPauseMs = 1500
      base.clientTimeoutMs = 2000
      break
  }
  // A leader's lease (in its clock) must end before a follower's election timeout (in the follower's clock) can:
  // with rates 1 ± d the two clocks drift apart by up to 2d per unit of time.
  base.leaseDriftMs = Math.ceil(2 * base.clockDrift * base.electionTick * base.tickMs) + 1
  // Drawn last so that the scenario of every seed without it stays what it was.
  if (base.readOnly === 'safe' && base.checkQuorum && rng.chance(0.4)) base.leaseReadShare = 0.5
  return base
}

function weightedProfile (rng: Rng): ProfileName {
  const total = PROFILES.reduce((s, p) => s + WEIGHTS[p], 0)
  let x = rng.next() * total
  for (const p of PROFILES) {
    x -= WEIGHTS[p]
    if (x < 0) return p
  }
  return 'mixed'
}

/** Draws an action name by weight. */
export function pickAction (rng: Rng, w: ActionWeights): keyof ActionWeights {
  const names = Object.keys(w) as Array<keyof ActionWeights>
  const total = names.reduce((s, n) => s + w[n], 0)
  let x = rng.next() * total
  for (const n of names) {
    x -= w[n]
    if (x < 0) return n
  }
  return 'nothing'
}
