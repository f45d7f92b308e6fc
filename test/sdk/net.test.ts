import {test} from 'node:test'
import assert from 'node:assert/strict'
import {ipNumber, ipString, maskOf, parseCidr} from '../../src/core/net.js'
import {SWARM_PORTS} from '../../src/core/ports.js'

test('parseCidr: IPv4 and IPv6 networks with a prefix that fits, nothing else', () => {
  assert.deepEqual(parseCidr('203.0.113.7/32'), {ip: '203.0.113.7', prefix: 32, v6: false})
  assert.deepEqual(parseCidr('2001:db8::/48'), {ip: '2001:db8::', prefix: 48, v6: true})
  for (const bad of ['10.0.0.1', '10.0.0.0/33', '300.1.1.1/24', 'x/24', '2001:db8::/129', '', '10.0.0.0/']) assert.equal(parseCidr(bad), undefined, bad)
})

test('addresses as numbers and back, and netmasks', () => {
  assert.equal(ipNumber('192.168.76.1'), 0xc0a84c01)
  assert.equal(ipString(0xc0a84c01), '192.168.76.1')
  assert.equal(ipString(maskOf(24)), '255.255.255.0')
  assert.equal(maskOf(0), 0)
  assert.equal(maskOf(32), 0xffffffff)
})

test('the swarm ports: management, gossip on both protocols, overlay', () => {
  assert.deepEqual(SWARM_PORTS.map(p => `${p.port}/${p.proto}`), ['2377/tcp', '7946/tcp', '7946/udp', '4789/udp'])
})
