// Keys derived from the cluster cookie with HKDF-SHA256 and one label per use, so no derived value reveals another
// or the cookie: the public cluster id, the gossip topic, the private-network (pnet) key and the announcement HMAC
// key. The cookie itself is only an input here; it is never stored in the result, logged or sent.
import { hkdfSync } from 'node:crypto'
import { inspect } from 'node:util'
import { CookieError } from './errors.js'

/** Bytes of the pnet pre-shared key. */
const PSK_BYTES = 32
/** Longest cookie we accept (config caps it too). */
const MAX_COOKIE_BYTES = 4096
const SALT = Buffer.from('aspen-ts/cookie/v1')
const LABEL_CLUSTER_ID = 'aspen/cluster-id/v1'
const LABEL_TOPIC = 'aspen/gossip-topic/v1'
const LABEL_PSK = 'aspen/pnet-psk/v1'
const LABEL_HMAC = 'aspen/announce-hmac/v1'
/** The text header of @libp2p/pnet's key format (followed by 64 hex digits: 95 bytes in all). */
const PSK_HEADER = '/key/swarm/psk/1.0.0/\n/base16/\n'

export interface ClusterKeys {
  /** Public id of the cluster (16 hex digits); safe to show, put in tickets and logs. */
  readonly clusterId: string
  /** Gossipsub topic the announcements travel on. */
  readonly topic: string
  /** pnet pre-shared key in the 95-byte text format @libp2p/pnet's generateKey writes. Secret. */
  readonly psk: Uint8Array
  /** HMAC-SHA256 key of discovery announcements. Secret. */
  readonly hmacKey: Uint8Array
}

/** Derives the cluster's keys from its cookie. Deterministic; throws CookieError for an empty or huge cookie. */
export function deriveClusterKeys (cookie: string): ClusterKeys {
  const ikm = Buffer.from(cookie, 'utf8')
  if (ikm.length === 0) throw new CookieError('the cluster cookie is empty; set cookie or cookie_file')
  if (ikm.length > MAX_COOKIE_BYTES) throw new CookieError(`the cluster cookie is longer than ${MAX_COOKIE_BYTES} bytes`)
  const clusterId = derive(ikm, LABEL_CLUSTER_ID, 8).toString('hex')
  const topic = `/aspen/discovery/1/${derive(ikm, LABEL_TOPIC, 16).toString('hex')}`
  const psk = new Uint8Array(Buffer.from(PSK_HEADER + derive(ikm, LABEL_PSK, PSK_BYTES).toString('hex'), 'utf8'))
  const hmacKey = new Uint8Array(derive(ikm, LABEL_HMAC, 32))
  const keys: ClusterKeys = { clusterId, topic, psk, hmacKey }
  // Accidental logging of the whole object shows only the public parts.
  const redacted = (): Record<string, string> => ({ clusterId, topic, psk: '[redacted]', hmacKey: '[redacted]' })
  Object.defineProperty(keys, 'toJSON', { value: redacted, enumerable: false })
  Object.defineProperty(keys, inspect.custom, { value: redacted, enumerable: false })
  return Object.freeze(keys)
}

function derive (ikm: Buffer, label: string, bytes: number): Buffer {
  return Buffer.from(hkdfSync('sha256', ikm, SALT, Buffer.from(label, 'utf8'), bytes))
}
