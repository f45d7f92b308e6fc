/** The swarm's address choice: private inside one cloud network, public across networks. */
import {test} from 'node:test'
import assert from 'node:assert/strict'
import {addressFrom, advertiseAddress} from '../../src/swarm/address.js'

const az = (n: number, network = 'azure:sub/rg/vnet') => ({name: `az${n}`, address: `203.0.113.${n}`, addressing: {public: `203.0.113.${n}`, private: `10.0.0.${n}`, network}})
const conoha = {name: 'tyo1', address: '198.51.100.7', addressing: {public: '198.51.100.7'}}
const head = {name: 'head', address: '192.0.2.2'}

test('alone, or with members of its own network only: the private address', () => {
  assert.equal(advertiseAddress(az(1), []), '10.0.0.1')
  assert.equal(advertiseAddress(az(2), [az(1), az(3)]), '10.0.0.2')
  assert.equal(addressFrom(az(2), az(1)), '10.0.0.1')
})

test('members spanning networks: the public address, and a manager dialled at its public one', () => {
  assert.equal(advertiseAddress(az(2), [head, az(1)]), '203.0.113.2')
  assert.equal(advertiseAddress(az(2), [conoha]), '203.0.113.2')
  assert.equal(advertiseAddress(az(2), [az(1, 'azure:sub/rg/other-vnet')]), '203.0.113.2')
  assert.equal(addressFrom(conoha, az(1)), '203.0.113.1')
  assert.equal(addressFrom(az(1), head), '192.0.2.2')
  assert.equal(addressFrom(az(2), az(1, 'azure:sub/rg/other-vnet')), '203.0.113.1')
})

test('a host with one address (a lab host, a ConoHa server) advertises it, whoever else is in the swarm', () => {
  assert.equal(advertiseAddress(conoha, [az(1)]), '198.51.100.7')
  assert.equal(advertiseAddress(head, []), '192.0.2.2')
  assert.equal(addressFrom(head, conoha), '198.51.100.7')
})

test('a private address without a network name is never used: nothing says who shares it', () => {
  const odd = {name: 'x', address: '203.0.113.9', addressing: {private: '10.9.9.9'}}
  assert.equal(advertiseAddress(odd, []), '203.0.113.9')
  assert.equal(addressFrom(odd, odd), '203.0.113.9')
})
