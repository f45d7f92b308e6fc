import {test} from 'node:test'
import assert from 'node:assert/strict'
import {promises as fs} from 'node:fs'
import path from 'node:path'
import {CorruptRecord, Store, validateName} from '../src/store/index.js'
import {acquireLock, writeFileAtomic} from '../src/core/fs.js'
import {tmpDir} from './helpers.js'
import type {MachineRecord} from '../src/store/record.js'

function record(name: string): MachineRecord {
  return {
    schemaVersion: 1, name, id: 'abcdef012345', driver: 'lab', createdAt: new Date().toISOString(), status: 'ready',
    driverData: {ip: '10.0.0.2'}, ssh: {}, engine: {port: 2376, installUrl: 'auto', labels: [], insecureRegistries: [], registryMirrors: [], opts: [], env: [], tlsSans: []},
  }
}

test('machine names follow docker-machine\'s rule', () => {
  for (const ok of ['a', 'node1', 'web-1.example', '9lives']) assert.doesNotThrow(() => validateName(ok))
  for (const bad of ['', '-a', '.a', 'a_b', 'a b', 'a/b', '../x', 'x'.repeat(64)]) assert.throws(() => validateName(bad), /invalid machine name/)
})

test('records round-trip, folders are 0700 and files 0600', async () => {
  const store = new Store(tmpDir('store'))
  await store.reserve('n1')
  await store.save(record('n1'))
  const back = await store.load('n1')
  assert.equal(back.driverData.ip, '10.0.0.2')
  assert.equal((await fs.stat(store.machineDir('n1'))).mode & 0o777, 0o700)
  assert.equal((await fs.stat(path.join(store.machineDir('n1'), 'config.json'))).mode & 0o777, 0o600)
  assert.equal((await fs.stat(store.root)).mode & 0o777, 0o700)
})

test('reserving an existing name fails and leaves the first intact', async () => {
  const store = new Store(tmpDir('store'))
  await store.reserve('n1')
  await store.save(record('n1'))
  await assert.rejects(store.reserve('n1'), /already exists/)
  assert.equal((await store.load('n1')).name, 'n1')
})

test('a corrupt record lists as an error row and the rest still list', async () => {
  const store = new Store(tmpDir('store'))
  for (const n of ['a', 'b', 'c']) {
    await store.reserve(n)
    await store.save(record(n))
  }
  await fs.writeFile(path.join(store.machineDir('b'), 'config.json'), '{"schemaVersion": 1, "name": "b"')
  const bad = record('c') as Record<string, unknown>
  bad.status = 'sideways'
  await fs.writeFile(path.join(store.machineDir('c'), 'config.json'), JSON.stringify(bad))
  const all = await store.loadAll()
  assert.equal(all.length, 3)
  assert.ok(!(all[0] instanceof CorruptRecord))
  assert.ok(all[1] instanceof CorruptRecord && /not valid JSON/.test(all[1].reason))
  assert.ok(all[2] instanceof CorruptRecord && /status/.test(all[2].reason))
})

test('a record naming another machine is refused', async () => {
  const store = new Store(tmpDir('store'))
  await store.reserve('x')
  await fs.writeFile(path.join(store.machineDir('x'), 'config.json'), JSON.stringify(record('y')))
  await assert.rejects(store.load('x'), /names another machine/)
})

test('atomic writes never expose a torn file to concurrent readers', async () => {
  const dir = tmpDir('atomic')
  const file = path.join(dir, 'f.json')
  const big = (n: number) => JSON.stringify({n, pad: 'x'.repeat(200_000)})
  await writeFileAtomic(file, big(0))
  let stop = false
  let reads = 0
  const reader = (async () => {
    while (!stop) {
      JSON.parse(await fs.readFile(file, 'utf8'))
      reads++
    }
  })()
  await Promise.all(Array.from({length: 40}, (_, i) => writeFileAtomic(file, big(i + 1))))
  stop = true
  await reader
  assert.ok(reads > 0)
  assert.deepEqual((await fs.readdir(dir)).filter(f => f.endsWith('.tmp')), [])
})

test('the lock serialises holders and a dead holder\'s lock is taken over', async () => {
  const dir = tmpDir('lock')
  const file = path.join(dir, '.lock')
  const order: string[] = []
  const a = await acquireLock(file)
  const bP = acquireLock(file).then(l => {
    order.push('b')
    return l
  })
  await new Promise(r => setTimeout(r, 50))
  order.push('a-release')
  await a.release()
  const b = await bP
  assert.deepEqual(order, ['a-release', 'b'])
  await b.release()
  // A PID that cannot exist: the lock it left is stale.
  await fs.writeFile(file, '999999999')
  const c = await acquireLock(file, {timeoutMs: 2000})
  assert.equal(await fs.readFile(file, 'utf8'), String(process.pid))
  await c.release()
})

test('the lock times out with the holder named', async () => {
  const file = path.join(tmpDir('lock'), '.lock')
  const a = await acquireLock(file)
  await assert.rejects(acquireLock(file, {timeoutMs: 200, what: 'machine "x"'}), new RegExp(`machine "x" \\(held by PID ${process.pid}\\)`))
  await a.release()
})
