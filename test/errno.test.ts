import {test} from 'node:test'
import assert from 'node:assert/strict'
import {promises as fs} from 'node:fs'
import path from 'node:path'
import {loadCA, ensureStoreCerts} from '../src/certs/certs.js'
import {fsErrorMessage} from '../src/cli/errno.js'
import {writeFileAtomic} from '../src/core/fs.js'
import {SCHEMA_VERSION, Store} from '../src/store/index.js'
import {tmpDir} from './helpers.js'

const oneLine = (m: string | undefined) => {
  assert.ok(m && !m.includes('\n'), m)
  return m
}

// Before the fix the CLI printed err.message: "ENOENT: no such file or directory, open
// '/store/machines/x/.config.json.19270.tmp'" and the like.
test('file system errors become one line naming the path and what to do', async () => {
  const dir = tmpDir('errno')
  const file = path.join(dir, 'f')
  await fs.writeFile(file, 'x')
  const cases: Array<[() => Promise<unknown>, RegExp]> = [
    [() => writeFileAtomic(path.join(dir, 'gone', 'config.json'), 'x'), new RegExp(`^${path.join(dir, 'gone', 'config.json')} does not exist .*: check`)],
    [() => fs.open(dir, 'w'), new RegExp(`^${dir} is a folder where berth expects a file: move it away$`)],
    [() => fs.readFile(path.join(file, 'x')), /^a part of .*f\/x is a file where berth expects a folder: move it away$/],
    [() => fs.mkdir(dir), new RegExp(`^${dir} already exists where berth makes a new one: move it away$`)],
  ]
  for (const [p, want] of cases) {
    const err = await p().then(() => undefined, e => e)
    const m = oneLine(fsErrorMessage(err))
    assert.match(m, want)
    assert.doesNotMatch(m, /\.tmp|ENOENT|EISDIR|ENOTDIR|EEXIST/)
  }
  assert.equal(fsErrorMessage(new Error('plain')), undefined)
  // berth's own errors carry a code and may carry a path (an OpenStack API path): they keep their message.
  assert.equal(fsErrorMessage(Object.assign(new Error('keystone POST /auth/tokens: 500'), {code: 'cloud_api', path: '/auth/tokens'})), undefined)
})

test('a save racing a parallel rm, and a store that cannot be made, say so', async () => {
  const store = new Store(tmpDir('store'))
  await store.reserve('a')
  await store.remove('a')
  const rec = {schemaVersion: SCHEMA_VERSION, name: 'a'} as never
  await assert.rejects(store.save(rec), (err: Error) => /^machine "a" was removed \(.*machines\/a\) while this command was changing it$/.test(err.message))
  const file = path.join(tmpDir('store'), 'file')
  await fs.writeFile(file, '')
  await assert.rejects(new Store(path.join(file, 'store')).init(), (err: Error) => /^cannot make the machine store at .*file\/store \(ENOTDIR\): check that it is a writable folder/.test(err.message))
})

// Before the fix a truncated ca-key.pem failed in WebCrypto: "SubtleCrypto importKey ...".
test('a truncated or missing store CA is named with what to do', async () => {
  const dir = tmpDir('certs')
  const p = await ensureStoreCerts(dir)
  const key = await fs.readFile(path.join(dir, 'ca-key.pem'), 'utf8')
  await fs.writeFile(path.join(dir, 'ca-key.pem'), key.slice(0, 60))
  await assert.rejects(loadCA(dir), (err: Error) => err.message.startsWith(`the store CA key ${path.join(dir, 'ca-key.pem')} is damaged`) && /regenerate-certs/.test(err.message) && !/BEGIN|Subtle/.test(err.message))
  await fs.writeFile(path.join(dir, 'ca-key.pem'), key)
  await fs.writeFile(p.caPath, 'junk')
  await assert.rejects(loadCA(dir), /the store CA certificate .*ca\.pem is damaged/)
  await fs.rm(p.caPath)
  await assert.rejects(loadCA(dir), /cannot read the store CA certificate .*ca\.pem \(ENOENT\)/)
})
