import {test} from 'node:test'
import assert from 'node:assert/strict'
import {mkdirSync, readFileSync, readdirSync, statSync, writeFileSync} from 'node:fs'
import path from 'node:path'
import {drivers} from '../../drivers/index.js'
import {issue, makeCA} from '../../src/certs/index.js'
import type {Ctx} from '../../src/host/index.js'
import {Store} from '../../src/store/index.js'
import {dockerMachineStorePath, importDockerMachine} from '../../src/transfer/index.js'
import {tmpDir} from '../helpers.js'

/** A docker-machine store whose config.json paths name another user's home (a copied store). */
async function dmStore(hosts: Array<{name: string; driverName: string; driver: Record<string, unknown>; engine?: Record<string, unknown>; noCaKey?: boolean}>): Promise<string> {
  const root = tmpDir('dmstore')
  const old = '/Users/someone/.docker/machine'
  const ca = await makeCA('dm')
  const client = await issue(ca, {cn: 'client', usage: 'client'})
  mkdirSync(path.join(root, 'certs'))
  writeFileSync(path.join(root, 'certs', 'ca.pem'), ca.certPem)
  if (!hosts.some(h => h.noCaKey)) writeFileSync(path.join(root, 'certs', 'ca-key.pem'), ca.keyPem)
  writeFileSync(path.join(root, 'certs', 'cert.pem'), client.certPem)
  writeFileSync(path.join(root, 'certs', 'key.pem'), client.keyPem)
  for (const h of hosts) {
    const dir = path.join(root, 'machines', h.name)
    mkdirSync(dir, {recursive: true})
    const server = await issue(ca, {cn: h.name, usage: 'server', sans: ['10.1.2.3', 'localhost']})
    writeFileSync(path.join(dir, 'server.pem'), server.certPem)
    writeFileSync(path.join(dir, 'id_rsa'), 'not really a key\n')
    const m = `${old}/machines/${h.name}`
    writeFileSync(path.join(dir, 'config.json'), JSON.stringify({
      ConfigVersion: 3, DriverName: h.driverName, Name: h.name,
      Driver: {MachineName: h.name, StorePath: old, SSHKeyPath: `${m}/id_rsa`, ...h.driver},
      HostOptions: {
        EngineOptions: {ArbitraryFlags: ['log-level=debug'], Dns: null, Labels: ['a=b'], InsecureRegistry: ['reg:5000'], RegistryMirror: [], InstallURL: 'https://get.docker.com', ...h.engine},
        SwarmOptions: {IsSwarm: false},
        AuthOptions: {CertDir: `${old}/certs`, CaCertPath: `${old}/certs/ca.pem`, CaPrivateKeyPath: `${old}/certs/ca-key.pem`, ClientCertPath: `${old}/certs/cert.pem`, ClientKeyPath: `${old}/certs/key.pem`, ServerCertPath: `${m}/server.pem`, ServerCertSANs: ['dm.example'], StorePath: m},
      },
    }, null, 4))
  }
  return root
}

const ctxFor = (root = tmpDir('berthstore')): Ctx => ({store: new Store(root), drivers})

test('hosts of any driver become generic machines with their certificates, key and engine options; the store is only read', async () => {
  const root = await dmStore([
    {name: 'aws1', driverName: 'amazonec2', driver: {IPAddress: '10.1.2.3', SSHUser: 'ubuntu', SSHPort: 22}},
    {name: 'gen1', driverName: 'generic', driver: {IPAddress: '10.1.2.4', SSHUser: 'root', SSHPort: 2222, EnginePort: 2377}, engine: {Dns: ['8.8.8.8']}},
  ])
  const listing = () => JSON.stringify(readdirSync(root, {recursive: true}).map(String).sort().map(f => {
    const st = statSync(path.join(root, f))
    return [f, st.mtimeMs, st.mode, st.isFile() ? readFileSync(path.join(root, f), 'base64') : '']
  }))
  const was = listing()
  const ctx = ctxFor()
  await ctx.store.init()
  const done = await importDockerMachine(ctx, root, {probe: false})
  assert.deepEqual(done.map(d => [d.name, d.driver, d.from]), [['aws1', 'generic', 'amazonec2'], ['gen1', 'generic', 'generic']])
  assert.match(done[0].unmapped.join('\n'), /driver "amazonec2": adopted as generic/)
  assert.match(done[1].unmapped.join('\n'), /engine options Dns: no berth equivalent/)
  const aws = await ctx.store.load('aws1')
  assert.deepEqual(aws.driverData, {ip: '10.1.2.3', user: 'ubuntu', port: 22, enginePort: 2376, keyPath: path.join(ctx.store.machineDir('aws1'), 'id_rsa'), agent: false})
  assert.equal(aws.ca, 'machine')
  assert.equal(aws.adopted?.from, 'docker-machine')
  assert.deepEqual(aws.tls?.sans.sort(), ['10.1.2.3', 'localhost'])
  assert.deepEqual([aws.engine.labels, aws.engine.insecureRegistries, aws.engine.opts, aws.engine.tlsSans], [['a=b'], ['reg:5000'], ['log-level=debug'], ['dm.example']])
  const gen = await ctx.store.load('gen1')
  assert.deepEqual([gen.driverData.port, gen.driverData.enginePort, gen.engine.port], [2222, 2377, 2377])
  // The moved store's paths were found under its new root.
  const dir = ctx.store.machineDir('aws1')
  assert.equal(readFileSync(path.join(dir, 'ca.pem'), 'utf8'), readFileSync(path.join(root, 'certs', 'ca.pem'), 'utf8'))
  assert.equal(readFileSync(path.join(dir, 'ca-key.pem'), 'utf8'), readFileSync(path.join(root, 'certs', 'ca-key.pem'), 'utf8'))
  assert.equal(readFileSync(path.join(dir, 'id_rsa'), 'utf8'), 'not really a key\n')
  assert.equal(listing(), was, 'the docker-machine store is unchanged')
})

test('one bad host stops the whole import with nothing written', async () => {
  const root = await dmStore([
    {name: 'ok1', driverName: 'generic', driver: {IPAddress: '10.1.2.3'}},
    {name: 'old1', driverName: 'generic', driver: {IPAddress: '10.1.2.4'}},
  ])
  const cfg = path.join(root, 'machines', 'old1', 'config.json')
  writeFileSync(cfg, JSON.stringify({...JSON.parse(readFileSync(cfg, 'utf8')), ConfigVersion: 1}))
  const ctx = ctxFor()
  await assert.rejects(importDockerMachine(ctx, root, {probe: false}), /"old1": config.json has ConfigVersion 1, berth reads 3/)
  assert.deepEqual(await ctx.store.names(), [])
  // Only the good one, by name: imported; the unknown name is refused.
  assert.deepEqual((await importDockerMachine(ctx, root, {names: ['ok1'], probe: false})).map(d => d.name), ['ok1'])
  await assert.rejects(importDockerMachine(ctx, root, {names: ['nope'], probe: false}), /Host does not exist: "nope"/)
  await assert.rejects(importDockerMachine(ctx, root, {names: ['ok1'], probe: false}), /Docker machine "ok1" already exists/)
})

test('a host without an address, a store without machines, and the default store path', async () => {
  const root = await dmStore([{name: 'x1', driverName: 'digitalocean', driver: {}}])
  const ctx = ctxFor()
  await assert.rejects(importDockerMachine(ctx, root, {probe: false}), /"x1" has no IPAddress/)
  assert.deepEqual(await ctx.store.names(), [])
  await assert.rejects(importDockerMachine(ctx, tmpDir('empty'), {probe: false}), /no docker-machine store at .*: pass its folder, or set MACHINE_STORAGE_PATH/)
  const was = process.env.MACHINE_STORAGE_PATH
  process.env.MACHINE_STORAGE_PATH = '/srv/dm'
  assert.equal(dockerMachineStorePath(), '/srv/dm')
  delete process.env.MACHINE_STORAGE_PATH
  assert.match(dockerMachineStorePath(), /\.docker\/machine$/)
  if (was !== undefined) process.env.MACHINE_STORAGE_PATH = was
})

test('the none driver: address and engine port from its URL, SSH named as missing', async () => {
  const root = await dmStore([{name: 'n1', driverName: 'none', driver: {URL: 'tcp://10.9.8.7:2380'}, noCaKey: true}])
  const ctx = ctxFor()
  const [d] = await importDockerMachine(ctx, root, {probe: false})
  const rec = await ctx.store.load('n1')
  assert.deepEqual([rec.driverData.ip, rec.driverData.enginePort], ['10.9.8.7', 2380])
  assert.match(d.unmapped.join('\n'), /ssh: the "none" driver records no SSH access/)
  assert.match(d.unmapped.join('\n'), /CA key \(ca-key.pem\) not found/)
})

test('openstack, azure and virtualbox hosts go to berth\'s own drivers; cloud secrets move to 0600 files, never the record', async () => {
  const root = await dmStore([
    {name: 'os1', driverName: 'openstack', driver: {
      IPAddress: '10.1.2.3', SSHUser: 'ubuntu', SSHPort: 22, AuthUrl: 'https://keystone.example:5000/v3', Username: 'u', Password: 'os-secret',
      TenantName: 'proj', DomainName: 'Default', Region: 'r1', EndpointType: 'internalURL', MachineId: 'srv-1', FlavorId: 'f1', ImageId: 'i1',
      KeyPairName: 'os1-abc', SecurityGroups: ['default'], IpVersion: 4, ActiveTimeout: 200, FloatingIpPool: 'ext',
    }},
    {name: 'az1', driverName: 'azure', driver: {
      IPAddress: '', SSHUser: 'docker-user', SSHPort: 22, ClientID: 'cid', ClientSecret: 'az-secret', Environment: 'AzurePublicCloud',
      SubscriptionID: 'sub-1', ResourceGroup: 'docker-machine', DockerPort: 2376, Location: 'westus', Size: 'Standard_A2',
      Image: 'canonical:UbuntuServer:16.04.0-LTS:latest', VirtualNetwork: 'netrg:vnet1', SubnetName: 'docker-machine', SubnetPrefix: '192.168.0.0/16',
    }},
    {name: 'vb1', driverName: 'virtualbox', driver: {IPAddress: '192.168.99.100', SSHUser: 'docker', SSHPort: 50122, CPU: 2, Memory: 2048, DiskSize: 20000, HostOnlyCIDR: '192.168.99.1/24'}},
  ])
  const ctx = ctxFor()
  const done = await importDockerMachine(ctx, root, {probe: false})
  assert.deepEqual(done.map(d => [d.name, d.driver]), [['az1', 'azure'], ['os1', 'openstack'], ['vb1', 'virtualbox']])
  const os1 = await ctx.store.load('os1')
  assert.equal(JSON.stringify(os1).includes('os-secret'), false)
  const secrets = path.join(ctx.store.machineDir('os1'), 'openstack-secrets.json')
  assert.deepEqual(JSON.parse(readFileSync(secrets, 'utf8')), {password: 'os-secret'})
  assert.equal(statSync(secrets).mode & 0o777, 0o600)
  const osd = os1.driverData as {cloud: Record<string, unknown>; server: unknown; keypair: unknown; ip: string; spec: {privateKeyFile: string}}
  assert.deepEqual([osd.cloud.url, osd.cloud.projectName, osd.cloud.interface, osd.server, osd.keypair, osd.ip], ['https://keystone.example:5000/v3', 'proj', 'internal', {name: 'os1', id: 'srv-1'}, {name: 'os1-abc', owned: false}, '10.1.2.3'])
  assert.equal(osd.spec.privateKeyFile, path.join(ctx.store.machineDir('os1'), 'id_rsa'))
  assert.match(done[1].unmapped.join('\n'), /floating IP from ext/)
  const az1 = await ctx.store.load('az1')
  assert.equal(JSON.stringify(az1).includes('az-secret'), false)
  const azd = az1.driverData as {names: Record<string, string>; vnetGroup: string; vnet: string; clientSecretFile: string; made: string[]}
  assert.deepEqual([azd.names.vm, azd.names.nic, azd.names.pip, azd.names.nsg, azd.vnetGroup, azd.vnet], ['az1', 'az1-nic', 'az1-ip', 'az1-firewall', 'netrg', 'vnet1'])
  assert.equal(readFileSync(azd.clientSecretFile, 'utf8'), 'az-secret')
  assert.equal(az1.tls, undefined, 'no address recorded: berth asks Azure when it needs one')
  const vb1 = await ctx.store.load('vb1')
  assert.deepEqual([vb1.driverData.uuid, vb1.driverData.address, vb1.driverData.sshPort, vb1.driverData.user, vb1.driverData.memoryMb], ['vb1', '192.168.99.100', 50122, 'docker', 2048])
})
