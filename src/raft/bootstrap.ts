// Creating a brand-new cluster: the initial configuration is written as a snapshot at index 1, term 1, so that a
// node joining later always receives it (as a snapshot) instead of replaying a log that never mentions the
// original voters.

import { invariant } from '../errors.js'
import { cloneConfState } from './conf-state.js'
import type { HardState, NodeId, Snapshot } from './types.js'

/** Index of the bootstrap snapshot. */
export const BOOTSTRAP_INDEX = 1
/** Term of the bootstrap snapshot. */
export const BOOTSTRAP_TERM = 1

/**
 * The snapshot and hard state that make `voters` (and `learners`) the first configuration. Persist both before
 * creating the RawNode (MemoryStorage.applySnapshot + setHardState, or the node's store); every founding member
 * writes the same; nodes added later start empty and get the leader's snapshot.
 */
export function bootstrapState (voters: readonly NodeId[], learners: readonly NodeId[] = []): { snapshot: Snapshot, hardState: HardState } {
  invariant(voters.length > 0, 'bootstrap needs at least one voter')
  const all = new Set<NodeId>()
  for (const id of [...voters, ...learners]) {
    invariant(Number.isSafeInteger(id) && id > 0, () => `invalid node id ${id}`)
    invariant(!all.has(id), () => `node ${id} listed twice`)
    all.add(id)
  }
  const confState = cloneConfState({ voters: [...voters], learners: [...learners], votersOutgoing: [], learnersNext: [], autoLeave: false })
  return {
    snapshot: { metadata: { index: BOOTSTRAP_INDEX, term: BOOTSTRAP_TERM, confState }, data: new Uint8Array(0) },
    hardState: { term: BOOTSTRAP_TERM, vote: 0, commit: BOOTSTRAP_INDEX }
  }
}
