// Shared helpers of the p2p integration tests: hosts on 127.0.0.1, polling with deadlines, Raft message builders.
import { generateKeyPair } from '@libp2p/crypto/keys'
import type { Message, NodeId } from '../../../src/raft/types.js'
import { createHost } from '../../../src/p2p/host.js'
import type { AspenHost, HostOptions } from '../../../src/p2p/host.js'
import { deriveClusterKeys } from '../../../src/p2p/cookie.js'
import type { PeerAddress } from '../../../src/p2p/dial.js'

export const LOOPBACK = ['/ip4/127.0.0.1/tcp/0']

/** Polls `cond` every 20 ms until it holds; throws naming `what` after `deadlineMs`. */
export async function waitFor (cond: () => boolean | Promise<boolean>, deadlineMs: number, what: string): Promise<number> {
  const start = Date.now()
  while (true) {
    if (await cond()) return Date.now() - start
    if (Date.now() - start > deadlineMs) throw new Error(`timed out after ${deadlineMs} ms waiting for ${what}`)
    await new Promise((resolve) => setTimeout(resolve, 20))
  }
}

/** Starts a host for `cookie` listening on an ephemeral loopback port. */
export async function testHost (cookie: string, over: Partial<HostOptions> = {}): Promise<AspenHost> {
  return await createHost({ privateKey: await generateKeyPair('Ed25519'), keys: deriveClusterKeys(cookie), listen: LOOPBACK, autonat: false, ...over })
}

/** The peer address of a host (for resolvePeer). */
export function addressOf (h: AspenHost): PeerAddress {
  return { peerId: h.peerId.toString(), addrs: h.getMultiaddrs().map(String) }
}

/** A Raft AppendEntries carrying one entry of `size` bytes tagged with `seq`. */
export function appMsg (from: NodeId, to: NodeId, seq: number, size = 32): Message {
  const data = new Uint8Array(size)
  new DataView(data.buffer).setUint32(0, seq % 2 ** 32)
  return { type: 'app', to, from, term: 1, logTerm: 1, index: seq, entries: [{ term: 1, index: seq + 1, type: 'normal', data }], commit: 0, reject: false, rejectHint: 0, context: new Uint8Array(0) }
}

/** A heartbeat with a sequence number in its context. */
export function heartbeat (from: NodeId, to: NodeId, seq: number): Message {
  const context = new Uint8Array(8)
  new DataView(context.buffer).setFloat64(0, seq)
  return { type: 'heartbeat', to, from, term: 1, logTerm: 0, index: 0, entries: [], commit: 0, reject: false, rejectHint: 0, context }
}

/** The sequence number of a heartbeat built by heartbeat(). */
export function heartbeatSeq (m: Message): number {
  return new DataView(m.context.buffer, m.context.byteOffset, m.context.byteLength).getFloat64(0)
}

/** Stops hosts, ignoring errors. */
export async function stopAll (...items: Array<{ stop: () => unknown } | undefined>): Promise<void> {
  await Promise.all(items.map(async (i) => { try { await i?.stop() } catch { /* already stopped */ } }))
}
