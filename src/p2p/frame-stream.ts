// Reads length-prefixed frames from a libp2p 3 stream through its 'message' events (no unbounded async-iterator
// buffering) and reports the end of the stream exactly once. A frame that is too large or that the handler
// rejects as undecodable aborts the stream: a byte stream cannot be resynchronised.
import type { Stream } from '@libp2p/interface'
import type { StreamCloseEvent, StreamMessageEvent } from '@libp2p/interface'
import { FrameDecoder } from './frame.js'
import { ConnectionClosedError, FrameDecodeError, FrameTooLargeError } from './errors.js'

export interface FrameReaderHandlers {
  /** One complete payload; may throw FrameDecodeError to reject it (the stream is then aborted). */
  onFrame (payload: Uint8Array, wireBytes: number): void
  /** A framing or decoding error; the stream is aborted right after. */
  onProtocolError (err: FrameDecodeError | FrameTooLargeError): void
  /** The stream ended (gracefully: `err` undefined) or broke; called once. */
  onEnd (err?: Error): void
}

/** Attaches a frame reader to `stream`; returns a function that detaches it. */
export function attachFrameReader (stream: Stream, maxFrameBytes: number, h: FrameReaderHandlers): () => void {
  const decoder = new FrameDecoder(maxFrameBytes)
  let ended = false
  const end = (err?: Error): void => {
    if (ended) return
    ended = true
    detach()
    h.onEnd(err)
  }
  const onMessage = (evt: StreamMessageEvent): void => {
    if (ended) return
    try {
      const before = decoder.buffered + evt.data.byteLength
      const payloads = decoder.push(evt.data)
      let wire = before - decoder.buffered
      for (const p of payloads) {
        // Attribute prefix bytes to the first frame; totals are what matter for metrics.
        h.onFrame(p, wire > 0 ? wire : p.byteLength)
        wire = 0
        if (ended) return
      }
    } catch (e) {
      if (e instanceof FrameDecodeError || e instanceof FrameTooLargeError) {
        h.onProtocolError(e)
        stream.abort(e)
        end(e)
        return
      }
      const err = e instanceof Error ? e : new Error(String(e))
      stream.abort(err)
      end(err)
    }
  }
  const onClose = (evt: StreamCloseEvent): void => { end(evt.error) }
  // 'end' = no more data will be delivered (fires after the last 'message', also when paused data drains). On an
  // abort or reset it comes just before the 'close' event that carries the error, so let that one win.
  const onEndOfData = (): void => { queueMicrotask(() => { end(endError(stream)) }) }
  stream.addEventListener('message', onMessage)
  stream.addEventListener('close', onClose)
  stream.addEventListener('end', onEndOfData)
  function detach (): void {
    stream.removeEventListener('message', onMessage)
    stream.removeEventListener('close', onClose)
    stream.removeEventListener('end', onEndOfData)
  }
  if (stream.readableEnded) onEndOfData()
  return () => {
    ended = true
    detach()
  }
}

function endError (stream: Stream): Error | undefined {
  return stream.status === 'aborted' || stream.status === 'reset' ? new ConnectionClosedError(`stream ${stream.status}`) : undefined
}
