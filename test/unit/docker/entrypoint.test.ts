// docker/docker-entrypoint.sh, run with /bin/sh against a stand-in `aspen` that records its calls: the first
// start initialises the data dir from ASPEN_* variables, later starts only start, other commands go straight
// to aspen, and a data dir without config and without ASPEN_NODE_ID is refused.
import { after, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'

const ENTRYPOINT = join(resolve(import.meta.dirname, '..', '..', '..', '..'), 'docker', 'docker-entrypoint.sh')

const work = mkdtempSync(join(tmpdir(), 'aspen-entrypoint-'))
const bin = join(work, 'bin')
const log = join(work, 'calls.log')
spawnSync('mkdir', ['-p', bin])
// Records each call as one line: the arguments tab-separated, then what it saw of ASPEN_COOLDOWN_S; `init`
// creates config.toml like the real one.
writeFileSync(join(bin, 'aspen'), `#!/bin/sh
{ printf 'aspen'; for a in "$@"; do printf '\\t%s' "$a"; done; printf '\\tCOOLDOWN=%s\\n' "\${ASPEN_COOLDOWN_S-unset}"; } >> "${log}"
if [ "$1" = init ]; then touch "$3/config.toml"; fi
`)
chmodSync(join(bin, 'aspen'), 0o755)

interface Result { status: number | null, stderr: string, calls: string[][] }

/** Runs the entrypoint with only `env` (plus PATH to the stand-in) and returns the recorded aspen calls. */
function entrypoint (args: readonly string[], env: Record<string, string>): Result {
  rmSync(log, { force: true })
  const r = spawnSync('/bin/sh', [ENTRYPOINT, ...args], {
    env: { PATH: `${bin}:/usr/local/bin:/usr/bin:/bin`, ...env }, encoding: 'utf8', timeout: 30_000
  })
  const calls = existsSync(log) ? readFileSync(log, 'utf8').trim().split('\n').map((l) => l.split('\t').slice(1)) : []
  return { status: r.status, stderr: r.stderr, calls }
}

describe('docker-entrypoint.sh', () => {
  after(() => { rmSync(work, { recursive: true, force: true }) })

  it('initialises an empty data dir from ASPEN_* variables on the first start, then starts', () => {
    const data = join(work, 'first')
    const r = entrypoint(['start', '--log-level', 'debug'], {
      ASPEN_DATA_DIR: data,
      ASPEN_NODE_ID: '7',
      ASPEN_COOKIE: 'a-cookie-of-enough-length',
      ASPEN_BOOTSTRAP: '/ip4/10.0.0.1/tcp/4001, /ip4/10.0.0.2/tcp/4001,',
      ASPEN_ANNOUNCE: '/ip4/192.0.2.7/tcp/4001',
      ASPEN_PROFILE: 'conservative',
      ASPEN_COOLDOWN_S: '0',
      ASPEN_RELAY: 'true'
    })
    assert.equal(r.status, 0, r.stderr)
    assert.deepEqual(r.calls, [
      ['init', '--data-dir', data, '--node-id', '7', '--http', '0.0.0.0:8080',
        '--listen', '/ip4/0.0.0.0/tcp/4001',
        '--announce', '/ip4/192.0.2.7/tcp/4001',
        '--bootstrap', '/ip4/10.0.0.1/tcp/4001', '--bootstrap', '/ip4/10.0.0.2/tcp/4001',
        '--profile', 'conservative', '--cooldown', '0', '--relay', 'COOLDOWN=0'],
      // ASPEN_COOLDOWN_S is for init only: aspen start would warn about a variable it does not read.
      ['start', '--data-dir', data, '--log-level', 'debug', 'COOLDOWN=unset']
    ])
    assert.match(r.stderr, /first start: creating node 7/)
  })

  it('only starts when the data dir already has a config.toml (the node keeps its identity and data)', () => {
    const data = join(work, 'first')
    const r = entrypoint([], { ASPEN_DATA_DIR: data, ASPEN_NODE_ID: '8', ASPEN_LISTEN: '/ip4/0.0.0.0/tcp/5000' })
    assert.equal(r.status, 0, r.stderr)
    assert.deepEqual(r.calls, [['start', '--data-dir', data, 'COOLDOWN=unset']])
  })

  it('passes every other command straight to aspen', () => {
    const r = entrypoint(['kv', 'get', 'start', '--consistency', 'stale'], { ASPEN_DATA_DIR: join(work, 'none') })
    assert.equal(r.status, 0, r.stderr)
    assert.deepEqual(r.calls, [['kv', 'get', 'start', '--consistency', 'stale', 'COOLDOWN=unset']])
  })

  it('refuses a first start without ASPEN_NODE_ID, naming the variable, and runs nothing', () => {
    const r = entrypoint(['start'], { ASPEN_DATA_DIR: join(work, 'empty'), ASPEN_COOKIE: 'a-cookie-of-enough-length' })
    assert.equal(r.status, 2)
    assert.match(r.stderr, /ASPEN_NODE_ID is not set/)
    assert.deepEqual(r.calls, [])
  })

  it('uses the container defaults when only the node id is given', () => {
    const data = join(work, 'defaults')
    const r = entrypoint(['start'], { ASPEN_DATA_DIR: data, ASPEN_NODE_ID: '1' })
    assert.equal(r.status, 0, r.stderr)
    assert.deepEqual(r.calls[0], ['init', '--data-dir', data, '--node-id', '1', '--http', '0.0.0.0:8080', '--listen', '/ip4/0.0.0.0/tcp/4001', 'COOLDOWN=unset'])
  })
})
