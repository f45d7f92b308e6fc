import {test} from 'node:test'
import assert from 'node:assert/strict'
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
