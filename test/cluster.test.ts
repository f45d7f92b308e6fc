/** Inventory mapping (engine answers → placement nodes) and the small parsers of run/manage. */
import {test} from 'node:test'
import assert from 'node:assert/strict'
import {
  bytesSize, clampVersion, compareVersions, defaultStrategy, downNode, isActive, nodeHasImage, normalizeImage, parseEngineLabels,
  parseMemory, reservationOf, toNodeInput, type ContainerSummary, type EngineInfo, type ImageSummary, type Reservation,
} from '../src/cluster/index.js'
import {endpointSans, parseListen, withMachine} from '../src/manage/index.js'
import {Scheduler, makeNode, makeRequest, naiveSelect} from '../src/placement/index.js'
import type {MachineRecord} from '../src/store/index.js'
import {parsePublish, splitAtImage} from '../commands/run.js'

const GiB = 1024 ** 3

const info: EngineInfo = {
  NCPU: 2, MemTotal: 4 * GiB, Labels: ['provider=lab', 'berth.machine=m1', 'region=lab', 'disk=hdd'],
  KernelVersion: '6.1.0', OperatingSystem: 'Debian GNU/Linux 12', OSType: 'linux', Driver: 'overlay2',
}

function container(id: string, state: string, extra: Partial<ContainerSummary> = {}): ContainerSummary {
  return {Id: id, Names: [`/${id}-name`], Image: 'bb:v1', Created: 1, State: state, Status: state, Labels: {tier: 'web'}, ...extra}
}

const images: ImageSummary[] = [
  {Id: 'sha256:aaaaaaaaaaaa1111', RepoTags: ['bb:v1', 'bb:latest'], RepoDigests: [], Created: 1, Size: 1},
  {Id: 'sha256:bbbbbbbbbbbb2222', RepoTags: ['<none>:<none>'], RepoDigests: ['reg/x@sha256:dd'], Created: 1, Size: 1},
]

test('engine labels, swarm node labels and pseudo-labels merge into the node, node labels winning', () => {
  const n = makeNode(toNodeInput({machine: 'm1', info, containers: [], images, reservations: new Map(), nodeLabels: {disk: 'ssd', 'berth.driver': 'lab'}}))
  assert.equal(n.id, 'm1')
  assert.equal(n.labels.disk, 'ssd')
  assert.equal(n.labels.provider, 'lab')
  assert.equal(n.labels['berth.driver'], 'lab')
  assert.equal(n.labels.storagedriver, 'overlay2')
  assert.equal(n.labels.kernelversion, '6.1.0')
  assert.equal(n.labels.operatingsystem, 'Debian GNU/Linux 12')
  assert.equal(n.labels.ostype, 'linux')
  assert.equal(n.labels.node, 'm1')
  assert.equal(n.cpus, 2)
  assert.equal(n.memory, 4 * GiB)
  assert.deepEqual(n.images.map(i => i.names), [['bb:v1', 'bb:latest'], ['reg/x@sha256:dd']])
})

test('reservations count only containers that are not exited; ports come from the list and the bindings', () => {
  const reservations = new Map<string, Reservation>([
    ['run1', {cpus: 0.5, memory: GiB, ports: []}],
    ['new1', {cpus: 0.25, memory: 0, ports: [{port: 8080, protocol: 'tcp', hostIp: ''}]}],
    ['old1', {cpus: 1, memory: 2 * GiB, ports: [{port: 9090, protocol: 'tcp', hostIp: ''}]}],
  ])
  const containers = [
    container('run1', 'running', {Ports: [{IP: '0.0.0.0', PrivatePort: 80, PublicPort: 80, Type: 'tcp'}, {IP: '::', PrivatePort: 80, PublicPort: 80, Type: 'tcp'}, {PrivatePort: 443, Type: 'tcp'}]}),
    container('new1', 'created'),
    container('old1', 'exited'),
  ]
  const n = makeNode(toNodeInput({machine: 'm1', info, containers, images, reservations}))
  assert.equal(n.reservedCpus, 0.75)
  assert.equal(n.reservedMemory, GiB)
  assert.equal(n.containerCount, 2)
  assert.equal(n.containers.length, 3, 'exited containers still count for affinity and dependency')
  assert.deepEqual(n.containers[0].names, ['run1-name'])
  assert.deepEqual(n.containers[0].labels, {tier: 'web'})
  assert.deepEqual(n.ports.map(p => `${p.hostIp}:${p.port}/${p.protocol}`).sort(), [':8080/tcp', '0.0.0.0:80/tcp', ':::80/tcp'].sort())
  assert.ok(!n.ports.some(p => p.port === 9090), 'an exited container binds nothing')
})

test('a node built from the engine places like the engine is: reserved CPUs leave no room for one more', () => {
  const full = makeNode(toNodeInput({machine: 'full', info, containers: [container('c', 'running')], images, reservations: new Map([['c', {cpus: 1.8, memory: 0, ports: []}]])}))
  const empty = makeNode(toNodeInput({machine: 'empty', info, containers: [], images, reservations: new Map()}))
  const req = makeRequest({cpus: 1, image: 'bb:v1'})
  assert.equal(naiveSelect([full, empty], req, {strategy: 'binpack'}).node.id, 'empty')
  assert.equal(new Scheduler([full, empty], {strategy: 'binpack'}).select(makeRequest({cpus: 0.2})).node.id, 'full')
  // An unreachable machine is in the cluster but never chosen, and named in the error.
  const down = makeNode(downNode('gone'))
  assert.equal(down.health.healthy, false)
  assert.throws(() => new Scheduler([down], {}).select(req), /health eliminated gone/)
})

test('reservationOf reads --cpus, --cpu-quota and -m, and published host ports', () => {
  assert.deepEqual(reservationOf({Id: 'x', HostConfig: {NanoCpus: 1.5e9, Memory: 512 * 1024 ** 2, PortBindings: {'80/tcp': [{HostIp: '', HostPort: '8080'}, {HostIp: '', HostPort: ''}], '53/UDP': [{HostIp: '10.0.0.1', HostPort: '53'}]}}}), {
    cpus: 1.5, memory: 512 * 1024 ** 2, ports: [{port: 8080, protocol: 'tcp', hostIp: ''}, {port: 53, protocol: 'udp', hostIp: '10.0.0.1'}],
  })
  assert.equal(reservationOf({Id: 'x', HostConfig: {CpuQuota: 50_000, CpuPeriod: 100_000}}).cpus, 0.5)
  assert.equal(reservationOf({Id: 'x', HostConfig: {CpuQuota: 200_000}}).cpus, 2)
  assert.deepEqual(reservationOf({Id: 'x', HostConfig: null}), {cpus: 0, memory: 0, ports: []})
})

test('states that hold resources', () => {
  for (const s of ['running', 'created', 'paused', 'restarting']) assert.ok(isActive(s), s)
  for (const s of ['exited', 'dead']) assert.ok(!isActive(s), s)
})

test('engine labels parse as key=value, values may hold =', () => {
  assert.deepEqual(parseEngineLabels(['a=1', 'b=x=y', 'bad', '=v']), {a: '1', b: 'x=y'})
  assert.deepEqual(parseEngineLabels(null), {})
})

test('image references: tags default to latest, Docker Hub prefixes drop, ids and digests match', () => {
  assert.equal(normalizeImage('busybox'), 'busybox:latest')
  assert.equal(normalizeImage('docker.io/library/nginx:1.27'), 'nginx:1.27')
  assert.equal(normalizeImage('reg:5000/team/app'), 'reg:5000/team/app:latest')
  assert.equal(normalizeImage('reg:5000/team/app:2'), 'reg:5000/team/app:2')
  const node = makeNode(toNodeInput({machine: 'm', info, containers: [], images, reservations: new Map()}))
  assert.ok(nodeHasImage(node, 'bb:v1'))
  assert.ok(nodeHasImage(node, 'bb'), 'bb means bb:latest, which is there')
  assert.ok(!nodeHasImage(node, 'bb:v2'))
  assert.ok(nodeHasImage(node, 'aaaaaaaaaaaa'))
  assert.ok(nodeHasImage(node, 'sha256:aaaaaaaaaaaa1111'))
  assert.ok(nodeHasImage(node, 'reg/x@sha256:dd'))
  assert.ok(!nodeHasImage(node, 'cccccccccccc'))
})

test('memory sizes as docker run -m reads them; sizes as classic Swarm printed them', () => {
  assert.equal(parseMemory('512m'), 512 * 1024 ** 2)
  assert.equal(parseMemory('1g'), GiB)
  assert.equal(parseMemory('1.5GiB'), 1.5 * GiB)
  assert.equal(parseMemory('2048'), 2048)
  assert.throws(() => parseMemory('lots'), /bad memory "lots"/)
  assert.equal(bytesSize(0), '0 B')
  assert.equal(bytesSize(1.021 * GiB), '1.021 GiB')
  assert.equal(bytesSize(25276502016), '23.54 GiB')
})

test('API versions compare as numbers and are clamped to what the engine speaks', () => {
  assert.ok(compareVersions('1.41', '1.5') > 0)
  assert.equal(compareVersions('1.41', '1.41'), 0)
  assert.equal(clampVersion('1.50', '1.41'), '1.41')
  assert.equal(clampVersion('1.40', '1.41'), '1.40')
  assert.equal(clampVersion(undefined, '1.41'), undefined)
})

test('the default strategy is the swarm\'s --swarm-strategy, a manager\'s first', () => {
  const rec = (name: string, manager: boolean, strategy?: string) => ({name, swarm: {name: 's', manager, labels: {}, strategy}}) as unknown as MachineRecord
  assert.equal(defaultStrategy([rec('w', false, 'random'), rec('m', true, 'binpack')]), 'binpack')
  assert.equal(defaultStrategy([rec('w', false, 'random'), rec('m', true)]), 'random')
  assert.equal(defaultStrategy([rec('m', true, 'bogus')]), 'spread')
})

test('docker ps through the endpoint: names as /machine/name, ports on the machine\'s address, once', () => {
  const c = withMachine(container('x', 'running', {Names: ['/web', '/other/alias'], Ports: [
    {IP: '0.0.0.0', PrivatePort: 80, PublicPort: 18080, Type: 'tcp'}, {IP: '::', PrivatePort: 80, PublicPort: 18080, Type: 'tcp'}, {PrivatePort: 443, Type: 'tcp'},
  ]}), 'm2', '172.30.95.3')
  assert.deepEqual(c.Names, ['/m2/web', '/m2/other/alias'])
  assert.deepEqual(c.Ports, [{IP: '172.30.95.3', PrivatePort: 80, PublicPort: 18080, Type: 'tcp'}, {PrivatePort: 443, Type: 'tcp'}])
})

test('--listen and the endpoint certificate names', () => {
  assert.deepEqual(parseListen('127.0.0.1:3376'), {host: '127.0.0.1', port: 3376})
  assert.deepEqual(parseListen(':0'), {host: '127.0.0.1', port: 0})
  assert.deepEqual(parseListen('[::1]:4000'), {host: '::1', port: 4000})
  assert.throws(() => parseListen('example.com:80'), /must be an IP address or localhost/)
  assert.throws(() => parseListen('127.0.0.1:99999'), /bad --listen/)
  assert.deepEqual(endpointSans('10.0.0.5'), ['10.0.0.5', '127.0.0.1', 'localhost', '::1'])
  assert.ok(!endpointSans('0.0.0.0').includes('0.0.0.0'))
})

test('berth run: flags stop at the image, so the command keeps its own flags', () => {
  const flags = {memory: {type: 'option', char: 'm'}, cpus: {type: 'option', char: 'c'}, detach: {type: 'boolean', char: 'd'}, swarm: {type: 'option'}}
  assert.deepEqual(splitAtImage(['-m', '1g', '--swarm', 's', '-d', 'bb', 'sh', '-c', 'echo hi'], flags), ['-m', '1g', '--swarm', 's', '-d', '--', 'bb', 'sh', '-c', 'echo hi'])
  assert.deepEqual(splitAtImage(['--swarm=s', 'bb', '-d'], flags), ['--swarm=s', '--', 'bb', '-d'])
  assert.deepEqual(splitAtImage(['-d', '--', 'bb'], flags), ['-d', '--', 'bb'])
  assert.deepEqual(parsePublish(['80:8080', '127.0.0.1:53:53/udp', '9000']), {
    exposed: {'8080/tcp': {}, '53/udp': {}, '9000/tcp': {}},
    bindings: {'8080/tcp': [{HostIp: '', HostPort: '80'}], '53/udp': [{HostIp: '127.0.0.1', HostPort: '53'}], '9000/tcp': [{HostIp: '', HostPort: ''}]},
  })
  assert.throws(() => parsePublish(['x:y']), /bad -p "x:y"/)
})
