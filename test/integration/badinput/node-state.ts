// What "nothing changed" means for a node under hostile input: the same term, leader, log, commit and applied
// index, and the same state hash (a running hash of every applied effect) as before.
import assert from 'node:assert/strict'
import type { AspenClient } from '../../../src/client/index.js'
import type { TestCluster } from '../harness.js'

/** The replicated state of one node as its /status reports it. */
export interface Observed {
  term: number
  leaderId: number | null
  lastIndex: number
  commitIndex: number
  appliedIndex: number
  stateHash: string
  voters: number[]
  learners: number[]
}

/** Reads node `id`'s own view of its state. */
export async function observe (cluster: TestCluster, id: number, client: AspenClient): Promise<Observed> {
  const s = await cluster.status(id, client)
  return {
    term: s.term,
    leaderId: s.leaderId,
    lastIndex: s.lastIndex,
    commitIndex: s.commitIndex,
    appliedIndex: s.appliedIndex,
    stateHash: `${s.stateHash.index}:${s.stateHash.hash}`,
    voters: s.membership.voters,
    learners: s.membership.learners
  }
}

/** Asserts the node is alive (its process has not exited) and its state equals `before`. */
export async function assertUnchanged (cluster: TestCluster, id: number, client: AspenClient, before: Observed, what: string): Promise<void> {
  assert.ok(cluster.node(id).proc !== undefined, `node ${id} exited (${what})`)
  assert.deepEqual(await observe(cluster, id, client), before, `node ${id} state changed (${what})`)
}
