// The real `aspen` process: `init` writes a private config and refuses to overwrite it; usage, config and
// not-yet-wired failures print one line "error: … — …" on stderr and exit 2 / 2 / 1.
import { after, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { pool, runInProcess, spawnAspen, type Ran } from './helpers.js'

const root = mkdtempSync(join(tmpdir(), 'aspen-cli-'))
after(() => rmSync(root, { recursive: true, force: true }))

/** Asserts the run failed with `code` and exactly one "error: what — what to do" line on stderr. */
function assertOneLineError (r: Ran, code: number, pattern?: RegExp): void {
  assert.equal(r.code, code, `exit code; stderr: ${r.stderr}`)
  assert.equal(r.stdout, '', 'nothing on stdout')
  const lines = r.stderr.split('\n')
  assert.equal(lines.length, 2, `one line on stderr: ${JSON.stringify(r.stderr)}`)
  assert.equal(lines[1], '')
  assert.match(lines[0], /^error: .+ — .+$/)
  assert.ok(!/\bat .+:\d+:\d+/.test(r.stderr), 'no stack trace')
  if (pattern !== undefined) assert.match(lines[0], pattern)
}

describe('aspen init (real process)', () => {
  it('writes config.toml with mode 0600, refuses to overwrite it (exit 2), overwrites with --force', async () => {
    const dir = join(root, 'n1')
    const first = await spawnAspen(['init', '--data-dir', dir, '--node-id', '3', '--profile', 'fast'])
    assert.equal(first.code, 0, first.stderr)
    assert.match(first.stdout, /Initialised node 3/)
    assert.match(first.stdout, /cookie was generated/)
    const path = join(dir, 'config.toml')
    assert.equal(statSync(path).mode & 0o777, 0o600)
    const text = readFileSync(path, 'utf8')
    assert.match(text, /^node_id = 3$/m)
    assert.match(text, /^profile = "fast"$/m)
    const cookie = /^cookie = "([0-9a-f]{64})"$/m.exec(text)?.[1]
    assert.ok(cookie !== undefined, 'a 64-hex-digit cookie was generated')
    assert.ok(!first.stdout.includes(cookie) && !first.stderr.includes(cookie), 'the cookie is not printed')

    const again = await spawnAspen(['init', '--data-dir', dir, '--node-id', '4'])
    assertOneLineError(again, 2, /already exists — pass --force/)
    assert.equal(readFileSync(path, 'utf8'), text, 'config untouched')

    const forced = await spawnAspen(['init', '--data-dir', dir, '--node-id', '4', '--force', '--json'])
    assert.equal(forced.code, 0, forced.stderr)
    const out = JSON.parse(forced.stdout) as { nodeId: number, overwritten: boolean, configPath: string, peerId: string | null }
    assert.equal(out.nodeId, 4)
    assert.equal(out.overwritten, true)
    assert.equal(out.configPath, path)
    assert.equal(statSync(path).mode & 0o777, 0o600)
  })

  it('takes the cookie from a file without copying it into config.toml', async () => {
    const cookieFile = join(root, 'cookie')
    writeFileSync(cookieFile, 'shared-cluster-cookie-0123\n', { mode: 0o600 })
    const dir = join(root, 'n2')
    const r = await spawnAspen(['init', '--data-dir', dir, '--node-id', '2', '--cookie-file', cookieFile])
    assert.equal(r.code, 0, r.stderr)
    const text = readFileSync(join(dir, 'config.toml'), 'utf8')
    assert.ok(text.includes(`cookie_file = "${cookieFile}"`))
    assert.ok(!text.includes('shared-cluster-cookie-0123'))
  })
})

describe('one-line errors and exit codes (real process)', () => {
  const dir = join(root, 'cfg')

  const usageCases: Array<[string[], RegExp]> = [
    [['frobnicate'], /unknown command 'frobnicate'/],
    [['kv', 'get', 'k', '--bogus'], /unknown option '--bogus' — run `aspen kv get --help`/],
    [['kv', 'put'], /missing required argument 'key' — run `aspen kv put --help`/],
    [['kv'], /`aspen kv` needs a command — run `aspen kv --help`/],
    [['cluster', 'statsu'], /unknown command 'statsu' \(Did you mean status\?\)/],
    [['cluster', 'promote', 'two', '--ticket', 'aspen1x'], /value 'two' is invalid for argument 'node-id'/],
    [['cluster', 'change-membership', '--ticket', 'aspen1x'], /required option '--voters <ids>' not specified/],
    [['kv', 'cas', 'k', '--new', 'v', '--expect', 'a', '--absent'], /cannot be used with option '--absent'/],
    [['kv', 'cas', 'k', '--new', 'v', '--ticket', 'aspen1x', '--cookie', 'cli-test-cookie-0123456789'], /needs --expect OLD or --absent/],
    [['kv', 'get', 'k', '--consistency', 'eventual'], /Allowed choices are linearizable, lease, stale/],
    [['kv', 'get', 'k'], /no cluster to talk to — pass --data-dir/],
    [['kv', 'get', 'k', '--ticket', 'aspen1x'], /--ticket needs the cluster cookie/],
    [['kv', 'get', 'k', '--ticket', 'not-a-ticket', '--cookie', 'cli-test-cookie-0123456789'], /not a valid ticket/],
    [['kv', 'get', 'k', '--data-dir', dir, '--ticket', 'aspen1x'], /cannot be used with option '--data-dir/],
    [['init'], /init needs --data-dir/],
    [['init', '--data-dir', join(root, 'bad'), '--listen', '/ip4/1.2.3/tcp/1'], /--listen "\/ip4\/1\.2\.3\/tcp\/1" is not a valid multiaddr/],
    [['recover', '--data-dir', dir], /needs --inspect or --force-new-cluster/]
  ]

  it('usage errors exit 2 with one line naming the command to get help for (in-process, every case)', async () => {
    for (const [args, pattern] of usageCases) {
      const r = await runInProcess(args)
      assertOneLineError({ code: r.code, stdout: r.stdout.toString(), stderr: r.stderr }, 2, pattern)
    }
  })

  it('usage errors exit 2 with one line (real process, a sample of each kind)', async () => {
    const sample = [0, 1, 2, 3, 6, 10]
    const results = await pool(sample, 3, async (i) => await spawnAspen(usageCases[i][0]))
    results.forEach((r, j) => assertOneLineError(r, 2, usageCases[sample[j]][1]))
  })

  it('config errors exit 2 naming the key; secrets stay out of the message', async () => {
    const init = await spawnAspen(['init', '--data-dir', dir, '--cookie', 'secret-cookie-for-config-test'])
    assert.equal(init.code, 0, init.stderr)
    const path = join(dir, 'config.toml')
    const text = readFileSync(path, 'utf8')
    writeFileSync(path, text.replace('[raft]', '[raft]\nprofle = "fast"'))
    assertOneLineError(await spawnAspen(['start', '--data-dir', dir]), 2, /^error: raft\.profle: unknown key \(did you mean raft\.profile\?\) — remove or rename it in /)
    writeFileSync(path, text.replace('node_id = 1', 'node_id = "one"'))
    assertOneLineError(await spawnAspen(['start', '--data-dir', dir]), 2, /^error: node_id: expected an integer, got a string/)
    writeFileSync(path, text.replace('"secret-cookie-for-config-test"', '"secret-cookie-for-config-test'))
    const syntax = await spawnAspen(['start', '--data-dir', dir])
    assertOneLineError(syntax, 2, /config\.toml line 7, column \d+: /)
    assert.ok(!syntax.stderr.includes('secret-cookie-for-config-test'))
    writeFileSync(path, text)
    const envBad = await spawnAspen(['start', '--data-dir', dir], { env: { ASPEN_PROFILE: 'turbo' } })
    assertOneLineError(envBad, 2, /ASPEN_PROFILE \(raft\.profile\): expected one of fast, balanced, conservative, got "turbo"/)
    assertOneLineError(await spawnAspen(['start', '--data-dir', join(root, 'nowhere')]), 2, /does not exist — create it with `aspen init/)
    const shortCookie = await spawnAspen(['kv', 'get', 'k', '--ticket', 'aspen1x'], { env: { ASPEN_COOKIE: 'short-secret' } })
    assertOneLineError(shortCookie, 2, /ASPEN_COOKIE: too short/)
    assert.ok(!shortCookie.stderr.includes('short-secret'))
  })

  it('commands not wired yet fail with exit 1 and say so; ASPEN_DEBUG=1 adds the stack', async () => {
    const ticket = ['--ticket', 'aspen1x', '--cookie', 'cli-test-cookie-0123456789']
    const cases: string[][] = [
      ['start', '--data-dir', dir],
      ['cluster', 'status', ...ticket],
      ['kv', 'put', 'k', 'v', ...ticket],
      ['recover', '--inspect', '--data-dir', dir]
    ]
    for (const args of cases) {
      const r = await runInProcess(args)
      assertOneLineError({ code: r.code, stdout: r.stdout.toString(), stderr: r.stderr }, 1, new RegExp(`\`aspen ${args[0]}.*\` is not available yet`))
    }
    // every command of the real executable is wired: show the stack on an operational failure instead
    const debug = await spawnAspen(['cluster', 'status', '--data-dir', dir, '--cookie', 'cli-test-cookie-0123456789'], { env: { ASPEN_DEBUG: '1' } })
    assert.equal(debug.code, 1)
    assert.match(debug.stderr, /^error: no running node found in .+ — .+\nCliFailure: .+\n\s+at /)
    assert.ok(!debug.stderr.includes('cli-test-cookie-0123456789'))
  })

  it('a local target without a running node fails with exit 1 and says how to start it', async () => {
    assertOneLineError(await spawnAspen(['cluster', 'status', '--data-dir', dir]), 1, /no running node found in .* — start it with `aspen start --data-dir/)
  })
})
