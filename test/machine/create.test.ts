import {test} from 'node:test'
import assert from 'node:assert/strict'
import {existsSync} from 'node:fs'
import type {CreateOptions} from '../../src/machine/index.js'
import {createOptions as opts, world, type WorldOptions} from '../fakes/world.js'

test('create makes the host, provisions it over SSH and secures the engine; rm takes it all away', async () => {
  const w = await world()
  try {
    const rec = await w.berth.create('n1', opts())
    assert.equal(rec.status, 'ready')
    assert.equal(rec.pid, undefined)
    assert.equal(w.cloud.ids('n1').length, 3)
    assert.ok(rec.ssh.hostKey, 'host key pinned at first contact')
    assert.ok(rec.tls?.sans.includes('127.0.0.1'))
    const daemon = JSON.parse(w.host.text('/etc/docker/daemon.json')!)
    assert.equal(daemon.tlsverify, true)
    assert.equal(w.host.files.get('/etc/docker/server-key.pem')!.mode, 0o600)
    assert.ok(w.engine.started)
    assert.equal((await w.berth.state(await w.berth.load('n1'))).state, 'Running')
    assert.deepEqual(await w.berth.rm('n1'), [])
    assert.deepEqual(w.cloud.ids(), [])
    assert.equal(await w.store.exists('n1'), false)
  } finally {
    await w.close()
  }
})

/** Every step of create, failed in turn: nothing may be left in the cloud or the store. */
const failures: Array<[string, WorldOptions, Partial<CreateOptions>, RegExp]> = [
  ['preCreate', {failAt: 'preCreate'}, {}, /bad --fake-size/],
  ['driver create, after the network and disk exist', {failAt: 'vm'}, {}, /refused the vm/],
  ['SSH wait', {noSsh: true}, {sshTimeoutSec: 1}, /SSH to root@127\.0\.0\.1:\d+ not ready after 1 s/],
  ['provision', {failCommand: /exec \/usr\/bin\/dockerd/}, {}, /restart dockerd failed \(exit 1\)/],
  ['engine wait', {engineDark: true}, {engineTimeoutSec: 1}, /did not answer over TLS within 1 s/],
  ['swarm join', {}, {swarm: {name: 's1', manager: true}}, /swarm refused/],
]

for (const [step, wo, co, why] of failures) {
  test(`a failure at ${step} rolls back everything and removes the record`, async () => {
    const w = await world(wo)
    if (step === 'swarm join') w.engine.failSwarm = 'swarm refused'
    try {
      await assert.rejects(w.berth.create('n1', opts(co)), why)
      assert.deepEqual(w.cloud.ids(), [], 'cloud resources left')
      assert.equal(existsSync(w.store.machineDir('n1')), false, 'machine folder left')
      if (step === 'driver create, after the network and disk exist') assert.ok(w.progress.some(p => /rolling back/.test(p)))
    } finally {
      await w.close()
    }
  })
}

test('a rollback that cannot remove everything keeps the record as Error, naming what is left', async () => {
  const w = await world({failAt: 'vm'})
  const real = w.cloud.add.bind(w.cloud)
  w.cloud.add = (id, kind, machine) => {
    real(id, kind, machine)
    if (kind === 'disk') w.cloud.stuck.add(id)
  }
  try {
    await assert.rejects(w.berth.create('n1', opts()), /refused the vm/)
    const rec = await w.berth.load('n1')
    assert.equal(rec.status, 'error')
    assert.match(rec.error!, /could not remove: disk-\w+: the cloud refused/)
    assert.equal((await w.berth.state(rec)).state, 'Error')
    w.cloud.stuck.clear()
    assert.deepEqual(await w.berth.rm('n1'), [])
    assert.deepEqual(w.cloud.ids(), [])
  } finally {
    await w.close()
  }
})

test('a name that exists is refused before anything is made', async () => {
  const w = await world()
  try {
    await w.berth.create('n1', opts())
    const before = w.cloud.ids()
    await assert.rejects(w.berth.create('n1', opts()), (err: Error) => err.name === 'ExistsError' && /machine "n1" already exists/.test(err.message))
    assert.deepEqual(w.cloud.ids(), before)
    await w.berth.rm('n1')
  } finally {
    await w.close()
  }
})

test('create into a swarm initialises it; rm leaves the swarm before the host goes', async () => {
  const w = await world()
  try {
    const rec = await w.berth.create('m1', opts({swarm: {name: 's1', manager: true}}))
    assert.equal(rec.swarm?.name, 's1')
    assert.equal(rec.swarm?.nodeId, w.engine.swarm.nodeId)
    assert.deepEqual((await w.berth.swarm.members('s1')).map(r => r.name), ['m1'])
    await w.berth.rm('m1')
    assert.ok(w.engine.requests.includes('POST /swarm/leave'))
    assert.equal(w.engine.swarm.state, 'inactive')
    assert.deepEqual(w.cloud.ids(), [])
  } finally {
    await w.close()
  }
})
