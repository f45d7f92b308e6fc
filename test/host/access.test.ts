import {test} from 'node:test'
import assert from 'node:assert/strict'
import {promises as fs} from 'node:fs'
import path from 'node:path'
import {exitCodeOf, NotFoundError, UserError} from '../../src/core/index.js'
import {engineProblem, loadDriver} from '../../src/host/index.js'
import {createOptions, world} from '../fakes/world.js'

const opts = createOptions()

test('a create in flight in another live process shows as Creating, not Error', async () => {
  const w = await world()
  try {
    const rec = await w.berth.create('n1', opts)
    rec.status = 'creating'
    await w.store.save(rec)
    // The test runner that started this file is alive and is not this process.
    await fs.writeFile(path.join(w.store.machineDir('n1'), '.lock'), String(process.ppid))
    assert.deepEqual(await w.berth.state(rec), {state: 'Creating'})
    await fs.rm(path.join(w.store.machineDir('n1'), '.lock'))
    assert.equal((await w.berth.state(rec)).state, 'Error')
    rec.status = 'ready'
    await w.store.save(rec)
    await w.berth.rm('n1')
  } finally {
    await w.close()
  }
})

test('an IP outside the server certificate is named, with the command that fixes it', async () => {
  const w = await world()
  try {
    const rec = await w.berth.create('n1', opts)
    assert.equal(await w.berth.drift(rec), undefined)
    rec.tls = {ip: '10.9.9.9', sans: ['10.9.9.9']}
    assert.match((await w.berth.drift(rec))!, /changed from 10\.9\.9\.9 to 127\.0\.0\.1.*berth regenerate-certs n1/)
    await w.berth.rm('n1')
  } finally {
    await w.close()
  }
})

test('an unknown driver is NotFoundError naming the ones there are; exit codes come from one table', async () => {
  const w = await world()
  try {
    await assert.rejects(loadDriver(w.berth.ctx, 'nope'), (err: Error) => err instanceof NotFoundError && /unknown driver "nope" \(available: fake\)/.test(err.message))
    assert.equal(exitCodeOf(new NotFoundError('x')), 1)
    assert.equal(exitCodeOf(new UserError('x', 130)), 130)
    assert.equal(exitCodeOf(new UserError('x', 'precreate')), 3)
    assert.equal(exitCodeOf({oclif: {exit: 2}}), 2)
    assert.equal(exitCodeOf(new Error('plain')), 1)
  } finally {
    await w.close()
  }
})

test('a Running host whose engine is dead is told apart: engineProblem names why (status and env use it)', async () => {
  // Before the fix status read the driver's state alone: Running, with dockerd dead.
  const w = await world()
  try {
    const rec = await w.berth.create('n1', opts)
    assert.equal(await engineProblem(w.berth.ctx, rec), undefined)
    await w.engine.close() // dockerd dies; the host stays up
    assert.equal((await w.berth.state(rec)).state, 'Running')
    assert.match((await engineProblem(w.berth.ctx, rec, 2000))!, /\S/)
    await w.berth.rm('n1', {force: true})
  } finally {
    await w.close()
  }
})
