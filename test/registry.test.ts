import {test} from 'node:test'
import assert from 'node:assert/strict'
import {execFileSync} from 'node:child_process'
import {mkdirSync, writeFileSync} from 'node:fs'
import path from 'node:path'
import {parse} from 'yaml'
import {registryConfig, startScript} from '../src/registry/host.js'
import {findRecord, listRecords, removeRecord, saveRecord, type RegistryRecord} from '../src/registry/records.js'
import {tarballImages} from '../src/images/tarball.js'
import {Store} from '../src/store/index.js'
import {tmpDir} from './helpers.js'

test('registry config: TLS from its folder, storage on the host\'s Docker disk, auth and proxy only when asked', () => {
  const plain = parse(registryConfig({port: 5000}))
  assert.equal(plain.http.addr, ':5000')
  assert.equal(plain.http.tls.key, '/etc/docker/berth-registry-5000/server-key.pem')
  assert.equal(plain.storage.filesystem.rootdirectory, '/var/lib/docker/berth-registry-5000')
  assert.equal(plain.auth, undefined)
  assert.equal(plain.proxy, undefined)
  const both = parse(registryConfig({port: 5001, mirror: 'https://10.0.0.2:5000', user: 'alice'}))
  assert.equal(both.auth.htpasswd.path, '/etc/docker/berth-registry-5001/htpasswd')
  assert.equal(both.proxy.remoteurl, 'https://10.0.0.2:5000')
})

test('the init-less start is idempotent (pidfile check) and supervises the registry in its own session', () => {
  const s = startScript(5002)
  assert.match(s, /kill -0 "\$pid" .* exit 0/)
  assert.match(s, /setsid -f sh -c .*while :; do SSL_CERT_DIR=\/etc\/ssl\/certs:\/etc\/docker\/berth-registry-5002\/ca \/usr\/bin\/docker-registry serve/)
})

test('registry records: found by MACHINE:PORT, address or a machine with one; ambiguity is named', async () => {
  const store = new Store(tmpDir('regrec'))
  const rec = (machine: string, port: number): RegistryRecord => ({name: `${machine}:${port}`, swarm: 's', machine, port, address: `10.0.0.${machine.length}:${port}`, status: 'ready', createdAt: '', service: 'process'})
  assert.deepEqual(await listRecords(store), [])
  await saveRecord(store, rec('m1', 5000))
  await saveRecord(store, rec('w10', 5000))
  await saveRecord(store, rec('w10', 5001))
  assert.equal((await findRecord(store, 'm1')).name, 'm1:5000')
  assert.equal((await findRecord(store, '10.0.0.3:5001')).name, 'w10:5001')
  await assert.rejects(findRecord(store, 'w10'), /machine "w10" has 2 registries: name one of w10:5000, w10:5001/)
  await assert.rejects(findRecord(store, 'nope'), /no registry "nope"/)
  await removeRecord(store, 'w10:5000')
  assert.deepEqual((await listRecords(store)).map(r => r.name), ['m1:5000', 'w10:5001'])
})

test('a docker save tarball\'s images come from its manifest.json, wherever it is in the tar', async () => {
  const dir = tmpDir('tarball')
  const id = 'a'.repeat(64)
  mkdirSync(path.join(dir, 'blobs', 'sha256'), {recursive: true})
  writeFileSync(path.join(dir, 'blobs', 'sha256', id), '{}')
  writeFileSync(path.join(dir, 'layer.tar'), Buffer.alloc(70_000, 1))
  writeFileSync(path.join(dir, 'manifest.json'), JSON.stringify([{Config: `blobs/sha256/${id}`, RepoTags: ['api:1'], Layers: ['layer.tar']}]))
  const file = path.join(tmpDir('tarout'), 'i.tar')
  execFileSync('tar', ['-C', dir, '-cf', file, 'layer.tar', 'blobs', 'manifest.json'])
  assert.deepEqual(await tarballImages(file), [{id: `sha256:${id}`, tags: ['api:1']}])
  execFileSync('tar', ['-C', dir, '-cf', file, 'layer.tar'])
  await assert.rejects(tarballImages(file), /is not a "docker save" tarball/)
  await assert.rejects(tarballImages(path.join(dir, 'missing.tar')), /cannot read --file .*ENOENT/)
})

test('members trust a registry by certs.d and take a mirror in daemon.json with a reload, not a restart', async () => {
  const {connect, generateKeyPair} = await import('../src/ssh/index.js')
  const {FakeSshd} = await import('./fakes/sshd.js')
  const {setRegistryMirrors, trustRegistry, untrustRegistry} = await import('../src/provision/index.js')
  const keys = await generateKeyPair('t')
  const host = await FakeSshd.start({files: {'/etc/docker/daemon.json': JSON.stringify({tls: true, labels: ['a=b']})}})
  host.authorized.push(keys.publicKey)
  const s = await connect({host: '127.0.0.1', port: host.port, user: 'root', privateKey: keys.privateKey, timeoutMs: 5000})
  try {
    await trustRegistry(s, '10.0.0.2:5000', 'CA PEM')
    assert.equal(host.text('/etc/docker/certs.d/10.0.0.2:5000/ca.crt'), 'CA PEM')
    await setRegistryMirrors(s, ['https://10.0.0.2:5000'])
    assert.deepEqual(JSON.parse(host.text('/etc/docker/daemon.json')!), {'tls': true, 'labels': ['a=b'], 'registry-mirrors': ['https://10.0.0.2:5000']})
    // Emptied, not dropped: dockerd's reload keeps an option that is absent from the file.
    await setRegistryMirrors(s, [])
    assert.deepEqual(JSON.parse(host.text('/etc/docker/daemon.json')!)['registry-mirrors'], [])
    await untrustRegistry(s, '10.0.0.2:5000')
  } finally {
    s.close()
    await host.close()
  }
  assert.equal(host.commands.filter(c => /kill -HUP/.test(c)).length, 2)
  assert.ok(!host.commands.some(c => /restart|dockerd /.test(c)))
  assert.ok(host.commands.some(c => c === 'rm -rf /etc/docker/certs.d/10.0.0.2:5000'), host.commands.join('\n'))
})
