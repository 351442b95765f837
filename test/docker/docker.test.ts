// End to end: the Docker image and both compose demos, run for real against a private dockerd (own network
// namespace, own data root; see scripts/docker/). The LAN demo: three nodes form a cluster through the one-shot
// init service, writes survive `restart` and `down`/`up`, a stopped node catches up, the joiner joins with the
// cookie and one bootstrap address, `down -v` removes the data. The NAT demo: nodes behind two NAT routers that
// cannot reach each other form one cluster through the relay. Skipped, with the reason printed, only where
// Docker cannot run at all (not Linux, not root, packages not installable).
import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import {
  ComposeProject, DOCKER_DIR, dockerUnavailableReason, PrivateDocker, REPO_ROOT, run, waitFor
} from './docker-harness.js'

/** The parts of `aspen cluster status --json` these tests read. */
interface Status {
  nodeId: number
  peerId: string
  role: string
  leaderId: number | null
  appliedIndex: number
  membership: { voters: number[], learners: number[], votersOutgoing: number[] }
  members: Array<{ nodeId: number, reachable: boolean }>
}

const IMAGE = 'aspen-ts:local'
/** Forming a cluster or coming back from a restart, on a loaded 2-core machine. */
const CLUSTER_DEADLINE_MS = 240_000
const STEP_DEADLINE_MS = 120_000

const reason = await dockerUnavailableReason()
if (reason !== undefined) console.log(`# docker tests skipped: ${reason}`)

async function status (p: ComposeProject, service: string): Promise<Status> {
  return JSON.parse(await p.aspen(service, ['cluster', 'status', '--json', '--timeout', '5000'])) as Status
}

const sorted = (xs: readonly number[]): number[] => [...xs].sort((a, b) => a - b)

/** Waits until every service reports `voters`, no change in progress, and one leader they all agree on. */
async function clusterAgrees (p: ComposeProject, services: readonly string[], voters: readonly number[]): Promise<Status[]> {
  return await waitFor(`${services.join(', ')} to agree on voters ${voters.join(',')} and one leader`, CLUSTER_DEADLINE_MS, async () => {
    const all = await Promise.all(services.map(async (s) => await status(p, s)))
    const leader = all[0].leaderId
    const ok = leader !== null && all.every((s) =>
      s.leaderId === leader && s.membership.votersOutgoing.length === 0 &&
      JSON.stringify(sorted(s.membership.voters)) === JSON.stringify(sorted(voters)))
    return ok ? all : undefined
  })
}

/** Reads `key` through `service` until it returns `want` (stale reads: the node's own applied state). */
async function eventuallyReads (p: ComposeProject, service: string, key: string, want: string, consistency = 'stale'): Promise<void> {
  await waitFor(`${service} to read ${key}=${want} (${consistency})`, STEP_DEADLINE_MS, async () => {
    const r = await p.exec(service, ['aspen', 'kv', 'get', key, '--consistency', consistency, '--timeout', '5000'])
    return r.code === 0 && r.stdout === want ? true : undefined
  })
}

async function put (p: ComposeProject, service: string, key: string, value: string): Promise<void> {
  await waitFor(`${service} to accept put ${key}`, STEP_DEADLINE_MS, async () => {
    const r = await p.exec(service, ['aspen', 'kv', 'put', key, value, '--timeout', '5000'])
    return r.code === 0 ? true : undefined
  })
}

async function get (p: ComposeProject, service: string, key: string): Promise<string> {
  return await p.aspen(service, ['kv', 'get', key, '--timeout', '5000'])
}

/** Runs a one-shot setup service's check: it must have exited 0; its log goes into the failure message. */
async function assertSetupSucceeded (p: ComposeProject, service: string): Promise<void> {
  const code = await p.waitExited(service, CLUSTER_DEADLINE_MS)
  const log = await p.logs(service)
  assert.equal(code, 0, `${service} exited with ${code}:\n${log}`)
  // What the setup waited for, step by step: worth seeing when forming a cluster is slow.
  for (const line of log.split('\n')) if (line.includes('cluster-setup:')) console.log(`# ${p.project} ${line.replace(/^.*?\| /, '')}`)
}

async function containerExitCode (p: ComposeProject, service: string): Promise<number> {
  const id = await p.containerId(service)
  assert.ok(id !== undefined, `${service} has a container`)
  return Number((await p.docker.docker(['inspect', '--format', '{{.State.ExitCode}}', id])).trim())
}

async function projectVolumes (p: ComposeProject): Promise<string[]> {
  const out = await p.docker.docker(['volume', 'ls', '-q', '--filter', `label=com.docker.compose.project=${p.project}`])
  return out.split('\n').filter((s) => s !== '').sort()
}

describe('docker demos', { skip: reason ?? false, timeout: 60 * 60_000 }, () => {
  let docker: PrivateDocker | undefined
  const projects: ComposeProject[] = []
  const d = (): PrivateDocker => {
    assert.ok(docker !== undefined, 'dockerd started')
    return docker
  }

  before(async () => {
    docker = await PrivateDocker.start()
    await docker.buildBaseImages()
  })
  after(async () => {
    for (const p of projects) await p.down(true)
    await docker?.stop()
  })

  describe('LAN demo (docker/docker-compose.yml)', () => {
    let lan: ComposeProject
    let joiner: ComposeProject
    const peerIds = new Map<number, string>()

    before(() => {
      lan = new ComposeProject(d(), join(DOCKER_DIR, 'docker-compose.yml'), 'aspen-e2e-lan')
      joiner = new ComposeProject(d(), join(DOCKER_DIR, 'docker-compose.yml'), 'aspen-e2e-lan', ['joiner'])
      projects.push(joiner)
    })

    it('builds an image that runs aspen on Node 24 as a non-root user with only production dependencies', async () => {
      const started = Date.now()
      await lan.must(['build'], 20 * 60_000)
      console.log(`# image build: ${((Date.now() - started) / 1000).toFixed(1)} s`)
      const cfg = JSON.parse(await d().docker(['image', 'inspect', '--format', '{{json .Config}}', IMAGE])) as {
        User: string, Volumes: Record<string, unknown>, Entrypoint: string[], Healthcheck?: { Test: string[] }
      }
      assert.equal(cfg.User, 'aspen')
      assert.ok('/data' in cfg.Volumes, 'VOLUME /data')
      assert.deepEqual(cfg.Entrypoint, ['docker-entrypoint.sh'])
      assert.ok(cfg.Healthcheck?.Test.join(' ').includes('healthcheck.mjs'), 'HEALTHCHECK probes /healthz')

      const version = (JSON.parse(readFileSync(join(REPO_ROOT, 'package.json'), 'utf8')) as { version: string }).version
      assert.equal((await d().docker(['run', '--rm', IMAGE, '--version'])).trim(), version)
      const who = await d().docker(['run', '--rm', '--entrypoint', 'sh', IMAGE, '-c',
        'id -u; node --version; test -d /app/node_modules/libp2p && echo prod-deps; ' +
        'test -e /app/node_modules/typescript || test -e /app/node_modules/eslint || test -e /app/node_modules/fast-check || echo no-dev-deps'])
      const [uid, nodeVersion, prod, noDev] = who.trim().split('\n')
      assert.equal(uid, '10001')
      assert.match(nodeVersion, /^v24\./)
      assert.equal(prod, 'prod-deps')
      assert.equal(noDev, 'no-dev-deps')
      // The LevelDB binding is a native prebuild: it must load and work on the image's glibc.
      const smoke = await d().docker(['run', '--rm', '--entrypoint', 'node', '-w', '/app', IMAGE, '-e',
        "const { ClassicLevel } = require('classic-level'); const db = new ClassicLevel('/tmp/smoke');" +
        "db.put('k', 'v').then(() => db.get('k')).then(async (v) => { await db.close(); console.log('leveldb:' + v) })"])
      assert.equal(smoke.trim(), 'leveldb:v')
    })

    it('three nodes form one cluster through the one-shot init service', async () => {
      const started = Date.now()
      await lan.must(['up', '-d'], 10 * 60_000)
      console.log(`# LAN up -d: ${((Date.now() - started) / 1000).toFixed(1)} s`)
      await assertSetupSucceeded(lan, 'init')
      const all = await clusterAgrees(lan, ['node1', 'node2', 'node3'], [1, 2, 3])
      console.log(`# LAN cluster formed: ${((Date.now() - started) / 1000).toFixed(1)} s after up`)
      for (const s of all) peerIds.set(s.nodeId, s.peerId)
      assert.deepEqual(sorted([...peerIds.keys()]), [1, 2, 3])
      assert.equal(new Set(peerIds.values()).size, 3, 'three distinct peer ids')
    })

    it('a write through any node is read back through every node', async () => {
      // First as the walk-through does it (docker-compose exec), then through the quicker docker exec.
      await waitFor('put greeting via docker-compose exec node2', STEP_DEADLINE_MS, async () =>
        (await lan.composeExec('node2', ['aspen', 'kv', 'put', 'greeting', 'hello from node2'])).code === 0 ? true : undefined)
      assert.equal((await lan.composeExec('node3', ['aspen', 'kv', 'get', 'greeting'])).stdout, 'hello from node2')
      await put(lan, 'node3', 'answer', '42')
      for (const node of ['node1', 'node2', 'node3']) {
        assert.equal(await get(lan, node, 'greeting'), 'hello from node2')
        assert.equal(await get(lan, node, 'answer'), '42')
      }
    })

    it('writes survive `docker-compose restart`, and nodes keep their identities', async () => {
      const started = Date.now()
      await lan.must(['restart'], 5 * 60_000)
      console.log(`# LAN restart: ${((Date.now() - started) / 1000).toFixed(1)} s`)
      const all = await clusterAgrees(lan, ['node1', 'node2', 'node3'], [1, 2, 3])
      for (const s of all) assert.equal(s.peerId, peerIds.get(s.nodeId), `node ${s.nodeId} kept its peer id`)
      assert.equal(await get(lan, 'node1', 'greeting'), 'hello from node2')
      assert.equal(await get(lan, 'node3', 'answer'), '42')
    })

    it('a node stops gracefully on SIGTERM, misses writes while down and catches up when started', async () => {
      const started = Date.now()
      await lan.must(['stop', 'node3'], 120_000)
      const stopS = (Date.now() - started) / 1000
      console.log(`# LAN stop node3: ${stopS.toFixed(1)} s`)
      // 0, not 137: docker-init forwarded SIGTERM and aspen shut down cleanly before the 10 s kill.
      assert.equal(await containerExitCode(lan, 'node3'), 0)
      await put(lan, 'node1', 'while-node3-was-down', 'still a quorum')
      await lan.must(['start', 'node3'], 120_000)
      await eventuallyReads(lan, 'node3', 'while-node3-was-down', 'still a quorum')
    })

    it('data and identities survive `down` (volumes kept) and `up`', async () => {
      for (let i = 0; i < 5; i++) await put(lan, `node${1 + (i % 3)}`, `batch/${i}`, `value ${i}`)
      let started = Date.now()
      await lan.must(['down'], 5 * 60_000)
      console.log(`# LAN down: ${((Date.now() - started) / 1000).toFixed(1)} s`)
      const volumes = await projectVolumes(lan)
      for (const n of [1, 2, 3]) assert.ok(volumes.includes(`aspen-e2e-lan_node${n}-data`), `volume of node${n} kept: ${volumes.join(', ')}`)
      assert.equal((await lan.must(['ps', '-q'], 60_000)).trim(), '', 'no containers left after down')

      started = Date.now()
      await lan.must(['up', '-d'], 10 * 60_000)
      console.log(`# LAN up -d again: ${((Date.now() - started) / 1000).toFixed(1)} s`)
      // The init service runs again on every up and must find nothing to do.
      await assertSetupSucceeded(lan, 'init')
      const all = await clusterAgrees(lan, ['node1', 'node2', 'node3'], [1, 2, 3])
      for (const s of all) assert.equal(s.peerId, peerIds.get(s.nodeId), `node ${s.nodeId} kept its peer id`)
      assert.equal(await get(lan, 'node2', 'greeting'), 'hello from node2')
      assert.equal(await get(lan, 'node1', 'while-node3-was-down'), 'still a quorum')
      for (let i = 0; i < 5; i++) assert.equal(await get(lan, `node${1 + ((i + 1) % 3)}`, `batch/${i}`), `value ${i}`)
    })

    it('the joiner joins the running cluster with only the cookie and one bootstrap address', async () => {
      await joiner.must(['up', '-d', 'node4', 'join'], 10 * 60_000)
      await assertSetupSucceeded(joiner, 'join')
      await clusterAgrees(joiner, ['node1', 'node2', 'node3', 'node4'], [1, 2, 3, 4])
      await eventuallyReads(joiner, 'node4', 'greeting', 'hello from node2')
      await put(joiner, 'node4', 'from-the-joiner', 'hi')
      assert.equal(await get(joiner, 'node1', 'from-the-joiner'), 'hi')
    })

    it('`down -v` removes the containers and the volumes', async () => {
      const started = Date.now()
      const r = await joiner.down(true)
      console.log(`# LAN down -v: ${((Date.now() - started) / 1000).toFixed(1)} s`)
      assert.equal(r.code, 0, r.stderr)
      assert.deepEqual(await projectVolumes(lan), [])
    })
  })

  describe('NAT demo (docker/docker-compose.nat.yml)', () => {
    let nat: ComposeProject
    before(() => {
      nat = new ComposeProject(d(), join(DOCKER_DIR, 'docker-compose.nat.yml'), 'aspen-e2e-nat')
      projects.push(nat)
    })

    it('the private networks are behind NAT: out to the public side works, across or in does not', async () => {
      // The image from the LAN demo is reused; only the routers and relay network are new.
      const started = Date.now()
      await nat.must(['up', '-d'], 10 * 60_000)
      console.log(`# NAT up -d: ${((Date.now() - started) / 1000).toFixed(1)} s`)
      const tcp = async (service: string, hostPort: string): Promise<number> =>
        (await nat.exec(service, ['timeout', '5', 'bash', '-c', `exec 3<>/dev/tcp/${hostPort.replace(':', '/')}`])).code
      assert.equal(await tcp('node1-net', '172.31.0.10:4001'), 0, 'node1 reaches the relay through router-a')
      assert.equal(await tcp('node3-net', '172.31.0.10:4001'), 0, 'node3 reaches the relay through router-b')
      assert.notEqual(await tcp('node1-net', '10.10.2.11:4001'), 0, 'node1 cannot reach node3 directly')
      assert.notEqual(await tcp('node3-net', '10.10.1.11:4001'), 0, 'node3 cannot reach node1 directly')
      assert.notEqual(await tcp('relay-net', '10.10.1.11:4001'), 0, 'the relay cannot reach into lan-a')
      const rules = (await nat.exec('router-a', ['nft', 'list', 'table', 'ip', 'aspen_nat'])).stdout
      const packets = Number(/counter packets (\d+) bytes \d+ masquerade/.exec(rules)?.[1] ?? '0')
      assert.ok(packets > 0, `router-a masqueraded traffic (${rules.trim()})`)
    })

    it('nodes on both private networks form one cluster through the relay', async () => {
      await assertSetupSucceeded(nat, 'init')
      const all = await clusterAgrees(nat, ['node1', 'node2', 'node3'], [1, 2, 3])
      const leader = all[0].leaderId
      const fromLeader = all.find((s) => s.nodeId === leader)
      assert.ok(fromLeader !== undefined, `the leader (node ${leader}) is one of the three`)
      assert.deepEqual(fromLeader.members.filter((m) => !m.reachable).map((m) => m.nodeId), [], 'the leader reaches every member')
    })

    it('a write behind one NAT is read behind the other', async () => {
      await put(nat, 'node3', 'written-in-lan-b', 'crossed the relay')
      assert.equal(await get(nat, 'node1', 'written-in-lan-b'), 'crossed the relay')
      await put(nat, 'node1', 'written-in-lan-a', 'and back')
      await eventuallyReads(nat, 'node3', 'written-in-lan-a', 'and back')
      assert.equal(await get(nat, 'node2', 'written-in-lan-b'), 'crossed the relay')
    })

    it('`down -v` tears the NAT demo down', async () => {
      const started = Date.now()
      const r = await nat.down(true)
      console.log(`# NAT down -v: ${((Date.now() - started) / 1000).toFixed(1)} s`)
      assert.equal(r.code, 0, r.stderr)
      assert.deepEqual(await projectVolumes(nat), [])
      const left = await run('docker', ['ps', '-aq'], { env: d().env, timeoutMs: 30_000 })
      assert.equal(left.stdout.trim(), '', 'no containers left')
    })
  })
})
