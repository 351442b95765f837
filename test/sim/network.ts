// The simulated network: per-message latency (which reorders), loss, duplication, rare long delays, and
// directed link cuts for symmetric and asymmetric partitions. It only decides the fate of a message;
// the simulator schedules the deliveries.

import type { NodeId } from '../../src/raft/types.js'
import type { Rng } from './rng.js'

/** Fault rates of the network; all probabilities are per message. */
export interface NetworkFaults {
  drop: number
  duplicate: number
  /** Normal one-way latency range in ms. */
  minLatencyMs: number
  maxLatencyMs: number
  /** Probability of a long delay, and its upper bound in ms. */
  spike: number
  spikeMaxMs: number
}

/** A quiet network: small latency, no faults. */
export function quietFaults (): NetworkFaults {
  return { drop: 0, duplicate: 0, minLatencyMs: 1, maxLatencyMs: 5, spike: 0, spikeMaxMs: 0 }
}

/** Decides delivery of messages between nodes. */
export class Network {
  faults: NetworkFaults
  private readonly cut = new Set<string>()

  constructor (private readonly rng: Rng, faults: NetworkFaults) {
    this.faults = faults
  }

  /** True if messages from `from` to `to` currently get through. */
  connected (from: NodeId, to: NodeId): boolean {
    return from === to || !this.cut.has(`${from}>${to}`)
  }

  /** True if any link is cut. */
  get partitioned (): boolean {
    return this.cut.size > 0
  }

  /** Cuts the link from → to only (an asymmetric fault). */
  cutOneWay (from: NodeId, to: NodeId): void {
    this.cut.add(`${from}>${to}`)
  }

  /** Splits the nodes into groups that cannot talk to each other (symmetric). */
  partition (groups: readonly NodeId[][]): void {
    for (const a of groups) {
      for (const b of groups) {
        if (a === b) continue
        for (const x of a) for (const y of b) this.cut.add(`${x}>${y}`)
      }
    }
  }

  /** Cuts every link of `node` in both directions against `others`. */
  isolate (node: NodeId, others: readonly NodeId[]): void {
    this.partition([[node], others.filter(o => o !== node)])
  }

  /** Restores every link. */
  heal (): void {
    this.cut.clear()
  }

  /** Description of the cut links for traces. */
  describeCuts (): string {
    return [...this.cut].sort().join(' ')
  }

  /** Delivery delays (ms) for one message: empty when it is lost, two entries when it is duplicated. */
  route (from: NodeId, to: NodeId): number[] {
    if (!this.connected(from, to)) return []
    const f = this.faults
    if (f.drop > 0 && this.rng.chance(f.drop)) return []
    const out = [this.latency()]
    if (f.duplicate > 0 && this.rng.chance(f.duplicate)) out.push(this.latency())
    return out
  }

  private latency (): number {
    const f = this.faults
    if (f.spike > 0 && this.rng.chance(f.spike)) return f.maxLatencyMs + this.rng.next() * f.spikeMaxMs
    return f.minLatencyMs + this.rng.next() * (f.maxLatencyMs - f.minLatencyMs)
  }
}
