// A client call that fails must not settle through promises alone: callers retry writes in plain loops
// (`for (;;) { try { await c.put(...) } catch {} }`), and a failure that never crosses the event loop turns such a
// loop into a livelock that starves every timer and socket of the process — including the dial timeouts that
// would end the failure. Found as a hung "kill under load" test on a loaded machine.
import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { connect } from '../../../src/client/index.js'
import { ClientServer } from '../../../src/p2p/client-transport.js'
import type { AspenHost } from '../../../src/p2p/host.js'
import { addressOf, stopAll, testHost } from './helpers.js'

const COOKIE = 'client-retry-loop-test'

describe('client calls in a retry loop', () => {
  let server: AspenHost
  let cs: ClientServer
  before(async () => {
    server = await testHost(COOKIE)
    cs = new ClientServer({ host: server })
    await cs.start()
  })
  after(async () => { await stopAll(cs, server) })

  it('a failing call settles only after the event loop turned, so a retry loop never starves timers', async () => {
    const a = addressOf(server)
    const c = await connect({ bootstrap: [`${a.addrs[0]}/p2p/${a.peerId}`], cookie: COOKIE, timeoutMs: 2000 })
    await c.close() // every later call fails at once: the client's host is stopped
    let fired = 0
    const timer = setInterval(() => { fired++ }, 1)
    let failures = 0
    const started = performance.now()
    try {
      for (let i = 0; i < 500 && fired === 0; i++) {
        try {
          await c.put('k', 'v', { timeoutMs: 1000 })
        } catch {
          failures++
        }
      }
    } finally {
      clearInterval(timer)
    }
    assert.ok(failures > 0, 'the calls failed')
    assert.ok(fired > 0, `a 1 ms timer never fired during ${failures} failed calls (${(performance.now() - started).toFixed(1)} ms)`)
  })
})
