/**
 * The doctor's judgement of what its listeners saw: NAT told from a firewall rule and from a
 * missing route, and a SYN that got through counted even where nothing listens.
 */
import {test} from 'node:test'
import assert from 'node:assert/strict'
import {judge} from '../../src/swarm/doctor.js'
import type {Observed} from '../../src/swarm/doctor-probe.js'

const ms = [{name: 'head', address: '10.1.0.2'}, {name: 'w1', address: '192.0.2.3'}]
const all = (src: string, from: string) => [
  {proto: 'tcp', src, port: 2377}, {proto: 'tcp', src, port: 7946},
  {proto: 'udp', src, port: 7946, from}, {proto: 'udp', src, port: 4789, from},
]

test('a head behind NAT: out is green and seen as the router, in is red with the NAT named', () => {
  const obs: Observed[] = [
    {name: 'head', own: ['10.1.0.2'], seen: [], tried: {'w1/2377/tcp': 'refused'}, rules: ['-P INPUT ACCEPT']},
    {name: 'w1', own: ['192.0.2.3'], seen: all('192.0.2.2', 'head'), tried: {'head/2377/tcp': 'network is unreachable'}, rules: []},
  ]
  const r = judge('s', ms, obs)
  assert.equal(r.ok, false)
  assert.equal(r.members[0].nat, '192.0.2.2')
  assert.equal(r.members[1].nat, undefined)
  const out = r.paths.filter(p => p.from === 'head')
  assert.ok(out.every(p => p.ok && p.seenAs === '192.0.2.2'))
  const inward = r.paths.filter(p => p.from === 'w1')
  assert.equal(inward.length, 4)
  for (const p of inward) {
    assert.equal(p.ok, false)
    assert.match(p.reason!, /head is behind NAT: it sees itself as 10\.1\.0\.2, the others see it as 192\.0\.2\.2/)
    assert.match(p.fix!, /--swarm-mesh wireguard/)
  }
})

test('a rule on the far end is named; a path with no route is told apart; a refused SYN is a path', () => {
  const obs: Observed[] = [
    {name: 'head', own: ['10.1.0.2'], seen: all('192.0.2.3', 'w1').filter(s => s.port !== 4789), tried: {}, rules: ['-P INPUT ACCEPT', '-A INPUT -p udp -m udp --dport 4789 -j DROP']},
    {name: 'w1', own: ['192.0.2.3'], seen: [{proto: 'udp', src: '10.1.0.2', port: 7946, from: 'head'}], tried: {'head/2377/tcp': 'refused'}, rules: []},
  ]
  // head -> w1: 2377 refused by nobody listening counts only when the SYN was seen or the sender was answered.
  obs[0].tried = {'w1/2377/tcp': 'refused', 'w1/7946/tcp': 'no route to host'}
  const r = judge('s', ms, obs)
  const get = (from: string, port: number, proto: string) => r.paths.find(p => p.from === from && p.port === port && p.proto === proto)!
  assert.equal(get('w1', 4789, 'udp').ok, false)
  assert.match(get('w1', 4789, 'udp').reason!, /head's firewall drops it: -A INPUT -p udp -m udp --dport 4789 -j DROP/)
  assert.equal(get('w1', 2377, 'tcp').ok, true)
  assert.equal(get('head', 2377, 'tcp').ok, true)
  assert.equal(get('head', 7946, 'tcp').ok, false)
  assert.match(get('head', 7946, 'tcp').reason!, /head has no route to 192\.0\.2\.3/)
  assert.match(get('head', 4789, 'udp').reason!, /dropped between head and w1/)
  assert.equal(r.members.every(m => !m.nat), true)
})
