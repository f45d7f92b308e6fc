/**
 * Seeds 000 and 004's scene, clouds simulated: one store, one swarm of a local lab host (the
 * manager), three Azure VMs and a ConoHa (OpenStack, Keystone v2.0) server, created with the
 * seeds' own flags; services pinned to a cloud by the node labels berth sets.
 */
import {after, before, describe, test} from 'node:test'
import assert from 'node:assert/strict'
import {berth, busyboxTar, docker, dockerEnv, isRoot, labLeftovers, sleep, tmpDir} from '../helpers.js'
import {startAzureSim, type AzureSim} from '../sim/azure.js'
import {OpenStackSim} from '../sim/openstack.js'

const SUBNET = '172.30.98.0/24'
const MACHINES = ['head', 'az1', 'az2', 'az3', 'tyo1']

describe('hybrid swarm: lab + Azure + OpenStack in one store', {skip: !isRoot() && 'needs root', concurrency: false}, () => {
  let az: AzureSim
  let os: OpenStackSim
  let env: Record<string, string>
  let denv: Record<string, string>

  before(async () => {
    ;[az, os] = await Promise.all([
      startAzureSim({labRoot: tmpDir('hyaz'), labSubnet: SUBNET, retryAfter: 0}),
      OpenStackSim.start({boot: 'lab', subnet: SUBNET, profile: 'conoha-v2', labRoot: tmpDir('hyos')}),
    ])
    env = {
      ...az.env(), AZURE_LOCATION: 'japaneast',
      OS_AUTH_URL: os.authUrl('2.0'), OS_USERNAME: 'demo', OS_PASSWORD: 'secretsecret', OS_TENANT_NAME: 'demo', OS_CLOUD: '',
      BERTH_STORAGE_PATH: tmpDir('hystore'), BERTH_LAB_DIR: tmpDir('hylab'), BERTH_LAB_SUBNET: SUBNET,
    }
  })

  after(async () => {
    await berth(['rm', '-f', ...MACHINES], {env})
    const ids = [...(os?.hostIds ?? [])]
    await Promise.all([az?.close(), os?.close()])
    assert.deepEqual(labLeftovers(ids), [])
  })

  test('one swarm forms across the three drivers', async () => {
    const head = await berth(['create', '--swarm', 'hybrid', '--swarm-strategy', 'spread', 'head'], {env})
    assert.equal(head.code, 0, head.stderr)
    const [azr, osr] = await Promise.all([
      berth(['create', '-d', 'azure', '--azure-location', 'japaneast', '--swarm', 'hybrid', 'az1', 'az2', 'az3'], {env}),
      // Seed 004's flags, as docker-machine took them.
      berth(['create', '-d', 'openstack', '--openstack-flavor-name', 'g-1gb', '--openstack-image-name', 'vmi-ubuntu-14.04-amd64',
        '--openstack-sec-groups', 'default,gncs-ipv4-all', '--swarm', 'hybrid', 'tyo1'], {env}),
    ])
    assert.equal(azr.code, 0, azr.stderr)
    assert.equal(osr.code, 0, osr.stderr)
    const sw = JSON.parse((await berth(['swarm', 'ls', '--json'], {env})).stdout)
    assert.equal(sw.length, 1)
    assert.deepEqual(sw[0].managers, ['head'])
    assert.deepEqual(sw[0].workers, ['az1', 'az2', 'az3', 'tyo1'])
    denv = await dockerEnv('head', env)
    const labels = docker(['node', 'ls', '--format', '{{.Hostname}}'], denv).stdout.trim().split('\n').sort()
    assert.deepEqual(labels, [...MACHINES].sort())
    for (const [n, driver] of [['head', 'lab'], ['az1', 'azure'], ['tyo1', 'openstack']]) {
      const l = JSON.parse(docker(['node', 'inspect', n, '--format', '{{json .Spec.Labels}}'], denv).stdout)
      assert.equal(l['berth.driver'], driver)
      assert.equal(l['berth.machine'], n)
    }
  })

  test('a service pinned to one cloud by node label runs only there', async () => {
    const image = busyboxTar()
    for (const n of MACHINES) assert.equal(docker(['import', '-', 'bb:v1'], await dockerEnv(n, env), image).code, 0)
    const c = docker(['service', 'create', '--no-resolve-image', '--detach', '--name', 'onazure', '--replicas', '3',
      '--constraint', 'node.labels.berth.driver==azure', 'bb:v1', 'sleep', '100000'], denv)
    assert.equal(c.code, 0, c.stderr)
    const end = Date.now() + 90_000
    let nodes: string[] = []
    while (Date.now() < end) {
      nodes = docker(['service', 'ps', 'onazure', '--filter', 'desired-state=running', '--format', '{{.Node}} {{.CurrentState}}'], denv).stdout.trim().split('\n').filter(l => / Running/.test(l)).map(l => l.split(' ')[0])
      if (nodes.length === 3) break
      await sleep(500)
    }
    assert.deepEqual(nodes.sort(), ['az1', 'az2', 'az3'])
  })

  test('rm of the whole hybrid swarm empties both clouds', async () => {
    const r = await berth(['rm', '-y', ...MACHINES], {env})
    assert.equal(r.code, 0, r.stderr)
    await az.settle()
    await os.settle()
    assert.deepEqual(az.inventory(), [])
    const inv = await os.inventory()
    assert.deepEqual(Object.fromEntries(Object.entries(inv).filter(([, v]) => v.length)), {})
  })
})
