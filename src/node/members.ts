// Member bindings: which peer (and which data dir, by store UUID) a Raft node id stands for. They travel in the
// context of the conf change that adds a node, so every replica learns them in log order, and with snapshots.
// A node id is bound to one peer id until `cluster remove` releases it.
import { AspenError } from '../errors.js'

/** node id → the peer and data dir it was added with. */
export interface MemberBinding {
  nodeId: number
  peerId: string
  /** Store UUID of the data dir the node had when it was added; a wiped dir has another one. */
  storeId: string
  addrs: string[]
}

/** What the node puts into ConfChange.context. */
export interface ConfChangeContext {
  v: 1
  /** Wall-clock ms on the leader when it proposed the change (replicated, so every leader enforces the cooldown). */
  at: number
  /** True when the voter set changes (starts the cooldown). */
  voterChange: boolean
  bindings: MemberBinding[]
  /** Node ids released by this change (removed). */
  released: number[]
  /** Safety rules overridden with --force (kept in the log for the audit trail). */
  forced: string[]
}

/** The context of a conf change could not be read. */
export class ConfChangeContextError extends AspenError {
  readonly code = 'CONF_CHANGE_CONTEXT'
}

/** Largest context we write or read. */
export const MAX_CONTEXT_BYTES = 64 * 1024

/** Encodes a conf change context (JSON: it is small, rare and worth reading in a log dump). */
export function encodeContext (ctx: ConfChangeContext): Uint8Array {
  const b = new TextEncoder().encode(JSON.stringify(ctx))
  if (b.length > MAX_CONTEXT_BYTES) throw new ConfChangeContextError(`conf change context of ${b.length} bytes exceeds ${MAX_CONTEXT_BYTES}`)
  return b
}

const isInt = (x: unknown): x is number => typeof x === 'number' && Number.isSafeInteger(x) && x >= 0

function parseBinding (x: unknown): MemberBinding {
  const o = x as Record<string, unknown>
  if (typeof o !== 'object' || o === null || !isInt(o.nodeId) || typeof o.peerId !== 'string' || typeof o.storeId !== 'string' ||
    !Array.isArray(o.addrs) || !o.addrs.every(a => typeof a === 'string')) {
    throw new ConfChangeContextError('malformed member binding in conf change context')
  }
  return { nodeId: o.nodeId, peerId: o.peerId, storeId: o.storeId, addrs: o.addrs as string[] }
}

/** Decodes a conf change context; an empty context (a change made by the core itself, e.g. leaving joint) gives a neutral one. */
export function decodeContext (b: Uint8Array): ConfChangeContext {
  if (b.length === 0) return { v: 1, at: 0, voterChange: false, bindings: [], released: [], forced: [] }
  if (b.length > MAX_CONTEXT_BYTES) throw new ConfChangeContextError(`conf change context of ${b.length} bytes exceeds ${MAX_CONTEXT_BYTES}`)
  let o: Record<string, unknown>
  try {
    o = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(b)) as Record<string, unknown>
  } catch (err) {
    throw new ConfChangeContextError('conf change context is not valid JSON', { cause: err })
  }
  if (typeof o !== 'object' || o === null || o.v !== 1 || !isInt(o.at) || typeof o.voterChange !== 'boolean' ||
    !Array.isArray(o.bindings) || !Array.isArray(o.released) || !o.released.every(isInt) ||
    !Array.isArray(o.forced) || !o.forced.every(f => typeof f === 'string')) {
    throw new ConfChangeContextError('malformed conf change context')
  }
  return { v: 1, at: o.at, voterChange: o.voterChange, bindings: o.bindings.map(parseBinding), released: o.released as number[], forced: o.forced as string[] }
}
