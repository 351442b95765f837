// The registry interface discovery writes to (node id → peer id, addresses, last seen), and an in-memory
// implementation. The node layer backs the interface with its persistent registry (store's meta DB) and
// answers bindingFor() from Raft membership; the in-memory one serves clients, tests and benchmarks.
import type { NodeId } from '../raft/types.js'
import type { PeerAddress } from './dial.js'

/** A node as discovery last heard of it. */
export interface DiscoveredPeer {
  nodeId: NodeId
  peerId: string
  addrs: string[]
  /** When the announcement was accepted (ms, discovery's clock). */
  lastSeen: number
}

/** What discovery needs from the node's registry. */
export interface DiscoveryRegistry {
  /** Records (or refreshes) a verified announcement. Errors are logged, never fatal. */
  upsert (peer: DiscoveredPeer): void | Promise<void>
  /**
   * The peer id Raft membership binds to `nodeId` (members, learners, nodes being added), or undefined.
   * An announcement claiming a bound node id from another peer is rejected.
   */
  bindingFor (nodeId: NodeId): string | undefined
}

/** In-memory registry with optional explicit bindings. */
export class MemoryRegistry implements DiscoveryRegistry {
  private readonly peers = new Map<NodeId, DiscoveredPeer>()
  private readonly bindings = new Map<NodeId, string>()

  upsert (peer: DiscoveredPeer): void {
    this.peers.set(peer.nodeId, { ...peer, addrs: [...peer.addrs] })
  }

  bindingFor (nodeId: NodeId): string | undefined {
    return this.bindings.get(nodeId)
  }

  /** Binds `nodeId` to `peerId` (what a conf change adding the node does). */
  bind (nodeId: NodeId, peerId: string): void {
    this.bindings.set(nodeId, peerId)
  }

  /** Releases a binding (what `cluster remove` does). */
  unbind (nodeId: NodeId): void {
    this.bindings.delete(nodeId)
  }

  get (nodeId: NodeId): DiscoveredPeer | undefined {
    return this.peers.get(nodeId)
  }

  all (): DiscoveredPeer[] {
    return [...this.peers.values()]
  }

  /** Node id → peer address, for RaftTransport's resolvePeer. */
  resolve (nodeId: NodeId): PeerAddress | undefined {
    const p = this.peers.get(nodeId)
    return p === undefined ? undefined : { peerId: p.peerId, addrs: p.addrs }
  }

  /** The node id a peer announced itself as, if any. */
  nodeIdOf (peerId: string): NodeId | undefined {
    for (const p of this.peers.values()) if (p.peerId === peerId) return p.nodeId
    return undefined
  }
}
