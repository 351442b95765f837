// Typed errors of the p2p layer. Messages name what failed and what to do; they never contain the cookie,
// private keys or derived secrets.
import { AspenError } from '../errors.js'

/** The node identity key could not be loaded, created or parsed. Never answered by silently regenerating it. */
export class IdentityError extends AspenError {
  readonly code = 'IDENTITY'
}

/** The cluster cookie is unusable (empty, too long). */
export class CookieError extends AspenError {
  readonly code = 'COOKIE'
}

/** An `aspen1…` ticket could not be parsed or built. */
export class TicketError extends AspenError {
  readonly code = 'TICKET'
}

/** A p2p option is invalid (bad multiaddr, bad limit). */
export class P2PConfigError extends AspenError {
  readonly code = 'P2P_CONFIG'
}

/** A frame on one of our protocols was undecodable, had an unknown version or broke the protocol. */
export class FrameDecodeError extends AspenError {
  readonly code = 'FRAME_DECODE'
}

/** A frame's length prefix exceeds the protocol's limit; the stream is closed. */
export class FrameTooLargeError extends AspenError {
  readonly code = 'FRAME_TOO_LARGE'
  constructor (readonly limit: number, readonly actual: number) {
    super(`frame of ${actual} bytes exceeds the limit of ${limit} bytes`)
  }
}

/** An operation did not finish before its deadline. */
export class TimeoutError extends AspenError {
  readonly code = 'TIMEOUT'
}

/** Dialling a peer failed (unreachable, wrong cookie, refused, timed out). */
export class DialError extends AspenError {
  readonly code = 'DIAL_FAILED'
}

/** The stream or connection closed before the operation finished. */
export class ConnectionClosedError extends AspenError {
  readonly code = 'CONNECTION_CLOSED'
}

/** Too much work is queued already (in-flight request limit reached); retry later. */
export class OverloadedError extends AspenError {
  readonly code = 'OVERLOADED'
}

/** No address is known for a node id (not in the registry, not resolvable). */
export class PeerUnknownError extends AspenError {
  readonly code = 'PEER_UNKNOWN'
}

/** A snapshot transfer failed; the receiver discards a partial snapshot. */
export class SnapshotTransferError extends AspenError {
  readonly code = 'SNAPSHOT_TRANSFER'
}

/** The remote refused our stream because we are not (or no longer) a member it serves. */
export class NotAuthorizedError extends AspenError {
  readonly code = 'NOT_AUTHORIZED'
}
