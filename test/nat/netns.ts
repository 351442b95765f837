// The NAT test's network: network namespaces it creates and removes itself. A "public" segment (a bridge in its own
// namespace) joins two relays and the WAN sides of two NAT routers; behind router 1 is LAN 1 (node A and a
// stranger with another cookie), behind router 2 is LAN 2 (node B). The routers masquerade LAN traffic onto the
// public segment and forward nothing unsolicited (forward policy drop + ct established,related accept), like home
// routers. Every address is in 10.77.0.0/16 and lives only inside these namespaces; a blackhole route for that range
// in the host namespace makes sure nothing from the host can leave for it either.
import { execFileSync } from 'node:child_process'
import { AspenError } from '../../src/errors.js'

/** The only range the test uses. */
export const NAT_TEST_RANGE = '10.77.0.0/16'
/** Prefix of every namespace the test creates: `aspen-nat-<pid>-<role>`. */
export const NETNS_PREFIX = 'aspen-nat-'
/** Blackhole routes carry metric BASE + pid, so concurrent runs each own one and stale ones can be found. */
const ROUTE_METRIC_BASE = 0x10000000
/** Upper bound of Linux pids (pid_max can be raised to 2^22). */
const MAX_PID = 1 << 22
/** Deadline of one ip / nft invocation (ms). */
const COMMAND_TIMEOUT_MS = 10_000

export type NamespaceRole = 'pub' | 'relay1' | 'relay2' | 'router1' | 'router2' | 'a' | 'b' | 'stranger'
export const NAMESPACE_ROLES: readonly NamespaceRole[] = ['pub', 'relay1', 'relay2', 'router1', 'router2', 'a', 'b', 'stranger']

/** Where each machine's address is; the routers' LAN-side addresses are the LAN gateways. */
export const NAT_ADDRS = {
  relay1: '10.77.0.10',
  relay2: '10.77.0.11',
  router1Wan: '10.77.0.101',
  router2Wan: '10.77.0.102',
  router1Lan: '10.77.1.1',
  router2Lan: '10.77.2.1',
  a: '10.77.1.10',
  stranger: '10.77.1.20',
  b: '10.77.2.10'
} as const

/** The network could not be built or probed. */
export class TopologyError extends AspenError {
  readonly code = 'NAT_TOPOLOGY'
}

/** One step of building the network: an `ip` command, or an `nft -f -` script run inside a namespace. */
export type TopologyStep =
  | { kind: 'ip', args: string[] }
  | { kind: 'exec', ns: string, args: string[], input?: string }

export interface NatTopology {
  /** Namespace name of each role. */
  readonly ns: Readonly<Record<NamespaceRole, string>>
  /** Metric of this run's blackhole route in the host namespace. */
  readonly routeMetric: number
  /** Kills every process left in the namespaces, deletes them (and so their veths and bridges) and the route. */
  destroy (): void
}

/** The namespace names of the run with process id `pid`. */
export function namespaceNames (pid: number): Record<NamespaceRole, string> {
  const out = {} as Record<NamespaceRole, string>
  for (const role of NAMESPACE_ROLES) out[role] = `${NETNS_PREFIX}${pid}-${role}`
  return out
}

/** The router's nftables ruleset: masquerade onto the WAN, and forward only LAN→WAN plus replies (home NAT). */
export function routerRuleset (lanCidr: string): string {
  // Bridged LAN-to-LAN frames also pass the forward hook (br_netfilter), hence the LAN↔LAN rule.
  return `table ip aspen_nat {
  chain postrouting {
    type nat hook postrouting priority srcnat; policy accept;
    oifname "wan0" masquerade
  }
}
table inet aspen_filter {
  chain forward_chain {
    type filter hook forward priority filter; policy drop;
    ct state established,related accept
    iifname "lan0" oifname "wan0" accept
    ip saddr ${lanCidr} ip daddr ${lanCidr} accept
  }
  chain input_chain {
    type filter hook input priority filter; policy drop;
    ct state established,related accept
    iifname "lo" accept
    iifname "lan0" accept
  }
}
`
}

/** Every step that builds the network of run `pid`, in order (pure: no I/O). */
export function topologySteps (pid: number): TopologyStep[] {
  const ns = namespaceNames(pid)
  const ip = (...args: string[]): TopologyStep => ({ kind: 'ip', args })
  const steps: TopologyStep[] = []
  for (const role of NAMESPACE_ROLES) steps.push(ip('netns', 'add', ns[role]), ip('-n', ns[role], 'link', 'set', 'lo', 'up'))
  steps.push(ip('-n', ns.pub, 'link', 'add', 'br0', 'type', 'bridge'), ip('-n', ns.pub, 'link', 'set', 'br0', 'up'))
  // Veths are created inside the namespaces (never in the host's): no name can clash with the host's interfaces.
  const publicPorts: Array<[NamespaceRole, string, string]> = [
    ['relay1', 'eth0', NAT_ADDRS.relay1], ['relay2', 'eth0', NAT_ADDRS.relay2],
    ['router1', 'wan0', NAT_ADDRS.router1Wan], ['router2', 'wan0', NAT_ADDRS.router2Wan]
  ]
  for (const [role, ifname, addr] of publicPorts) {
    const port = `p-${role}`
    steps.push(
      ip('-n', ns.pub, 'link', 'add', port, 'type', 'veth', 'peer', 'name', ifname, 'netns', ns[role]),
      ip('-n', ns.pub, 'link', 'set', port, 'master', 'br0', 'up'),
      ip('-n', ns[role], 'addr', 'add', `${addr}/24`, 'dev', ifname),
      ip('-n', ns[role], 'link', 'set', ifname, 'up'))
  }
  const lans: Array<{ router: NamespaceRole, gw: string, cidr: string, hosts: Array<[NamespaceRole, string]> }> = [
    { router: 'router1', gw: NAT_ADDRS.router1Lan, cidr: '10.77.1.0/24', hosts: [['a', NAT_ADDRS.a], ['stranger', NAT_ADDRS.stranger]] },
    { router: 'router2', gw: NAT_ADDRS.router2Lan, cidr: '10.77.2.0/24', hosts: [['b', NAT_ADDRS.b]] }
  ]
  for (const lan of lans) {
    const r = ns[lan.router]
    steps.push(
      ip('-n', r, 'link', 'add', 'lan0', 'type', 'bridge'),
      ip('-n', r, 'addr', 'add', `${lan.gw}/24`, 'dev', 'lan0'),
      ip('-n', r, 'link', 'set', 'lan0', 'up'),
      { kind: 'exec', ns: r, args: ['sysctl', '-qw', 'net.ipv4.ip_forward=1'] },
      { kind: 'exec', ns: r, args: ['nft', '-f', '-'], input: routerRuleset(lan.cidr) })
    for (const [role, addr] of lan.hosts) {
      const port = `l-${role}`
      steps.push(
        ip('-n', r, 'link', 'add', port, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', ns[role]),
        ip('-n', r, 'link', 'set', port, 'master', 'lan0', 'up'),
        ip('-n', ns[role], 'addr', 'add', `${addr}/24`, 'dev', 'eth0'),
        ip('-n', ns[role], 'link', 'set', 'eth0', 'up'),
        ip('-n', ns[role], 'route', 'add', 'default', 'via', lan.gw))
    }
  }
  return steps
}

function run (cmd: string, args: string[], input?: string): string {
  try {
    return execFileSync(cmd, args, { input: input ?? '', encoding: 'utf8', stdio: ['pipe', 'pipe', 'pipe'], timeout: COMMAND_TIMEOUT_MS })
  } catch (e) {
    const stderr = (e as { stderr?: unknown }).stderr
    throw new TopologyError(`${cmd} ${args.join(' ')} failed: ${typeof stderr === 'string' && stderr.trim() !== '' ? stderr.trim() : (e as Error).message}`)
  }
}

function runStep (step: TopologyStep): void {
  if (step.kind === 'ip') run('ip', step.args)
  else run('ip', ['netns', 'exec', step.ns, ...step.args], step.input)
}

function listNamespaces (): string[] {
  // Lines look like "name (id: 3)" or "name".
  return run('ip', ['netns', 'list']).split('\n').map((l) => l.trim().split(' ')[0]).filter((n) => n !== '')
}

/** Kills the processes left in one of OUR namespaces (by pid, as `ip netns pids` lists them), then deletes it. */
function removeNamespace (name: string): void {
  if (!name.startsWith(NETNS_PREFIX)) throw new TopologyError(`refusing to remove namespace ${name}: not created by the NAT test`)
  let pids: number[] = []
  try {
    pids = run('ip', ['netns', 'pids', name]).split('\n').map((s) => Number(s.trim())).filter((p) => Number.isSafeInteger(p) && p > 1)
  } catch {
    // already gone
  }
  for (const pid of pids) {
    try {
      process.kill(pid, 'SIGKILL')
    } catch {
      // exited meanwhile
    }
  }
  try {
    run('ip', ['netns', 'del', name])
  } catch {
    // already gone
  }
}

function blackholeMetrics (): number[] {
  return run('ip', ['route', 'show', 'type', 'blackhole', NAT_TEST_RANGE]).split('\n')
    .map((l) => /\bmetric (\d+)/.exec(l)?.[1]).filter((m): m is string => m !== undefined).map(Number)
}

function deleteRoute (metric: number): void {
  try {
    run('ip', ['route', 'del', 'blackhole', NAT_TEST_RANGE, 'metric', String(metric)])
  } catch {
    // already gone
  }
}

function alive (pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM'
  }
}

/** Removes namespaces and routes left by earlier runs whose process no longer exists (e.g. after a SIGKILL). */
export function sweepStaleTopologies (): string[] {
  const removed: string[] = []
  for (const name of listNamespaces()) {
    const m = new RegExp(`^${NETNS_PREFIX}(\\d+)-`).exec(name)
    if (m === null || alive(Number(m[1]))) continue
    removeNamespace(name)
    removed.push(name)
  }
  for (const metric of blackholeMetrics()) {
    const pid = metric - ROUTE_METRIC_BASE
    if (pid <= 0 || pid >= MAX_PID || alive(pid)) continue
    deleteRoute(metric)
    removed.push(`blackhole ${NAT_TEST_RANGE} metric ${metric}`)
  }
  return removed
}

/**
 * Why the NAT test cannot run here (to print with the skip), or undefined when it can: it needs root, `ip netns`
 * and nftables inside a namespace. The probe creates and deletes one namespace of its own.
 */
export function natUnsupportedReason (pid = process.pid): string | undefined {
  if (process.platform !== 'linux') return `network namespaces need Linux (this is ${process.platform})`
  if (process.getuid?.() !== 0) return 'needs root to create network namespaces (run as root, e.g. in the dev VM)'
  try {
    run('ip', ['netns', 'list'])
  } catch (e) {
    return `\`ip netns\` is not usable: ${(e as Error).message}`
  }
  try {
    run('nft', ['--version'])
  } catch {
    return 'nftables (`nft`) is not installed: apt-get install nftables'
  }
  const probe = `${NETNS_PREFIX}${pid}-probe`
  try {
    run('ip', ['netns', 'add', probe])
    run('ip', ['netns', 'exec', probe, 'nft', '-f', '-'], 'table inet aspen_probe { chain c { type filter hook input priority filter; policy accept; }; }\n')
  } catch (e) {
    return `cannot create a network namespace with an nftables ruleset: ${(e as Error).message}`
  } finally {
    removeNamespace(probe)
  }
  return undefined
}

/** Builds the network of this run (`pid`); on any failure removes what it made and throws TopologyError. */
export function buildNatTopology (pid = process.pid): NatTopology {
  const ns = namespaceNames(pid)
  const routeMetric = ROUTE_METRIC_BASE + pid
  let destroyed = false
  const destroy = (): void => {
    if (destroyed) return
    destroyed = true
    // Namespaces first (they own every veth and bridge), the host route last so nothing leaks meanwhile.
    const existing = new Set(listNamespaces())
    for (const role of NAMESPACE_ROLES) if (existing.has(ns[role])) removeNamespace(ns[role])
    deleteRoute(routeMetric)
  }
  try {
    // The blackhole route goes in before any address exists.
    run('ip', ['route', 'add', 'blackhole', NAT_TEST_RANGE, 'metric', String(routeMetric)])
    for (const step of topologySteps(pid)) runStep(step)
  } catch (e) {
    destroy()
    throw e
  }
  return { ns, routeMetric, destroy }
}

/** Namespaces of run `pid` that still exist (the test checks its cleanup with it). */
export function leftoverNamespaces (pid = process.pid): string[] {
  return listNamespaces().filter((n) => n.startsWith(`${NETNS_PREFIX}${pid}-`))
}

/** Whether this run's blackhole route still exists. */
export function routeExists (metric: number): boolean {
  return blackholeMetrics().includes(metric)
}
