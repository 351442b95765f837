// §5.4.3 Raft's safety properties under random message loss, reordering, duplication, partitions and restarts.
// A small seeded property test over a handful of nodes; the full fault simulator lives in test/sim.

import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { ProposalDroppedError } from '../../../src/raft/errors.js'
import { RawNode } from '../../../src/raft/rawnode.js'
import type { Entry, NodeId } from '../../../src/raft/types.js'
import { Network, b, seededRandom } from './helpers.js'
import type { NodeOpts } from './helpers.js'

interface Checker {
  leaders: Map<number, NodeId>
  commits: Map<NodeId, number>
}

function checkInvariants (net: Network, ck: Checker, full = true): void {
  const nodes = [...net.nodes.values()]
  for (const n of nodes) {
    const st = n.rn.status()
    // Election safety: at most one leader per term.
    if (st.softState.role === 'leader') {
      const prev = ck.leaders.get(st.hardState.term)
      assert.ok(prev === undefined || prev === n.id, `two leaders in term ${st.hardState.term}: ${prev} and ${n.id}`)
      ck.leaders.set(st.hardState.term, n.id)
    }
    // Commit index never decreases (it is persisted with every Ready here).
    const c = st.hardState.commit
    assert.ok(c >= (ck.commits.get(n.id) ?? 0), `commit of ${n.id} decreased`)
    ck.commits.set(n.id, c)
    assert.ok(st.applied <= c, 'applied ≤ committed')
  }
  // State machine safety: applied sequences are prefixes of one another.
  const key = (e: Entry): string => `${e.index}/${e.term}/${Array.from(e.data).join(',')}`
  const seqs = nodes.map((n) => n.applied.map(key))
  for (let i = 0; i < seqs.length; i++) {
    for (let j = i + 1; j < seqs.length; j++) {
      const k = Math.min(seqs[i].length, seqs[j].length)
      for (let x = 0; x < k; x++) assert.equal(seqs[i][x], seqs[j][x], `applied logs diverge at position ${x}`)
    }
  }
  // Log matching: same (index, term) ⇒ same entry and same prefix (checked on the last common stored entry).
  if (!full) return
  for (let i = 0; i < nodes.length; i++) {
    for (let j = i + 1; j < nodes.length; j++) {
      const a = nodes[i].storage
      const c = nodes[j].storage
      const lo = Math.max(a.firstIndex(), c.firstIndex())
      const hi = Math.min(a.lastIndex(), c.lastIndex())
      for (let idx = hi; idx >= lo; idx--) {
        if (a.term(idx) !== c.term(idx)) continue
        const ea = a.entries(lo, idx + 1, Infinity)
        const ec = c.entries(lo, idx + 1, Infinity)
        assert.deepEqual(ea.map(key), ec.map(key), `log matching violated below index ${idx}`)
        break
      }
    }
  }
}

function run (seed: number, steps: number, opts: NodeOpts): { commits: number } {
  const rand = seededRandom(seed)
  const ids = [1, 2, 3, 4, 5].slice(0, 3 + Math.floor(rand() * 3))
  const net = new Network(ids, (id) => ({ ...opts, random: seededRandom(seed * 31 + id) }))
  const ck: Checker = { leaders: new Map(), commits: new Map() }
  const pick = <T>(xs: T[]): T => xs[Math.floor(rand() * xs.length)]
  let proposals = 0
  for (let step = 0; step < steps; step++) {
    const r = rand()
    if (r < 0.35) {
      net.node(pick(ids)).rn.tick()
    } else if (r < 0.8) {
      if (net.queue.length > 0) {
        const i = Math.floor(rand() * Math.min(net.queue.length, 4)) // bounded reordering
        const [m] = net.queue.splice(i, 1)
        const fate = rand()
        if (fate < 0.1) {
          // dropped
        } else {
          if (fate > 0.95) net.queue.push(structuredClone(m)) // duplicated
          net.deliver(m)
        }
      }
    } else if (r < 0.9) {
      try {
        net.node(pick(ids)).rn.propose(b(`s${seed}-p${proposals++}`))
      } catch (err) {
        if (!(err instanceof ProposalDroppedError)) throw err
      }
    } else if (r < 0.94) {
      const cut = pick(ids)
      net.heal()
      if (rand() < 0.7) net.isolate(cut)
    } else if (r < 0.96) {
      // Restart: a new RawNode over the same persisted storage, resuming from what was applied.
      const n = net.node(pick(ids))
      const applied = n.applied.length > 0 ? n.applied[n.applied.length - 1].index : 0
      n.rn = new RawNode({ id: n.id, electionTick: 10, heartbeatTick: 1, storage: n.storage, random: seededRandom(seed + step), checkQuorum: opts.checkQuorum, preVote: opts.preVote, applied })
      net.queue = net.queue.filter((m) => m.to !== n.id)
    } else {
      net.heal()
    }
    net.processReadies()
    checkInvariants(net, ck, step % 20 === 0)
  }
  // Liveness sanity: once healed, the cluster elects a leader and commits a final proposal everywhere.
  net.heal()
  const isFinal = (id: NodeId): boolean => {
    const last = net.node(id).applied.at(-1)
    return last !== undefined && new TextDecoder().decode(last.data) === 'final'
  }
  let proposedTo = 0
  for (let t = 0; t < 300 && !ids.every(isFinal); t++) {
    net.tickAll(1)
    const l = net.leader()
    if (l !== 0 && l !== proposedTo && !ids.every(isFinal)) {
      net.propose(l, 'final')
      proposedTo = l
    }
  }
  checkInvariants(net, ck)
  for (const id of ids) assert.ok(isFinal(id), `seed ${seed}: node ${id} did not apply the final entry`)
  return { commits: Math.max(...ck.commits.values()) }
}

describe('§5.4.3 safety under random faults (property)', () => {
  for (const [name, opts] of [
    ['pre-vote + check-quorum', { preVote: true, checkQuorum: true }],
    ['plain Raft', { preVote: false, checkQuorum: false }]
  ] as const) {
    it(`§5.4.3 election safety, log matching and state machine safety hold (${name})`, () => {
      let total = 0
      for (let seed = 1; seed <= 20; seed++) total += run(seed, 1000, opts).commits
      assert.ok(total > 100, `the runs made progress (${total} commits)`)
    })
  }
})
