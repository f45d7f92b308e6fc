import {test} from 'node:test'
import assert from 'node:assert/strict'
import {promises as fs} from 'node:fs'
import path from 'node:path'
import {CorruptRecord, migrateRecord, SCHEMA_VERSION, Store, validateName} from '../src/store/index.js'
import {ExistsError, exitCodeOf, NotFoundError} from '../src/core/index.js'
import {acquireLock, writeFileAtomic} from '../src/core/fs.js'
import {ROOT, tmpDir} from './helpers.js'
import type {MachineRecord} from '../src/store/record.js'

function record(name: string): MachineRecord {
  return {
    schemaVersion: SCHEMA_VERSION, name, id: 'abcdef012345', driver: 'lab', createdAt: new Date().toISOString(), status: 'ready',
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

const FIXTURE = path.join(ROOT, 'test', 'fixtures', 'store-v1')

async function v1Store(): Promise<Store> {
  const root = tmpDir('store-v1')
  await fs.cp(FIXTURE, root, {recursive: true})
  return new Store(root)
}

test('a schema-1 store written by an earlier berth is read and migrated, and kept as it is on disk', async () => {
  const store = await v1Store()
  const file = path.join(store.machineDir('n1'), 'config.json')
  const onDisk = JSON.parse(await fs.readFile(file, 'utf8'))
  assert.equal(onDisk.schemaVersion, 1)
  const rec = await store.load('n1')
  assert.equal(rec.schemaVersion, SCHEMA_VERSION)
  assert.deepEqual({...rec, schemaVersion: 1}, onDisk, 'every field survives the migration')
  assert.equal(rec.swarmJoin, undefined)
  assert.equal(rec.swarm?.nodeId, 'node38369')
  // ls: first through the validator, then from its cache of validated records; both migrated.
  for (let i = 0; i < 2; i++) {
    const [again] = await store.loadAll()
    assert.ok(!(again instanceof CorruptRecord))
    assert.equal(again.schemaVersion, SCHEMA_VERSION)
    assert.equal(again.swarm?.name, 's1')
  }
  assert.equal(JSON.parse(await fs.readFile(file, 'utf8')).schemaVersion, 1, 'reading does not write')
  // The next change to the machine saves the new shape.
  await store.save(rec)
  assert.equal(JSON.parse(await fs.readFile(file, 'utf8')).schemaVersion, SCHEMA_VERSION)
  assert.deepEqual(await store.load('n1'), rec)
})

test('the schema-1 machine folder keeps its key and certificates next to the record', async () => {
  const store = await v1Store()
  const dir = store.machineDir('n1')
  const rec = await store.load('n1')
  assert.equal(path.basename(rec.ssh.keyPath!), 'id_ed25519')
  for (const f of ['id_ed25519', 'id_ed25519.pub', 'ca.pem', 'cert.pem', 'key.pem', 'known_hosts']) assert.ok((await fs.stat(path.join(dir, f))).isFile(), f)
  assert.equal(await fs.readFile(path.join(dir, 'ca.pem'), 'utf8'), await fs.readFile(path.join(store.certsDir, 'ca.pem'), 'utf8'))
  assert.match(await fs.readFile(path.join(dir, 'known_hosts'), 'utf8'), new RegExp(`ssh-ed25519 ${rec.ssh.hostKey!.key}`))
})

test('migrations are pure, and a record from a newer berth is refused by name', async () => {
  const v1 = {schemaVersion: 1, name: 'x'}
  const v2 = migrateRecord(v1) as Record<string, unknown>
  assert.deepEqual(v1, {schemaVersion: 1, name: 'x'})
  assert.equal(v2.schemaVersion, SCHEMA_VERSION)
  assert.throws(() => migrateRecord({schemaVersion: SCHEMA_VERSION + 1}), /newer than this berth reads/)
  const store = new Store(tmpDir('store'))
  await store.reserve('n1')
  await fs.writeFile(path.join(store.machineDir('n1'), 'config.json'), JSON.stringify({...record('n1'), schemaVersion: 99}))
  await assert.rejects(store.load('n1'), /config\.json of "n1": schemaVersion 99 is newer than this berth reads/)
  const [row] = await store.loadAll()
  assert.ok(row instanceof CorruptRecord && /schemaVersion 99/.test(row.reason))
})

test('store errors are typed: NotFoundError and ExistsError, with the same messages', async () => {
  const store = new Store(tmpDir('store'))
  await assert.rejects(store.load('ghost'), (err: Error) => err instanceof NotFoundError && err.message === 'Docker machine "ghost" does not exist')
  await store.reserve('n1')
  await assert.rejects(store.reserve('n1'), (err: Error) => err instanceof ExistsError && exitCodeOf(err) === 1)
  await assert.rejects(store.load('n1'), (err: Error) => err instanceof NotFoundError && /being created or its create was interrupted/.test(err.message))
})

test('a record listed before is listed anew once it changes, is replaced by a link, or returned objects are changed', async () => {
  const store = new Store(tmpDir('store'))
  await store.reserve('n1')
  await store.save(record('n1'))
  const [first] = await store.loadAll() as MachineRecord[]
  // Callers change what they get (and save it): the next listing must not hand out the same object.
  first.driverData.ip = '10.9.9.9'
  assert.equal((await store.loadAll() as MachineRecord[])[0].driverData.ip, '10.0.0.2')
  // Another process rewrites it (same size, new file renamed over it).
  await writeFileAtomic(path.join(store.machineDir('n1'), 'config.json'), JSON.stringify({...record('n1'), driverData: {ip: '10.0.0.3'}}, null, 2) + '\n')
  assert.equal((await store.loadAll() as MachineRecord[])[0].driverData.ip, '10.0.0.3')
  const file = path.join(store.machineDir('n1'), 'config.json')
  await fs.rm(file)
  await fs.symlink('/etc/hostname', file)
  const [row] = await store.loadAll()
  assert.ok(row instanceof CorruptRecord && /symbolic link/.test(row.reason), String(row))
})
