// Tickets: aspen1 + RFC 4648 base32 of {cluster id, ≤16 peers × ≤8 addrs}; no secrets inside; parsing any input
// either succeeds or throws TicketError (fuzzed).
import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import fc from 'fast-check'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { base32Decode, base32Encode } from '../../../src/p2p/base32.js'
import { encodeTicket, parseTicket, ticketMultiaddrs } from '../../../src/p2p/ticket.js'
import type { Ticket } from '../../../src/p2p/ticket.js'
import { parseBootstrap } from '../../../src/p2p/bootstrap.js'
import { deriveClusterKeys } from '../../../src/p2p/cookie.js'
import { P2PConfigError, TicketError } from '../../../src/p2p/errors.js'
import { TicketPayload } from '../../../src/p2p/wire/ticket.js'

async function peerId (): Promise<string> {
  return peerIdFromPrivateKey(await generateKeyPair('Ed25519')).toString()
}

describe('base32 (RFC 4648 §10 vectors, lowercase, unpadded)', () => {
  const vectors: Array<[string, string]> = [['', ''], ['f', 'my'], ['fo', 'mzxq'], ['foo', 'mzxw6'], ['foob', 'mzxw6yq'], ['fooba', 'mzxw6ytb'], ['foobar', 'mzxw6ytboi']]
  it('encodes and decodes the RFC vectors', () => {
    for (const [plain, enc] of vectors) {
      assert.equal(base32Encode(Buffer.from(plain)), enc)
      assert.deepEqual(Buffer.from(base32Decode(enc) ?? []), Buffer.from(plain))
      assert.deepEqual(Buffer.from(base32Decode(enc.toUpperCase()) ?? []), Buffer.from(plain))
    }
  })
  it('round-trips arbitrary bytes and refuses bad characters, lengths and tail bits', () => {
    fc.assert(fc.property(fc.uint8Array({ maxLength: 100 }), (b) => { assert.deepEqual(base32Decode(base32Encode(b)), b) }))
    for (const bad of ['m', 'mzx', 'mzxw6y', 'mz1', 'mz=', 'mz!x', 'mz', 'mzxr']) assert.equal(base32Decode(bad), undefined, bad)
  })
})

describe('tickets', () => {
  it('round-trips cluster id, peers and addresses', async () => {
    const t: Ticket = {
      clusterId: deriveClusterKeys('c').clusterId,
      peers: [
        { peerId: await peerId(), addrs: ['/ip4/127.0.0.1/tcp/4001', '/ip6/::1/tcp/4001'] },
        { peerId: await peerId(), addrs: [] }
      ]
    }
    const text = encodeTicket(t)
    assert.match(text, /^aspen1[a-z2-7]+$/)
    assert.deepEqual(parseTicket(text), t)
    assert.deepEqual(parseTicket(`  ${text.toUpperCase().replace('ASPEN1', 'aspen1')}\n`), t)
    assert.deepEqual(ticketMultiaddrs(t), [`/ip4/127.0.0.1/tcp/4001/p2p/${t.peers[0].peerId}`, `/ip6/::1/tcp/4001/p2p/${t.peers[0].peerId}`])
  })

  it('strips a trailing /p2p/<own id> from addresses and keeps relay circuits', async () => {
    const p = await peerId()
    const relay = await peerId()
    const circuit = `/ip4/127.0.0.1/tcp/9/p2p/${relay}/p2p-circuit`
    const t = parseTicket(encodeTicket({ clusterId: 'abc', peers: [{ peerId: p, addrs: [`/ip4/127.0.0.1/tcp/1/p2p/${p}`, circuit] }] }))
    assert.deepEqual(t.peers[0].addrs, ['/ip4/127.0.0.1/tcp/1', circuit])
  })

  it('never contains the cookie or a derived secret', async () => {
    const cookie = 'my-very-secret-cookie-value'
    const keys = deriveClusterKeys(cookie)
    const text = encodeTicket({ clusterId: keys.clusterId, peers: [{ peerId: await peerId(), addrs: ['/ip4/127.0.0.1/tcp/4001'] }] })
    const payload = Buffer.from(base32Decode(text.slice(6)) ?? [])
    for (const secret of [Buffer.from(cookie), Buffer.from(keys.psk).subarray(31), Buffer.from(keys.hmacKey), Buffer.from(keys.topic)]) {
      assert.equal(payload.indexOf(secret), -1)
    }
    assert.ok(!text.includes(cookie))
  })

  it('enforces ≤ 16 peers and ≤ 8 addresses per peer, on encode and on parse', async () => {
    const p = await peerId()
    const addr = '/ip4/127.0.0.1/tcp/1'
    assert.throws(() => encodeTicket({ clusterId: 'abc', peers: Array.from({ length: 17 }, () => ({ peerId: p, addrs: [] })) }), TicketError)
    assert.throws(() => encodeTicket({ clusterId: 'abc', peers: [{ peerId: p, addrs: Array.from({ length: 9 }, () => addr) }] }), TicketError)
    assert.throws(() => encodeTicket({ clusterId: 'abc', peers: [] }), TicketError)
    const tooMany = TicketPayload.encode({ version: 1, clusterId: 'abc', peers: Array.from({ length: 17 }, () => ({ peerId: p, addrs: [] })) })
    assert.throws(() => parseTicket(`aspen1${base32Encode(tooMany)}`), TicketError)
    const tooManyAddrs = TicketPayload.encode({ version: 1, clusterId: 'abc', peers: [{ peerId: p, addrs: Array.from({ length: 9 }, () => new Uint8Array([4, 127, 0, 0, 1])) }] })
    assert.throws(() => parseTicket(`aspen1${base32Encode(tooManyAddrs)}`), TicketError)
  })

  it('gives clear TicketErrors for a wrong prefix, bad base32, truncation, other versions, bad peer ids', async () => {
    const good = encodeTicket({ clusterId: 'abc', peers: [{ peerId: await peerId(), addrs: ['/ip4/127.0.0.1/tcp/1'] }] })
    const cases: Array<[string, RegExp]> = [
      ['', /starts with/],
      ['aspen2abc', /starts with/],
      ['aspen1', /base32/],
      ['aspen1!!!!', /base32/],
      [good.slice(0, good.length - 9), /truncated|decode|base32/],
      [`aspen1${base32Encode(TicketPayload.encode({ version: 2, clusterId: 'abc', peers: [] }))}`, /version/],
      [`aspen1${base32Encode(TicketPayload.encode({ version: 1, clusterId: 'abc', peers: [{ peerId: 'nope', addrs: [] }] }))}`, /peer id/],
      [`aspen1${base32Encode(TicketPayload.encode({ version: 1, clusterId: 'ABC!', peers: [] }))}`, /cluster id/]
    ]
    for (const [input, re] of cases) {
      assert.throws(() => parseTicket(input), (e: unknown) => e instanceof TicketError && re.test(e.message), input)
    }
  })

  it('fuzz: random text and random payloads only ever throw TicketError', () => {
    const check = (s: string): void => {
      try {
        parseTicket(s)
      } catch (e) {
        assert.ok(e instanceof TicketError, `unexpected ${String(e)} for ${s}`)
      }
    }
    fc.assert(fc.property(fc.string({ maxLength: 200 }), (s) => { check(s); check(`aspen1${s}`) }), { numRuns: 2000 })
    fc.assert(fc.property(fc.uint8Array({ maxLength: 300 }), (b) => { check(`aspen1${base32Encode(b)}`) }), { numRuns: 3000 })
  })

  it('bootstrap entries: a ticket for another cluster is refused, multiaddrs are grouped by peer', async () => {
    const keys = deriveClusterKeys('c1')
    const p = await peerId()
    const ticket = encodeTicket({ clusterId: deriveClusterKeys('c2').clusterId, peers: [{ peerId: p, addrs: ['/ip4/127.0.0.1/tcp/1'] }] })
    assert.throws(() => parseBootstrap([ticket], keys.clusterId), (e: unknown) => e instanceof P2PConfigError && /cookie/.test(e.message))
    const own = encodeTicket({ clusterId: keys.clusterId, peers: [{ peerId: p, addrs: ['/ip4/127.0.0.1/tcp/1'] }] })
    const targets = parseBootstrap([own, `/ip4/127.0.0.1/tcp/2/p2p/${p}`, '/ip4/127.0.0.1/tcp/3'], keys.clusterId)
    assert.deepEqual(targets, [
      { peerId: p, addrs: [`/ip4/127.0.0.1/tcp/1/p2p/${p}`, `/ip4/127.0.0.1/tcp/2/p2p/${p}`] },
      { addrs: ['/ip4/127.0.0.1/tcp/3'] }
    ])
    assert.throws(() => parseBootstrap(['not-an-addr'], keys.clusterId), P2PConfigError)
  })
})
