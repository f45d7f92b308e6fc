/**
 * The mesh's choices that need no host: which mesh a joiner takes (a swarm is all on the mesh or
 * not at all), the subnet flag, and the host files, which carry no private key.
 */
import {test} from 'node:test'
import assert from 'node:assert/strict'
import {checkMeshSubnet, meshFor} from '../../src/mesh/index.js'
import {peersConf, UP_SCRIPT, setPeer} from '../../src/mesh/scripts.js'
import {EngineOptions, type MachineRecord} from '../../src/store/record.js'
import {world} from '../fakes/world.js'

const rec = (name: string, extra: Partial<MachineRecord>): MachineRecord => ({
  schemaVersion: 2, name, id: 'abcdef0123456789', driver: 'fake', createdAt: new Date().toISOString(), status: 'ready',
  driverData: {}, ssh: {}, engine: EngineOptions.parse({}), ...extra,
} as MachineRecord)

test('the subnet flag: IPv4 with room, written as its network', () => {
  assert.equal(checkMeshSubnet('10.209.3.7/16'), '10.209.0.0/16')
  assert.equal(checkMeshSubnet('192.168.50.0/24'), '192.168.50.0/24')
  for (const bad of ['10.0.0.0/30', 'fd00::/64', '10.0.0.0', 'x/16', '10.0.0.0/4']) assert.throws(() => checkMeshSubnet(bad), /bad --swarm-mesh-subnet/)
})

test('a joiner takes its swarm\'s mesh; a mesh is not grafted onto a plain swarm; different settings are refused', async () => {
  const w = await world()
  try {
    const ctx = w.berth.ctx
    assert.equal(await meshFor(ctx, 'new'), undefined)
    assert.deepEqual(await meshFor(ctx, 'new', {kind: 'wireguard'}), {kind: 'wireguard', subnet: '10.209.0.0/16', port: 51820})
    await w.store.reserve('p1')
    await w.store.save(rec('p1', {swarm: {name: 'plain', manager: true, labels: {}, nodeId: 'n1'}}))
    await assert.rejects(meshFor(ctx, 'plain', {kind: 'wireguard'}), /swarm plain was formed without a mesh \(p1\)/)
    await w.store.reserve('m1')
    await w.store.save(rec('m1', {
      swarm: {name: 'hy', manager: true, labels: {}, nodeId: 'n2'},
      mesh: {kind: 'wireguard', swarm: 'hy', subnet: '10.50.0.0/24', address: '10.50.0.1', port: 51900, mtu: 1420},
    }))
    assert.deepEqual(await meshFor(ctx, 'hy'), {kind: 'wireguard', subnet: '10.50.0.0/24', port: 51900})
    assert.deepEqual(await meshFor(ctx, 'hy', {kind: 'wireguard', subnet: '10.50.0.9/24'}), {kind: 'wireguard', subnet: '10.50.0.0/24', port: 51900})
    await assert.rejects(meshFor(ctx, 'hy', {kind: 'wireguard', subnet: '10.51.0.0/24'}), /mesh is on 10\.50\.0\.0\/24, not 10\.51\.0\.0\/24/)
    await assert.rejects(meshFor(ctx, 'hy', {kind: 'wireguard', port: 1}), /listens on 51900\/udp, not 1/)
  } finally {
    await w.close()
  }
})

test('host files: peers with keepalive, the private key only ever a file', () => {
  const conf = peersConf(51820, [{publicKey: 'K'.repeat(43) + '=', address: '10.209.0.2', endpoint: '192.0.2.1:51820'}, {publicKey: 'L'.repeat(43) + '=', address: '10.209.0.3'}])
  assert.match(conf, /^\[Interface\]\nListenPort = 51820\n/)
  assert.equal(conf.match(/PersistentKeepalive = 25/g)?.length, 2)
  assert.equal(conf.match(/Endpoint = /g)?.length, 1)
  assert.doesNotMatch(conf, /PrivateKey/)
  assert.match(UP_SCRIPT, /private-key \/etc\/docker\/berth-mesh\/private\.key/)
  assert.match(setPeer({publicKey: 'K', address: '10.209.0.2'}), /^wg set berth0 peer K allowed-ips 10\.209\.0\.2\/32 persistent-keepalive 25$/)
})
