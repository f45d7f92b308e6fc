import {test} from 'node:test'
import assert from 'node:assert/strict'
import {existsSync, readFileSync} from 'node:fs'
import path from 'node:path'
import {createOptions as opts, world} from '../fakes/world.js'

const classic = (o: Record<string, unknown> = {}) => ({swarm: {name: 'g', manager: false, mode: 'classic' as const, labels: {disk: 'ssd'}, ...o}})

test('a classic group: no swarm init or join, labels and the head on record, the driver told of no swarm', async () => {
  const w = await world()
  try {
    const head = await w.berth.create('h1', opts(classic()))
    assert.deepEqual({...head.swarm, labels: undefined}, {name: 'g', manager: true, mode: 'classic', labels: undefined})
    assert.deepEqual(head.swarm!.labels, {'berth.machine': 'h1', 'berth.driver': 'fake', disk: 'ssd'})
    const group = path.join(w.store.root, 'groups', 'g.json')
    assert.deepEqual({...JSON.parse(readFileSync(group, 'utf8')), createdAt: 'x'}, {name: 'g', mode: 'classic', createdAt: 'x'})
    // A second machine joins by the group's name alone: the group's mode is its mode.
    const worker = await w.berth.create('w1', opts({swarm: {name: 'g', manager: false}}))
    assert.equal(worker.swarm!.mode, 'classic')
    assert.equal(worker.swarm!.manager, false)
    assert.ok(!w.engine.requests.some(r => r.startsWith('POST /swarm')), w.engine.requests.join(' '))
    assert.equal(await w.berth.swarm.mode('g'), 'classic')
    assert.equal(await w.berth.swarm.manager('g'), undefined, 'a classic group has no manager node')
    const d = await w.berth.swarm.describe('g')
    assert.equal(d.mode, 'classic')
    assert.deepEqual([d.managers, d.workers, d.leader, d.reachable], [['h1'], ['w1'], '', true])
    assert.deepEqual(d.nodes.map(n => n.state), ['ready', 'ready'])
    await w.berth.swarm.leave('w1')
    assert.equal((await w.berth.load('w1')).swarm, undefined)
    await w.berth.swarm.join('w1', {name: 'g', manager: false})
    assert.equal((await w.berth.load('w1')).swarm!.mode, 'classic')
    await assert.rejects(w.berth.swarm.setRole('w1', true), /classic group g, which has no swarm roles/)
    await assert.rejects(w.berth.swarm.doctor('g'), /classic group: it needs no swarm port/)
    assert.deepEqual(await w.berth.rm('w1'), [])
    assert.ok(existsSync(group), 'the group stays while it has a member')
    assert.deepEqual(await w.berth.rm('h1'), [])
    assert.equal(existsSync(group), false, 'the group record goes with its last member')
    assert.equal(await w.berth.swarm.mode('g'), undefined)
    assert.ok(!w.engine.requests.some(r => r.startsWith('POST /swarm')))
    assert.deepEqual(w.cloud.ids(), [])
  } finally {
    await w.close()
  }
})

test('mixing modes in one group, or a swarm-mode address in a classic one, is refused before anything is made', async () => {
  const w = await world()
  try {
    await w.berth.create('h1', opts(classic()))
    const before = w.cloud.ids()
    await assert.rejects(w.berth.create('x1', opts({swarm: {name: 'g', manager: false, mode: 'swarm'}})), /^UserError: "g" is a classic group, and a group has one mode: drop --swarm-mode swarm, or choose another --swarm name$/)
    await assert.rejects(w.berth.create('x2', opts(classic({advertiseAddr: '10.0.0.1'}))), /--swarm-advertise-addr is for swarm mode/)
    assert.deepEqual(w.cloud.ids(), before)
    assert.equal(existsSync(w.store.machineDir('x1')), false)
    assert.equal(existsSync(w.store.machineDir('x2')), false)
    // A machine in swarm mode cannot enter a classic group.
    w.engine.swarm = {state: 'active', nodeId: 'nodeX'}
    await assert.rejects(w.berth.create('x3', opts(classic())), /machine "x3" is in swarm mode \(active\)/)
    assert.equal(existsSync(w.store.machineDir('x3')), false, 'the failed create rolled back')
    w.engine.swarm = {state: 'inactive', nodeId: ''}
    // swarm rm of a classic group forgets it: the machines stay, in no group.
    await w.berth.swarm.dissolve('g')
    assert.equal((await w.berth.load('h1')).swarm, undefined)
    assert.equal(existsSync(path.join(w.store.root, 'groups', 'g.json')), false)
    assert.deepEqual(await w.berth.rm('h1'), [])
  } finally {
    await w.close()
  }
})
