import {test} from 'node:test'
import assert from 'node:assert/strict'
import {readFileSync, writeFileSync} from 'node:fs'
import path from 'node:path'
import {issue, makeCA} from '../../src/certs/index.js'
import {createOptions as opts, world} from '../fakes/world.js'

test('rm of an imported machine forgets it and leaves the host; --remove-host removes it as berth would', async () => {
  const w = await world()
  try {
    for (const n of ['a1', 'a2']) {
      const rec = await w.berth.create(n, opts())
      await w.store.save({...rec, adopted: {from: 'docker-machine', source: '/x/config.json', at: rec.createdAt, unmapped: []}})
    }
    const made = w.cloud.ids('a1')
    assert.ok(made.length)
    assert.deepEqual(await w.berth.rm('a1'), [])
    assert.equal(await w.store.exists('a1'), false)
    assert.deepEqual(w.cloud.ids('a1'), made, 'the host and what came with it stay')
    assert.ok(w.progress.some(p => p === 'a1: forgetting (imported: the host stays as it is)'))
    assert.deepEqual(await w.berth.rm('a2', {removeHost: true}), [])
    assert.deepEqual(w.cloud.ids('a2'), [])
  } finally {
    await w.close()
  }
})

test('a machine with its own CA is re-certified by that CA, and moves onto the store\'s with --client-certs', async () => {
  const w = await world()
  try {
    const rec = await w.berth.create('c1', opts())
    const dir = w.store.machineDir('c1')
    const ca = await makeCA('own')
    const client = await issue(ca, {cn: 'c', usage: 'client'})
    writeFileSync(path.join(dir, 'ca.pem'), ca.certPem)
    writeFileSync(path.join(dir, 'ca-key.pem'), ca.keyPem)
    writeFileSync(path.join(dir, 'cert.pem'), client.certPem)
    writeFileSync(path.join(dir, 'key.pem'), client.keyPem)
    await w.store.save({...rec, ca: 'machine'})
    await w.berth.regenerateCerts('c1')
    assert.equal(w.host.text('/etc/docker/ca.pem'), ca.certPem, 'the host trusts the machine\'s own CA')
    assert.equal(readFileSync(path.join(dir, 'cert.pem'), 'utf8'), client.certPem, 'its client certificate stays')
    const storeCa = readFileSync(path.join(w.store.certsDir, 'ca.pem'), 'utf8')
    assert.notEqual(storeCa, ca.certPem)
    await w.berth.regenerateCerts('c1', {clientCerts: true})
    const after = await w.store.load('c1')
    assert.equal(after.ca, undefined)
    assert.equal(w.host.text('/etc/docker/ca.pem'), readFileSync(path.join(w.store.certsDir, 'ca.pem'), 'utf8'))
    assert.equal(readFileSync(path.join(dir, 'ca.pem'), 'utf8'), readFileSync(path.join(w.store.certsDir, 'ca.pem'), 'utf8'))
    assert.throws(() => readFileSync(path.join(dir, 'ca-key.pem')))
  } finally {
    await w.close()
  }
})

test('regenerate-certs of a docker-machine host gives it berth\'s whole engine setup, as its dockerd flags would be dropped', async () => {
  const w = await world()
  try {
    const rec = await w.berth.create('d1', opts())
    await w.store.save({...rec, adopted: {from: 'docker-machine', source: '/x/config.json', at: rec.createdAt, unmapped: []}})
    w.host.files.delete('/etc/docker/daemon.json')
    await w.berth.regenerateCerts('d1')
    assert.equal(JSON.parse(w.host.text('/etc/docker/daemon.json')!).tlsverify, true)
    assert.equal((await w.berth.state(await w.berth.load('d1'))).state, 'Running')
  } finally {
    await w.close()
  }
})

