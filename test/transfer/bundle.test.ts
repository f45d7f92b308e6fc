import {test} from 'node:test'
import assert from 'node:assert/strict'
import {readFileSync, writeFileSync} from 'node:fs'
import path from 'node:path'
import {drivers} from '../../drivers/index.js'
import {issue, makeCA} from '../../src/certs/index.js'
import type {Ctx} from '../../src/host/index.js'
import {SCHEMA_VERSION, Store, type MachineRecord} from '../../src/store/index.js'
import {recordSchemas} from '../../src/store/index.js'
import {exportMachine, importBundle} from '../../src/transfer/index.js'
import {tmpDir} from '../helpers.js'

/** A ready generic machine in a fresh store, with its folder's certificates and key. */
async function machine(): Promise<{ctx: Ctx; dir: string}> {
  const store = new Store(tmpDir('xsrc'))
  const dir = await store.reserve('m1')
  const ca = await makeCA('src')
  const client = await issue(ca, {cn: 'c', usage: 'client'})
  writeFileSync(path.join(dir, 'ca.pem'), ca.certPem)
  writeFileSync(path.join(dir, 'ca-key.pem'), ca.keyPem)
  writeFileSync(path.join(dir, 'cert.pem'), client.certPem)
  writeFileSync(path.join(dir, 'key.pem'), client.keyPem, {mode: 0o600})
  writeFileSync(path.join(dir, 'id_rsa'), 'KEY\n', {mode: 0o600})
  const {EngineOptions} = await recordSchemas()
  const rec: MachineRecord = {
    schemaVersion: SCHEMA_VERSION, name: 'm1', id: 'abcdef012345', driver: 'generic', createdAt: new Date().toISOString(), status: 'ready',
    driverData: {ip: '10.0.0.5', user: 'root', port: 22, enginePort: 2376, keyPath: path.join(dir, 'id_rsa'), agent: false},
    ssh: {keyPath: path.join(dir, 'id_rsa')}, engine: EngineOptions.parse({}),
  }
  await store.save(rec)
  return {ctx: {store, drivers}, dir}
}

test('an export moves to another store: files, record paths rebased, own CA, same id; the CA key only when asked', async () => {
  const {ctx, dir} = await machine()
  const {bundle, left} = await exportMachine(ctx, 'm1', 'pw 1')
  assert.deepEqual(left, ['ca-key.pem (the CA key: pass --with-ca-key to carry it)'])
  assert.doesNotMatch(bundle.toString('utf8'), /KEY|BEGIN|pw 1/)
  const file = path.join(tmpDir('xf'), 'm1.berth')
  writeFileSync(file, bundle)
  const dst: Ctx = {store: new Store(tmpDir('xdst')), drivers}
  const rec = await importBundle(dst, file, 'pw 1')
  const ndir = dst.store.machineDir('m1')
  assert.equal(rec.id, 'abcdef012345')
  assert.equal(rec.ca, 'machine')
  assert.equal(rec.adopted?.from, 'export')
  assert.equal(rec.driverData.keyPath, path.join(ndir, 'id_rsa'))
  assert.equal(rec.ssh.keyPath, path.join(ndir, 'id_rsa'))
  assert.equal(readFileSync(path.join(ndir, 'id_rsa'), 'utf8'), 'KEY\n')
  assert.equal(readFileSync(path.join(ndir, 'ca.pem'), 'utf8'), readFileSync(path.join(dir, 'ca.pem'), 'utf8'))
  assert.throws(() => readFileSync(path.join(ndir, 'ca-key.pem')))
  const withKey = await exportMachine(ctx, 'm1', 'pw', {withCaKey: true})
  assert.deepEqual(withKey.left, [])
  // A key the record names outside the machine folder travels too, into the new folder.
  const own = path.join(tmpDir('userkeys'), 'id_ed25519')
  writeFileSync(own, 'USER KEY\n', {mode: 0o600})
  const rec0 = await ctx.store.load('m1')
  await ctx.store.save({...rec0, driverData: {...rec0.driverData, keyPath: own}, ssh: {}})
  const f2 = path.join(tmpDir('xf2'), 'm1.berth')
  writeFileSync(f2, (await exportMachine(ctx, 'm1', 'pw')).bundle)
  const dst2: Ctx = {store: new Store(tmpDir('xdst3')), drivers}
  const rec2 = await importBundle(dst2, f2, 'pw')
  assert.equal(rec2.driverData.keyPath, path.join(dst2.store.machineDir('m1'), 'x-id_ed25519'))
  assert.equal(readFileSync(rec2.driverData.keyPath as string, 'utf8'), 'USER KEY\n')
  await assert.rejects(importBundle(dst, file, 'pw 1'), /Docker machine "m1" already exists/)
})

test('a wrong passphrase, a changed byte and a foreign file are refused before anything is written', async () => {
  const {ctx} = await machine()
  const {bundle} = await exportMachine(ctx, 'm1', 'right')
  const d = tmpDir('xbad')
  const dst: Ctx = {store: new Store(tmpDir('xdst2')), drivers}
  const file = path.join(d, 'a')
  writeFileSync(file, bundle)
  await assert.rejects(importBundle(dst, file, 'wrong'), /^UserError: wrong passphrase for/)
  // A header field changed (the KDF's salt): authenticated too.
  const text = bundle.toString('utf8')
  const header = JSON.parse(text.slice(0, text.indexOf('\n')))
  header.kdf.salt = Buffer.alloc(16, 1).toString('base64')
  writeFileSync(file, JSON.stringify(header) + text.slice(text.indexOf('\n')))
  await assert.rejects(importBundle(dst, file, 'right'), /wrong passphrase/)
  header.kdf.N = 2 ** 24
  writeFileSync(file, JSON.stringify(header) + text.slice(text.indexOf('\n')))
  await assert.rejects(importBundle(dst, file, 'right'), /parameters berth does not accept/)
  const flipped = Buffer.from(bundle)
  flipped[flipped.length - 10] ^= 1
  writeFileSync(file, flipped)
  await assert.rejects(importBundle(dst, file, 'right'), /wrong passphrase/)
  writeFileSync(file, '{"hello": 1}\nxx')
  await assert.rejects(importBundle(dst, file, 'right'), /is not a berth export/)
  assert.deepEqual(await dst.store.names(), [])
  await assert.rejects(exportMachine(ctx, 'm1', ''), /empty passphrase/)
})
