// The NAT topology's plan (pure, no root needed): every address it assigns lies in the test range, every link it
// makes lives inside one of its own namespaces, and the routers forward nothing unsolicited.
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { NAMESPACE_ROLES, namespaceNames, NAT_ADDRS, NETNS_PREFIX, routerRuleset, topologySteps } from './netns.js'

function inTestRange (ip: string): boolean {
  const [a, b] = ip.split('.').map(Number)
  return a === 10 && b === 77
}

describe('NAT test topology plan', () => {
  const pid = 4242
  const steps = topologySteps(pid)
  const ns = new Set(Object.values(namespaceNames(pid)))

  it('assigns only addresses inside 10.77.0.0/16', () => {
    const assigned = steps.flatMap((s) => s.kind === 'ip' ? s.args.filter((a) => /^\d+\.\d+\.\d+\.\d+(\/\d+)?$/.test(a)) : [])
    assert.ok(assigned.length >= Object.keys(NAT_ADDRS).length)
    for (const a of assigned) assert.ok(inTestRange(a.split('/')[0]), `${a} is outside the test range`)
    for (const a of Object.values(NAT_ADDRS)) assert.ok(inTestRange(a))
  })

  it('creates links, addresses and routes only inside its own pid-named namespaces', () => {
    for (const s of steps) {
      if (s.kind === 'exec') {
        assert.ok(ns.has(s.ns))
        continue
      }
      if (s.args[0] === 'netns') {
        assert.ok(ns.has(s.args[2]), `netns ${s.args[1]} of a foreign name: ${s.args.join(' ')}`)
        continue
      }
      assert.equal(s.args[0], '-n', `host-namespace command: ip ${s.args.join(' ')}`)
      assert.ok(ns.has(s.args[1]))
      const peerNs = s.args.indexOf('netns')
      if (peerNs >= 0) assert.ok(ns.has(s.args[peerNs + 1]), `veth peer outside our namespaces: ${s.args.join(' ')}`)
    }
    for (const name of ns) assert.ok(name.startsWith(`${NETNS_PREFIX}${pid}-`))
    assert.equal(ns.size, NAMESPACE_ROLES.length)
  })

  it('gives each router a masquerade and a forward chain that drops what was not solicited', () => {
    const rules = routerRuleset('10.77.1.0/24')
    assert.match(rules, /oifname "wan0" masquerade/)
    assert.match(rules, /hook forward priority filter; policy drop;/)
    assert.match(rules, /ct state established,related accept/)
    assert.doesNotMatch(rules, /iifname "wan0" .*accept/)
  })
})
