// The operator's HTTP endpoints: /healthz, /readyz, /status (JSON) and /metrics (Prometheus).
// Bound to 127.0.0.1 by default; it exposes no secrets and accepts no writes.
import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'

/** What the HTTP server asks of the node; kept small so the node stays the only owner of its state. */
export interface HttpBackend {
  /** Process is up and its event loop turns. */
  healthy(): boolean
  /** Has a leader and has applied what was committed when it started. */
  ready(): boolean
  status(): unknown
  metrics(): Promise<{ contentType: string, body: string }>
}

export interface HttpHandle {
  address: string
  close(): Promise<void>
}

/** Parses "host:port" (port 0 = any free port). */
export function parseHttpAddress (addr: string): { host: string, port: number } {
  const i = addr.lastIndexOf(':')
  const host = i > 0 ? addr.slice(0, i).replace(/^\[|\]$/g, '') : '127.0.0.1'
  const port = Number(i >= 0 ? addr.slice(i + 1) : addr)
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new RangeError(`invalid http address "${addr}": expected host:port`)
  return { host, port }
}

/** Starts the HTTP server on `addr` and resolves once it listens. */
export async function startHttp (addr: string, backend: HttpBackend): Promise<HttpHandle> {
  const { host, port } = parseHttpAddress(addr)
  const server: Server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0]
    const send = (code: number, type: string, body: string): void => {
      res.writeHead(code, { 'content-type': type, 'cache-control': 'no-store' })
      res.end(body)
    }
    if (req.method !== 'GET' && req.method !== 'HEAD') { send(405, 'text/plain', 'method not allowed\n'); return }
    switch (path) {
      case '/healthz': send(backend.healthy() ? 200 : 503, 'text/plain', backend.healthy() ? 'ok\n' : 'unhealthy\n'); return
      case '/readyz': { const ok = backend.ready(); send(ok ? 200 : 503, 'text/plain', ok ? 'ready\n' : 'not ready\n'); return }
      case '/status': send(200, 'application/json', JSON.stringify(backend.status(), null, 2) + '\n'); return
      case '/metrics':
        backend.metrics().then(
          m => send(200, m.contentType, m.body),
          (err: unknown) => send(500, 'text/plain', `metrics failed: ${err instanceof Error ? err.message : String(err)}\n`)
        )
        return
      default: send(404, 'text/plain', 'not found: try /healthz /readyz /status /metrics\n')
    }
  })
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(port, host, () => { server.off('error', reject); resolve() })
  })
  const a = server.address() as AddressInfo
  return {
    address: `${a.family === 'IPv6' ? `[${a.address}]` : a.address}:${a.port}`,
    close: async () => { server.closeAllConnections(); await new Promise<void>(resolve => server.close(() => resolve())) }
  }
}
