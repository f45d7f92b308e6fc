import {test} from 'node:test'
import assert from 'node:assert/strict'
import {spawn} from 'node:child_process'
import {readFileSync} from 'node:fs'
import path from 'node:path'
import {fileURLToPath} from 'node:url'
import {FakeCloud} from '../fakes/driver.js'
import {createOptions, world} from '../fakes/world.js'
import {tmpDir} from '../helpers.js'

const opts = createOptions()
const here = path.dirname(fileURLToPath(import.meta.url))

test('an interrupted create (its process gone, the record left "creating") shows as Error and rm removes what it made', async () => {
  const root = tmpDir('crash')
  const cloudFile = path.join(root, 'cloud.json')
  const child = spawn(process.execPath, [path.join(here, '..', 'fakes', 'crash-create.js'), root, cloudFile, 'n1'], {stdio: 'inherit'})
  const signal = await new Promise(resolve => child.on('exit', (_code, sig) => resolve(sig)))
  assert.equal(signal, 'SIGKILL')
  const cloud = new FakeCloud(cloudFile)
  assert.equal(cloud.ids('n1').length, 3, 'the create got as far as the VM')
  const w = await world({cloud, storeRoot: root})
  try {
    const rec = await w.berth.load('n1')
    assert.equal(rec.status, 'creating')
    const st = await w.berth.state(rec)
    assert.equal(st.state, 'Error')
    assert.match(st.error!, /create was interrupted/)
    assert.deepEqual(await w.berth.rm('n1'), [])
    assert.deepEqual(new FakeCloud(cloudFile).ids(), [])
    assert.equal(await w.store.exists('n1'), false)
  } finally {
    await w.close()
  }
})

test('power: stop and start go through the driver; start brings the engine back over SSH', async () => {
  const w = await world()
  try {
    await w.berth.create('n1', opts)
    await w.berth.power('n1', 'stop')
    assert.equal((await w.berth.state(await w.berth.load('n1'))).state, 'Stopped')
    const before = w.host.commands.length
    await w.berth.power('n1', 'start')
    assert.equal((await w.berth.state(await w.berth.load('n1'))).state, 'Running')
    assert.ok(w.host.commands.slice(before).some(c => /start dockerd|exec \/usr\/bin\/dockerd/.test(c)), 'engine started after the host')
    await w.berth.rm('n1')
  } finally {
    await w.close()
  }
})

test('power refuses a machine that is not ready, and unknown machines are NotFoundError', async () => {
  const w = await world({failAt: 'vm'})
  const real = w.cloud.delete.bind(w.cloud)
  w.cloud.delete = () => false
  try {
    await assert.rejects(w.berth.create('n1', opts))
    await assert.rejects(w.berth.power('n1', 'start'), (err: Error) => err.name === 'ConflictError' && /machine "n1" is not ready \(error: /.test(err.message))
    await assert.rejects(w.berth.power('ghost', 'start'), (err: Error) => err.name === 'NotFoundError' && /machine "ghost" does not exist/.test(err.message))
    await assert.rejects(w.berth.rm('ghost'), {name: 'NotFoundError'})
    w.cloud.delete = real
    assert.deepEqual(await w.berth.rm('n1', {force: true}), [])
  } finally {
    await w.close()
  }
})

test('withLock serialises work on one machine and hands each holder the fresh record', async () => {
  const w = await world()
  try {
    await w.berth.create('n1', opts)
    const order: string[] = []
    const first = w.berth.withLock('n1', async rec => {
      order.push('a-in')
      await new Promise(r => setTimeout(r, 100))
      rec.engine.labels = ['by=a']
      await w.store.save(rec)
      order.push('a-out')
    })
    await new Promise(r => setTimeout(r, 20))
    const second = w.berth.withLock('n1', async rec => {
      order.push(`b-in:${rec.engine.labels.join(',')}`)
    })
    await Promise.all([first, second])
    assert.deepEqual(order, ['a-in', 'a-out', 'b-in:by=a'])
    await assert.rejects(w.berth.withLock('ghost', async () => {}), /machine "ghost" does not exist/)
    await w.berth.rm('n1')
  } finally {
    await w.close()
  }
})

test('a swarm join is on record before the engine is asked, and the record holds the membership after', async () => {
  const w = await world()
  try {
    await w.berth.create('n1', opts)
    const file = path.join(w.store.machineDir('n1'), 'config.json')
    w.engine.failSwarm = 'swarm init refused'
    await assert.rejects(w.berth.swarm.join('n1', {name: 's1', manager: true}), /swarm init refused/)
    let rec = await w.berth.load('n1')
    assert.equal(rec.swarm, undefined)
    assert.equal(rec.swarmJoin, undefined, 'an engine that refused is in no swarm: the intent goes')
    w.engine.failSwarm = undefined
    let during: unknown
    w.engine.onRequest = key => {
      if (key === 'POST /swarm/init') during = JSON.parse(readFileSync(file, 'utf8')).swarmJoin
    }
    await w.berth.swarm.join('n1', {name: 's1', manager: true}, {ssh: true})
    assert.deepEqual({...during as object, at: undefined}, {name: 's1', manager: true, at: undefined})
    rec = await w.berth.load('n1')
    assert.equal(rec.swarm?.name, 's1')
    assert.equal(rec.swarmJoin, undefined)
    assert.deepEqual(await w.berth.swarm.names(), ['s1'])
    await w.berth.swarm.leave('n1')
    assert.equal((await w.berth.load('n1')).swarm, undefined)
    await w.berth.rm('n1')
  } finally {
    await w.close()
  }
})

test('rm of a whole swarm removes a manager whose engine fails the leave (with a warning); rm of that manager alone stops', async () => {
  const w = await world()
  try {
    await w.berth.create('n1', opts)
    await w.berth.swarm.join('n1', {name: 's1', manager: true}, {ssh: true})
    w.engine.failLeave = 'context deadline exceeded'
    // Its swarm stays when it goes alone (a second record in the swarm): the failed leave stops the rm.
    const other = {...await w.berth.load('n1'), name: 'n2'}
    await w.store.reserve('n2')
    await w.store.save(other)
    const [alone] = await w.berth.rmAll(['n1'])
    assert.equal(alone.status, 'rejected')
    assert.match(String((alone as PromiseRejectedResult).reason), /context deadline exceeded/)
    assert.equal((await w.berth.load('n1')).swarm?.name, 's1')
    await w.store.remove('n2')
    // The whole swarm in one rm: the swarm goes with its last manager all the same.
    const [whole] = await w.berth.rmAll(['n1'])
    assert.equal(whole.status, 'fulfilled', String((whole as PromiseRejectedResult).reason))
    assert.ok(!await w.store.exists('n1'))
    assert.ok(w.progress.some(l => /^warning: n1: leaving swarm s1: .*context deadline exceeded.*removed all the same/.test(l)), w.progress.join('\n'))
  } finally {
    await w.close()
  }
})
