/**
 * The OpenStack driver against the simulator with fake hosts, in-process, doing what berth
 * does around it (preCreate, create, remove on failure): rollback after a fault at every API
 * step, lost answers, ERROR builds, Ctrl-C, the swarm security group, power operations.
 */
import {after, before, beforeEach, test} from 'node:test'
import assert from 'node:assert/strict'
import {randomBytes} from 'node:crypto'
import {readFileSync, statSync, writeFileSync} from 'node:fs'
import path from 'node:path'
import {tmpDir} from '../helpers.js'
import type {DriverContext, MachineHandle, SwarmHints} from '../../src/sdk/driver.js'
import driver, {resetCaches, type OpenStackData, type OpenStackSecrets} from '../../drivers/openstack/driver.js'
import conoha from '../../drivers/conoha/driver.js'
import {type FaultKind, OpenStackSim} from '../sim/openstack.js'

process.env.BERTH_OPENSTACK_RETRIES = '1'
process.env.BERTH_OPENSTACK_RETRY_BASE_MS = '5'
process.env.BERTH_OPENSTACK_API_TIMEOUT = '1'

const KEY = 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl berth'
let sim: OpenStackSim

before(async () => {
  sim = await OpenStackSim.start({boot: 'fake', buildDelayMs: 30, deleteDelayMs: 30, volumeDelayMs: 30})
})
after(async () => {
  await sim.close()
})
beforeEach(() => {
  // Each test is like a new berth process: no cached token or lookups.
  resetCaches()
  sim.clearFaults()
})

function options(s: OpenStackSim, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    'openstack-auth-url': s.authUrl('3'), 'openstack-username': 'demo', 'openstack-password': 'secretsecret', 'openstack-tenant-name': 'demo',
    'openstack-domain-id': 'default', 'openstack-flavor-name': 'm1.small', 'openstack-image-name': 'ubuntu-24.04', 'openstack-ip-version': 4,
    'openstack-ssh-user': 'root', 'openstack-ssh-port': 22, 'openstack-active-timeout': 10, ...extra,
  }
}
/** Every feature at once, so that every API step of a create happens. */
const FULL = {'openstack-net-name': 'private', 'openstack-sec-groups': 'default', 'openstack-floatingip-pool': 'public', 'openstack-open-cidr': '203.0.113.7/32', 'openstack-boot-volume-size': 10}

interface Made {name: string; id: string; dir: string; data: OpenStackData; logs: string[]}

function handle(m: Made): MachineHandle<OpenStackData> {
  return {machineName: m.name, machineId: m.id, machineDir: m.dir, driverDir: m.dir, data: m.data, log: () => {}, debug: () => {}, save: async d => {
    m.data = d
  }}
}

/** What berth's createMachine does with a driver: preCreate, create, and remove when create fails. */
async function create(o: Record<string, unknown>, x: {swarm?: SwarmHints; signal?: AbortSignal; onLog?: (m: string, ac?: AbortController) => void; drv?: typeof driver} = {}): Promise<Made & {err?: Error; left?: string[]}> {
  const d = x.drv ?? driver
  const name = `m-${randomBytes(3).toString('hex')}`
  const id = randomBytes(8).toString('hex')
  const {data, secrets} = await d.preCreate(o, {machineName: name, machineId: id, warn: () => {}})
  const m: Made = {name, id, dir: tmpDir('os-drv'), data, logs: []}
  const ctx: DriverContext<OpenStackData, OpenStackSecrets> = {
    machineName: m.name, machineId: m.id, machineDir: m.dir, driverDir: m.dir, sshPublicKey: KEY, secrets, swarm: x.swarm, signal: x.signal ?? new AbortController().signal,
    save: async data => {
      m.data = data
    },
    log: msg => {
      m.logs.push(msg)
      x.onLog?.(msg)
    },
    debug: () => {}, warn: () => {},
  }
  try {
    m.data = await d.create(ctx, m.data)
    return m
  } catch (err) {
    const left = await d.remove(handle(m), {force: true})
    return {...m, err: err as Error, left}
  }
}

async function inventory() {
  await sim.settle()
  return sim.inventory()
}

const isEmptyMade = (inv: Record<string, string[]>) => Object.entries(inv).every(([, v]) => v.length === 0)

test('create with every feature, then remove: everything made is recorded, and rm leaves nothing', async () => {
  const before = await inventory()
  assert.ok(isEmptyMade(before))
  const m = await create(options(sim, FULL))
  assert.equal(m.err, undefined, m.err?.message)
  const d = m.data
  assert.match(d.keypair!.name, /^berth-m-[0-9a-f]{6}-[0-9a-f]{8}$/)
  assert.ok(d.server?.id && d.volume?.id && d.secGroup?.id && d.floatingIp?.id)
  assert.equal(d.ip, d.floatingIp!.address)
  assert.deepEqual(d.addresses!.sort(), [d.floatingIp!.address!, sim.servers.get(d.server.id)!.fixedIp!].sort())
  // No secret in the record; the secrets file is private to the user.
  assert.doesNotMatch(JSON.stringify(d), /secretsecret/)
  const secrets = path.join(m.dir, 'openstack-secrets.json')
  assert.equal(statSync(secrets).mode & 0o777, 0o600)
  assert.match(readFileSync(secrets, 'utf8'), /secretsecret/)
  const srv = sim.servers.get(d.server.id)!
  assert.deepEqual(srv.metadata, {'berth-machine-id': m.id})
  assert.deepEqual(srv.groupIds.map(g => sim.groups.get(g)!.name).sort(), ['default', d.secGroup!.name].sort())
  const rules = [...sim.rules.values()].filter(r => r.groupId === d.secGroup!.id && r.direction === 'ingress')
  assert.deepEqual(rules.map(r => `${r.protocol}/${r.min} ${r.prefix}`).sort(), ['tcp/22 203.0.113.7/32', 'tcp/2376 203.0.113.7/32'])
  assert.equal(sim.volumes.get(d.volume!.id)!.status, 'in-use')
  assert.deepEqual(await driver.remove(handle(m)), [])
  assert.deepEqual(await inventory(), before)
})

/** The operations a full create makes, in order, as the simulator saw them. */
async function createSteps(): Promise<string[]> {
  resetCaches()
  sim.resetCounters()
  const m = await create(options(sim, FULL))
  assert.equal(m.err, undefined)
  const steps = [...new Set(sim.requests.map(r => r.op))]
  await driver.remove(handle(m))
  return steps
}

test('a fault at every API step of create: a one-line error naming the request, and nothing left behind', async () => {
  const steps = await createSteps()
  assert.deepEqual(steps, [
    'keystone.tokens', 'nova.flavors.list', 'glance.images.list', 'neutron.networks.list', 'neutron.secgroups.list', 'nova.keypairs.create',
    'neutron.secgroups.create', 'cinder.volumes.create', 'neutron.rules.create', 'cinder.volumes.get', 'nova.servers.create', 'nova.servers.get',
    'neutron.ports.list', 'neutron.floatingips.create',
  ].filter(s => steps.includes(s)).sort((a, b) => steps.indexOf(a) - steps.indexOf(b)))
  assert.equal(steps.length, 14)
  const baseline = await inventory()
  const kinds: [FaultKind, string[]][] = [[500, steps], ['timeout', steps.filter(s => /create$/.test(s))]]
  for (const [kind, ops] of kinds) {
    for (const op of ops) {
      resetCaches()
      sim.clearFaults()
      // Enough failures to outlast the client's one retry of each call (two lookups of networks run at once);
      // later calls, the rollback's, succeed.
      sim.inject(op, kind, {times: kind === 'timeout' ? 1 : op === 'neutron.networks.list' ? 4 : 2})
      const m = await create(options(sim, FULL)).catch(err => ({err: err as Error, left: [] as string[]}))
      assert.ok(m.err, `${kind} at ${op}: create should fail`)
      assert.equal(m.err.message.split('\n').length, 1)
      assert.match(m.err.message, /^(keystone|nova|neutron|glance|cinder) (GET|POST|PUT|DELETE) \/\S+: /, `${kind} at ${op}: ${m.err.message}`)
      assert.match(m.err.message, kind === 500 ? /500 Internal Server Error/ : /no answer within 1 s/)
      assert.deepEqual(m.left, [], `${kind} at ${op}`)
      assert.deepEqual(await inventory(), baseline, `${kind} at ${op}: left behind`)
    }
  }
})

test('a server that goes to ERROR: the fault is the error, and the rollback deletes it all', async () => {
  const baseline = await inventory()
  sim.failBuilds(1)
  const m = await create(options(sim, FULL))
  assert.match(m.err!.message, /^nova server \S+ went to ERROR: No valid host was found\. There are not enough hosts available\.$/)
  assert.deepEqual(m.left, [])
  assert.deepEqual(await inventory(), baseline)
})

test('Ctrl-C while waiting for ACTIVE: the create stops and the rollback cleans up', async () => {
  const baseline = await inventory()
  const ac = new AbortController()
  const slow = await OpenStackSim.start({boot: 'fake', buildDelayMs: 1000})
  try {
    const m = await create(options(slow, FULL), {signal: ac.signal, onLog: msg => msg.startsWith('waiting for the server') && setTimeout(() => ac.abort(new Error('interrupted by SIGINT')), 50)})
    assert.equal(m.err!.message, 'interrupted by SIGINT')
    assert.equal(m.logs.at(-1), 'waiting for the server to become ACTIVE')
    assert.deepEqual(m.left, [])
    await slow.settle()
    assert.ok(isEmptyMade(await slow.inventory()))
  } finally {
    await slow.close()
  }
  assert.deepEqual(await inventory(), baseline)
})

test('rm reports what it could not delete, and deletes the rest', async () => {
  const m = await create(options(sim, FULL))
  sim.inject('nova.keypairs.delete', 500)
  const left = await driver.remove(handle(m))
  assert.equal(left.length, 1)
  assert.match(left[0], /^keypair berth-m-[\w-]+: nova DELETE \/os-keypairs\/berth-m-[\w-]+: 500 Internal Server Error: /)
  const inv = await inventory()
  assert.deepEqual(inv.servers, [])
  assert.deepEqual(inv.keypairs, [m.data.keypair!.name])
  sim.clearFaults()
  assert.deepEqual(await driver.remove(handle(m)), [])
  assert.ok(isEmptyMade(await inventory()))
})

test('rm without credentials says so instead of failing five times', async () => {
  const m = await create(options(sim))
  resetCaches()
  const saved = process.env.OS_PASSWORD
  const h = {...handle(m), machineDir: tmpDir('os-nosecret')}
  delete process.env.OS_PASSWORD
  try {
    const left = await driver.remove(h)
    assert.equal(left.length, 1)
    assert.match(left[0], /^cannot authenticate to delete the machine's resources \(keystone POST \/auth\/tokens: 401 Unauthorized/)
  } finally {
    if (saved !== undefined) process.env.OS_PASSWORD = saved
  }
  assert.deepEqual(await driver.remove(handle(m)), [])
})

test('swarm: one security group for the swarm, SSH/Docker from the CIDR and between members, the swarm ports from each member by address (firewall)', async () => {
  const swarm = {name: 'blue', manager: true}
  const o = options(sim, {'openstack-open-cidr': '198.51.100.0/24'})
  const [a, b] = await Promise.all([create(o, {swarm}), create(o, {swarm: {...swarm, manager: false}})])
  assert.equal(a.err, undefined)
  assert.equal(b.err, undefined)
  const groups = [...sim.groups.values()].filter(g => g.name === 'berth-swarm-blue')
  assert.equal(groups.length, 1)
  const g = groups[0]
  const rules = [...sim.rules.values()].filter(r => r.groupId === g.id && r.direction === 'ingress')
    .map(r => `${r.protocol}/${r.min} from ${r.remoteGroupId === g.id ? 'members' : r.prefix}`).sort()
  const ingress = () => [...sim.rules.values()].filter(r => r.groupId === g.id && r.direction === 'ingress')
    .map(r => `${r.protocol}/${r.min} from ${r.remoteGroupId === g.id ? 'members' : r.prefix}`).sort()
  assert.deepEqual(rules, ['tcp/22 from 198.51.100.0/24', 'tcp/22 from members', 'tcp/2376 from 198.51.100.0/24', 'tcp/2376 from members'])
  for (const m of [a, b]) assert.ok(sim.servers.get(m.data.server!.id!)!.groupIds.includes(g.id))
  // Each member admits the others and itself (the group is shared): both ask for the same set.
  const ports = [{port: 7946, proto: 'tcp' as const}, {port: 4789, proto: 'udp' as const}]
  const ipA = a.data.ip!
  const ipB = b.data.ip!
  const azure = {name: 'az1', addresses: ['203.0.113.9']}
  await Promise.all([
    driver.firewall!(handle(a), {swarm: 'blue', member: true, addresses: [ipA], peers: [{name: 'b', addresses: [ipB]}, azure], ports}),
    driver.firewall!(handle(b), {swarm: 'blue', member: true, addresses: [ipB], peers: [{name: 'a', addresses: [ipA]}, azure], ports}),
  ])
  const peers = (...ips: string[]) => ips.flatMap(ip => [`tcp/7946 from ${ip}/32`, `udp/4789 from ${ip}/32`])
  const base = ['tcp/22 from 198.51.100.0/24', 'tcp/22 from members', 'tcp/2376 from 198.51.100.0/24', 'tcp/2376 from members']
  assert.deepEqual(ingress(), [...base, ...peers(ipA, ipB, '203.0.113.9')].sort())
  // Unchanged: one read, no write.
  sim.calls.clear()
  await driver.firewall!(handle(a), {swarm: 'blue', member: true, addresses: [ipA], peers: [{name: 'b', addresses: [ipB]}, azure], ports})
  assert.equal(sim.calls.get('neutron.rules.create') ?? 0, 0)
  assert.equal(sim.calls.get('neutron.rules.delete') ?? 0, 0)
  // az1 leaves: both admit only each other; b leaves too: a admits itself only, as b's own call (no member) says.
  await driver.firewall!(handle(a), {swarm: 'blue', member: true, addresses: [ipA], peers: [{name: 'b', addresses: [ipB]}], ports})
  assert.deepEqual(ingress(), [...base, ...peers(ipA, ipB)].sort())
  await driver.firewall!(handle(b), {swarm: 'blue', member: false, addresses: [ipB], peers: [{name: 'a', addresses: [ipA]}], ports})
  assert.deepEqual(ingress(), [...base, ...peers(ipA)].sort())
  // The group stays while a member uses it, and goes with the last one.
  assert.deepEqual(await driver.remove(handle(a)), [])
  assert.equal(sim.groups.has(g.id), true)
  assert.deepEqual(await driver.remove(handle(b)), [])
  assert.equal(sim.groups.has(g.id), false)
  assert.ok(isEmptyMade(await inventory()))
})

test('power: stop, start, restart and kill map to Nova actions; state follows the server', async () => {
  const m = await create(options(sim))
  const h = handle(m)
  assert.equal(await driver.state(h), 'Running')
  await driver.stop(h)
  assert.equal(await driver.state(h), 'Stopped')
  await driver.stop(h)
  await driver.start(h)
  assert.equal(await driver.state(h), 'Running')
  sim.resetCounters()
  await driver.restart(h)
  assert.ok(sim.requests.some(r => r.op === 'nova.servers.action'))
  assert.equal(await driver.state(h), 'Running')
  await driver.kill(h)
  assert.equal(await driver.state(h), 'Stopped')
  await driver.restart(h)
  assert.equal(await driver.state(h), 'Running')
  assert.deepEqual(await driver.sshEndpoint(h), {host: m.data.ip, port: 22, user: 'root', privateKeyPath: undefined})
  assert.deepEqual(driver.labels!(h), {provider: 'openstack'})
  assert.deepEqual(await driver.remove(h), [])
  assert.match(await driver.state(h), /^(Stopping|NotFound)$/)
  await sim.settle()
  assert.equal(await driver.state(h), 'NotFound')
  await assert.rejects(driver.start(h), /the server of "m-\w+" no longer exists/)
})

test('parallel creates in one process share one token and one set of lookups', async () => {
  sim.resetCounters()
  const made = await Promise.all(Array.from({length: 5}, () => create(options(sim, {'openstack-floatingip-pool': 'public'}))))
  assert.ok(made.every(m => !m.err))
  assert.equal(sim.calls.get('keystone.tokens'), 1)
  assert.equal(sim.calls.get('nova.flavors.list'), 1)
  assert.equal(sim.calls.get('glance.images.list'), 1)
  for (const m of made) assert.deepEqual(await driver.remove(handle(m)), [])
  assert.ok(isEmptyMade(await inventory()))
})

test('bad names fail in preCreate, before anything exists', async () => {
  await assert.rejects(create(options(sim, {'openstack-flavor-name': 'm1.huge'})), /flavor "m1.huge" not found \(the cloud has: m1.tiny, m1.small, m1.medium\)/)
  await assert.rejects(create(options(sim, {'openstack-image-name': 'windows'})), /image "windows" not found/)
  await assert.rejects(create(options(sim, {'openstack-net-name': 'nope'})), /network "nope" not found: check --openstack-net-name/)
  await assert.rejects(create(options(sim, {'openstack-sec-groups': 'default,web'})), /security group "web" not found/)
  await assert.rejects(create(options(sim, {'openstack-password': 'wrong'})), /keystone POST \/auth\/tokens: 401 Unauthorized/)
  assert.ok(isEmptyMade(await inventory()))
})

test('the conoha driver maps conoha-* options onto the preset (v3: boot volume, name tag, SSH/Docker group)', async () => {
  const c3 = await OpenStackSim.start({boot: 'fake', profile: 'conoha-v3', buildDelayMs: 10, volumeDelayMs: 10})
  try {
    const m = await create({
      'conoha-auth-url': c3.authUrl('3'), 'conoha-region': 'c3j1', 'conoha-username': 'demo', 'conoha-password': 'secretsecret', 'conoha-tenant-id': c3.project.id,
      'conoha-flavor-name': 'g2l-t-c2m1', 'conoha-image-name': 'vmi-ubuntu-24.04-amd64', 'conoha-ssh-port': 22, 'conoha-active-timeout': 10,
    }, {drv: conoha})
    assert.equal(m.err, undefined, m.err?.message)
    const d = m.data
    const srv = c3.servers.get(d.server!.id!)!
    assert.equal(srv.metadata.instance_name_tag, m.name)
    assert.equal(srv.imageId, '')
    assert.deepEqual(srv.volumeIds, [d.volume!.id!])
    const vol = c3.volumes.get(d.volume!.id!)!
    assert.deepEqual([vol.size, vol.type], [100, 'c3j1-ds02-boot'])
    assert.deepEqual(srv.groupIds.map(g => c3.groups.get(g)!.name).sort(), ['default', d.secGroup!.name].sort())
    assert.deepEqual(conoha.labels!(handle(m)), {provider: 'conoha', region: 'c3j1'})
    assert.deepEqual(await conoha.remove(handle(m)), [])
    await c3.settle()
    assert.ok(isEmptyMade(await c3.inventory()))
  } finally {
    await c3.close()
  }
})

test('the user\'s own keypair (--openstack-keypair-name + --openstack-private-key-file) is used and never deleted', async () => {
  const dir = tmpDir('os-key')
  const keyFile = path.join(dir, 'id_mine')
  writeFileSync(keyFile, 'PRIVATE KEY (not read by the driver)\n')
  writeFileSync(keyFile + '.pub', KEY.replace('berth', 'mine') + '\n')
  resetCaches()
  const {Cloud} = await import('../../drivers/openstack/api.js')
  const {OpenStackClient} = await import('../../drivers/openstack/client.js')
  await new Cloud(new OpenStackClient({auth: {url: sim.authUrl('3'), username: 'demo', password: 'secretsecret', projectName: 'demo'}})).importKeypair('mine', KEY)
  await assert.rejects(create(options(sim, {'openstack-keypair-name': 'nope', 'openstack-private-key-file': keyFile})), /keypair "nope" not found: check --openstack-keypair-name/)
  const m = await create(options(sim, {'openstack-keypair-name': 'mine', 'openstack-private-key-file': keyFile}))
  assert.equal(m.err, undefined, m.err?.message)
  const d = m.data
  assert.deepEqual(d.keypair, {name: 'mine', owned: false})
  assert.equal(sim.servers.get(d.server!.id!)!.keyName, 'mine')
  assert.equal((await driver.sshEndpoint(handle(m))).privateKeyPath, keyFile)
  assert.deepEqual(await driver.remove(handle(m)), [])
  assert.deepEqual((await inventory()).keypairs, ['mine'])
  // Only the private key file: its .pub is imported as berth's own keypair, and deleted with the machine.
  const n = await create(options(sim, {'openstack-private-key-file': keyFile}))
  const nd = n.data
  assert.equal(nd.keypair!.owned, true)
  assert.equal(sim.keypairs.get(nd.keypair!.name)!.publicKey, KEY.replace('berth', 'mine'))
  assert.deepEqual(await driver.remove(handle(n)), [])
  assert.deepEqual((await inventory()).keypairs, ['mine'])
  sim.keypairs.delete('mine')
})
