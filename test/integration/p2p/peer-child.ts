// A p2p node in its own process for the process-level tests (SIGSTOP/SIGCONT, SIGKILL + restart). It answers every
// Raft message with a heartbeatResp carrying the same context, and echoes client requests. Config comes as JSON in
// argv[2]; it prints "READY <json>" once listening and stops cleanly on SIGTERM.
import { startP2PNode } from '../../../src/p2p/p2p-node.js'
import { MemoryRegistry } from '../../../src/p2p/registry.js'

interface ChildConfig {
  dataDir: string
  cookie: string
  nodeId: number
  bootstrap: string[]
}

const cfg = JSON.parse(process.argv[2] ?? '{}') as ChildConfig
const registry = new MemoryRegistry()
const node = await startP2PNode({
  dataDir: cfg.dataDir,
  cookie: cfg.cookie,
  nodeId: cfg.nodeId,
  listen: ['/ip4/127.0.0.1/tcp/0'],
  bootstrap: cfg.bootstrap,
  registry,
  resolvePeer: (id) => registry.resolve(id),
  authorize: (peerId) => {
    const id = registry.nodeIdOf(peerId)
    return id === undefined ? { kind: 'allow' } : { kind: 'allow', nodeId: id }
  },
  autonat: false,
  dialTimeoutMs: 2000
})
node.raft.onMessage((msgs) => {
  for (const m of msgs) {
    node.raft.send(m.from, [{ ...m, type: 'heartbeatResp', to: m.from, from: cfg.nodeId, entries: [] }])
  }
})
node.clientServer.setHandler(async (call) => ({ body: call.body }))
process.stdout.write(`READY ${JSON.stringify({ peerId: node.peerId, addrs: node.addrs(), created: node.identity.created })}\n`)
process.on('SIGTERM', () => {
  void node.stop().finally(() => process.exit(0))
})
