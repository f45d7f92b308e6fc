/** Overlays through the endpoint: encrypted by default across clouds, and only then; encrypted=false turns it off. */
import {test} from 'node:test'
import assert from 'node:assert/strict'
import {overlayOptions} from '../../src/manage/overlay.js'
import type {MachineRecord} from '../../src/store/index.js'

const rec = (name: string, driver: string) => ({name, driver}) as MachineRecord

test('one driver: the options as given, nothing said', () => {
  assert.deepEqual(overlayOptions({a: '1'}, [rec('m1', 'lab'), rec('m2', 'lab')]), {options: {a: '1'}})
  assert.deepEqual(overlayOptions(null, [rec('m1', 'azure')]), {options: {}})
})

test('across drivers: encrypted by default, and the note says why and how to turn it off', () => {
  const r = overlayOptions(undefined, [rec('a', 'azure'), rec('o', 'openstack'), rec('b', 'azure')])
  assert.deepEqual(r.options, {encrypted: ''})
  assert.match(r.note!, /^encrypted \(IPsec\) by default: the swarm spans azure, openstack and has no mesh; -o encrypted=false to turn it off$/)
})

test('the user decides: encrypted kept as given; encrypted=false (or 0, no, off) removes the key Docker would encrypt on', () => {
  const swarm = [rec('a', 'azure'), rec('o', 'openstack')]
  assert.deepEqual(overlayOptions({encrypted: 'true'}, swarm), {options: {encrypted: 'true'}})
  for (const off of ['false', '0', 'no', 'OFF']) {
    const r = overlayOptions({encrypted: off, x: 'y'}, swarm)
    assert.deepEqual(r.options, {x: 'y'})
    assert.match(r.note!, /not encrypted/)
  }
})
