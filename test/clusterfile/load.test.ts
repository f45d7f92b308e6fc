import {describe, test} from 'node:test'
import assert from 'node:assert/strict'
import {readFileSync} from 'node:fs'
import path from 'node:path'
import {registry as drivers} from '../../drivers/flags.js'
import {clusterJsonSchema, parseClusterFile, resolveOptions} from '../../src/clusterfile/index.js'
import {ROOT} from '../helpers.js'

const FILE = '/srv/cluster.yml'

export const SEED004 = `
swarm:
  name: hybrid
  strategy: spread
  mesh: none
groups:
  head:
    driver: lab
    role: manager
    labels: {site: home}
    options:
      subnet: 172.30.103.0/24
  az:
    driver: azure
    count: 2
    labels: {cloud: azure}
    options:
      azure-location: japaneast
      client-secret: {env: AZURE_CLIENT_SECRET}
  tyo:
    driver: conoha
    count: 2
    name: tyo{n}
    labels: {cloud: conoha}
    options:
      flavor-name: g-1gb
      sec-groups: default,gncs-ipv4-all
      password: {env: OS_PASSWORD}
`

const parse = (text: string) => parseClusterFile(text, FILE, drivers, 'cluster.yml')

/** The one line a bad file gives. */
function refusal(text: string): string {
  try {
    parse(text)
  } catch (err) {
    const m = (err as Error).message
    assert.equal(m.split('\n').length, 1, m)
    return m
  }
  assert.fail('the file was accepted')
}

describe('cluster file: parsing', () => {
  test('seed 004\'s scene: names, roles, labels, options by their full names', () => {
    const spec = parse(SEED004)
    assert.equal(spec.file, FILE)
    assert.deepEqual(spec.swarm, {name: 'hybrid', mode: 'swarm', strategy: 'spread'})
    assert.deepEqual(spec.machines.map(m => [m.name, m.group, m.driver, m.role]), [
      ['head', 'head', 'lab', 'manager'], ['az-1', 'az', 'azure', 'worker'], ['az-2', 'az', 'azure', 'worker'],
      ['tyo1', 'tyo', 'conoha', 'worker'], ['tyo2', 'tyo', 'conoha', 'worker'],
    ])
    assert.deepEqual(spec.machines[0].options, {'lab-subnet': '172.30.103.0/24'})
    assert.deepEqual(spec.machines[1].options, {'azure-location': 'japaneast', 'azure-client-secret': {env: 'AZURE_CLIENT_SECRET'}})
    assert.deepEqual(spec.machines[3].options, {'conoha-flavor-name': 'g-1gb', 'conoha-sec-groups': 'default,gncs-ipv4-all', 'conoha-password': {env: 'OS_PASSWORD'}})
    assert.deepEqual(spec.machines[3].labels, {cloud: 'conoha'})
    assert.equal(spec.machines[0].engine.installUrl, 'auto')
  })

  test('engine options map to the record\'s engine options', () => {
    const spec = parse(`groups:\n  a:\n    driver: lab\n    engine:\n      labels: {zone: 1}\n      opts: {log-level: warn}\n      env: {HTTP_PROXY: "http://p:3128"}\n      registry-mirrors: [https://m.example]\n`)
    const e = spec.machines[0].engine
    assert.deepEqual(e.labels, ['zone=1'])
    assert.deepEqual(e.opts, ['log-level=warn'])
    assert.deepEqual(e.env, ['HTTP_PROXY=http://p:3128'])
    assert.deepEqual(e.registryMirrors, ['https://m.example'])
  })

  test('count 0 makes no machine; count without a template numbers the group', () => {
    assert.deepEqual(parse('swarm: {name: s}\ngroups:\n  m: {driver: lab, role: manager}\n  w: {driver: lab, count: 0}\n').machines.map(m => m.name), ['m'])
    assert.deepEqual(parse('groups:\n  workers: {driver: lab, count: 3}\n').machines.map(m => m.name), ['workers-1', 'workers-2', 'workers-3'])
  })

  const bad: Array<[string, string, RegExp]> = [
    ['unknown key', 'groups:\n  a:\n    driver: lab\n    colour: red\n', /^cluster\.yml:4:5: groups\.a\.colour: unknown key "colour"$/],
    ['unknown top-level key', 'groups: {}\nswarms: {}\n', /^cluster\.yml:2:1: swarms: unknown key "swarms"$/],
    ['wrong type', 'groups:\n  a:\n    driver: lab\n    count: three\n', /^cluster\.yml:4:12: groups\.a\.count: expected number, received string$/],
    ['wrong option type', 'groups:\n  a:\n    driver: lab\n    options:\n      subnet: true\n', /^cluster\.yml:5:15: groups\.a\.options\.subnet: expected a string$/],
    ['literal password', 'groups:\n  c:\n    driver: conoha\n    options:\n      password: hunter2hunter2\n', /^cluster\.yml:5:17: groups\.c\.options\.password: a literal secret is refused: use \{env: OS_PASSWORD\}/],
    ['literal secret, prefixed', 'groups:\n  z:\n    driver: azure\n    options:\n      azure-client-secret: s3cr3t\n', /^cluster\.yml:5:28: groups\.z\.options\.azure-client-secret: a literal secret is refused/],
    ['literal token in the engine env', 'groups:\n  a:\n    driver: lab\n    engine:\n      env: {API_TOKEN: abc}\n', /^cluster\.yml:5:\d+: groups\.a\.engine\.env\.API_TOKEN: a literal secret is refused/],
    ['duplicate machine names', 'groups:\n  w:\n    driver: lab\n    count: 2\n  x:\n    driver: lab\n    name: w-{n}\n    count: 2\n', /^cluster\.yml:7:11: groups\.x\.name: duplicate machine name "w-1" \(also in group w\)$/],
    ['duplicate group names', 'groups:\n  a:\n    driver: lab\n  a:\n    driver: lab\n', /^cluster\.yml:4:3: a: duplicate key "a"$/],
    ['unknown driver', 'groups:\n  a:\n    driver: docker-desktop\n', /^cluster\.yml:3:13: groups\.a\.driver: unknown driver "docker-desktop" \(available: lab, /],
    ['unknown option', 'groups:\n  a:\n    driver: lab\n    options:\n      flavor-name: x\n', /^cluster\.yml:5:7: groups\.a\.options\.flavor-name: unknown option "flavor-name" for driver lab$/],
    ['option given twice', 'groups:\n  a:\n    driver: lab\n    options:\n      subnet: 10.0.0.0/24\n      lab-subnet: 10.0.1.0/24\n', /^cluster\.yml:6:7: groups\.a\.options\.lab-subnet: option lab-subnet given twice$/],
    ['an unknown mode', 'swarm: {name: s, mode: kubernetes}\ngroups: {}\n', /^cluster\.yml:1:24: swarm\.mode: expected one of "swarm"\|"classic"$/],
    ['an unknown mesh', 'swarm:\n  name: s\n  mesh: tinc\ngroups: {}\n', /^cluster\.yml:3:9: swarm\.mesh: expected one of "none"\|"wireguard"$/],
    ['a classic group on a mesh', 'swarm:\n  name: s\n  mode: classic\n  mesh: wireguard\ngroups: {}\n', /^cluster\.yml:4:9: swarm\.mesh: a classic group has no swarm to form over a mesh .*use mode: swarm, or mesh: none$/],
    ['a mesh subnet without a mesh', 'swarm:\n  name: s\n  mesh-subnet: 10.1.0.0/16\ngroups: {}\n', /^cluster\.yml:3:3: swarm\.mesh-subnet: mesh-subnet needs mesh: wireguard$/],
    ['a mesh port with mesh none', 'swarm:\n  name: s\n  mesh: none\n  mesh-port: 51000\ngroups: {}\n', /^cluster\.yml:4:3: swarm\.mesh-port: mesh-port needs mesh: wireguard$/],
    ['a bad mesh subnet', 'swarm:\n  name: s\n  mesh: wireguard\n  mesh-subnet: 10.1.0.0/30\ngroups: {}\n', /^cluster\.yml:4:16: swarm\.mesh-subnet: bad subnet "10\.1\.0\.0\/30": use an IPv4 network from \/8 to \/28/],
    ['a mesh port out of range', 'swarm:\n  name: s\n  mesh: wireguard\n  mesh-port: 70000\ngroups: {}\n', /^cluster\.yml:4:14: swarm\.mesh-port: /],
    ['a classic group without a head', 'swarm: {name: s, mode: classic}\ngroups:\n  a: {driver: lab}\n', /^cluster\.yml:1:1: swarm: the classic group needs a head: give a group role: manager$/],
    ['count without {n}', 'groups:\n  a: {driver: lab, count: 2, name: web}\n', /^cluster\.yml:2:36: groups\.a\.name: with count 2, the name needs \{n\}/],
    ['a swarm without a manager', 'swarm: {name: s}\ngroups:\n  a: {driver: lab}\n', /^cluster\.yml:1:1: swarm: the swarm needs a manager/],
    ['bad YAML', 'groups:\n  a: [driver\n', /^cluster\.yml:\d+:\d+: /],
    ['bad machine name', 'groups:\n  a_b: {driver: lab}\n', /^cluster\.yml:2:3: groups\.a_b: invalid machine name "a_b"/],
  ]
  for (const [what, text, want] of bad) {
    test(`refused with one line and its position: ${what}`, () => {
      assert.match(refusal(text), want)
    })
  }

  test('references resolve only when asked, from the environment and from files; defaults as create has them', async () => {
    const spec = parse(SEED004)
    const az = await resolveOptions(spec.machines[1], FILE, {AZURE_CLIENT_SECRET: 'from-env', AZURE_SIZE: 'Standard_B1s'})
    assert.equal(az['azure-client-secret'], 'from-env')
    assert.equal(az['azure-size'], 'Standard_B1s')
    assert.equal(az['azure-resource-group'], 'berth')
    await assert.rejects(resolveOptions(spec.machines[3], FILE, {}), /tyo1: option conoha-password refers to \$OS_PASSWORD, which is not set/)
    const withFile = parse(`groups:\n  c:\n    driver: conoha\n    options:\n      password: {file: ${JSON.stringify(path.join(ROOT, 'package.json'))}}\n`)
    const o = await resolveOptions(withFile.machines[0], FILE, {})
    assert.equal(o['conoha-password'], '{')
  })

  test('mode and mesh: defaults, classic, a WireGuard mesh with its subnet (as its network) and port', () => {
    const swarmOf = (sw: string) => parseClusterFile(`swarm: {name: s${sw}}\ngroups:\n  h: {driver: lab, role: manager}\n`, FILE, drivers).swarm
    assert.deepEqual(swarmOf(''), {name: 's', mode: 'swarm'})
    assert.deepEqual(swarmOf(', mesh: none, strategy: binpack'), {name: 's', mode: 'swarm', strategy: 'binpack'})
    assert.deepEqual(swarmOf(', mode: classic'), {name: 's', mode: 'classic'})
    assert.deepEqual(swarmOf(', mesh: wireguard'), {name: 's', mode: 'swarm', mesh: {kind: 'wireguard'}})
    assert.deepEqual(swarmOf(', mesh: wireguard, mesh-subnet: 10.50.7.9/16, mesh-port: 51999'), {name: 's', mode: 'swarm', mesh: {kind: 'wireguard', subnet: '10.50.0.0/16', port: 51999}})
  })

  test('the JSON Schema describes mode, mesh and the mesh settings', () => {
    const sw = (clusterJsonSchema() as {properties: {swarm: {properties: Record<string, {enum?: string[]; description?: string; type?: string; minimum?: number; maximum?: number}>}}}).properties.swarm.properties
    assert.deepEqual(sw.mode.enum, ['swarm', 'classic'])
    assert.match(sw.mode.description!, /berth swarm manage/)
    assert.doesNotMatch(sw.mode.description!, /not supported/)
    assert.deepEqual(sw.mesh.enum, ['none', 'wireguard'])
    assert.match(sw.mesh.description!, /WireGuard/)
    assert.equal(sw['mesh-subnet'].type, 'string')
    assert.deepEqual([sw['mesh-port'].type, sw['mesh-port'].minimum, sw['mesh-port'].maximum], ['integer', 1, 65535])
  })

  test('the shipped JSON Schema is the zod schema\'s', () => {
    const shipped = JSON.parse(readFileSync(path.join(ROOT, 'schemas', 'cluster.schema.json'), 'utf8'))
    assert.deepEqual(shipped, clusterJsonSchema(), 'schemas/cluster.schema.json is stale: npm run build && npm run schema:cluster')
    const pkg = JSON.parse(readFileSync(path.join(ROOT, 'package.json'), 'utf8'))
    assert.ok(pkg.files.includes('schemas'))
  })
})
