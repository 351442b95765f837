// Opening protocol streams to peers: addresses from the registry go into the peer store, the dial is bounded by a
// deadline (a pnet mismatch can hang until it fires) and every failure becomes a typed DialError.
import type { Libp2p, Stream } from '@libp2p/interface'
import { peerIdFromString } from '@libp2p/peer-id'
import { multiaddr } from '@multiformats/multiaddr'
import type { Multiaddr } from '@multiformats/multiaddr'
import { DialError, TimeoutError } from './errors.js'

/** Where a node can be reached: its peer id and the multiaddrs last seen for it (may be empty if connected). */
export interface PeerAddress {
  peerId: string
  addrs: readonly string[]
}

/** The part of a libp2p node the transports use. */
export type StreamHost = Pick<Libp2p, 'handle' | 'unhandle' | 'dialProtocol' | 'peerStore'>

/** Parses what it can of `addrs`; a bad address must not prevent using the good ones. */
export function parseAddrs (addrs: readonly string[]): Multiaddr[] {
  const out: Multiaddr[] = []
  for (const a of addrs) {
    try {
      out.push(multiaddr(a))
    } catch {
      // skipped
    }
  }
  return out
}

/** Opens a `protocol` stream to `target` within `timeoutMs`; throws DialError or TimeoutError. */
export async function dialProtocolStream (host: StreamHost, target: PeerAddress, protocol: string, timeoutMs: number, signal?: AbortSignal): Promise<Stream> {
  let peer
  try {
    peer = peerIdFromString(target.peerId)
  } catch (e) {
    throw new DialError(`"${target.peerId}" is not a peer id`, { cause: e })
  }
  const timeout = AbortSignal.timeout(Math.max(1, Math.ceil(timeoutMs)))
  const combined = signal === undefined ? timeout : AbortSignal.any([timeout, signal])
  try {
    const addrs = parseAddrs(target.addrs)
    if (addrs.length > 0) await host.peerStore.merge(peer, { multiaddrs: addrs })
    return await host.dialProtocol(peer, protocol, { signal: combined, runOnLimitedConnection: true })
  } catch (e) {
    if (timeout.aborted) throw new TimeoutError(`dialling ${target.peerId} (${protocol}) took longer than ${timeoutMs} ms`, { cause: e })
    throw new DialError(`cannot open ${protocol} to ${target.peerId}: ${e instanceof Error ? e.message : String(e)}`, { cause: e })
  }
}

/** Writes `bytes` and waits until the stream accepts more (back-pressure); throws if the stream closes. */
export async function sendWithBackpressure (stream: Stream, bytes: Uint8Array, signal?: AbortSignal): Promise<void> {
  if (!stream.send(bytes)) await stream.onDrain(signal === undefined ? undefined : { signal })
}
