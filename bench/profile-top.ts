// Prints the top of a V8 .cpuprofile (from `node --cpu-prof`): self time per function and per package/file, so
// the hot spots of the write path can be named. Usage: node dist/bench/profile-top.js FILE.cpuprofile [--top N]
import { readFileSync } from 'node:fs'

interface ProfileNode {
  id: number
  callFrame: { functionName: string, url: string, lineNumber: number }
  children?: number[]
}

interface CpuProfile {
  nodes: ProfileNode[]
  samples: number[]
  timeDeltas: number[]
}

/** Where a script URL belongs: a package name, a project folder, or node internals. */
export function ownerOf (url: string): string {
  if (url === '') return '(native/vm)'
  const nm = url.lastIndexOf('node_modules/')
  if (nm >= 0) {
    const rest = url.slice(nm + 'node_modules/'.length).split('/')
    return rest[0].startsWith('@') ? `${rest[0]}/${rest[1]}` : rest[0]
  }
  const m = /\/dist\/(src\/[^/]+\/[^/]+)\.js$/.exec(url) ?? /\/dist\/(src\/[^/]+)\.js$/.exec(url)
  if (m !== null) return m[1] + '.ts'
  if (url.startsWith('node:')) return url
  return url.replace(/^file:\/\//, '')
}

/** Self time (ms) per function and per owner, heaviest first. */
export function summarize (p: CpuProfile): { total: number, byFunction: Array<[string, number]>, byOwner: Array<[string, number]> } {
  const self = new Map<number, number>()
  for (let i = 0; i < p.samples.length; i++) self.set(p.samples[i], (self.get(p.samples[i]) ?? 0) + (p.timeDeltas[i] ?? 0) / 1000)
  const byFn = new Map<string, number>()
  const byOwner = new Map<string, number>()
  let total = 0
  for (const n of p.nodes) {
    const ms = self.get(n.id) ?? 0
    if (ms === 0) continue
    total += ms
    // Idle is its own bucket (never 'native'): percentages elsewhere are of busy time.
    const owner = n.callFrame.functionName === '(idle)' ? '(idle)' : ownerOf(n.callFrame.url)
    const fn = `${n.callFrame.functionName === '' ? '(anonymous)' : n.callFrame.functionName} ${owner}:${n.callFrame.lineNumber + 1}`
    byFn.set(fn, (byFn.get(fn) ?? 0) + ms)
    byOwner.set(owner, (byOwner.get(owner) ?? 0) + ms)
  }
  const sort = (m: Map<string, number>): Array<[string, number]> => [...m.entries()].sort((a, b) => b[1] - a[1])
  return { total, byFunction: sort(byFn), byOwner: sort(byOwner) }
}

function main (): void {
  const file = process.argv[2]
  if (file === undefined) { process.stderr.write('usage: profile-top FILE.cpuprofile [--top N]\n'); process.exitCode = 2; return }
  const i = process.argv.indexOf('--top')
  const top = i > 0 ? Number(process.argv[i + 1]) : 30
  const s = summarize(JSON.parse(readFileSync(file, 'utf8')) as CpuProfile)
  const idle = s.byFunction.find(([f]) => f.startsWith('(idle)'))?.[1] ?? 0
  const busy = s.total - idle
  const pct = (ms: number): string => (100 * ms / busy).toFixed(1).padStart(5) + '%'
  process.stdout.write(`profile ${file}: ${(s.total / 1000).toFixed(1)} s sampled, ${(busy / 1000).toFixed(1)} s busy (percentages of busy time)\n\nself time by package / file:\n`)
  for (const [o, ms] of s.byOwner.filter(([o]) => o !== '(native/vm)' || true).slice(0, top)) if (!o.startsWith('(idle')) process.stdout.write(`${pct(ms)}  ${o}\n`)
  process.stdout.write('\nself time by function:\n')
  for (const [f, ms] of s.byFunction.filter(([f]) => !f.startsWith('(idle)')).slice(0, top)) process.stdout.write(`${pct(ms)}  ${f}\n`)
}

if (process.argv[1]?.endsWith('profile-top.js') === true) main()
