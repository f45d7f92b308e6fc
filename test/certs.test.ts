import {test} from 'node:test'
import assert from 'node:assert/strict'
import {X509Certificate, createPrivateKey} from 'node:crypto'
import {promises as fs} from 'node:fs'
import {certSans, ensureStoreCerts, issue, loadCA, makeCA, storeCAStamp, withStoreCA} from '../src/certs/certs.js'
import {tmpDir} from './helpers.js'
import {tlsEcho} from './tls-echo.js'

test('server certificates chain to the CA, carry every SAN and are ECDSA P-256', async () => {
  const ca = await makeCA('berth')
  const server = await issue(ca, {cn: 'n1', usage: 'server', sans: ['10.1.2.3', 'n1', 'localhost', '127.0.0.1']})
  const caCert = new X509Certificate(ca.certPem)
  const cert = new X509Certificate(server.certPem)
  assert.ok(caCert.ca)
  assert.ok(cert.verify(caCert.publicKey))
  assert.ok(cert.checkIP('10.1.2.3'))
  assert.ok(cert.checkHost('n1'))
  assert.equal(cert.checkIP('10.1.2.4'), undefined)
  assert.deepEqual(certSans(server.certPem).sort(), ['10.1.2.3', '127.0.0.1', 'localhost', 'n1'])
  const key = createPrivateKey(server.keyPem)
  assert.equal(key.asymmetricKeyType, 'ec')
  assert.equal(key.asymmetricKeyDetails?.namedCurve, 'prime256v1')
  assert.ok(cert.checkPrivateKey(key))
  assert.match(cert.keyUsage?.join(',') ?? '', /1\.3\.6\.1\.5\.5\.7\.3\.1/) // serverAuth
})

test('mutual TLS works with the issued pair and refuses a client without a certificate', async () => {
  const ca = await makeCA('berth')
  const server = await issue(ca, {cn: 's', usage: 'server', sans: ['127.0.0.1']})
  const client = await issue(ca, {cn: 'c', usage: 'client'})
  const {talk, close} = await tlsEcho(server, ca.certPem)
  assert.equal(await talk({cert: client.certPem, key: client.keyPem}), 'hi')
  await assert.rejects(talk({}))
  close()
})

test('the store CA is made once, even by parallel callers, and regenerate replaces it', async () => {
  const dir = tmpDir('certs')
  const results = await Promise.all(Array.from({length: 6}, () => ensureStoreCerts(dir)))
  assert.equal(new Set(results.map(r => r.caPath)).size, 1)
  const ca1 = await loadCA(dir)
  await ensureStoreCerts(dir)
  assert.equal((await loadCA(dir)).certPem, ca1.certPem)
  const client = new X509Certificate(await fs.readFile(results[0].certPath))
  assert.ok(client.verify(new X509Certificate(ca1.certPem).publicKey))
  assert.equal((await fs.stat(results[0].caKeyPath)).mode & 0o777, 0o600)
  await withStoreCA(dir, async () => {}, {seen: await storeCAStamp(dir)})
  assert.notEqual((await loadCA(dir)).certPem, ca1.certPem)
})

test('two CA replacements asked at once make one CA, and each issues from it under the lock', async () => {
  const dir = tmpDir('certs2')
  await ensureStoreCerts(dir)
  const old = (await loadCA(dir)).certPem
  // Both callers looked at the CA before either replaced it, as two regenerate-certs processes do.
  const seen = await storeCAStamp(dir)
  const used = await Promise.all([0, 1].map(() => withStoreCA(dir, async () => {
    const ca = await loadCA(dir)
    await new Promise(r => setTimeout(r, 50))
    // Nothing replaced the CA between reading it and issuing from it.
    assert.equal((await loadCA(dir)).certPem, ca.certPem)
    return ca.certPem
  }, {seen})))
  assert.equal(used[0], used[1])
  assert.notEqual(used[0], old)
  assert.equal((await loadCA(dir)).certPem, used[0])
  // A replacement asked after that one finished is a new request: it makes a new CA again.
  await withStoreCA(dir, async () => {}, {seen: await storeCAStamp(dir)})
  assert.notEqual((await loadCA(dir)).certPem, used[0])
})
