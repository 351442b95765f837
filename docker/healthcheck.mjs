// Container health check: GET /healthz on the node's HTTP address, found in DATA_DIR/run/node.json (what the
// running node actually bound), else ASPEN_HTTP, else 127.0.0.1:8080. A wildcard bind address is probed on
// loopback. Exit 0 when the node answers 200 within the deadline, 1 otherwise. Uses node only: the image has no
// curl or wget.
import { request } from 'node:http'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'

const DEADLINE_MS = 2500

function httpAddress () {
  const dataDir = process.env.ASPEN_DATA_DIR || '/data'
  try {
    const info = JSON.parse(readFileSync(join(dataDir, 'run', 'node.json'), 'utf8'))
    if (typeof info.http === 'string' && info.http !== '') return info.http
  } catch {
    // Not written yet (starting) or unreadable: fall back to the configured address.
  }
  const env = process.env.ASPEN_HTTP
  return env && env !== 'off' ? env : '127.0.0.1:8080'
}

const addr = httpAddress()
const i = addr.lastIndexOf(':')
let host = addr.slice(0, i).replace(/^\[|\]$/g, '')
const port = Number(addr.slice(i + 1))
if (host === '0.0.0.0' || host === '') host = '127.0.0.1'
if (host === '::') host = '::1'

const req = request({ host, port, path: '/healthz', method: 'GET', timeout: DEADLINE_MS }, (res) => {
  res.resume()
  process.exit(res.statusCode === 200 ? 0 : 1)
})
req.on('timeout', () => { console.error(`healthz: no answer from ${host}:${port} within ${DEADLINE_MS} ms`); process.exit(1) })
req.on('error', (e) => { console.error(`healthz: ${host}:${port}: ${e.message}`); process.exit(1) })
req.end()
