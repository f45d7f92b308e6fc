import {test} from 'node:test'
import assert from 'node:assert/strict'
import {AFFINITIES_LABEL, CONSTRAINTS_LABEL, PlacementSyntaxError, parseContainerConfig, parseRule, type ContainerConfig} from '../../src/placement/index.js'

test('parseRule reads operators, soft markers and canonical text', () => {
  const r = parseRule('constraint', 'region==tyo1')
  assert.deepEqual([r.kind, r.key, r.op, r.value, r.soft, r.text], ['constraint', 'region', '==', 'tyo1', false, 'region==tyo1'])
  const s = parseRule('affinity', 'image!=~redis')
  assert.deepEqual([s.key, s.op, s.value, s.soft, s.text], ['image', '!=', 'redis', true, 'image!=~redis'])
  // == is looked for first, as classic did.
  assert.deepEqual([parseRule('constraint', 'a==b!=c').key, parseRule('constraint', 'a==b!=c').value], ['a', 'b!=c'])
  assert.equal(parseRule('constraint', 'com.example.zone==a').key, 'com.example.zone')
})

test('parseRule compiles globs as whole-value matches and /regex/ as unanchored', () => {
  const glob = parseRule('constraint', 'node==web-?-*')
  assert.equal(glob.matcher.test('web-1-east'), true)
  assert.equal(glob.matcher.test('web-12-east'), false)
  assert.equal(glob.matcher.test('xweb-1-east'), false)
  const re = parseRule('constraint', 'node==/web-\\d+/')
  assert.equal(re.matcher.test('prod-web-12'), true)
  assert.equal(re.matcher.test('prod-web-x'), false)
  assert.equal(parseRule('constraint', 'node==/WEB/i').matcher.test('web'), true)
  // Regex metacharacters in a glob are literal.
  assert.equal(parseRule('constraint', 'v==a+b').matcher.test('aab'), false)
  assert.equal(parseRule('constraint', 'v==a+b').matcher.test('a+b'), true)
})

test('parseRule rejects malformed rules', () => {
  assert.throws(() => parseRule('constraint', 'region=tyo1'), PlacementSyntaxError)
  assert.throws(() => parseRule('constraint', '==tyo1'), /key '' is invalid/)
  assert.throws(() => parseRule('constraint', '9region==tyo1'), /key '9region' is invalid/)
  assert.throws(() => parseRule('constraint', 'region=='), /value is empty/)
  assert.throws(() => parseRule('constraint', 'region==~'), /value is empty/)
  assert.throws(() => parseRule('affinity', 'container==/(/'), /invalid regular expression/)
})

test('parseContainerConfig moves rules out of Env and leaves the rest alone', () => {
  const config = {
    Image: 'nginx:1.27',
    Env: ['A=1', 'constraint:region==tyo1', 'affinity:container!=web', 'B=constraint:x==y', 'constraint:node==~m1'],
    Cmd: ['nginx'],
  }
  const frozen = JSON.stringify(config)
  const {request, config: out} = parseContainerConfig(config, {name: '/front'})
  assert.deepEqual(out.Env, ['A=1', 'B=constraint:x==y'])
  assert.deepEqual(out.Cmd, ['nginx'], 'other fields pass through')
  assert.equal(JSON.stringify(config), frozen, 'input must not be mutated')
  assert.deepEqual(request.constraints.map(r => r.text), ['region==tyo1', 'node==~m1'])
  assert.deepEqual(request.affinities.map(r => r.text), ['container!=web'])
  assert.equal(request.name, 'front')
  assert.equal(request.image, 'nginx:1.27')
})

test('parseContainerConfig reads com.docker.swarm.* labels and dedupes with Env', () => {
  const {request, config} = parseContainerConfig({
    Env: ['constraint:region==tyo1'],
    Labels: {[CONSTRAINTS_LABEL]: '["region==tyo1","disk==ssd"]', [AFFINITIES_LABEL]: '["image==~redis"]', tier: 'front'},
  })
  assert.deepEqual(request.constraints.map(r => r.text), ['region==tyo1', 'disk==ssd'])
  assert.deepEqual(request.affinities.map(r => [r.text, r.soft]), [['image==~redis', true]])
  assert.equal(request.labels.tier, 'front')
  assert.equal(config.Labels?.[CONSTRAINTS_LABEL], '["region==tyo1","disk==ssd"]', 'labels are kept so the engine persists the rules')
  assert.throws(() => parseContainerConfig({Labels: {[CONSTRAINTS_LABEL]: 'region==tyo1'}}), /JSON array of strings/)
  assert.throws(() => parseContainerConfig({Labels: {[AFFINITIES_LABEL]: '[1]'}}), /JSON array of strings/)
})

test('parseContainerConfig reads dependencies from links, volumes-from and container modes', () => {
  const {request} = parseContainerConfig({
    HostConfig: {
      Links: ['db:database', '/cache:/web/cache'],
      VolumesFrom: ['data:ro', 'logs'],
      NetworkMode: 'container:vpn',
      IpcMode: 'container:shm',
      PidMode: 'host',
    },
  })
  assert.deepEqual(request.dependencies, [
    {kind: 'link', container: 'db'},
    {kind: 'link', container: 'cache'},
    {kind: 'volumes-from', container: 'data'},
    {kind: 'volumes-from', container: 'logs'},
    {kind: 'net', container: 'vpn'},
    {kind: 'ipc', container: 'shm'},
  ])
  assert.deepEqual(parseContainerConfig({HostConfig: {NetworkMode: 'bridge'}}).request.dependencies, [])
})

test('parseContainerConfig reads host ports and resources', () => {
  const config: ContainerConfig = {
    ExposedPorts: {'80/tcp': {}},
    HostConfig: {
      PortBindings: {
        '80/tcp': [{HostIp: '', HostPort: '8080'}, {HostPort: ''}],
        '53/udp': [{HostIp: '127.0.0.1', HostPort: '5353'}],
        '9000': [{HostPort: '9000-9002'}],
        '22/tcp': null,
      },
      NanoCpus: 1_500_000_000,
      Memory: 512 * 1024 ** 2,
    },
  }
  const {request} = parseContainerConfig(config)
  // Order is irrelevant (and JS lists the integer key '9000' first).
  assert.deepEqual([...request.ports].sort((a, b) => a.port - b.port), [
    {port: 5353, protocol: 'udp', hostIp: '127.0.0.1'},
    {port: 8080, protocol: 'tcp', hostIp: ''},
    {port: 9000, protocol: 'tcp', hostIp: ''},
    {port: 9001, protocol: 'tcp', hostIp: ''},
    {port: 9002, protocol: 'tcp', hostIp: ''},
  ])
  assert.equal(request.cpus, 1.5)
  assert.equal(request.memory, 512 * 1024 ** 2)
  // Host networking binds every exposed port on the host.
  const host = parseContainerConfig({ExposedPorts: {'80/tcp': {}, '53/udp': {}}, HostConfig: {NetworkMode: 'host'}}).request
  assert.deepEqual(host.ports, [{port: 80, protocol: 'tcp', hostIp: ''}, {port: 53, protocol: 'udp', hostIp: ''}])
  assert.throws(() => parseContainerConfig({HostConfig: {PortBindings: {'80/tcp': [{HostPort: '70000'}]}}}), PlacementSyntaxError)
  // No resources asked: zero, not undefined.
  const bare = parseContainerConfig({}).request
  assert.deepEqual([bare.cpus, bare.memory, bare.ports, bare.dependencies], [0, 0, [], []])
})
