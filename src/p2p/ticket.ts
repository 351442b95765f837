// Tickets: `aspen1` + base32 (RFC 4648, lowercase, unpadded) of a protobuf {cluster id, up to 16 peers with up to
// 8 multiaddrs each}. A ticket says where a cluster can be found; it never carries the cookie or any derived
// secret (the cluster id is public). Parsing is total: any input either parses or throws TicketError.
import { peerIdFromString } from '@libp2p/peer-id'
import { multiaddr } from '@multiformats/multiaddr'
import { base32Decode, base32Encode } from './base32.js'
import { TicketError } from './errors.js'
import { TicketPayload } from './wire/ticket.js'

export const TICKET_PREFIX = 'aspen1'
export const TICKET_VERSION = 1
export const MAX_TICKET_PEERS = 16
export const MAX_TICKET_ADDRS_PER_PEER = 8
/** Longest ticket text accepted. */
export const MAX_TICKET_CHARS = 16 * 1024
const MAX_CLUSTER_ID_CHARS = 64
const MAX_ADDR_BYTES = 256

export interface TicketPeer {
  peerId: string
  /** Multiaddrs (text), without the trailing /p2p/<peerId>. */
  addrs: string[]
}

export interface Ticket {
  clusterId: string
  peers: TicketPeer[]
}

/** Encodes a ticket. Throws TicketError if it breaks a limit or holds an invalid peer id / address. */
export function encodeTicket (ticket: Ticket): string {
  checkClusterId(ticket.clusterId)
  if (ticket.peers.length === 0 || ticket.peers.length > MAX_TICKET_PEERS) throw new TicketError(`a ticket holds 1..${MAX_TICKET_PEERS} peers, got ${ticket.peers.length}`)
  const peers = ticket.peers.map((p) => {
    checkPeerId(p.peerId)
    if (p.addrs.length > MAX_TICKET_ADDRS_PER_PEER) throw new TicketError(`a ticket holds at most ${MAX_TICKET_ADDRS_PER_PEER} addresses per peer, got ${p.addrs.length} for ${p.peerId}`)
    return {
      peerId: p.peerId,
      addrs: p.addrs.map((a) => {
        let bytes: Uint8Array
        const suffix = `/p2p/${p.peerId}`
        if (a.endsWith(suffix)) a = a.slice(0, -suffix.length)
        try {
          bytes = multiaddr(a).bytes
        } catch {
          throw new TicketError(`"${a}" is not a multiaddr`)
        }
        if (bytes.byteLength > MAX_ADDR_BYTES) throw new TicketError(`address ${a} is too long for a ticket`)
        return bytes as Uint8Array<ArrayBuffer>
      })
    }
  })
  const text = TICKET_PREFIX + base32Encode(TicketPayload.encode({ version: TICKET_VERSION, clusterId: ticket.clusterId, peers }))
  if (text.length > MAX_TICKET_CHARS) throw new TicketError(`ticket of ${text.length} characters exceeds ${MAX_TICKET_CHARS}`)
  return text
}

/** Parses a ticket. Throws TicketError (and nothing else) for any malformed input. */
export function parseTicket (text: string): Ticket {
  if (typeof text !== 'string') throw new TicketError('a ticket is a string')
  const s = text.trim()
  if (s.length > MAX_TICKET_CHARS) throw new TicketError(`ticket longer than ${MAX_TICKET_CHARS} characters`)
  if (!s.toLowerCase().startsWith(TICKET_PREFIX)) throw new TicketError(`a ticket starts with "${TICKET_PREFIX}"`)
  const bytes = base32Decode(s.slice(TICKET_PREFIX.length).replace(/=+$/, ''))
  if (bytes === undefined || bytes.byteLength === 0) throw new TicketError('ticket is not valid base32 (RFC 4648 alphabet a-z 2-7); was it truncated or mistyped?')
  let payload: TicketPayload
  try {
    payload = TicketPayload.decode(bytes, { limits: { peers: MAX_TICKET_PEERS, peers$: { addrs: MAX_TICKET_ADDRS_PER_PEER } } })
  } catch (e) {
    throw new TicketError(`ticket payload does not decode (${e instanceof Error ? e.message : 'unknown error'}); was it truncated?`)
  }
  if (payload.version !== TICKET_VERSION) throw new TicketError(`unsupported ticket version ${payload.version}; this build reads version ${TICKET_VERSION}`)
  checkClusterId(payload.clusterId)
  if (payload.peers.length === 0) throw new TicketError('ticket lists no peers')
  const peers: TicketPeer[] = payload.peers.map((p) => {
    checkPeerId(p.peerId)
    return {
      peerId: p.peerId,
      addrs: p.addrs.map((a) => {
        if (a.byteLength > MAX_ADDR_BYTES) throw new TicketError('ticket holds an over-long address')
        try {
          return multiaddr(a).toString()
        } catch {
          throw new TicketError('ticket holds an invalid multiaddr')
        }
      })
    }
  })
  return { clusterId: payload.clusterId, peers }
}

/** Dialable multiaddrs of a ticket: each address with /p2p/<peerId> appended. */
export function ticketMultiaddrs (ticket: Ticket): string[] {
  return ticket.peers.flatMap((p) => p.addrs.map((a) => `${a}/p2p/${p.peerId}`))
}

function checkClusterId (id: string): void {
  if (id.length === 0 || id.length > MAX_CLUSTER_ID_CHARS || !/^[0-9a-z-]+$/.test(id)) throw new TicketError('ticket has an invalid cluster id')
}

function checkPeerId (id: string): void {
  try {
    if (id.length === 0 || id.length > 128) throw new Error('length')
    peerIdFromString(id)
  } catch {
    throw new TicketError(`ticket holds an invalid peer id "${id.slice(0, 64)}"`)
  }
}
