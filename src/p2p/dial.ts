// Opening protocol streams to peers: addresses from the registry go into the peer store, the dial is bounded by a
// deadline (a pnet mismatch can hang until it fires) and every failure becomes a typed DialError.
import type { Libp2p, PeerId, Stream } from '@libp2p/interface'
import { peerIdFromString } from '@libp2p/peer-id'
import { multiaddr } from '@multiformats/multiaddr'
import type { Multiaddr } from '@multiformats/multiaddr'
import { DialError, TimeoutError } from './errors.js'
import { incompatibility, parseProtocolId, type IncompatibleVersionError } from './protocol-version.js'

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

/**
 * When a versioned dial failed, the typed refusal if the peer (as identify described it) speaks only versions of
 * that protocol we cannot talk to.
 */
async function versionRefusal (host: StreamHost, peer: PeerId, peerId: string, offered: readonly string[]): Promise<IncompatibleVersionError | undefined> {
  const ours = parseProtocolId(offered[0] ?? '')
  if (ours === undefined) return undefined
  // identify runs beside the refused negotiation and may not have recorded the peer's protocols yet
  for (let attempt = 0; attempt < IDENTIFY_POLLS; attempt++) {
    const known = await host.peerStore.get(peer).catch(() => undefined)
    if (known !== undefined && known.protocols.some(p => parseProtocolId(p)?.family === ours.family)) {
      return incompatibility(peerId, ours.family, ours.version, known.protocols)
    }
    await new Promise(resolve => setTimeout(resolve, IDENTIFY_POLL_MS))
  }
  return undefined
}

/** How long a refused dial waits for identify to tell which versions the peer speaks. */
const IDENTIFY_POLLS = 20
const IDENTIFY_POLL_MS = 50

/**
 * Opens a stream to `target` within `timeoutMs` on the first of `protocol` (ids in order of preference) the peer
 * serves; throws DialError, TimeoutError, or IncompatibleVersionError when the peer speaks only other versions.
 */
export async function dialProtocolStream (host: StreamHost, target: PeerAddress, protocol: string | readonly string[], timeoutMs: number, signal?: AbortSignal): Promise<Stream> {
  const offered = typeof protocol === 'string' ? [protocol] : [...protocol]
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
    return await host.dialProtocol(peer, offered, { signal: combined, runOnLimitedConnection: true })
  } catch (e) {
    if (timeout.aborted) throw new TimeoutError(`dialling ${target.peerId} (${offered[0]}) took longer than ${timeoutMs} ms`, { cause: e })
    const refusal = isUnsupportedProtocol(e) ? await versionRefusal(host, peer, target.peerId, offered) : undefined
    if (refusal !== undefined) throw refusal
    throw new DialError(`cannot open ${offered.join(' or ')} to ${target.peerId}: ${e instanceof Error ? e.message : String(e)}`, { cause: e })
  }
}

/** True for multistream-select's "none of these protocols" failure. */
function isUnsupportedProtocol (e: unknown): boolean {
  return e instanceof Error && (e.name === 'UnsupportedProtocolError' || /protocol selection failed|UnsupportedProtocol/i.test(e.message))
}

/** Writes `bytes` and waits until the stream accepts more (back-pressure); throws if the stream closes. */
export async function sendWithBackpressure (stream: Stream, bytes: Uint8Array, signal?: AbortSignal): Promise<void> {
  if (!stream.send(bytes)) await stream.onDrain(signal === undefined ? undefined : { signal })
}
