// Discovery announcements: what a node says about itself on the cookie topic, sealed with an HMAC under the
// cookie-derived key. The HMAC covers the exact body bytes, so verification needs no canonical re-encoding.
// Gossipsub's StrictSign signature additionally binds the message to the publishing peer.
import { createHmac, timingSafeEqual } from 'node:crypto'
import { multiaddr } from '@multiformats/multiaddr'
import type { NodeId } from '../raft/types.js'
import { P2PConfigError } from './errors.js'
import { Announcement, AnnouncementBody } from './wire/discovery.js'

/** Largest announcement accepted or sent. */
export const MAX_ANNOUNCEMENT_BYTES = 4096
/** Most addresses in one announcement. */
export const MAX_ANNOUNCED_ADDRS = 16
/** Longest single address (binary). */
const MAX_ADDR_BYTES = 512
export const ANNOUNCEMENT_VERSION = 1
export const NONCE_BYTES = 16

export interface AnnouncementContent {
  clusterId: string
  nodeId: NodeId
  peerId: string
  /** Multiaddrs (text) where the node can be dialled. */
  addrs: string[]
  timestampMs: number
  nonce: Uint8Array
}

export type OpenResult =
  | { ok: true, content: AnnouncementContent }
  | { ok: false, reason: 'undecodable' | 'bad-hmac' | 'bad-version' | 'bad-address' }

/** Encodes and seals an announcement. Throws P2PConfigError if it would exceed MAX_ANNOUNCEMENT_BYTES. */
export function sealAnnouncement (content: AnnouncementContent, hmacKey: Uint8Array): Uint8Array {
  const body = AnnouncementBody.encode({
    version: ANNOUNCEMENT_VERSION,
    clusterId: content.clusterId,
    nodeId: content.nodeId,
    peerId: content.peerId,
    addrs: content.addrs.map((a) => multiaddr(a).bytes as Uint8Array<ArrayBuffer>),
    timestampMs: content.timestampMs,
    nonce: content.nonce as Uint8Array<ArrayBuffer>
  })
  const sealed = Announcement.encode({ body, hmac: mac(hmacKey, body) as Uint8Array<ArrayBuffer> })
  if (sealed.byteLength > MAX_ANNOUNCEMENT_BYTES) throw new P2PConfigError(`announcement of ${sealed.byteLength} bytes exceeds ${MAX_ANNOUNCEMENT_BYTES}; announce fewer addresses`)
  return sealed
}

/** Decodes and authenticates an announcement (HMAC first, then the body). Never throws. */
export function openAnnouncement (data: Uint8Array, hmacKey: Uint8Array): OpenResult {
  let outer: Announcement
  try {
    outer = Announcement.decode(data)
  } catch {
    return { ok: false, reason: 'undecodable' }
  }
  const expected = mac(hmacKey, outer.body)
  if (outer.hmac.byteLength !== expected.byteLength || !timingSafeEqual(outer.hmac, expected)) return { ok: false, reason: 'bad-hmac' }
  let body: AnnouncementBody
  try {
    body = AnnouncementBody.decode(outer.body, { limits: { addrs: MAX_ANNOUNCED_ADDRS } })
  } catch {
    return { ok: false, reason: 'undecodable' }
  }
  if (body.version !== ANNOUNCEMENT_VERSION) return { ok: false, reason: 'bad-version' }
  if (!Number.isSafeInteger(body.nodeId) || body.nodeId <= 0 || !Number.isSafeInteger(body.timestampMs) || body.nonce.byteLength !== NONCE_BYTES) {
    return { ok: false, reason: 'undecodable' }
  }
  const addrs: string[] = []
  for (const a of body.addrs) {
    if (a.byteLength > MAX_ADDR_BYTES) return { ok: false, reason: 'bad-address' }
    try {
      addrs.push(multiaddr(a).toString())
    } catch {
      return { ok: false, reason: 'bad-address' }
    }
  }
  return { ok: true, content: { clusterId: body.clusterId, nodeId: body.nodeId, peerId: body.peerId, addrs, timestampMs: body.timestampMs, nonce: body.nonce } }
}

function mac (key: Uint8Array, body: Uint8Array): Buffer {
  return createHmac('sha256', key).update(body).digest()
}
