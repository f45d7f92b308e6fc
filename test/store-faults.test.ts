import {test} from 'node:test'
import assert from 'node:assert/strict'
import {execFileSync} from 'node:child_process'
import {promises as fs} from 'node:fs'
import path from 'node:path'
import {CorruptRecord, SCHEMA_VERSION, Store} from '../src/store/index.js'
import {tmpDir} from './helpers.js'
import type {MachineRecord} from '../src/store/record.js'

function record(name: string): MachineRecord {
  return {
    schemaVersion: SCHEMA_VERSION, name, id: 'abcdef012345', driver: 'lab', createdAt: new Date().toISOString(), status: 'ready',
    driverData: {ip: '10.0.0.2'}, ssh: {}, engine: {port: 2376, installUrl: 'auto', labels: [], insecureRegistries: [], registryMirrors: [], opts: [], env: [], tlsSans: []},
  }
}

async function storeWith(...names: string[]): Promise<Store> {
  const store = new Store(tmpDir('store'))
  for (const n of names) {
    await store.reserve(n)
    await store.save(record(n))
  }
  return store
}

// Before the fix JSON.parse of the cache threw out of loadAll ("Unexpected end of JSON input").
test('an empty or garbage ls cache is ignored and rebuilt', async () => {
  const store = await storeWith('a', 'b')
  const cache = path.join(store.root, '.validated.json')
  for (const junk of ['', '{"a":', 'null', '[1,2]', '"x"', '{"a": 5}', '\0\0\0']) {
    await fs.writeFile(cache, junk)
    const all = await store.loadAll()
    assert.deepEqual(all.map(r => r instanceof CorruptRecord ? r.reason : r.name), ['a', 'b'], JSON.stringify(junk))
    const rebuilt = JSON.parse(await fs.readFile(cache, 'utf8'))
    assert.deepEqual(Object.keys(rebuilt).sort(), ['a', 'b'])
  }
  assert.deepEqual((await fs.readdir(store.root)).filter(f => f.endsWith('.tmp')), [])
})

// Before the fix the second loadAll returned the raw JSON of a record the validator had filled
// in (no engine block), and ls read engine.port of undefined.
test('a record served from the cache has the same defaults as a validated one', async () => {
  const store = await storeWith('a')
  const file = path.join(store.machineDir('a'), 'config.json')
  const {engine: _e, ssh: _s, driverData: _d, ...bare} = record('a')
  await fs.writeFile(file, JSON.stringify(bare))
  const first = await store.loadAll()
  const second = await store.loadAll()
  assert.deepEqual(second, first)
  const [rec] = second as MachineRecord[]
  assert.equal(rec.engine.port, 2376)
  assert.deepEqual(rec.driverData, {})
})

// Before the fix config.json was read through the link and JSON.parse's message quoted the
// target's first characters ("root:$y$...") in ls and inspect.
test('a config.json that is a symbolic link is refused, and no file content reaches the error', async () => {
  const store = await storeWith('a', 'b')
  const secret = path.join(tmpDir('secret'), 'shadow')
  await fs.writeFile(secret, 'SECRET-CONTENT:x:0:0\n')
  const file = path.join(store.machineDir('a'), 'config.json')
  await fs.rm(file)
  await fs.symlink(secret, file)
  const [a, b] = await store.loadAll()
  assert.ok(a instanceof CorruptRecord && /symbolic link/.test(a.reason) && a.reason.includes(file), String((a as CorruptRecord).reason))
  assert.ok(!(b instanceof CorruptRecord))
  await assert.rejects(store.load('a'), (err: Error) => /symbolic link/.test(err.message) && !err.message.includes('SECRET'))
  // A linked machine folder is refused the same way.
  await fs.rm(store.machineDir('b'), {recursive: true})
  await fs.symlink(store.machineDir('a'), store.machineDir('b'))
  await assert.rejects(store.load('b'), /machine folder of "b" .* symbolic link/)
  // Garbage that is not JSON is named, never quoted.
  await fs.rm(file)
  await fs.writeFile(file, 'SECRET-CONTENT:x:0:0\n')
  await assert.rejects(store.load('a'), (err: Error) => /not valid JSON/.test(err.message) && err.message.includes(file) && !err.message.includes('SECRET'))
  const [again] = await store.loadAll()
  assert.ok(again instanceof CorruptRecord && !again.reason.includes('SECRET'))
})

test('a config.json that is a folder or a fifo is named, not read', async () => {
  const store = await storeWith('a')
  const file = path.join(store.machineDir('a'), 'config.json')
  await fs.rm(file)
  await fs.mkdir(file)
  await assert.rejects(store.load('a'), /config\.json of "a" .* is not a regular file/)
  // A fifo would block a plain open until a writer came: ls must not hang on one.
  await fs.rm(file, {recursive: true})
  execFileSync('mkfifo', [file])
  await assert.rejects(store.load('a'), /config\.json of "a" .* is not a regular file/)
})
