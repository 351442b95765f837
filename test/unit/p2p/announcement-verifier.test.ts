// The announcement verifier on a fake clock: authentic fresh announcements are accepted once; tampered, foreign,
// stale, replayed, spoofed, flooding and membership-conflicting ones are rejected with their reason.
import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import fc from 'fast-check'
import { AnnouncementVerifier } from '../../../src/p2p/announcement-verifier.js'
import { MAX_ANNOUNCEMENT_BYTES, sealAnnouncement } from '../../../src/p2p/announcement.js'
import type { AnnouncementContent } from '../../../src/p2p/announcement.js'
import { deriveClusterKeys } from '../../../src/p2p/cookie.js'
import { P2PConfigError } from '../../../src/p2p/errors.js'
import { Announcement } from '../../../src/p2p/wire/discovery.js'

const keys = deriveClusterKeys('verifier-test-cookie')
const T0 = 1_800_000_000_000

async function peer (): Promise<string> {
  return peerIdFromPrivateKey(await generateKeyPair('Ed25519')).toString()
}

function setup (opts: { bindings?: Map<number, string> } = {}): { v: AnnouncementVerifier, clock: { now: number }, self: Promise<string> } {
  const clock = { now: T0 }
  const self = peer()
  const v = new AnnouncementVerifier({
    clusterId: keys.clusterId,
    hmacKey: keys.hmacKey,
    selfPeerId: 'self-peer',
    clock: () => clock.now,
    bindingFor: (id) => opts.bindings?.get(id)
  })
  return { v, clock, self }
}

function content (peerId: string, over: Partial<AnnouncementContent> = {}): AnnouncementContent {
  return { clusterId: keys.clusterId, nodeId: 7, peerId, addrs: ['/ip4/127.0.0.1/tcp/4001'], timestampMs: T0, nonce: randomBytes(16), ...over }
}

describe('announcement verifier', () => {
  it('accepts an authentic, fresh announcement from the peer it describes', async () => {
    const { v } = setup()
    const p = await peer()
    const r = v.verify(sealAnnouncement(content(p), keys.hmacKey), p)
    assert.deepEqual(r, { ok: true, announcement: { nodeId: 7, peerId: p, addrs: ['/ip4/127.0.0.1/tcp/4001'], timestampMs: T0 } })
  })

  it('rejects a replay of an accepted announcement, and anything older than what was accepted', async () => {
    const { v, clock } = setup()
    const p = await peer()
    const a = sealAnnouncement(content(p), keys.hmacKey)
    assert.equal(v.verify(a, p).ok, true)
    clock.now += 10_000
    assert.deepEqual(v.verify(a, p), { ok: false, reason: 'replayed', nodeId: 7, peerId: p })
    const older = sealAnnouncement(content(p, { timestampMs: T0 - 1000 }), keys.hmacKey)
    assert.deepEqual(v.verify(older, p), { ok: false, reason: 'replayed', nodeId: 7, peerId: p })
    clock.now += 10_000 // let the rate limiter refill
    const newer = sealAnnouncement(content(p, { timestampMs: T0 + 10_000 }), keys.hmacKey)
    assert.equal(v.verify(newer, p).ok, true)
  })

  it('a replay after the freshness window is stale (nonces need not be kept forever)', async () => {
    const { v, clock } = setup()
    const p = await peer()
    const a = sealAnnouncement(content(p), keys.hmacKey)
    assert.equal(v.verify(a, p).ok, true)
    clock.now += 2 * 60 * 1000 + 1
    const r = v.verify(a, p)
    assert.equal(r.ok, false)
    assert.equal(!r.ok && r.reason, 'stale')
  })

  it('rejects announcements more than 2 minutes from our clock in either direction', async () => {
    const { v } = setup()
    const p = await peer()
    for (const skew of [-120_001, 120_001, -10 * 60_000]) {
      const r = v.verify(sealAnnouncement(content(p, { timestampMs: T0 + skew }), keys.hmacKey), p)
      assert.equal(!r.ok && r.reason, 'stale', `skew ${skew}`)
    }
    for (const skew of [-120_000, 120_000]) {
      const q = await peer()
      assert.equal(v.verify(sealAnnouncement(content(q, { timestampMs: T0 + skew }), keys.hmacKey), q).ok, true, `skew ${skew}`)
    }
  })

  it('rejects any tampering with the body or the HMAC, and announcements sealed with another cookie', async () => {
    const { v } = setup()
    const p = await peer()
    const sealed = sealAnnouncement(content(p), keys.hmacKey)
    const outer = Announcement.decode(sealed)
    const body = Uint8Array.from(outer.body)
    body[body.length - 1] ^= 1
    const tampered = Announcement.encode({ body, hmac: outer.hmac })
    assert.equal((v.verify(tampered, p) as { reason: string }).reason, 'bad-hmac')
    const hmac = Uint8Array.from(outer.hmac)
    hmac[0] ^= 1
    assert.equal((v.verify(Announcement.encode({ body: outer.body, hmac }), p) as { reason: string }).reason, 'bad-hmac')
    const foreign = sealAnnouncement(content(p), deriveClusterKeys('other-cookie').hmacKey)
    assert.equal((v.verify(foreign, p) as { reason: string }).reason, 'bad-hmac')
  })

  it('rejects an announcement relayed or forged by a peer other than the one it describes', async () => {
    const { v } = setup()
    const p = await peer()
    const mallory = await peer()
    const r = v.verify(sealAnnouncement(content(p), keys.hmacKey), mallory)
    assert.equal(!r.ok && r.reason, 'peer-mismatch')
  })

  it('rejects unsigned messages, our own announcements, other clusters and oversized messages', async () => {
    const { v } = setup()
    const p = await peer()
    const a = sealAnnouncement(content(p), keys.hmacKey)
    assert.equal((v.verify(a, undefined) as { reason: string }).reason, 'unsigned')
    assert.equal((v.verify(a, 'self-peer') as { reason: string }).reason, 'self')
    assert.equal((v.verify(sealAnnouncement(content(p, { clusterId: 'ffffffffffffffff' }), keys.hmacKey), p) as { reason: string }).reason, 'wrong-cluster')
    assert.equal((v.verify(new Uint8Array(MAX_ANNOUNCEMENT_BYTES + 1), p) as { reason: string }).reason, 'too-large')
  })

  it('rate-limits each peer to a burst of 3 and 12 per minute, before any crypto', async () => {
    const { v, clock } = setup()
    const p = await peer()
    const results: string[] = []
    for (let i = 0; i < 5; i++) {
      clock.now += 1
      const r = v.verify(sealAnnouncement(content(p, { timestampMs: clock.now }), keys.hmacKey), p)
      results.push(r.ok ? 'ok' : r.reason)
    }
    assert.deepEqual(results, ['ok', 'ok', 'ok', 'rate-limited', 'rate-limited'])
    // garbage also consumes tokens (so floods are cheap to drop)
    clock.now += 5000
    assert.equal((v.verify(new Uint8Array([1, 2, 3]), p) as { reason: string }).reason, 'undecodable')
    assert.equal((v.verify(sealAnnouncement(content(p, { timestampMs: clock.now }), keys.hmacKey), p) as { reason: string }).reason, 'rate-limited')
    clock.now += 5000
    assert.equal(v.verify(sealAnnouncement(content(p, { timestampMs: clock.now }), keys.hmacKey), p).ok, true)
    // other peers are unaffected
    const q = await peer()
    assert.equal(v.verify(sealAnnouncement(content(q, { timestampMs: clock.now }), keys.hmacKey), q).ok, true)
  })

  it('rejects an announcement claiming a member node id from another peer id', async () => {
    const member = await peer()
    const { v } = setup({ bindings: new Map([[7, member]]) })
    const mallory = await peer()
    const r = v.verify(sealAnnouncement(content(mallory), keys.hmacKey), mallory)
    assert.deepEqual(r, { ok: false, reason: 'binding-conflict', nodeId: 7, peerId: mallory })
    assert.equal(v.verify(sealAnnouncement(content(member), keys.hmacKey), member).ok, true)
  })

  it('refuses to seal an announcement over 4 KiB', async () => {
    const p = await peer()
    const addrs = Array.from({ length: 16 }, (_, i) => `/dns4/${'x'.repeat(300)}${i}.example/tcp/4001`)
    assert.throws(() => sealAnnouncement(content(p, { addrs }), keys.hmacKey), P2PConfigError)
  })

  it('fuzz: arbitrary bytes are rejected with a reason, never thrown', async () => {
    const { v } = setup()
    const senders = await Promise.all([peer(), peer(), peer()])
    fc.assert(fc.property(fc.uint8Array({ maxLength: 600 }), fc.nat({ max: 2 }), (bytes, i) => {
      const r = v.verify(bytes, senders[i])
      assert.equal(r.ok, false)
    }), { numRuns: 3000 })
  })
})
