// The compose demos are valid (`docker-compose config` accepts them) and wired the way the walk-through relies on:
// one shared cookie, unique node ids, bootstrap addresses that point at real services, the setup services in the
// right node's namespace with its volume, the relay's fixed key matching the peer id everybody dials, and NAT
// routers that can forward. No daemon needed. Skipped, with the reason printed, only where docker-compose is
// neither installed nor installable (scripts/docker/install-docker.sh --compose-only installs it as root).
import { before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { join, resolve } from 'node:path'
import { generateKeyPairFromSeed } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'

const REPO_ROOT = resolve(import.meta.dirname, '..', '..', '..', '..')
const DOCKER_DIR = join(REPO_ROOT, 'docker')
const LAN_FILE = join(DOCKER_DIR, 'docker-compose.yml')
const NAT_FILE = join(DOCKER_DIR, 'docker-compose.nat.yml')

interface Service {
  image?: string
  build?: { context: string, dockerfile: string }
  init?: boolean
  environment?: Record<string, string>
  volumes?: Array<string | { source: string, target: string, read_only?: boolean }>
  networks?: Record<string, { ipv4_address?: string } | null>
  network_mode?: string
  depends_on?: Record<string, { condition: string }>
  profiles?: string[]
  entrypoint?: string[]
  command?: string[]
  cap_add?: string[]
  sysctls?: Record<string, string>
  dns_opt?: string[]
}
interface ComposeConfig { services: Record<string, Service>, volumes?: Record<string, unknown> }

/** Environment without the variables the compose files interpolate, so the files' own defaults are checked. */
function cleanEnv (): NodeJS.ProcessEnv {
  const env = { ...process.env }
  for (const k of Object.keys(env)) if (k.startsWith('ASPEN_') || k.startsWith('COMPOSE_') || k === 'BASE_IMAGE') delete env[k]
  return env
}

function composeUnavailableReason (): string | undefined {
  const has = (): boolean => spawnSync('docker-compose', ['version'], { stdio: 'ignore' }).status === 0
  if (has()) return undefined
  const r = spawnSync('bash', [join(REPO_ROOT, 'scripts', 'docker', 'install-docker.sh'), '--compose-only'], { encoding: 'utf8', timeout: 10 * 60_000 })
  if (has()) return undefined
  return `docker-compose is not installed and could not be installed (${(r.stderr ?? '').trim() || `exit ${r.status}`})`
}

/** `docker-compose -f FILE [--profile P] config`, parsed (docker-compose v1 prints YAML; its python3-yaml reads it). */
function composeConfig (file: string, profiles: readonly string[] = []): ComposeConfig {
  const args = ['-f', file, ...profiles.flatMap((p) => ['--profile', p]), 'config']
  const r = spawnSync('docker-compose', args, { encoding: 'utf8', cwd: DOCKER_DIR, env: cleanEnv(), timeout: 60_000 })
  assert.equal(r.status, 0, `docker-compose ${args.join(' ')} rejected ${file}:\n${r.stderr}`)
  const toJson = spawnSync('python3', ['-c', 'import json, sys, yaml; print(json.dumps(yaml.safe_load(sys.stdin)))'],
    { input: r.stdout, encoding: 'utf8', timeout: 30_000 })
  assert.equal(toJson.status, 0, toJson.stderr)
  return JSON.parse(toJson.stdout) as ComposeConfig
}

const env = (s: Service): Record<string, string> => s.environment ?? {}
const volumeAt = (s: Service, target: string): string | undefined => {
  for (const v of s.volumes ?? []) {
    if (typeof v === 'string') { const [src, dst] = v.split(':'); if (dst === target) return src } else if (v.target === target) return v.source
  }
  return undefined
}
const readOnly = (s: Service, target: string): boolean => (s.volumes ?? []).some((v) =>
  typeof v === 'string' ? v.split(':')[1] === target && v.endsWith(':ro') : v.target === target && v.read_only === true)
/** Services that run an Aspen node (the image's default command), keyed by name. */
const nodeServices = (c: ComposeConfig): Array<[string, Service]> =>
  Object.entries(c.services).filter(([, s]) => env(s).ASPEN_NODE_ID !== undefined)
const addrsOf = (list: string | undefined): string[] => (list ?? '').split(',').map((s) => s.trim()).filter((s) => s !== '')
const ipOf = (multiaddr: string): string => {
  const m = /^\/ip4\/([0-9.]+)\/tcp\/4001(?:\/p2p\/\w+)?$/.exec(multiaddr)
  assert.ok(m !== null, `${multiaddr} is /ip4/A.B.C.D/tcp/4001[/p2p/ID]`)
  return m[1]
}

const reason = composeUnavailableReason()
if (reason !== undefined) console.log(`# compose config tests skipped: ${reason}`)

describe('docker-compose files', { skip: reason ?? false }, () => {
  describe('LAN demo (docker/docker-compose.yml)', () => {
    // With the joiner profile, so every service is there (v1 lists profile services anyway, v2 only when asked).
    let all: ComposeConfig
    before(() => { all = composeConfig(LAN_FILE, ['joiner']) })

    it('runs nodes 1, 2 and 3 by default and node 4 only in the joiner profile', () => {
      const ids = (onlyDefault: boolean): number[] => nodeServices(all)
        .filter(([, s]) => !onlyDefault || s.profiles === undefined).map(([, s]) => Number(env(s).ASPEN_NODE_ID)).sort()
      assert.deepEqual(ids(true), [1, 2, 3])
      assert.deepEqual(ids(false), [1, 2, 3, 4])
      assert.equal(all.services.init.profiles, undefined, 'init runs on every plain `up`')
      assert.deepEqual(all.services.node4.profiles, ['joiner'])
      assert.deepEqual(all.services.join.profiles, ['joiner'])
    })

    it('gives every node the same cookie, its own named volume at /data, docker-init and a short DNS timeout', () => {
      const nodes = nodeServices(all)
      const cookies = new Set(nodes.map(([, s]) => env(s).ASPEN_COOKIE))
      assert.equal(cookies.size, 1, 'one cookie for the cluster')
      assert.ok([...cookies][0].length >= 16, 'the cookie is long enough for aspen')
      const volumes = nodes.map(([name, s]) => {
        const v = volumeAt(s, '/data')
        assert.ok(v !== undefined && v in (all.volumes ?? {}), `${name} keeps /data in a named volume`)
        return v
      })
      assert.equal(new Set(volumes).size, nodes.length, 'no two nodes share a volume')
      for (const [name, s] of nodes) {
        assert.equal(s.init, true, `${name}: init: true forwards SIGTERM`)
        assert.deepEqual(s.dns_opt, ['timeout:1', 'attempts:1'], `${name}: dns_opt`)
        assert.match(env(s).ASPEN_HTTP ?? '', /^0\.0\.0\.0:\d+$/, `${name}: /healthz on every interface`)
        assert.equal(env(s).ASPEN_LISTEN, '/ip4/0.0.0.0/tcp/4001')
      }
    })

    it('points every bootstrap address at another node of the demo, and the joiner at exactly one', () => {
      const ipToService = new Map<string, string>()
      for (const [name, s] of nodeServices(all)) {
        const ip = s.networks?.aspen?.ipv4_address
        assert.ok(ip !== undefined, `${name} has a fixed address`)
        ipToService.set(ip, name)
      }
      for (const [name, s] of nodeServices(all)) {
        const boot = addrsOf(env(s).ASPEN_BOOTSTRAP)
        assert.ok(boot.length > 0, `${name} has bootstrap addresses`)
        for (const a of boot) {
          const target = ipToService.get(ipOf(a))
          assert.ok(target !== undefined && target !== name, `${name}: ${a} is another node of the demo`)
          assert.equal(all.services[target].profiles, undefined, `${name} bootstraps from an always-on node`)
        }
      }
      assert.equal(addrsOf(env(all.services.node4).ASPEN_BOOTSTRAP).length, 1)
    })

    it('builds the image from the repository root and runs the setup services on node 1\'s data dir and network', () => {
      const build = all.services.node1.build
      assert.deepEqual(build && { dockerfile: build.dockerfile, context: resolve(DOCKER_DIR, build.context) },
        { dockerfile: 'docker/Dockerfile', context: REPO_ROOT })
      const images = new Set(Object.values(all.services).map((s) => s.image))
      assert.equal(images.size, 1, 'one image for nodes and setup services')
      for (const [name, want] of [['init', { learners: '2,3', voters: '1,2,3' }], ['join', { learners: '4', voters: '4' }]] as const) {
        const s = all.services[name]
        // Not network_mode service:node1: `restart` would restart it while node1's namespace is being replaced.
        assert.equal(s.network_mode, undefined, `${name} has its own network namespace`)
        assert.ok(s.networks?.aspen !== undefined, `${name} is on node1's network`)
        assert.equal(volumeAt(s, '/data'), volumeAt(all.services.node1, '/data'), `${name} sees node1's data dir`)
        assert.ok(readOnly(s, '/data'), `${name} mounts it read-only`)
        assert.equal(s.depends_on?.node1?.condition, 'service_healthy')
        assert.deepEqual(s.entrypoint, ['aspen-cluster-setup'])
        assert.equal(env(s).SETUP_LEARNERS, want.learners)
        assert.equal(env(s).SETUP_VOTERS, want.voters)
      }
    })
  })

  describe('NAT demo (docker/docker-compose.nat.yml)', () => {
    let c: ComposeConfig
    before(() => { c = composeConfig(NAT_FILE) })

    it('derives, from the relay\'s fixed key, the peer id every node reserves a slot on', async () => {
      const relay = c.services.relay
      assert.equal(env(relay).ASPEN_RELAY, '1')
      const key = await generateKeyPairFromSeed('Ed25519', Buffer.from(env(relay).ASPEN_SECRET_KEY, 'hex'))
      const peerId = peerIdFromPrivateKey(key).toString()
      const relayIp = c.services[(relay.network_mode ?? '').replace('service:', '')]?.networks?.public?.ipv4_address
      assert.ok(relayIp !== undefined, 'the relay has a fixed public address')
      for (const [name, s] of nodeServices(c).filter(([n]) => n !== 'relay')) {
        for (const v of ['ASPEN_RELAYS', 'ASPEN_BOOTSTRAP']) {
          assert.deepEqual(addrsOf(env(s)[v]), [`/ip4/${relayIp}/tcp/4001/p2p/${peerId}`], `${name} ${v}`)
        }
      }
    })

    it('puts nodes 1 and 2 behind router-a and node 3 behind router-b, each routed only through its router', () => {
      const lanOf = new Map<string, string>()
      for (const [name, s] of nodeServices(c).filter(([n]) => n !== 'relay')) {
        const holder = c.services[(s.network_mode ?? '').replace('service:', '')]
        assert.ok(holder !== undefined, `${name} runs in a -net container's namespace`)
        const nets = Object.keys(holder.networks ?? {})
        assert.equal(nets.length, 1, `${name} is on exactly one (private) network`)
        lanOf.set(env(s).ASPEN_NODE_ID, nets[0])
        const router = Object.values(c.services).find((r) => r.sysctls?.['net.ipv4.ip_forward'] === '1' && r.networks?.[nets[0]] !== undefined)
        assert.ok(router !== undefined, `a router serves ${nets[0]}`)
        const gw = router.networks?.[nets[0]]?.ipv4_address
        assert.ok(gw !== undefined)
        assert.ok((holder.command ?? []).join(' ').includes(`ip route replace default via ${gw}`), `${name} routes via its router ${gw}`)
        assert.deepEqual(holder.cap_add, ['NET_ADMIN'])
      }
      assert.equal(lanOf.get('1'), lanOf.get('2'))
      assert.notEqual(lanOf.get('1'), lanOf.get('3'))
    })

    it('gives the routers NET_ADMIN, forwarding, a masquerade rule and both networks', () => {
      for (const name of ['router-a', 'router-b']) {
        const r = c.services[name]
        assert.deepEqual(r.cap_add, ['NET_ADMIN'])
        assert.equal(r.sysctls?.['net.ipv4.ip_forward'], '1')
        assert.ok(Object.keys(r.networks ?? {}).includes('public'), `${name} is on the public network`)
        assert.equal(Object.keys(r.networks ?? {}).length, 2)
        const script = (r.command ?? []).join('\n')
        assert.match(script, /masquerade/)
        assert.match(script, /policy drop/)
      }
    })

    it('forms the cluster with the init service next to node 1 and keeps the relay out of it', () => {
      const init = c.services.init
      const node1Lan = Object.keys(c.services[(c.services.node1.network_mode ?? '').replace('service:', '')]?.networks ?? {})
      assert.deepEqual(Object.keys(init.networks ?? {}), node1Lan, 'init is on node1\'s private network')
      assert.equal(volumeAt(init, '/data'), volumeAt(c.services.node1, '/data'))
      assert.ok(readOnly(init, '/data'))
      assert.equal(env(init).SETUP_VOTERS, '1,2,3')
      assert.ok(!addrsOf(env(init).SETUP_VOTERS).includes(env(c.services.relay).ASPEN_NODE_ID))
      const cookies = new Set(nodeServices(c).map(([, s]) => env(s).ASPEN_COOKIE))
      assert.equal(cookies.size, 1, 'relay and nodes share the cookie (pnet)')
    })
  })
})
