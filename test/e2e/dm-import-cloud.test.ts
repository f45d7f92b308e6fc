/**
 * `berth import --docker-machine` of openstack and azure machines, against the simulators (whose
 * servers and VMs are lab hosts). The cloud machines are made first, each by a helper store
 * (a server or VM with Docker on it, as docker-machine's create leaves one); around them a
 * docker-machine store is written in its on-disk format (config.json with DriverName openstack /
 * azure and the driver's own fields). The import must map them onto berth's openstack and azure
 * drivers: ls asks the cloud for the state, env + docker info reach the engine, and
 * rm --remove-host deletes the server / VM in the simulator.
 */
import {after, before, describe, test} from 'node:test'
import assert from 'node:assert/strict'
import {copyFileSync, mkdirSync, readFileSync, writeFileSync} from 'node:fs'
import path from 'node:path'
import {berth, docker, dockerEnv, isRoot, labLeftovers, tmpDir} from '../helpers.js'
import {OpenStackSim} from '../sim/openstack.js'
import {startAzureSim, type AzureSim} from '../sim/azure.js'

const skip = !isRoot() && 'lab hosts need root'

type Json = Record<string, any>

/** docker-machine's store around a helper store's machine: its certs, SSH key and a config.json. */
function dmStore(root: string, name: string, helperStore: string, helperName: string, driverName: string, driver: Json): void {
  const m = path.join(root, 'machines', name)
  const c = path.join(root, 'certs')
  mkdirSync(m, {recursive: true, mode: 0o700})
  mkdirSync(c, {recursive: true, mode: 0o700})
  for (const f of ['ca.pem', 'ca-key.pem', 'cert.pem', 'key.pem']) copyFileSync(path.join(helperStore, 'certs', f), path.join(c, f))
  for (const f of ['ca.pem', 'cert.pem', 'key.pem']) copyFileSync(path.join(c, f), path.join(m, f))
  // docker-machine names the machine's key id_rsa whatever its type.
  copyFileSync(path.join(helperStore, 'machines', helperName, 'id_ed25519'), path.join(m, 'id_rsa'))
  writeFileSync(path.join(m, 'config.json'), JSON.stringify({
    ConfigVersion: 3,
    Driver: {MachineName: name, StorePath: root, SSHKeyPath: path.join(m, 'id_rsa'), SSHPort: 22, ...driver},
    DriverName: driverName,
    HostOptions: {
      Driver: '', Memory: 0, Disk: 0,
      EngineOptions: {ArbitraryFlags: [], Dns: null, GraphDir: '', Env: [], Ipv6: false, InsecureRegistry: [], Labels: [], LogLevel: '', StorageDriver: '', SelinuxEnabled: false, TlsVerify: true, RegistryMirror: [], InstallURL: 'https://get.docker.com'},
      SwarmOptions: {IsSwarm: false, Address: '', Discovery: '', Agent: false, Master: false, Host: 'tcp://0.0.0.0:3376', Image: 'swarm:latest', Strategy: 'spread', Heartbeat: 0, Overcommit: 0, ArbitraryFlags: [], ArbitraryJoinFlags: [], Env: null, IsExperimental: false},
      AuthOptions: {
        CertDir: c, CaCertPath: path.join(c, 'ca.pem'), CaPrivateKeyPath: path.join(c, 'ca-key.pem'), CaCertRemotePath: '', ServerCertPath: path.join(m, 'server.pem'),
        ServerKeyPath: path.join(m, 'server-key.pem'), ClientKeyPath: path.join(c, 'key.pem'), ServerCertRemotePath: '', ServerKeyRemotePath: '', ClientCertPath: path.join(c, 'cert.pem'), ServerCertSANs: [], StorePath: m,
      },
    },
    Name: name,
  }, null, 4), {mode: 0o600})
}

const record = (store: string, name: string): Json => JSON.parse(readFileSync(path.join(store, 'machines', name, 'config.json'), 'utf8'))

describe('import --docker-machine of openstack and azure machines, against the simulators', {skip, concurrency: false}, () => {
  let os: OpenStackSim
  let az: AzureSim
  const osHelper = tmpDir('dmc-osh')
  const azHelper = tmpDir('dmc-azh')
  const target = tmpDir('dmc-target')
  const dm = tmpDir('dmc-dm')
  let osEnv: Record<string, string>
  let azEnv: Record<string, string>
  let azName = ''

  before(async () => {
    ;[os, az] = await Promise.all([
      OpenStackSim.start({boot: 'lab', subnet: '172.30.187.0/24', labRoot: tmpDir('dmc-oslab'), profile: 'generic'}),
      startAzureSim({labRoot: tmpDir('dmc-azlab'), labSubnet: '172.30.186.0/24', retryAfter: 0}),
    ])
    osEnv = {BERTH_OPENSTACK_RETRIES: '1', BERTH_OPENSTACK_RETRY_BASE_MS: '20', OS_CLOUD: '', OS_AUTH_URL: os.authUrl('3'), OS_USERNAME: 'demo', OS_PASSWORD: 'secretsecret', OS_TENANT_NAME: 'demo', OS_DOMAIN_NAME: 'Default'}
    azEnv = {...az.env(), AZURE_LOCATION: 'japaneast'}
    const [o, a] = await Promise.all([
      berth(['create', '-d', 'openstack', '--openstack-flavor-name', 'm1.small', '--openstack-image-name', 'ubuntu-24.04', '--openstack-net-name', 'private', '--openstack-sec-groups', 'default', '--openstack-open-cidr', '172.30.187.1/32', 'osdm'],
        {env: {...osEnv, BERTH_STORAGE_PATH: osHelper}, timeoutMs: 240_000}),
      berth(['create', '-d', 'azure', 'azdm'], {env: {...azEnv, BERTH_STORAGE_PATH: azHelper}, timeoutMs: 240_000}),
    ])
    assert.equal(o.code, 0, o.stderr)
    assert.equal(a.code, 0, a.stderr)
    // openstack: docker-machine's driver fields for that nova server.
    const od = record(osHelper, 'osdm').driverData
    dmStore(dm, 'osdm', osHelper, 'osdm', 'openstack', {
      AuthUrl: os.authUrl('3'), Username: 'demo', Password: 'secretsecret', TenantName: 'demo', DomainName: 'Default', EndpointType: 'publicURL',
      MachineId: od.server.id, IPAddress: od.ip, SSHUser: od.spec.sshUser, FlavorId: od.spec.flavorId, ImageId: od.spec.imageId, NetworkId: od.spec.networkId,
      SecurityGroups: ['default'], ActiveTimeout: 200, IpVersion: 4, KeyPairName: '',
    })
    // azure: docker-machine names the VM after the machine (and its NIC NAME-nic, its IP NAME-ip).
    const ad = record(azHelper, 'azdm').driverData
    azName = ad.names.vm
    dmStore(dm, azName, azHelper, 'azdm', 'azure', {
      SubscriptionID: az.subscriptionId, ClientID: az.clientId, ClientSecret: az.clientSecret, Environment: 'AzurePublicCloud', ResourceGroup: ad.resourceGroup,
      Location: ad.location, Size: ad.size, SSHUser: ad.sshUser, VirtualNetwork: ad.vnet, SubnetName: ad.subnet, SubnetPrefix: ad.subnetPrefix,
      IPAddress: ad.publicIp, DockerPort: 2376, Image: 'canonical:ubuntu-24_04-lts:server:latest',
    })
  })

  after(async () => {
    await berth(['rm', '-f', '-y', '--remove-host', 'osdm', azName], {env: {...osEnv, ...azEnv, BERTH_STORAGE_PATH: target}}).catch(() => undefined)
    await berth(['rm', '-f', '-y', 'osdm'], {env: {...osEnv, BERTH_STORAGE_PATH: osHelper}}).catch(() => undefined)
    await berth(['rm', '-f', '-y', 'azdm'], {env: {...azEnv, BERTH_STORAGE_PATH: azHelper}}).catch(() => undefined)
    const hostIds = os ? [...os.hostIds] : []
    await Promise.all([os?.settle(), az?.settle()])
    const osLeft = os ? Object.entries(await os.inventory()).filter(([, v]) => v.length) : []
    const azLeft = az ? az.inventory() : []
    await Promise.all([os?.close(), az?.close()])
    assert.deepEqual(osLeft, [], 'the openstack simulator still holds resources')
    assert.deepEqual(azLeft, [], 'the azure simulator still holds resources')
    assert.deepEqual(labLeftovers(hostIds), [])
  })

  test('both machines import onto berth\'s own drivers, answer ls from the cloud, and docker reaches them through env', async () => {
    const env = {...osEnv, ...azEnv, BERTH_STORAGE_PATH: target}
    const r = await berth(['import', '--docker-machine', dm], {env})
    assert.equal(r.code, 0, r.stderr)
    assert.match(r.stdout, /Imported "osdm" \(docker-machine driver openstack, berth driver openstack/)
    assert.match(r.stdout, new RegExp(`Imported "${azName}" \\(docker-machine driver azure, berth driver azure`))
    assert.doesNotMatch(r.stdout + r.stderr, new RegExp(`secretsecret|${az.clientSecret}`), 'no secret in the output')
    const osRec = record(target, 'osdm')
    assert.equal(osRec.driverData.server.id, record(osHelper, 'osdm').driverData.server.id)
    assert.ok(!JSON.stringify(osRec).includes('secretsecret'), 'the password went to the secrets file, not the record')
    // The state comes from the cloud APIs (nova, ARM instance view) through the mapped records.
    const rows = JSON.parse((await berth(['ls', '--json'], {env})).stdout) as Json[]
    assert.deepEqual(rows.map(x => [x.name, x.driver, x.state]).sort(), [[azName, 'azure', 'Running'], ['osdm', 'openstack', 'Running']].sort())
    for (const [name, host] of [['osdm', 'osdm'], [azName, 'azdm']]) {
      const info = docker(['info', '--format', '{{.Name}}'], await dockerEnv(name, env))
      assert.equal(info.code, 0, info.stderr)
      assert.equal(info.stdout.trim(), host === 'osdm' ? record(osHelper, 'osdm').driverData.server.name : record(azHelper, 'azdm').driverData.names.computer)
    }
  })

  test('rm --remove-host deletes the server and the VM in the simulators', async () => {
    const env = {...osEnv, ...azEnv, BERTH_STORAGE_PATH: target}
    const serverId = record(osHelper, 'osdm').driverData.server.id
    assert.ok((await os.inventory()).servers.some(s => s.endsWith(serverId)))
    const vmId = (n: string) => az.inventory().filter(id => id.includes(n))
    assert.ok(vmId(`/virtualMachines/${azName}`).length)
    const r = await berth(['rm', '-y', '--remove-host', 'osdm', azName], {env})
    assert.equal(r.code, 0, r.stderr)
    await Promise.all([os.settle(), az.settle()])
    assert.deepEqual((await os.inventory()).servers, [])
    for (const what of [`/virtualMachines/${azName}`, `/networkInterfaces/${azName}-nic`, `/publicIPAddresses/${azName}-ip`]) assert.deepEqual(vmId(what), [], `${what} removed`)
    assert.deepEqual(az.hosts(), [], 'the VM\'s lab host is gone')
    assert.deepEqual(JSON.parse((await berth(['ls', '--json'], {env})).stdout), [])
  })
})
