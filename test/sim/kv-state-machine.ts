// The simulator's replicated state machine: a string key-value map with put, get and compare-and-set.
// Every applied entry (no-ops and membership changes too) is folded into a chain hash, so two nodes agree on
// their applied prefix iff their chain hashes at that index agree; snapshots carry the map and the chain.

import { AspenError } from '../../src/errors.js'
import type { Entry } from '../../src/raft/types.js'
import { fnv1a, fnv1aBytes } from './rng.js'

/** A client command as it travels in an entry's payload. `id` is unique per client operation. */
export type KvCommand =
  | { id: string, op: 'put', key: string, value: string }
  | { id: string, op: 'get', key: string }
  | { id: string, op: 'cas', key: string, expected: string | null, value: string }

/** What applying a command produced: cas `ok` tells whether it swapped; `value` is the value read or written. */
export interface KvResult {
  ok: boolean
  value: string | null
}

/** Bytes that should be a command or a state-machine image are not. */
export class KvDecodeError extends AspenError {
  readonly code = 'SIM_KV_DECODE'
}

const encoder = new TextEncoder()
const decoder = new TextDecoder()

/** Encodes a command as an entry payload. */
export function encodeCommand (cmd: KvCommand): Uint8Array {
  return encoder.encode(JSON.stringify(cmd))
}

/** Decodes an entry payload written by encodeCommand. */
export function decodeCommand (data: Uint8Array): KvCommand {
  const v: unknown = JSON.parse(decoder.decode(data))
  if (typeof v !== 'object' || v === null || !('id' in v) || !('op' in v)) throw new KvDecodeError('not a KV command')
  return v as KvCommand
}

interface Image {
  applied: number
  chain: number
  data: Array<[string, string]>
  results: Array<[string, boolean, string | null]>
}

/** The key-value map plus its applied index and chain hash. */
export class KvStateMachine {
  applied = 0
  chain = 0
  private readonly data = new Map<string, string>()
  /** Results by command id: a command duplicated in the log takes effect once (the network may duplicate proposals). */
  private readonly results = new Map<string, KvResult>()

  /** Current value of a key (null: absent). */
  get (key: string): string | null {
    return this.data.get(key) ?? null
  }

  /** The result a command got when it was applied, if it was. */
  resultOf (id: string): KvResult | undefined {
    return this.results.get(id)
  }

  /** Applies the next entry; returns the command and its result for normal entries with a payload. */
  apply (e: Entry): { cmd: KvCommand, result: KvResult } | undefined {
    if (e.index !== this.applied + 1) throw new KvDecodeError(`apply out of order: entry ${e.index} after ${this.applied}`)
    this.applied = e.index
    this.chain = chainStep(this.chain, e)
    if (e.type !== 'normal' || e.data.length === 0) return undefined
    const cmd = decodeCommand(e.data)
    const seen = this.results.get(cmd.id)
    if (seen !== undefined) return { cmd, result: seen }
    const cur = this.get(cmd.key)
    let result: KvResult
    if (cmd.op === 'put') {
      this.data.set(cmd.key, cmd.value)
      result = { ok: true, value: cmd.value }
    } else if (cmd.op === 'get') {
      result = { ok: true, value: cur }
    } else if (cur === cmd.expected) {
      this.data.set(cmd.key, cmd.value)
      result = { ok: true, value: cmd.value }
    } else {
      result = { ok: false, value: cur }
    }
    this.results.set(cmd.id, result)
    return { cmd, result }
  }

  /** The whole state as bytes (the simulator's Snapshot.data). */
  serialize (): Uint8Array {
    const img: Image = {
      applied: this.applied,
      chain: this.chain,
      data: [...this.data.entries()],
      results: [...this.results.entries()].map(([id, r]) => [id, r.ok, r.value])
    }
    return encoder.encode(JSON.stringify(img))
  }

  /** Rebuilds a state machine from serialize() output. */
  static deserialize (bytes: Uint8Array): KvStateMachine {
    const sm = new KvStateMachine()
    if (bytes.length === 0) return sm
    const img = JSON.parse(decoder.decode(bytes)) as Image
    if (typeof img.applied !== 'number' || !Array.isArray(img.data)) throw new KvDecodeError('not a KV image')
    sm.applied = img.applied
    sm.chain = img.chain
    for (const [k, v] of img.data) sm.data.set(k, v)
    for (const [id, ok, value] of img.results) sm.results.set(id, { ok, value })
    return sm
  }
}

/** The chain hash after applying `e` on top of `prev`. */
export function chainStep (prev: number, e: Entry): number {
  let h = fnv1a(`${prev}:${e.index}:${e.term}:${e.type}:`)
  h = fnv1aBytes(e.data, h)
  return h
}
