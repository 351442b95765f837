#!/usr/bin/env node
// Runs a named suite with node's test runner over the compiled tests (dist/).
// fast   = what `npm test` runs (unit, sim, integration, nat when allowed)
// extra  = the long suites (`npm run test:extra`): long chaos, big snapshots, then the docker demos
// docker = only the compose demos against a private dockerd (`npm run test:docker`)
// The long suites run one file at a time: each loads both cores on its own, and a chaos run sharing them with
// an image build would measure the machine, not the cluster.
import { spawnSync } from 'node:child_process'
import { existsSync, readdirSync, statSync } from 'node:fs'
import { join } from 'node:path'

const suites = {
  fast: ['dist/test/unit', 'dist/test/sim', 'dist/test/integration', 'dist/test/nat'],
  extra: ['dist/test/extra', 'dist/test/docker'],
  docker: ['dist/test/docker']
}
const name = process.argv[2] ?? 'fast'
const dirs = suites[name]
if (dirs === undefined) {
  console.error(`unknown suite "${name}"; use one of: ${Object.keys(suites).join(', ')}`)
  process.exit(2)
}

function testFiles (dir) {
  if (!existsSync(dir)) return []
  const out = []
  for (const entry of readdirSync(dir)) {
    const p = join(dir, entry)
    if (statSync(p).isDirectory()) out.push(...testFiles(p))
    else if (p.endsWith('.test.js')) out.push(p)
  }
  return out.sort()
}

const files = dirs.flatMap(testFiles)
if (files.length === 0) {
  console.error(`suite "${name}" has no test files; build first (npm run build)`)
  process.exit(1)
}
const concurrency = process.env.TEST_CONCURRENCY ?? '2'
const r = spawnSync(process.execPath, ['--test', `--test-concurrency=${name === 'fast' ? concurrency : '1'}`, '--test-reporter=spec', ...files], { stdio: 'inherit' })
process.exit(r.status ?? 1)
