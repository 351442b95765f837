// Private-network protection of every connection: the libp2p pnet protocol (each side sends a random 24-byte
// nonce, then each direction is XORed with the XSalsa20 keystream of the pre-shared key and the sender's nonce),
// byte-compatible with @libp2p/pnet. Ours because @libp2p/pnet 3.0.27 runs the `xsalsa20` package, whose ciphers
// share one process-wide WASM memory capped at 64 MiB and cache views of it: once any connection grows that
// memory every other cipher's view is detached and grows it again on its next message, so a busy node dies with
// "WebAssembly.Memory.grow(): Maximum memory size exceeded" (libp2p/js-libp2p#3585). @noble/ciphers' xsalsa20 is
// plain JS with no shared state; we run it over bounded windows so one huge message never allocates a huge buffer.
import { xsalsa20 } from '@noble/ciphers/salsa.js'
import { InvalidParametersError } from '@libp2p/interface'
import type { AbortOptions, ConnectionProtector, MultiaddrConnection } from '@libp2p/interface'
import { AbstractMultiaddrConnection, byteStream } from '@libp2p/utils'
import type { MessageStreamInit, SendResult } from '@libp2p/utils'
import { Uint8ArrayList } from 'uint8arraylist'
import { invariant } from '../errors.js'

/** Bytes of the nonce each side sends first. */
export const PNET_NONCE_BYTES = 24
/** Bytes of the pre-shared key. */
export const PNET_KEY_BYTES = 32
/** Salsa20 works in 64-byte blocks; the block counter positions the keystream. */
const BLOCK = 64
/** Largest slice XORed at once (bounds the scratch buffer a huge message would need). */
export const PNET_WINDOW_BYTES = 256 * 1024
/** How long the nonce exchange may take by default (ms). */
const DEFAULT_HANDSHAKE_MS = 1000

/** One direction's keystream: XSalsa20(key, nonce) consumed from byte `position` on. */
export class KeystreamXor {
  private position = 0

  constructor (private readonly key: Uint8Array, private readonly nonce: Uint8Array) {
    invariant(key.byteLength === PNET_KEY_BYTES, `pnet key must be ${PNET_KEY_BYTES} bytes`)
    invariant(nonce.byteLength === PNET_NONCE_BYTES, `pnet nonce must be ${PNET_NONCE_BYTES} bytes`)
  }

  /** XORs `data` with the next data.byteLength bytes of the keystream (a new array; `data` is not changed). */
  update (data: Uint8Array): Uint8Array {
    const out = new Uint8Array(data.byteLength)
    for (let off = 0; off < data.byteLength; off += PNET_WINDOW_BYTES) {
      const part = data.subarray(off, Math.min(off + PNET_WINDOW_BYTES, data.byteLength))
      // Start at the block holding `position`; the bytes of that block already used are padding here.
      const skip = this.position % BLOCK
      const scratch = new Uint8Array(skip + part.byteLength)
      scratch.set(part, skip)
      xsalsa20(this.key, this.nonce, scratch, scratch, Math.floor(this.position / BLOCK))
      out.set(scratch.subarray(skip), off)
      this.position += part.byteLength
    }
    return out
  }
}

/** Reads the 32-byte key out of the pnet key file format ("/key/swarm/psk/1.0.0/\n/base16/\n<64 hex>"). */
export function decodePnetKey (psk: Uint8Array): Uint8Array {
  const lines = new TextDecoder().decode(psk).split(/\r\n|\r|\n/)
  const hex = lines[2] ?? ''
  if (lines[0] !== '/key/swarm/psk/1.0.0/' || lines[1] !== '/base16/' || !/^[0-9a-fA-F]{64}$/.test(hex)) {
    throw new InvalidParametersError('invalid pre-shared key: expected the /key/swarm/psk/1.0.0/ base16 format with 32 bytes')
  }
  return Uint8Array.from(Buffer.from(hex, 'hex'))
}

interface BoxInit extends MessageStreamInit {
  maConn: MultiaddrConnection
  key: Uint8Array
  localNonce: Uint8Array
  remoteNonce: Uint8Array
}

/** A connection whose bytes are XORed with the two keystreams (inbound: the remote nonce; outbound: ours). */
class PnetConnection extends AbstractMultiaddrConnection {
  private readonly maConn: MultiaddrConnection
  private readonly inbound: KeystreamXor
  private readonly outbound: KeystreamXor

  constructor (init: BoxInit) {
    super({ ...init, remoteAddr: init.maConn.remoteAddr, direction: init.maConn.direction })
    this.maConn = init.maConn
    this.inbound = new KeystreamXor(init.key, init.remoteNonce)
    this.outbound = new KeystreamXor(init.key, init.localNonce)
    this.maConn.addEventListener('message', (evt) => {
      const data = evt.data
      if (data instanceof Uint8Array) this.onData(this.inbound.update(data))
      else for (const buf of data) this.onData(this.inbound.update(buf))
    })
    this.maConn.addEventListener('drain', () => { this.onMuxerDrain() })
    this.maConn.addEventListener('close', (evt) => {
      if (evt.error == null) this.onTransportClosed()
      else if (evt.local) this.abort(evt.error)
      else this.onRemoteReset()
    })
  }

  async sendClose (options?: AbortOptions): Promise<void> {
    await this.maConn.close(options)
  }

  sendData (data: Uint8ArrayList): SendResult {
    return { sentBytes: data.byteLength, canSendMore: this.maConn.send(this.outbound.update(data.subarray())) }
  }

  sendReset (err: Error): void {
    this.maConn.abort(err)
  }

  sendPause (): void {
    this.maConn.pause()
  }

  sendResume (): void {
    this.maConn.resume()
  }
}

class PnetProtector implements ConnectionProtector {
  readonly [Symbol.toStringTag] = '@aspen/pnet'
  private readonly key: Uint8Array

  constructor (psk: Uint8Array, private readonly timeoutMs: number) {
    this.key = decodePnetKey(psk)
  }

  async protect (connection: MultiaddrConnection, options?: AbortOptions): Promise<MultiaddrConnection> {
    const log = connection.log.newScope('pnet')
    const localNonce = crypto.getRandomValues(new Uint8Array(PNET_NONCE_BYTES))
    const opts = options ?? { signal: AbortSignal.timeout(this.timeoutMs) }
    const bytes = byteStream(connection)
    const [remote] = await Promise.all([
      bytes.read({ bytes: PNET_NONCE_BYTES, ...opts }),
      bytes.write(localNonce, opts)
    ])
    log('exchanged nonces')
    return new PnetConnection({ key: this.key, localNonce, remoteNonce: remote.subarray(), maConn: bytes.unwrap(), log })
  }
}

/** The connection protector of a private network keyed by `psk` (the pnet key file format). */
export function privateNetwork (init: { psk: Uint8Array, timeoutMs?: number }): () => ConnectionProtector {
  return () => new PnetProtector(init.psk, init.timeoutMs ?? DEFAULT_HANDSHAKE_MS)
}
