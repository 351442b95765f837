// runCli in-process against fake actions: what each command passes to its action, how results are printed
// (raw bytes, base64 JSON, human text), and the exit codes 3 (not found) and 4 (compare failed).
import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { KeyValue, Txn } from '../../../src/api/kv.js'
import { notWiredActions, type ClusterActions, type ClusterStatus, type KvActions, type RequestContext } from '../../../src/cli/actions.js'
import { NotAvailableError } from '../../../src/cli/errors.js'
import { parseTxnJson } from '../../../src/cli/txn-json.js'
import { runInProcess, TICKET_ARGS } from './helpers.js'

const base = notWiredActions()
const kvWith = (over: Partial<KvActions>): { kv: KvActions } => ({ kv: { ...base.kv, ...over } })
const clusterWith = (over: Partial<ClusterActions>): { cluster: ClusterActions } => ({ cluster: { ...base.cluster, ...over } })
const bytes = (s: string): Uint8Array => new TextEncoder().encode(s)
const kv = (key: Uint8Array, value: Uint8Array): KeyValue => ({ key, value, createRevision: 3, modRevision: 7, version: 2, lease: 0 })
const BINARY = Uint8Array.from([0, 1, 2, 0xff, 0xfe, 0x0a, 0x80])

describe('kv put', () => {
  it('sends the value from the argument, --file or stdin as exact bytes, and the ticket target with the cookie', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'aspen-put-'))
    try {
      writeFileSync(join(dir, 'blob'), BINARY)
      const seen: Array<{ ctx: RequestContext, key: Uint8Array, value: Uint8Array, ttlS?: number }> = []
      const actions = kvWith({ put: async (ctx, req) => { seen.push({ ctx, ...req }); return { revision: 42 } } })
      const a = await runInProcess(['kv', 'put', 'greeting', 'héllo', ...TICKET_ARGS, '--ttl', '30'], { actions })
      const b = await runInProcess(['kv', 'put', 'blob', '--file', 'blob', ...TICKET_ARGS], { actions, cwd: dir })
      const c = await runInProcess(['kv', 'put', 'piped', ...TICKET_ARGS, '--json'], { actions, stdin: BINARY })
      for (const r of [a, b, c]) assert.equal(r.code, 0, r.stderr)
      assert.equal(a.stdout.toString(), 'OK (revision 42)\n')
      assert.deepEqual(JSON.parse(c.stdout.toString()), { revision: 42 })
      assert.deepEqual(seen.map((s) => Buffer.from(s.value)), [Buffer.from('héllo'), Buffer.from(BINARY), Buffer.from(BINARY)])
      assert.deepEqual(Buffer.from(seen[0].key), Buffer.from('greeting'))
      assert.equal(seen[0].ttlS, 30)
      assert.ok(!Buffer.isBuffer(seen[1].value), 'values are plain Uint8Array')
      assert.deepEqual(seen[0].ctx.target, { kind: 'ticket', ticket: 'aspen1testticket', cookie: 'cli-test-cookie-0123456789' })
      assert.equal(seen[0].ctx.timeoutMs, 5000)
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  })

  it('refuses a missing, doubled or oversized value with a usage error', async () => {
    const actions = kvWith({ put: async () => assert.fail('must not be called') })
    const cases: Array<[string[], Uint8Array | undefined, RegExp]> = [
      [['kv', 'put', 'k', ...TICKET_ARGS], undefined, /missing value — give it as an argument, with --file FILE, or pipe it on stdin/],
      [['kv', 'put', 'k', 'v', '--file', 'x', ...TICKET_ARGS], undefined, /given both as an argument and with --file/],
      [['kv', 'put', 'k', ...TICKET_ARGS], new Uint8Array(1024 * 1024 + 1), /value on stdin is over the 1048576-byte limit/],
      [['kv', 'put', 'x'.repeat(1025), 'v', ...TICKET_ARGS], undefined, /key is 1025 bytes, over the 1024-byte limit/],
      [['kv', 'put', '', 'v', ...TICKET_ARGS], undefined, /key is empty/]
    ]
    for (const [argv, stdin, pattern] of cases) {
      const r = await runInProcess(argv, { actions, stdin })
      assert.equal(r.code, 2, r.stderr)
      assert.match(r.stderr, pattern)
    }
  })
})

describe('kv get', () => {
  const actions = kvWith({ get: async (_ctx, req) => Buffer.from(req.key).toString() === 'bin' ? kv(req.key, BINARY) : undefined })

  it('writes a binary value raw to stdout, and base64 in JSON', async () => {
    const raw = await runInProcess(['kv', 'get', 'bin', ...TICKET_ARGS], { actions })
    assert.equal(raw.code, 0, raw.stderr)
    assert.deepEqual(raw.stdout, Buffer.from(BINARY))
    const json = await runInProcess(['kv', 'get', 'bin', ...TICKET_ARGS, '--json'], { actions })
    assert.deepEqual(JSON.parse(json.stdout.toString()), {
      key: 'bin', value: Buffer.from(BINARY).toString('base64'), createRevision: 3, modRevision: 7, version: 2, lease: 0
    })
  })

  it('adds a newline only on a terminal, and writes --out files', async () => {
    const text = kvWith({ get: async (_c, req) => kv(req.key, bytes('plain')) })
    assert.equal((await runInProcess(['kv', 'get', 'k', ...TICKET_ARGS], { actions: text, stdoutIsTTY: true })).stdout.toString(), 'plain\n')
    assert.equal((await runInProcess(['kv', 'get', 'k', ...TICKET_ARGS], { actions: text })).stdout.toString(), 'plain')
    const dir = mkdtempSync(join(tmpdir(), 'aspen-get-'))
    try {
      const r = await runInProcess(['kv', 'get', 'bin', '--out', 'v.bin', ...TICKET_ARGS], { actions, cwd: dir })
      assert.equal(r.code, 0)
      assert.equal(r.stdout.length, 0)
      assert.deepEqual(readFileSync(join(dir, 'v.bin')), Buffer.from(BINARY))
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  })

  it('a missing key exits 3 with one line', async () => {
    const r = await runInProcess(['kv', 'get', 'nope', ...TICKET_ARGS, '--consistency', 'stale'], { actions })
    assert.equal(r.code, 3)
    assert.equal(r.stdout.length, 0)
    assert.equal(r.stderr, 'error: key "nope" not found — check the key, or list keys with `aspen kv scan <prefix>`\n')
  })

  it('passes the consistency level', async () => {
    const levels: string[] = []
    const spy = kvWith({ get: async (_c, req) => { levels.push(req.consistency); return kv(req.key, bytes('v')) } })
    for (const level of [[], ['--consistency', 'lease'], ['--consistency', 'stale']]) {
      await runInProcess(['kv', 'get', 'k', ...TICKET_ARGS, ...level], { actions: spy })
    }
    assert.deepEqual(levels, ['linearizable', 'lease', 'stale'])
  })
})

describe('kv cas', () => {
  it('exit 0 on success; exit 4 with one line when the compare fails; --absent sends no expected value', async () => {
    const reqs: Array<{ expected: Uint8Array | undefined, value: Uint8Array }> = []
    const actions = kvWith({
      cas: async (_c, req) => {
        reqs.push(req)
        const ok = req.expected !== undefined && Buffer.from(req.expected).toString() === 'old'
        return ok ? { succeeded: true, revision: 9 } : { succeeded: false, revision: 9, current: kv(req.key, bytes('other')) }
      }
    })
    const ok = await runInProcess(['kv', 'cas', 'k', '--new', 'v2', '--expect', 'old', ...TICKET_ARGS], { actions })
    assert.equal(ok.code, 0, ok.stderr)
    assert.equal(ok.stdout.toString(), 'OK (revision 9)\n')
    const bad = await runInProcess(['kv', 'cas', 'k', '--new', 'v2', '--expect', 'stale', ...TICKET_ARGS], { actions })
    assert.equal(bad.code, 4)
    assert.match(bad.stderr, /^error: compare failed for "k": its current value differs; nothing was written — read it with .+\n$/)
    const absent = await runInProcess(['kv', 'cas', 'k', '--new', 'v2', '--absent', ...TICKET_ARGS, '--json'], { actions })
    assert.equal(absent.code, 4)
    assert.equal((JSON.parse(absent.stdout.toString()) as { succeeded: boolean }).succeeded, false)
    assert.equal(reqs[2].expected, undefined)
  })
})

describe('kv scan, del, txn, watch', () => {
  it('scan prints key<TAB>value lines (binary as base64) and notes truncation', async () => {
    const actions = kvWith({
      scan: async (_c, req) => {
        assert.equal(req.limit, 2)
        return { kvs: [kv(bytes('a/1'), bytes('one')), kv(bytes('a/2'), BINARY)], more: true }
      }
    })
    const r = await runInProcess(['kv', 'scan', 'a/', '--limit', '2', ...TICKET_ARGS], { actions })
    assert.equal(r.code, 0)
    assert.equal(r.stdout.toString(), `a/1\tone\na/2\tbase64:${Buffer.from(BINARY).toString('base64')}\n`)
    assert.match(r.stderr, /more keys match; raise --limit/)
  })

  it('del reports what happened', async () => {
    const actions = kvWith({ del: async () => ({ deleted: 0, revision: 5 }) })
    const r = await runInProcess(['kv', 'del', 'k', ...TICKET_ARGS], { actions })
    assert.equal(r.stdout.toString(), 'no such key, nothing deleted\n')
  })

  it('txn parses the JSON form, prints the result, and exits 4 when the compares failed', async () => {
    let got: Txn | undefined
    const actions = kvWith({
      txn: async (_c, txn) => {
        got = txn
        return { succeeded: false, revision: 12, responses: [{ type: 'get', kv: kv(bytes('k'), bytes('v')) }] }
      }
    })
    const doc = JSON.stringify({
      compare: [{ key: 'k', target: 'version', result: 'greater', number: 1 }],
      success: [{ type: 'put', key: 'k', value: { base64: Buffer.from(BINARY).toString('base64') } }],
      failure: [{ type: 'get', key: 'k' }]
    })
    const r = await runInProcess(['kv', 'txn', ...TICKET_ARGS], { actions, stdin: bytes(doc) })
    assert.equal(r.code, 4, r.stderr)
    assert.equal(r.stdout.toString(), 'FAILURE at revision 12\nk\tv\n')
    assert.ok(got !== undefined)
    assert.deepEqual(got.compare, [{ key: bytes('k'), target: 'version', result: 'greater', number: 1 }])
    assert.deepEqual(got.success, [{ type: 'put', key: bytes('k'), value: new Uint8Array(BINARY) }])
  })

  it('watch prints events until the action returns', async () => {
    const actions = kvWith({
      watch: async (_c, req) => {
        assert.equal(req.fromRevision, 4)
        req.onEvent({ type: 'put', kv: kv(bytes('p/a'), bytes('1')) })
        req.onEvent({ type: 'delete', kv: { ...kv(bytes('p/a'), new Uint8Array(0)), modRevision: 8 } })
      }
    })
    const r = await runInProcess(['kv', 'watch', 'p/', '--from-revision', '4', ...TICKET_ARGS, '--json'], { actions })
    assert.equal(r.code, 0, r.stderr)
    const lines = r.stdout.toString().trim().split('\n').map((l) => JSON.parse(l) as { type: string, key: string, modRevision: number })
    assert.deepEqual(lines.map((l) => [l.type, l.key, l.modRevision]), [['put', 'p/a', 7], ['delete', 'p/a', 8]])
  })
})

describe('parseTxnJson', () => {
  it('rejects malformed transactions naming the JSON path', () => {
    const cases: Array<[string, RegExp]> = [
      ['not json', /not valid JSON/],
      ['[]', /\$: expected an object/],
      ['{"compare": [], "succes": []}', /\$\.succes: unknown field/],
      ['{"success": [{"type": "put", "key": "k"}]}', /\$\.success\[0\]\.value: expected a string or \{"base64"/],
      ['{"success": [{"type": "frob", "key": "k"}]}', /\$\.success\[0\]\.type: expected one of put, delete, get, range, deleteRange/],
      ['{"compare": [{"key": "k", "target": "value", "result": "equal"}], "success": []}', /needs "value"/],
      ['{"success": [{"type": "get", "key": {"base64": "%%%"}}]}', /\$\.success\[0\]\.key: expected a string or/],
      [JSON.stringify({ success: Array.from({ length: 129 }, () => ({ type: 'get', key: 'k' })) }), /at most 128/]
    ]
    for (const [text, pattern] of cases) assert.throws(() => parseTxnJson(text), pattern, text)
  })

  it('accepts prefix ranges', () => {
    const t = parseTxnJson('{"success": [{"type": "range", "prefix": "a/", "limit": 5}, {"type": "deleteRange", "prefix": "b"}]}')
    assert.deepEqual(t.success, [
      { type: 'range', start: bytes('a/'), end: bytes('a0'), limit: 5 },
      { type: 'deleteRange', start: bytes('b'), end: bytes('c') }
    ])
  })
})

describe('cluster commands', () => {
  const status: ClusterStatus = {
    nodeId: 1,
    peerId: '12D3KooWexample',
    role: 'leader',
    term: 4,
    leaderId: 1,
    commitIndex: 20,
    appliedIndex: 20,
    membership: { voters: [1, 2], learners: [3], votersOutgoing: [] },
    members: [
      { nodeId: 1, peerId: '12D3KooWexample', role: 'voter', reachable: true, lastContactMs: null, lag: 0 },
      { nodeId: 3, peerId: null, role: 'learner', reachable: false, lastContactMs: 1500, lag: 12 }
    ],
    peers: [],
    extraField: 'passes through'
  }

  it('status --json prints the node\'s object unchanged; human output is a table', async () => {
    const actions = clusterWith({ status: async () => status })
    const json = await runInProcess(['cluster', 'status', ...TICKET_ARGS, '--json'], { actions })
    assert.deepEqual(JSON.parse(json.stdout.toString()), status)
    const human = (await runInProcess(['cluster', 'status', ...TICKET_ARGS], { actions })).stdout.toString()
    assert.match(human, /^node 1 \(12D3KooWexample\): leader, term 4$/m)
    assert.match(human, /^3\s+learner\s+NO\s+1500 ms\s+12\s+-$/m)
  })

  it('status --watch polls, reports transient failures and keeps going, and stops on a permanent one', async () => {
    let calls = 0
    const actions = clusterWith({
      status: async () => {
        calls++
        if (calls === 2) throw Object.assign(new Error('request timed out'), { code: 'TIMEOUT' })
        if (calls === 4) throw new NotAvailableError('cluster status')
        return status
      }
    })
    const r = await runInProcess(['cluster', 'status', '--watch', '--interval', '1', '--json', ...TICKET_ARGS], { actions })
    assert.equal(r.code, 1)
    assert.equal(calls, 4)
    const lines = r.stdout.toString().trim().split('\n')
    assert.equal(lines.length, 2, 'one JSON line per successful poll')
    assert.deepEqual(JSON.parse(lines[1]), status)
    assert.equal(r.stderr.split('\n').filter((l) => l !== '').length, 2, 'the timeout and the final error')
    assert.match(r.stderr, /^error: request timed out — retry, or raise --timeout/)
  })

  it('membership commands pass node ids and --force', async () => {
    const calls: unknown[] = []
    const membership = { membership: { voters: [1, 2, 3], learners: [], votersOutgoing: [] } }
    const actions = clusterWith({
      addLearner: async (_c, req) => { calls.push(['addLearner', req]); return membership },
      changeMembership: async (_c, req) => { calls.push(['changeMembership', req]); return membership },
      transferLeader: async (_c, req) => { calls.push(['transferLeader', req]); return { leaderId: 2 } }
    })
    const addr = '/ip4/127.0.0.1/tcp/4001/p2p/12D3KooWDpJ7As7BWAwRMfu1VU2WCqNjvq387JEYKDBj4kx6nXTN'
    for (const argv of [
      ['cluster', 'add-learner', '3', '--addr', addr],
      ['cluster', 'change-membership', '--voters', '1,2,3', '--learners', '4', '--force'],
      ['cluster', 'transfer-leader']
    ]) {
      const r = await runInProcess([...argv, ...TICKET_ARGS], { actions })
      assert.equal(r.code, 0, r.stderr)
    }
    assert.deepEqual(calls, [
      ['addLearner', { nodeId: 3, addr, force: false }],
      ['changeMembership', { voters: [1, 2, 3], learners: [4], force: true }],
      ['transferLeader', { nodeId: undefined, force: false }]
    ])
  })

  it('health exits 1 when unhealthy, after printing the findings', async () => {
    const actions = clusterWith({
      health: async () => ({ healthy: false, leaderId: null, term: 3, votersReachable: 1, voters: 3, problems: ['no leader'] })
    })
    const r = await runInProcess(['cluster', 'health', ...TICKET_ARGS], { actions })
    assert.equal(r.code, 1)
    assert.equal(r.stdout.toString(), 'UNHEALTHY: leader none, term 3, 1/3 voters reachable\n  - no leader\n')
  })

  it('operational errors of actions map to exit 1 with their code\'s hint', async () => {
    class NoQuorum extends Error { readonly code = 'NO_QUORUM' }
    const actions = clusterWith({ snapshot: async () => { throw new NoQuorum('no quorum: 1 of 3 voters reachable') } })
    const r = await runInProcess(['cluster', 'snapshot', ...TICKET_ARGS], { actions })
    assert.equal(r.code, 1)
    assert.equal(r.stderr, 'error: no quorum: 1 of 3 voters reachable — check that a majority of the voters is running and reachable (`aspen cluster status`)\n')
  })

  it('an error message that echoes the cookie is scrubbed', async () => {
    const actions = clusterWith({ ticket: async (ctx) => { throw new Error(`oops ${ctx.target.cookie}`) } })
    const r = await runInProcess(['cluster', 'ticket', ...TICKET_ARGS], { actions })
    assert.equal(r.code, 1)
    assert.ok(!r.stderr.includes('cli-test-cookie-0123456789'), r.stderr)
    assert.match(r.stderr, /\[redacted\]/)
  })
})
