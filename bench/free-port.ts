// Free loopback ports for benchmark servers.
import { createServer } from 'node:net'

/** A free TCP port on 127.0.0.1 (bound and released; the server under test takes it right after). */
export async function freePort (): Promise<number> {
  return await new Promise((resolve, reject) => {
    const s = createServer()
    s.once('error', reject)
    s.listen(0, '127.0.0.1', () => {
      const a = s.address()
      const port = typeof a === 'object' && a !== null ? a.port : 0
      s.close(() => { resolve(port) })
    })
  })
}
