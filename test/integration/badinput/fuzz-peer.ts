// A libp2p peer that holds the cluster cookie (so pnet lets it in) but speaks whatever bytes a test gives it on
// the node's protocols, then reports what came back: the frames the node answered and whether it closed the stream.
import { generateKeyPair } from '@libp2p/crypto/keys'
import type { PrivateKey, Stream } from '@libp2p/interface'
import { createHost, type AspenHost } from '../../../src/p2p/host.js'
import { deriveClusterKeys } from '../../../src/p2p/cookie.js'
import { dialProtocolStream, type PeerAddress } from '../../../src/p2p/dial.js'
import { FrameDecoder } from '../../../src/p2p/frame.js'
import type { RunInfo } from '../../../src/node/run-info.js'

/** What one exchange on a fresh stream produced. */
export interface Exchange {
  /** Complete frames the node sent back, in order. */
  frames: Uint8Array[]
  /** The node's answer could not be split into frames (a protocol violation on its side). */
  badFraming?: string
  /** How the stream ended: closed by both sides, reset/aborted by the node, or still open at the deadline. */
  end: 'closed' | 'reset' | 'hung'
}

/** The peer address of a running node from its run info. */
export function targetOf (info: RunInfo): PeerAddress {
  return { peerId: info.peerId, addrs: info.addrs.map(a => a.replace(/\/p2p\/[^/]+$/, '')) }
}

/** A cookie-holding peer that sends raw bytes on protocol streams. */
export class FuzzPeer {
  private constructor (readonly host: AspenHost) {}

  /** Starts a dial-only host; with `privateKey` it has that identity (e.g. a stopped member's key). */
  static async create (cookie: string, privateKey?: PrivateKey): Promise<FuzzPeer> {
    const host = await createHost({ privateKey: privateKey ?? await generateKeyPair('Ed25519'), keys: deriveClusterKeys(cookie), listen: [], autonat: false })
    return new FuzzPeer(host)
  }

  /**
   * Opens `protocol` to `target`, sends `bytes`, waits until `expectFrames` frames came back or the node closed the
   * stream (at most `timeoutMs`), then closes our side and waits (at most `timeoutMs`) for the stream to end.
   */
  async exchange (target: PeerAddress, protocol: string, bytes: Uint8Array, expectFrames: number, timeoutMs = 5000): Promise<Exchange> {
    const stream = await dialProtocolStream(this.host, target, protocol, timeoutMs)
    const out: Exchange = { frames: [], end: 'hung' }
    const decoder = new FrameDecoder()
    let wake: () => void = () => {}
    let ended = false
    let remoteEnded = false
    stream.addEventListener('message', (evt) => {
      try {
        out.frames.push(...decoder.push(evt.data))
      } catch (e) {
        out.badFraming = e instanceof Error ? e.message : String(e)
      }
      wake()
    })
    let gaveUp = false
    stream.addEventListener('close', (evt) => {
      ended = true
      if (gaveUp) return
      out.end = evt.error !== undefined || stream.status === 'reset' || stream.status === 'aborted' ? 'reset' : 'closed'
      wake()
    })
    stream.addEventListener('end', () => { remoteEnded = true; wake() })
    const until = async (cond: () => boolean, deadline: number): Promise<void> => {
      while (!cond() && performance.now() < deadline) {
        await new Promise<void>(resolve => {
          const t = setTimeout(resolve, Math.max(1, deadline - performance.now()))
          wake = () => { clearTimeout(t); resolve() }
        })
      }
    }
    try {
      if (bytes.byteLength > 0) stream.send(bytes)
    } catch {
      // the node may already have reset the stream
    }
    await until(() => ended || remoteEnded || out.frames.length >= expectFrames, performance.now() + timeoutMs)
    if (!ended) void closeQuietly(stream, timeoutMs)
    await until(() => ended, performance.now() + timeoutMs)
    if (!ended) {
      gaveUp = true
      stream.abort(new Error('fuzz: node did not close the stream'))
    }
    return out
  }

  async stop (): Promise<void> {
    await this.host.stop()
  }
}

async function closeQuietly (stream: Stream, timeoutMs: number): Promise<void> {
  try {
    await stream.close({ signal: AbortSignal.timeout(timeoutMs) })
  } catch {
    // the end event tells the caller what happened
  }
}
