// resolveConfig: config.toml + ASPEN_* env + flags → NodeConfig, or one ConfigError naming the key.
import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import fc from 'fast-check'
import {
  ConfigError, DEFAULT_QUOTA_BYTES, resolveConfig, suggestKey, type ConfigFlags, type Env, type NodeConfig
} from '../../../src/node/config.js'
import { RAFT_PROFILES } from '../../../src/node/profiles.js'

const COOKIE = 'c00kie-SECRET-7f3a9b2e41d8'
const SECRET_KEY = 'ab'.repeat(32) + 'cd'.repeat(32)
const BASE = `node_id = 1\ndata_dir = "/var/lib/aspen"\ncookie = "${COOKIE}"\n`

function resolve (fileText: string | undefined, env: Env = {}, flags: ConfigFlags = {}, extra: { readFile?: (p: string) => string, cwd?: string } = {}): NodeConfig {
  return resolveConfig({ fileText, env, flags, ...extra })
}

/** Runs resolveConfig expecting a ConfigError; returns it. */
function configError (fileText: string | undefined, env: Env = {}, flags: ConfigFlags = {}, readFile?: (p: string) => string): ConfigError {
  try {
    resolveConfig({ fileText, env, flags, readFile })
  } catch (e) {
    assert.ok(e instanceof ConfigError, `expected ConfigError, got ${String(e)}`)
    assert.equal(e.code, 'CONFIG')
    return e
  }
  assert.fail('expected a ConfigError')
}

describe('resolveConfig: defaults', () => {
  it('fills every default from a minimal file', () => {
    const c = resolve(BASE)
    assert.equal(c.nodeId, 1)
    assert.equal(c.dataDir, '/var/lib/aspen')
    assert.equal(c.cookie, COOKIE)
    assert.equal(c.cookieFile, null)
    assert.equal(c.secretKey, null)
    assert.deepEqual(c.listen, ['/ip4/127.0.0.1/tcp/0'])
    assert.deepEqual(c.announce, [])
    assert.deepEqual(c.bootstrap, [])
    assert.equal(c.relay, false)
    assert.deepEqual(c.relays, [])
    assert.equal(c.raft.profile, 'balanced')
    assert.deepEqual(c.raft.timing, RAFT_PROFILES.balanced)
    assert.equal(c.raft.snapshotEvery, 10_000)
    assert.equal(c.raft.logRetain, 5_000)
    assert.deepEqual(c.http, { enabled: true, host: '127.0.0.1', port: 0, address: '127.0.0.1:0' })
    assert.deepEqual(c.safety, { cooldownS: 300, maxVoters: 100, promoteMaxLag: 100 })
    assert.equal(c.requestTimeoutMs, 5000)
    assert.equal(c.quotaBytes, DEFAULT_QUOTA_BYTES)
    assert.equal(c.quotaBytes, 2 * 1024 ** 3)
    assert.equal(c.logLevel, 'info')
    assert.deepEqual(c.testing, { enabled: false, faultInjection: false, unsafeLocalReads: false })
    assert.deepEqual(c.warnings, [])
  })

  it('reads every key of a full file', () => {
    const c = resolve(BASE + `secret_key = "${SECRET_KEY}"
listen = ["/ip4/127.0.0.1/tcp/4001", "/ip6/::1/tcp/4001"]
announce = ["/dns4/example.org/tcp/4001"]
bootstrap = ["/ip4/127.0.0.1/tcp/4002/p2p/12D3KooWDpJ7As7BWAwRMfu1VU2WCqNjvq387JEYKDBj4kx6nXTN", "aspen1abcdefgh234567"]
relay = true
relays = ["/ip4/127.0.0.1/tcp/4003"]
request_timeout_ms = 750
quota_bytes = 1048576
log_level = "debug"
[raft]
profile = "fast"
snapshot_every = 50
log_retain = 0
[http]
address = "off"
[safety]
cooldown_s = 0
max_voters = 7
promote_max_lag = 3
`)
    assert.equal(c.secretKey, SECRET_KEY)
    assert.deepEqual(c.listen, ['/ip4/127.0.0.1/tcp/4001', '/ip6/::1/tcp/4001'])
    assert.equal(c.bootstrap.length, 2)
    assert.equal(c.relay, true)
    assert.equal(c.raft.profile, 'fast')
    assert.deepEqual(c.raft.timing, RAFT_PROFILES.fast)
    assert.equal(c.raft.snapshotEvery, 50)
    assert.equal(c.raft.logRetain, 0)
    assert.deepEqual(c.http, { enabled: false })
    assert.deepEqual(c.safety, { cooldownS: 0, maxVoters: 7, promoteMaxLag: 3 })
    assert.equal(c.requestTimeoutMs, 750)
    assert.equal(c.quotaBytes, 1048576)
    assert.equal(c.logLevel, 'debug')
  })
})

/** [name, file text, expected message (exact or a pattern), expected key] */
const INVALID: ReadonlyArray<[string, string, string | RegExp, string | undefined]> = [
  ['unknown key in a table, with suggestion', BASE + '[raft]\nprofle = "fast"\n', 'raft.profle: unknown key (did you mean raft.profile?)', 'raft.profle'],
  ['unknown top-level key, with suggestion', BASE + 'nodeid = 2\n', 'nodeid: unknown key (did you mean node_id?)', 'nodeid'],
  ['known key in the wrong table', BASE + 'profile = "fast"\n', 'profile: unknown key (did you mean raft.profile?)', 'profile'],
  ['misspelt table', BASE + '[saftey]\ncooldown_s = 0\n', 'saftey: unknown key (did you mean safety?)', 'saftey'],
  ['unknown key, nothing close', BASE + 'qqqqqqqqqq = 1\n', 'qqqqqqqqqq: unknown key', 'qqqqqqqqqq'],
  ['node_id as a string', BASE.replace('node_id = 1', 'node_id = "1"'), 'node_id: expected an integer, got a string', 'node_id'],
  ['node_id zero', BASE.replace('node_id = 1', 'node_id = 0'), 'node_id: expected an integer from 1 to 4294967295, got 0', 'node_id'],
  ['node_id float', BASE.replace('node_id = 1', 'node_id = 1.5'), 'node_id: expected an integer, got a float', 'node_id'],
  ['missing node_id', BASE.replace('node_id = 1\n', ''), 'node_id: missing', 'node_id'],
  ['missing data_dir', BASE.replace('data_dir = "/var/lib/aspen"\n', ''), 'data_dir: missing', 'data_dir'],
  ['relative data_dir', BASE.replace('"/var/lib/aspen"', '"data"'), 'data_dir: expected an absolute path, got "data"', 'data_dir'],
  ['missing cookie', BASE.replace(`cookie = "${COOKIE}"\n`, ''), 'cookie: missing', 'cookie'],
  ['listen as a string', BASE + 'listen = "/ip4/127.0.0.1/tcp/1"\n', 'listen: expected an array of strings, got a string', 'listen'],
  ['listen with a number', BASE + 'listen = ["/ip4/127.0.0.1/tcp/1", 7]\n', 'listen: expected an array of strings, but item 1 is an integer', 'listen'],
  ['bad multiaddr (ip)', BASE + 'listen = ["/ip4/999.1.1.1/tcp/1"]\n', /^listen: item 0 "\/ip4\/999\.1\.1\.1\/tcp\/1" is not a valid multiaddr \(.*999\.1\.1\.1.*\)$/, 'listen'],
  ['bad multiaddr (no slash)', BASE + 'announce = ["ip4/1.2.3.4/tcp/1"]\n', /^announce: item 0 "ip4\/1\.2\.3\.4\/tcp\/1" is not a valid multiaddr/, 'announce'],
  ['bad multiaddr (peer id)', BASE + 'relays = ["/ip4/127.0.0.1/tcp/1/p2p/notapeerid"]\n', /^relays: item 0 .* is not a valid multiaddr/, 'relays'],
  ['bad bootstrap entry', BASE + 'bootstrap = ["nonsense"]\n', /^bootstrap: item 0 "nonsense" is not a valid multiaddr or aspen1… ticket/, 'bootstrap'],
  ['bad ticket', BASE + 'bootstrap = ["aspen1 has spaces"]\n', /^bootstrap: item 0 is not a valid ticket/, 'bootstrap'],
  ['empty listen', BASE + 'listen = []\n', /^listen: needs at least one address/, 'listen'],
  ['relay as an integer', BASE + 'relay = 1\n', 'relay: expected a boolean (true or false), got an integer', 'relay'],
  ['bad profile', BASE + '[raft]\nprofile = "turbo"\n', 'raft.profile: expected one of fast, balanced, conservative, got "turbo"', 'raft.profile'],
  ['profile of the wrong type', BASE + '[raft]\nprofile = 1\n', 'raft.profile: expected a string, got an integer', 'raft.profile'],
  ['table given as a value', BASE + 'raft = "fast"\n', 'raft: expected a table ([raft]), got a string', 'raft'],
  ['bad http address', BASE + '[http]\naddress = "localhost"\n', /^http\.address: expected HOST:PORT .* got "localhost"$/, 'http.address'],
  ['http port out of range', BASE + '[http]\naddress = "127.0.0.1:70000"\n', /^http\.address: expected HOST:PORT/, 'http.address'],
  ['too many voters', BASE + '[safety]\nmax_voters = 101\n', 'safety.max_voters: expected an integer from 1 to 100, got 101', 'safety.max_voters'],
  ['negative cooldown', BASE + '[safety]\ncooldown_s = -1\n', 'safety.cooldown_s: expected an integer from 0 to 2592000, got -1', 'safety.cooldown_s'],
  ['zero timeout', BASE + 'request_timeout_ms = 0\n', 'request_timeout_ms: expected an integer from 1 to 600000, got 0', 'request_timeout_ms'],
  ['bad log level', BASE + 'log_level = "loud"\n', /^log_level: expected one of trace, debug, info/, 'log_level'],
  ['testing key of the wrong type', BASE + '[testing]\nfault_injection = "yes"\n', 'testing.fault_injection: expected a boolean (true or false), got a string', 'testing.fault_injection'],
  ['unknown testing key', BASE + '[testing]\nchaos = true\n', 'testing.chaos: unknown key', 'testing.chaos'],
  ['short cookie', BASE.replace(COOKIE, 'tiny'), 'cookie: too short: a cookie needs at least 16 characters', 'cookie'],
  ['cookie and cookie_file both', BASE + 'cookie_file = "/etc/aspen/cookie"\n', 'cookie and cookie_file are both set', 'cookie'],
  ['bad secret key', BASE + 'secret_key = "not hex at all"\n', /^secret_key: expected a hex-encoded private key/, 'secret_key'],
  ['TOML syntax error', BASE + 'listen = [\n', /^config\.toml line \d+, column \d+: /, undefined],
  ['TOML duplicate key', BASE + 'node_id = 2\n', /^config\.toml line 4, column \d+: .*redefine/, undefined]
]

describe('resolveConfig: invalid config names the key and the problem', () => {
  for (const [name, text, message, key] of INVALID) {
    it(name, () => {
      const e = configError(text)
      if (typeof message === 'string') assert.equal(e.message, message)
      else assert.match(e.message, message)
      assert.equal(e.key, key)
      assert.ok(e.hint.length > 0, 'every error says what to do')
      assert.ok(!e.message.includes('\n'), 'one line')
    })
  }
})

describe('resolveConfig: env and flag overrides', () => {
  const file = BASE + 'listen = ["/ip4/127.0.0.1/tcp/1"]\n[raft]\nprofile = "fast"\n'

  it('env overrides the file and flags override env', () => {
    assert.equal(resolve(file).raft.profile, 'fast')
    assert.equal(resolve(file, { ASPEN_PROFILE: 'conservative' }).raft.profile, 'conservative')
    assert.deepEqual(resolve(file, { ASPEN_PROFILE: 'conservative' }).raft.timing, RAFT_PROFILES.conservative)
    assert.equal(resolve(file, { ASPEN_PROFILE: 'conservative' }, { profile: 'balanced' }).raft.profile, 'balanced')
  })

  it('table of env variables and what they set', () => {
    const cases: Array<[Env, (c: NodeConfig) => unknown, unknown]> = [
      [{ ASPEN_NODE_ID: '7' }, (c) => c.nodeId, 7],
      [{ ASPEN_DATA_DIR: '/srv/a' }, (c) => c.dataDir, '/srv/a'],
      [{ ASPEN_LISTEN: '/ip4/127.0.0.1/tcp/5, /ip4/127.0.0.2/tcp/6,' }, (c) => c.listen, ['/ip4/127.0.0.1/tcp/5', '/ip4/127.0.0.2/tcp/6']],
      [{ ASPEN_BOOTSTRAP: 'aspen1xyz,/ip4/127.0.0.1/tcp/9' }, (c) => c.bootstrap, ['aspen1xyz', '/ip4/127.0.0.1/tcp/9']],
      [{ ASPEN_RELAY: 'true' }, (c) => c.relay, true],
      [{ ASPEN_RELAY: '0' }, (c) => c.relay, false],
      [{ ASPEN_HTTP: 'off' }, (c) => c.http.enabled, false],
      [{ ASPEN_HTTP: '[::1]:8080' }, (c) => c.http, { enabled: true, host: '::1', port: 8080, address: '[::1]:8080' }],
      [{ ASPEN_COOKIE: 'env-cookie-0123456789' }, (c) => c.cookie, 'env-cookie-0123456789'],
      [{ ASPEN_REQUEST_TIMEOUT_MS: '1234' }, (c) => c.requestTimeoutMs, 1234],
      [{ ASPEN_LOG_LEVEL: 'warn' }, (c) => c.logLevel, 'warn'],
      [{ ASPEN_PROFILE: '' }, (c) => c.raft.profile, 'fast']
    ]
    for (const [env, get, want] of cases) assert.deepEqual(get(resolve(file, env)), want, JSON.stringify(env))
  })

  it('table of flags and what they set, each beating the env', () => {
    const cases: Array<[Env, ConfigFlags, (c: NodeConfig) => unknown, unknown]> = [
      [{ ASPEN_NODE_ID: '7' }, { nodeId: '8' }, (c) => c.nodeId, 8],
      [{ ASPEN_LISTEN: '/ip4/127.0.0.1/tcp/5' }, { listen: ['/ip4/127.0.0.1/tcp/6', '/ip4/127.0.0.1/tcp/7'] }, (c) => c.listen, ['/ip4/127.0.0.1/tcp/6', '/ip4/127.0.0.1/tcp/7']],
      [{ ASPEN_RELAY: '0' }, { relay: true }, (c) => c.relay, true],
      [{ ASPEN_HTTP: 'off' }, { http: '127.0.0.1:9' }, (c) => c.http.enabled, true],
      [{ ASPEN_COOKIE: 'env-cookie-0123456789' }, { cookie: 'flag-cookie-0123456789' }, (c) => c.cookie, 'flag-cookie-0123456789'],
      [{}, { dataDir: 'rel/dir' }, (c) => c.dataDir, '/home/u/rel/dir']
    ]
    for (const [env, flags, get, want] of cases) {
      assert.deepEqual(get(resolve(file, env, flags, { cwd: '/home/u' })), want, JSON.stringify(flags))
    }
  })

  it('a bad override names the variable or flag and the key it overrides', () => {
    assert.equal(configError(file, { ASPEN_NODE_ID: 'seven' }).message, 'ASPEN_NODE_ID (node_id): expected an integer, got "seven"')
    assert.equal(configError(file, { ASPEN_PROFILE: 'turbo' }).hint, 'fix or unset the ASPEN_PROFILE environment variable')
    const e = configError(file, {}, { profile: 'turbo' })
    assert.equal(e.message, '--profile (raft.profile): expected one of fast, balanced, conservative, got "turbo"')
    assert.equal(e.hint, 'fix the --profile option')
    assert.match(configError(file, { ASPEN_LISTEN: '/ip4/127.0.0.1/tcp/1,bogus' }).message, /^ASPEN_LISTEN \(listen\): "bogus" is not a valid multiaddr/)
    assert.equal(configError(file, { ASPEN_RELAY: 'maybe' }).message, 'ASPEN_RELAY (relay): expected true or false, got "maybe"')
    assert.equal(configError(file, {}, { dataDir: 'rel' }).message, '--data-dir (data_dir): expected an absolute path, got "rel"')
  })

  it('cookie_file is read through the injected reader; the highest layer of cookie or cookie_file wins', () => {
    const files: Record<string, string> = { '/var/lib/aspen/cookie': 'file-cookie-0123456789\n', '/etc/other': 'other-cookie-0123456789' }
    const readFile = (p: string): string => {
      const t = files[p]
      if (t === undefined) throw Object.assign(new Error('nope'), { code: 'ENOENT' })
      return t
    }
    const withFile = BASE.replace(`cookie = "${COOKIE}"`, 'cookie_file = "cookie"')
    const c = resolve(withFile, {}, {}, { readFile })
    assert.equal(c.cookie, 'file-cookie-0123456789')
    assert.equal(c.cookieFile, '/var/lib/aspen/cookie', 'relative cookie_file is inside the data dir')
    assert.equal(resolve(withFile, { ASPEN_COOKIE: 'env-cookie-0123456789' }, {}, { readFile }).cookie, 'env-cookie-0123456789')
    assert.equal(resolve(BASE, { ASPEN_COOKIE_FILE: '/etc/other' }, {}, { readFile }).cookie, 'other-cookie-0123456789')
    assert.equal(resolve(BASE, { ASPEN_COOKIE_FILE: '/etc/other' }, { cookie: 'flag-cookie-0123456789' }, { readFile }).cookie, 'flag-cookie-0123456789')
    const missing = configError(BASE, { ASPEN_COOKIE_FILE: '/etc/missing' }, {}, readFile)
    assert.equal(missing.message, 'ASPEN_COOKIE_FILE (cookie_file): cannot read /etc/missing (ENOENT)')
    assert.match(configError(BASE, {}, { cookie: 'a-cookie-0123456789', cookieFile: '/etc/other' }, readFile).message, /both set/)
  })

  it('[testing] is honoured only with ASPEN_TESTING=1', () => {
    const file = BASE + '[testing]\nfault_injection = true\nunsafe_local_reads = true\n'
    const off = resolve(file)
    assert.deepEqual(off.testing, { enabled: false, faultInjection: false, unsafeLocalReads: false })
    assert.match(off.warnings.join('\n'), /\[testing\] settings are ignored because ASPEN_TESTING is not set to 1/)
    assert.deepEqual(resolve(file, { ASPEN_TESTING: '1' }).testing, { enabled: true, faultInjection: true, unsafeLocalReads: true })
  })

  it('warns about unknown ASPEN_* variables and non-loopback http, without failing', () => {
    const c = resolve(BASE, { ASPEN_PROFLE: 'fast', ASPEN_HTTP: '0.0.0.0:8080', ASPEN_DEBUG: '1', PATH: '/bin' })
    assert.ok(c.warnings.some((w) => w === 'environment variable ASPEN_PROFLE is not used by aspen (did you mean ASPEN_PROFILE?)'), c.warnings.join('; '))
    assert.ok(c.warnings.some((w) => w.startsWith('http.address 0.0.0.0:8080 is not a loopback address')))
    assert.equal(c.warnings.length, 2)
  })
})

describe('resolveConfig: secrets never appear in errors', () => {
  const secretFile = BASE + `secret_key = "${SECRET_KEY}"\n`
  const SECRETS = [COOKIE, SECRET_KEY]
  const assertClean = (e: ConfigError, secrets: readonly string[]): void => {
    for (const s of secrets) {
      assert.ok(!e.message.includes(s), `message leaks a secret: ${e.message}`)
      assert.ok(!e.hint.includes(s), `hint leaks a secret: ${e.hint}`)
      assert.ok(!String(e.stack).includes(s), 'stack leaks a secret')
    }
  }

  it('table of failures around the secrets', () => {
    const cases: Array<[string, Env, ConfigFlags]> = [
      [secretFile + 'cookie = "again"\n', {}, {}], // TOML error on a line next to the secrets
      [BASE.replace(`"${COOKIE}"`, `"${COOKIE}`) + '\n', {}, {}], // unterminated string holding the cookie
      [BASE.replace(`"${COOKIE}"`, `"${COOKIE}\u0001"`), {}, {}], // cookie with a control character
      [BASE.replace(`"${COOKIE}"`, `${COOKIE.length}`), {}, {}], // cookie of the wrong type
      [BASE.replace(`cookie = "${COOKIE}"`, `cookie = ["${COOKIE}"]`), {}, {}],
      [BASE + `secret_key = "${SECRET_KEY}zz"\n`, {}, {}], // bad secret key
      [BASE + `secret_key = "${SECRET_KEY.slice(1)}"\n`, {}, {}], // odd length
      [BASE + `[raft]\n${COOKIE} = 1\n`, {}, {}], // cookie pasted as a key: the unknown-key message is scrubbed
      [secretFile, { ASPEN_COOKIE: 'short-secret' }, {}],
      [secretFile, {}, { cookie: 'short-secret' }],
      [secretFile, { ASPEN_SECRET_KEY: 'secret-but-not-hex-0123' }, {}]
    ]
    for (const [text, env, flags] of cases) {
      const e = configError(text, env, flags)
      assertClean(e, [...SECRETS, 'short-secret', 'secret-but-not-hex-0123', `${COOKIE}zz`, SECRET_KEY.slice(1)])
    }
  })

  it('property: any line inserted into a config either resolves or fails without leaking a secret', () => {
    const lines = secretFile.split('\n')
    fc.assert(fc.property(fc.nat(lines.length), fc.string({ maxLength: 40 }), (at, junk) => {
      const text = [...lines.slice(0, at), junk, ...lines.slice(at)].join('\n')
      try {
        resolveConfig({ fileText: text, env: {}, flags: {} })
      } catch (e) {
        assert.ok(e instanceof ConfigError, `not a ConfigError: ${String(e)}`)
        assertClean(e, SECRETS)
      }
    }), { numRuns: 300, seed: 6 })
  })
})

describe('suggestKey', () => {
  it('suggests the closest known key, or nothing', () => {
    const cases: Array<[string, string | undefined]> = [
      ['raft.profle', 'raft.profile'],
      ['node-id', 'node_id'],
      ['http.adress', 'http.address'],
      ['cooldown_s', 'safety.cooldown_s'],
      ['safety.cooldown', 'safety.cooldown_s'],
      ['listn', 'listen'],
      ['xyzzy', undefined],
      ['completely_unrelated_name', undefined]
    ]
    for (const [input, want] of cases) assert.equal(suggestKey(input), want, input)
  })
})
