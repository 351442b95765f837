// The Changer: computes the configuration (and progress map) that results from applying a ConfChange, with
// validation. Simple changes alter at most one voter; anything else goes through joint consensus
// (C-old → C-old,new → C-new). It never mutates its input: it works on copies.

import { ConfChangeError } from './errors.js'
import { Inflights } from './inflights.js'
import { Progress } from './progress.js'
import { cloneTrackerConfig, isJoint } from './tracker.js'
import type { TrackerConfig } from './tracker.js'
import type { ConfChange, ConfChangeSingle, ConfState, NodeId } from './types.js'

/** A configuration with its progress map. */
export interface ConfigAndProgress {
  config: TrackerConfig
  progress: Map<NodeId, Progress>
}

/** How a ConfChange is applied: leave the joint config, enter one, or a one-step simple change. */
export type ConfChangeKind =
  | { kind: 'leaveJoint' }
  | { kind: 'enterJoint', autoLeave: boolean }
  | { kind: 'simple' }

/** Classifies a ConfChange (an empty change list leaves the joint configuration). */
export function confChangeKind (cc: ConfChange): ConfChangeKind {
  if (cc.changes.length === 0) return { kind: 'leaveJoint' }
  if (cc.transition !== 'auto' || cc.changes.length > 1) {
    return { kind: 'enterJoint', autoLeave: cc.transition !== 'jointExplicit' }
  }
  return { kind: 'simple' }
}

/** Computes the result of a conf change against a base configuration (never mutating it). */
export class Changer {
  constructor (
    private readonly base: ConfigAndProgress,
    /** Last log index: new peers start probing from here. */
    private readonly lastIndex: number,
    private readonly maxInflight: number,
    private readonly maxInflightBytes: number
  ) {}

  /** Applies cc to the base configuration, dispatching on its kind. */
  apply (cc: ConfChange): ConfigAndProgress {
    const k = confChangeKind(cc)
    switch (k.kind) {
      case 'leaveJoint': return this.leaveJoint()
      case 'enterJoint': return this.enterJoint(k.autoLeave, cc.changes)
      case 'simple': return this.simple(cc.changes)
    }
  }

  /** C-old → C-old,new: the incoming half gets the changes, the outgoing half keeps C-old. */
  enterJoint (autoLeave: boolean, changes: readonly ConfChangeSingle[]): ConfigAndProgress {
    const { config, progress } = this.checkAndCopy()
    if (isJoint(config)) throw new ConfChangeError('config is already joint')
    if (config.voters.incoming.size === 0) throw new ConfChangeError("can't make a zero-voter config joint")
    config.voters.outgoing = new Set(config.voters.incoming)
    this.applyChanges(config, progress, changes)
    config.autoLeave = autoLeave
    return checkAndReturn(config, progress)
  }

  /** C-old,new → C-new: outgoing voters not kept become learners (learnersNext) or are removed. */
  leaveJoint (): ConfigAndProgress {
    const { config, progress } = this.checkAndCopy()
    if (!isJoint(config)) throw new ConfChangeError("can't leave a non-joint config")
    for (const id of config.learnersNext) {
      config.learners.add(id)
      const pr = progress.get(id)
      if (pr !== undefined) pr.isLearner = true
    }
    config.learnersNext = new Set()
    for (const id of config.voters.outgoing) {
      if (!config.voters.incoming.has(id) && !config.learners.has(id)) progress.delete(id)
    }
    config.voters.outgoing = new Set()
    config.autoLeave = false
    return checkAndReturn(config, progress)
  }

  /** A one-step change that alters at most one voter (safe without joint consensus). */
  simple (changes: readonly ConfChangeSingle[]): ConfigAndProgress {
    const { config, progress } = this.checkAndCopy()
    if (isJoint(config)) throw new ConfChangeError("can't apply simple config change in joint config")
    this.applyChanges(config, progress, changes)
    if (symdiff(this.base.config.voters.incoming, config.voters.incoming) > 1) {
      throw new ConfChangeError('more than one voter changed without entering joint config')
    }
    return checkAndReturn(config, progress)
  }

  private applyChanges (config: TrackerConfig, progress: Map<NodeId, Progress>, changes: readonly ConfChangeSingle[]): void {
    for (const cc of changes) {
      if (cc.nodeId === 0) continue
      if (!Number.isSafeInteger(cc.nodeId) || cc.nodeId < 0) throw new ConfChangeError(`invalid node id ${cc.nodeId}`)
      switch (cc.type) {
        case 'addNode': this.makeVoter(config, progress, cc.nodeId); break
        case 'addLearner': this.makeLearner(config, progress, cc.nodeId); break
        case 'removeNode': this.remove(config, progress, cc.nodeId); break
        default: throw new ConfChangeError(`unexpected conf change type ${String((cc as { type: unknown }).type)}`)
      }
    }
    if (config.voters.incoming.size === 0) throw new ConfChangeError('removed all voters')
  }

  private makeVoter (config: TrackerConfig, progress: Map<NodeId, Progress>, id: NodeId): void {
    const pr = progress.get(id)
    if (pr === undefined) {
      this.initProgress(config, progress, id, false)
      return
    }
    pr.isLearner = false
    config.learners.delete(id)
    config.learnersNext.delete(id)
    config.voters.incoming.add(id)
  }

  private makeLearner (config: TrackerConfig, progress: Map<NodeId, Progress>, id: NodeId): void {
    const pr = progress.get(id)
    if (pr === undefined) {
      this.initProgress(config, progress, id, true)
      return
    }
    if (pr.isLearner) return
    // Remove as a voter first, but keep the Progress: the node stays a member.
    this.remove(config, progress, id)
    progress.set(id, pr)
    // A voter of C-old stays a voter there until the joint config is left, so it becomes a learner only then.
    if (config.voters.outgoing.has(id)) {
      config.learnersNext.add(id)
    } else {
      pr.isLearner = true
      config.learners.add(id)
    }
  }

  private remove (config: TrackerConfig, progress: Map<NodeId, Progress>, id: NodeId): void {
    if (!progress.has(id)) return
    config.voters.incoming.delete(id)
    config.learners.delete(id)
    config.learnersNext.delete(id)
    // Still a voter of C-old while joint: keep its progress until the joint config is left.
    if (!config.voters.outgoing.has(id)) progress.delete(id)
  }

  private initProgress (config: TrackerConfig, progress: Map<NodeId, Progress>, id: NodeId, isLearner: boolean): void {
    if (isLearner) config.learners.add(id)
    else config.voters.incoming.add(id)
    progress.set(id, new Progress({
      match: 0,
      next: Math.max(this.lastIndex, 1),
      inflights: new Inflights(this.maxInflight, this.maxInflightBytes),
      isLearner,
      // A new member counts as active so check-quorum does not depose the leader right after adding it.
      recentActive: true
    }))
  }

  private checkAndCopy (): ConfigAndProgress {
    const config = cloneTrackerConfig(this.base.config)
    const progress = new Map<NodeId, Progress>()
    for (const [id, pr] of this.base.progress) progress.set(id, pr.clone())
    return checkAndReturn(config, progress)
  }
}

function checkAndReturn (config: TrackerConfig, progress: Map<NodeId, Progress>): ConfigAndProgress {
  checkInvariants(config, progress)
  return { config, progress }
}

/** Throws ConfChangeError if the configuration and progress map are inconsistent. */
export function checkInvariants (config: TrackerConfig, progress: ReadonlyMap<NodeId, Progress>): void {
  for (const ids of [config.voters.incoming, config.voters.outgoing, config.learners, config.learnersNext]) {
    for (const id of ids) if (!progress.has(id)) throw new ConfChangeError(`no progress for ${id}`)
  }
  for (const id of config.learnersNext) {
    if (!config.voters.outgoing.has(id)) throw new ConfChangeError(`${id} is in learnersNext, but not in the outgoing voters`)
    if (progress.get(id)?.isLearner === true) throw new ConfChangeError(`${id} is in learnersNext, but is already marked as learner`)
  }
  for (const id of config.learners) {
    if (config.voters.outgoing.has(id)) throw new ConfChangeError(`${id} is in learners and the outgoing voters`)
    if (config.voters.incoming.has(id)) throw new ConfChangeError(`${id} is in learners and the incoming voters`)
    if (progress.get(id)?.isLearner !== true) throw new ConfChangeError(`${id} is in learners, but is not marked as learner`)
  }
  if (!isJoint(config)) {
    if (config.learnersNext.size > 0) throw new ConfChangeError('learnersNext must be empty when not joint')
    if (config.autoLeave) throw new ConfChangeError('autoLeave must be false when not joint')
  }
}

function symdiff (l: ReadonlySet<NodeId>, r: ReadonlySet<NodeId>): number {
  let n = 0
  for (const id of l) if (!r.has(id)) n++
  for (const id of r) if (!l.has(id)) n++
  return n
}

/**
 * Rebuilds the configuration described by a ConfState (from storage or a snapshot) by replaying it as changes
 * on an empty configuration: outgoing voters first (simple steps), then the joint step into the incoming one.
 */
export function restoreConfig (cs: ConfState, lastIndex: number, maxInflight: number, maxInflightBytes: number): ConfigAndProgress {
  let cur: ConfigAndProgress = { config: cloneTrackerConfig({ voters: { incoming: new Set(), outgoing: new Set() }, learners: new Set(), learnersNext: new Set(), autoLeave: false }), progress: new Map() }
  const changer = (): Changer => new Changer(cur, lastIndex, maxInflight, maxInflightBytes)
  const incoming: ConfChangeSingle[] = []
  for (const id of cs.votersOutgoing) incoming.push({ type: 'removeNode', nodeId: id })
  for (const id of cs.voters) incoming.push({ type: 'addNode', nodeId: id })
  for (const id of cs.learners) incoming.push({ type: 'addLearner', nodeId: id })
  for (const id of cs.learnersNext) incoming.push({ type: 'addLearner', nodeId: id })
  if (cs.votersOutgoing.length === 0) {
    // An empty ConfState (a fresh node that will learn its config from the leader) is valid: nothing to apply.
    if (incoming.length === 0) return cur
    for (const cc of incoming) cur = changer().simple([cc])
    return cur
  }
  for (const id of cs.votersOutgoing) cur = changer().simple([{ type: 'addNode', nodeId: id }])
  return changer().enterJoint(cs.autoLeave, incoming)
}
