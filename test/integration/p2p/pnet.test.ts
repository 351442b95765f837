// Protected connections carry data intact over successive connections and one large transfer (with @libp2p/pnet
// 3.0.27 the shared xsalsa20 WASM memory grew with every cipher that met a grown memory until a node died with
// "WebAssembly.Memory.grow(): Maximum memory size exceeded"; our protector keeps no shared state).
import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { createHash } from 'node:crypto'
import type { AspenHost } from '../../../src/p2p/host.js'
import { stopAll, testHost, waitFor } from './helpers.js'

const COOKIE = 'pnet-integration-test'
const PROTOCOL = '/aspen-test/blob/1.0.0'
const sha = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex')

describe('private network connections', () => {
  let a: AspenHost
  let b: AspenHost
  const received: string[] = []
  before(async () => {
    a = await testHost(COOKIE)
    b = await testHost(COOKIE)
    await b.handle(PROTOCOL, async (stream) => {
      const h = createHash('sha256')
      for await (const chunk of stream) h.update(chunk.subarray())
      received.push(h.digest('hex'))
    })
  })
  after(async () => { await stopAll(a, b) })

  it('carry blobs on successive streams, then 16 MiB on one, intact', async () => {
    for (let i = 0; i < 5; i++) {
      const s = await a.dialProtocol(b.getMultiaddrs(), PROTOCOL)
      const blob = new Uint8Array(64 * 1024 + i).fill(i)
      s.send(blob)
      await s.close()
      const want = sha(blob)
      await waitFor(() => received.includes(want), 10_000, `blob ${i}`)
    }
    const big = new Uint8Array(16 * 1024 * 1024)
    for (let i = 0; i < big.length; i += 4096) big[i] = (i / 4096) & 0xff
    const s = await a.dialProtocol(b.getMultiaddrs(), PROTOCOL)
    for (let off = 0; off < big.length; off += 1024 * 1024) {
      if (!s.send(big.subarray(off, off + 1024 * 1024))) await new Promise((resolve) => s.addEventListener('drain', resolve, { once: true }))
    }
    await s.close()
    const want = sha(big)
    await waitFor(() => received.includes(want), 60_000, 'the 16 MiB blob')
    assert.ok(received.includes(want))
  })
})
