// Wire version negotiation: a node serves and offers its own minor and the previous one, so neighbours in a rolling
// upgrade meet on the older id; a different major or a minor two steps away shares no id and is refused with a
// typed error naming both versions.
import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import {
  accepted, compatible, dialProtocols, incompatibility, IncompatibleVersionError, negotiate, parseProtocolId, protocolId,
  servedProtocols, WIRE_VERSION, type WireVersion
} from '../../../src/p2p/protocol-version.js'
import { CLIENT_PROTOCOL, RAFT_PROTOCOL, SNAPSHOT_PROTOCOL } from '../../../src/p2p/index.js'

const v = (major: number, minor: number): WireVersion => ({ major, minor })

describe('wire protocol versions', () => {
  it('the ids of this build are the /x.y.0 ids of WIRE_VERSION (1.0.0 so far)', () => {
    assert.equal(RAFT_PROTOCOL, `/aspen/raft/${WIRE_VERSION.major}.${WIRE_VERSION.minor}.0`)
    assert.equal(SNAPSHOT_PROTOCOL, '/aspen/raft-snapshot/1.0.0')
    assert.equal(CLIENT_PROTOCOL, '/aspen/client/1.0.0')
  })

  it('a node serves and offers its own minor first, then the previous one', () => {
    assert.deepEqual(servedProtocols('raft', v(1, 3)), ['/aspen/raft/1.3.0', '/aspen/raft/1.2.0'])
    assert.deepEqual(dialProtocols('client', v(2, 0)), ['/aspen/client/2.0.0'])
    assert.deepEqual(accepted(v(1, 0)), [v(1, 0)])
  })

  it('negotiation picks the newest id both sides know: old and new minor meet on the old one, in both directions', () => {
    assert.deepEqual(negotiate(v(1, 1), v(1, 0)), v(1, 0))
    assert.deepEqual(negotiate(v(1, 0), v(1, 1)), v(1, 0))
    assert.deepEqual(negotiate(v(1, 1), v(1, 1)), v(1, 1))
    assert.equal(negotiate(v(1, 2), v(1, 0)), undefined, 'two minors apart: upgrade one step at a time')
    assert.equal(negotiate(v(2, 0), v(1, 9)), undefined, 'majors differ')
  })

  it('compatible agrees with negotiate for every pair of small versions', () => {
    for (let a = 1; a <= 2; a++) {
      for (let b = 0; b <= 3; b++) {
        for (let c = 1; c <= 2; c++) {
          for (let d = 0; d <= 3; d++) {
            assert.equal(compatible(v(a, b), v(c, d)), negotiate(v(a, b), v(c, d)) !== undefined, `${a}.${b} vs ${c}.${d}`)
          }
        }
      }
    }
  })

  it('parses only our ids, with bounded components', () => {
    assert.deepEqual(parseProtocolId('/aspen/raft-snapshot/3.14.0'), { family: 'raft-snapshot', version: v(3, 14) })
    assert.equal(parseProtocolId('/ipfs/id/1.0.0'), undefined)
    assert.equal(parseProtocolId('/aspen/raft/1.0'), undefined)
    assert.equal(parseProtocolId('/aspen/raft/99999.0.0'), undefined)
    assert.deepEqual(parseProtocolId(protocolId('client', v(7, 1))), { family: 'client', version: v(7, 1) })
  })

  it('a peer announcing only another major is refused with INCOMPATIBLE_VERSION naming both versions', () => {
    const err = incompatibility('12D3KooWpeer', 'raft', v(1, 0), ['/ipfs/id/1.0.0', '/aspen/raft/2.0.0', '/aspen/client/2.0.0'])
    assert.ok(err instanceof IncompatibleVersionError)
    assert.equal(err.code, 'INCOMPATIBLE_VERSION')
    assert.match(err.message, /peer 12D3KooWpeer speaks \/aspen\/raft 2\.0 but this node speaks 1\.0/)
    assert.match(err.message, /major versions differ/)
  })

  it('a peer two minors ahead is refused; one minor ahead or behind, or not an aspen peer at all, is not', () => {
    const twoAhead = incompatibility('p', 'raft', v(1, 0), servedProtocols('raft', v(1, 2)))
    assert.ok(twoAhead instanceof IncompatibleVersionError)
    assert.match(twoAhead.message, /more than one apart/)
    assert.equal(incompatibility('p', 'raft', v(1, 0), servedProtocols('raft', v(1, 1))), undefined)
    assert.equal(incompatibility('p', 'raft', v(1, 1), servedProtocols('raft', v(1, 0))), undefined)
    assert.equal(incompatibility('p', 'raft', v(1, 0), ['/ipfs/ping/1.0.0']), undefined)
  })
})
