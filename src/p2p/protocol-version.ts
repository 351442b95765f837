// Wire versions of our libp2p protocols, negotiated by multistream-select on the protocol id
// (/aspen/<family>/<major>.<minor>.0). Frames only ever gain optional protobuf fields within a major, so a node
// serves and offers its own minor and the previous one: during a rolling upgrade old and new nodes meet on the old
// id. A different major (or a minor two steps away) has no id in common; identify tells us what the peer speaks,
// so the refusal is a typed error naming both versions instead of a bare "protocol selection failed".
import { AspenError } from '../errors.js'

export interface WireVersion {
  readonly major: number
  readonly minor: number
}

/** The wire version this build speaks. */
export const WIRE_VERSION: WireVersion = { major: 1, minor: 0 }

/** Our stream protocols. */
export type ProtocolFamily = 'raft' | 'raft-snapshot' | 'client'

export const PROTOCOL_FAMILIES: readonly ProtocolFamily[] = ['raft', 'raft-snapshot', 'client']

/** Largest version number component accepted when parsing a peer's protocol id. */
const MAX_COMPONENT = 65_535

/** A peer speaks only versions of a protocol this node cannot talk to. */
export class IncompatibleVersionError extends AspenError {
  readonly code = 'INCOMPATIBLE_VERSION'
  constructor (readonly peerId: string, readonly family: ProtocolFamily, readonly local: WireVersion, readonly remote: readonly WireVersion[]) {
    super(`peer ${peerId} speaks /aspen/${family} ${remote.map(formatVersion).join(', ')} but this node speaks ${formatVersion(local)} ` +
      `(and accepts ${accepted(local).map(formatVersion).join(', ')}): ${remote.some(r => r.major !== local.major) ? 'the major versions differ' : 'the minor versions are more than one apart'}; ` +
      'upgrade one minor version at a time, every node before the next step')
  }
}

/** "1.2". */
export function formatVersion (v: WireVersion): string {
  return `${v.major}.${v.minor}`
}

/** Parses "MAJOR.MINOR" (e.g. a test override of the version to speak); undefined for anything else. */
export function parseWireVersion (s: string): WireVersion | undefined {
  const m = /^(\d{1,5})\.(\d{1,5})$/.exec(s.trim())
  if (m === null) return undefined
  const major = Number(m[1])
  const minor = Number(m[2])
  return major > MAX_COMPONENT || minor > MAX_COMPONENT ? undefined : { major, minor }
}

/** The protocol id of `family` at version `v`. */
export function protocolId (family: ProtocolFamily, v: WireVersion): string {
  return `/aspen/${family}/${v.major}.${v.minor}.0`
}

/** Parses one of our protocol ids; undefined for anything else. */
export function parseProtocolId (id: string): { family: ProtocolFamily, version: WireVersion } | undefined {
  const m = /^\/aspen\/(raft|raft-snapshot|client)\/(\d{1,5})\.(\d{1,5})\.(\d{1,5})$/.exec(id)
  if (m === null) return undefined
  const major = Number(m[2])
  const minor = Number(m[3])
  if (major > MAX_COMPONENT || minor > MAX_COMPONENT) return undefined
  return { family: m[1] as ProtocolFamily, version: { major, minor } }
}

/** The versions a node at `v` serves and offers, its own first: its minor and the previous one. */
export function accepted (v: WireVersion): WireVersion[] {
  return v.minor > 0 ? [v, { major: v.major, minor: v.minor - 1 }] : [v]
}

/** True when nodes at `a` and `b` share a protocol id (same major, minors at most one apart). */
export function compatible (a: WireVersion, b: WireVersion): boolean {
  return a.major === b.major && Math.abs(a.minor - b.minor) <= 1
}

/** The ids a node at `v` registers handlers for. */
export function servedProtocols (family: ProtocolFamily, v: WireVersion = WIRE_VERSION): string[] {
  return accepted(v).map(x => protocolId(family, x))
}

/** The ids a node at `v` offers when it dials, in order of preference (multistream-select takes the first served). */
export function dialProtocols (family: ProtocolFamily, v: WireVersion = WIRE_VERSION): string[] {
  return servedProtocols(family, v)
}

/** The version both sides pick: the newest id the dialer offers that the listener serves. */
export function negotiate (dialer: WireVersion, listener: WireVersion): WireVersion | undefined {
  const served = new Set(accepted(listener).map(formatVersion))
  return accepted(dialer).find(v => served.has(formatVersion(v)))
}

/**
 * Given the protocol ids a peer announced (identify), the typed refusal when it speaks `family` but shares no
 * version with a node at `local`; undefined when it shares one or does not speak `family` at all.
 */
export function incompatibility (peerId: string, family: ProtocolFamily, local: WireVersion, peerProtocols: readonly string[]): IncompatibleVersionError | undefined {
  const theirs: WireVersion[] = []
  for (const id of peerProtocols) {
    const p = parseProtocolId(id)
    if (p !== undefined && p.family === family) theirs.push(p.version)
  }
  if (theirs.length === 0) return undefined
  const mine = new Set(accepted(local).map(formatVersion))
  if (theirs.some(v => mine.has(formatVersion(v)))) return undefined
  theirs.sort((x, y) => y.major - x.major || y.minor - x.minor)
  return new IncompatibleVersionError(peerId, family, local, theirs)
}
