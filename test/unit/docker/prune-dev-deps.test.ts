// docker/prune-dev-deps.mjs turns a full node_modules into the production tree the image ships: it removes what
// package-lock.json marks dev-only (nested ones too) and the .bin links left dangling, keeps everything else, and
// fails when a production package is missing.
import { after, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { existsSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'

const SCRIPT = join(resolve(import.meta.dirname, '..', '..', '..', '..'), 'docker', 'prune-dev-deps.mjs')
const work = mkdtempSync(join(tmpdir(), 'aspen-prune-'))

/** Lays out an app dir with the given lockfile packages (each gets a directory with a package.json). */
function app (name: string, packages: Record<string, { dev?: boolean, optional?: boolean }>, present = Object.keys(packages)): string {
  const dir = join(work, name)
  mkdirSync(join(dir, 'node_modules', '.bin'), { recursive: true })
  writeFileSync(join(dir, 'package-lock.json'), JSON.stringify({ lockfileVersion: 3, packages: { '': { name: 'app' }, ...packages } }))
  for (const p of present) {
    mkdirSync(join(dir, p), { recursive: true })
    writeFileSync(join(dir, p, 'package.json'), '{}')
  }
  return dir
}

const prune = (dir: string): ReturnType<typeof spawnSync> => spawnSync(process.execPath, [SCRIPT, dir], { encoding: 'utf8', timeout: 30_000 })

describe('prune-dev-deps.mjs', () => {
  after(() => { rmSync(work, { recursive: true, force: true }) })

  it('removes dev-only packages (nested too) and dangling .bin links, and keeps production ones', () => {
    const dir = app('mixed', {
      'node_modules/libp2p': {},
      'node_modules/typescript': { dev: true },
      'node_modules/@scope/dev-tool': { dev: true },
      'node_modules/libp2p/node_modules/shared': {},
      'node_modules/eslint/node_modules/shared': { dev: true },
      'node_modules/fsevents': { optional: true }
    })
    symlinkSync('../typescript/bin/tsc', join(dir, 'node_modules', '.bin', 'tsc'))
    mkdirSync(join(dir, 'node_modules', 'libp2p', 'bin'))
    writeFileSync(join(dir, 'node_modules', 'libp2p', 'bin', 'cli.js'), '')
    symlinkSync('../libp2p/bin/cli.js', join(dir, 'node_modules', '.bin', 'libp2p'))

    const r = prune(dir)
    assert.equal(r.status, 0, String(r.stderr))
    const has = (p: string): boolean => existsSync(join(dir, p))
    assert.equal(has('node_modules/typescript'), false)
    assert.equal(has('node_modules/@scope/dev-tool'), false)
    assert.equal(has('node_modules/eslint/node_modules/shared'), false)
    assert.equal(has('node_modules/.bin/tsc'), false, 'link into a removed package is dropped')
    assert.equal(has('node_modules/libp2p'), true)
    assert.equal(has('node_modules/libp2p/node_modules/shared'), true)
    assert.equal(has('node_modules/fsevents'), true, 'optional packages are production packages')
    assert.equal(has('node_modules/.bin/libp2p'), true)
    assert.match(String(r.stdout), /removed 3 dev-only packages and 1 dangling \.bin links/)
  })

  it('fails, naming it, when a production package is missing', () => {
    const dir = app('missing', { 'node_modules/libp2p': {}, 'node_modules/pino': {} }, ['node_modules/libp2p'])
    const r = prune(dir)
    assert.equal(r.status, 1)
    assert.match(String(r.stderr), /production package node_modules\/pino is missing/)
  })

  it('refuses a lockfile without a packages map (npm 6)', () => {
    const dir = join(work, 'old')
    mkdirSync(dir)
    writeFileSync(join(dir, 'package-lock.json'), JSON.stringify({ lockfileVersion: 1, dependencies: {} }))
    const r = prune(dir)
    assert.notEqual(r.status, 0)
    assert.match(String(r.stderr), /lockfileVersion 1 has no "packages" map/)
  })
})
