/**
 * Issue 17's done-when: seed 004's scene (a local head, Azure workers, ConoHa workers, one swarm
 * with labels) from one cluster file, clouds simulated. One lab subnet for the three: lab bridges
 * forward only within themselves, and the swarm needs every member to reach the others.
 */
import {after, before, describe, test} from 'node:test'
import assert from 'node:assert/strict'
import {writeFileSync} from 'node:fs'
import path from 'node:path'
import {berth, docker, dockerEnv, isRoot, labLeftovers, tmpDir} from '../helpers.js'
import {startAzureSim, type AzureSim} from '../sim/azure.js'
import {OpenStackSim} from '../sim/openstack.js'

const SUBNET = '172.30.103.0/24'

const clusterFile = (azCount: number, azTier = 'back') => `# yaml-language-server: $schema=../schemas/cluster.schema.json
swarm:
  name: seed004
  strategy: spread
  mesh: none
groups:
  head:
    driver: lab
    role: manager
    labels: {site: home}
    options:
      subnet: ${SUBNET}
  az:
    driver: azure
    count: ${azCount}
    labels: {cloud: azure, tier: ${azTier}}
    options:
      location: japaneast
  tyo:
    driver: conoha
    count: 2
    name: tyo{n}
    labels: {cloud: conoha}
    options:
      region: tyo1
      flavor-name: g-1gb
      image-name: vmi-ubuntu-16.04-amd64-unified
      sec-groups: default,gncs-ipv4-all
      password: {env: OS_PASSWORD}
`

describe('cluster file: berth plan|up|down -f', {skip: !isRoot() && 'needs root', concurrency: false}, () => {
  let az: AzureSim
  let os: OpenStackSim
  let env: Record<string, string>
  const dir = tmpDir('cfdir')
  const file = path.join(dir, 'cluster.yml')
  const all = ['head', 'az-1', 'az-2', 'az-3', 'tyo1', 'tyo2']

  before(async () => {
    ;[az, os] = await Promise.all([
      startAzureSim({labRoot: tmpDir('cfaz'), labSubnet: SUBNET, retryAfter: 0}),
      OpenStackSim.start({boot: 'lab', subnet: SUBNET, profile: 'conoha-v2', labRoot: tmpDir('cfos')}),
    ])
    env = {
      ...az.env(),
      OS_AUTH_URL: os.authUrl('2.0'), OS_USERNAME: 'demo', OS_PASSWORD: 'secretsecret', OS_TENANT_NAME: 'demo', OS_CLOUD: '',
      BERTH_STORAGE_PATH: tmpDir('cfstore'), BERTH_LAB_DIR: tmpDir('cflab'), BERTH_LAB_SUBNET: '',
    }
    writeFileSync(file, clusterFile(2))
  })

  after(async () => {
    await berth(['rm', '-f', ...all], {env})
    const ids = [...(os?.hostIds ?? [])]
    await Promise.all([az?.close(), os?.close()])
    assert.deepEqual(labLeftovers(ids), [])
  })

  async function plan(): Promise<{code: number; plan: {changed: boolean; items: Array<{action: string; name: string; changes: string[]}>}}> {
    const r = await berth(['plan', '-f', file, '--json'], {env})
    assert.ok(r.code === 0 || r.code === 2, r.stderr)
    return {code: r.code, plan: JSON.parse(r.stdout)}
  }

  async function labelsOf(denv: Record<string, string>, node: string): Promise<Record<string, string>> {
    return JSON.parse(docker(['node', 'inspect', node, '--format', '{{json .Spec.Labels}}'], denv).stdout)
  }

  test('a bad file is one line naming file:line:col and the key, exit 1', async () => {
    const bad = path.join(dir, 'bad.yml')
    writeFileSync(bad, 'groups:\n  c:\n    driver: conoha\n    options:\n      password: hunter2hunter2\n')
    const r = await berth(['plan', '-f', bad], {env})
    assert.equal(r.code, 1)
    assert.equal(r.stderr.trim(), `berth: ${bad}:5:17: groups.c.options.password: a literal secret is refused: use {env: OS_PASSWORD} or {file: PATH}, or leave it out and set OS_PASSWORD`)
  })

  test('from nothing: plan says 5 to create (exit 2); one up makes the swarm', async () => {
    const p = await plan()
    assert.equal(p.code, 2)
    assert.deepEqual(p.plan.items.map(i => `${i.action} ${i.name}`), ['create head', 'create az-1', 'create az-2', 'create tyo1', 'create tyo2'])
    const t0 = Date.now()
    const r = await berth(['up', '-f', file], {env, timeoutMs: 600_000})
    assert.equal(r.code, 0, r.stderr)
    console.log(`# up from nothing: ${((Date.now() - t0) / 1000).toFixed(1)} s`)
    assert.match(r.stdout, /up: 5 created, 0 changed, 0 removed/)
    const sw = JSON.parse((await berth(['swarm', 'ls', '--json'], {env})).stdout)
    assert.equal(sw.length, 1)
    assert.deepEqual(sw[0].managers, ['head'])
    assert.deepEqual(sw[0].workers, ['az-1', 'az-2', 'tyo1', 'tyo2'])
    const denv = await dockerEnv('head', env)
    assert.deepEqual(docker(['node', 'ls', '--format', '{{.Hostname}}'], denv).stdout.trim().split('\n').sort(), ['az-1', 'az-2', 'head', 'tyo1', 'tyo2'])
    const l = await labelsOf(denv, 'az-1')
    assert.equal(l.cloud, 'azure')
    assert.equal(l.tier, 'back')
    assert.equal(l['berth.driver'], 'azure')
    assert.equal((await labelsOf(denv, 'tyo2')).cloud, 'conoha')
    assert.equal((await labelsOf(denv, 'head')).site, 'home')
    // Machines remember where they came from.
    const ls = JSON.parse((await berth(['ls', '--json'], {env})).stdout)
    assert.deepEqual(ls.find((m: {name: string}) => m.name === 'tyo1').origin, {file, group: 'tyo'})
    assert.match((await berth(['ls'], {env})).stdout, /ORIGIN.*\n(.*\n)*az-1 .*cluster\.yml#az/)
    assert.deepEqual(JSON.parse((await berth(['inspect', 'az-2'], {env})).stdout).origin, {file, group: 'az'})
  })

  test('a second up changes nothing and says so; plan exits 0', async () => {
    const r = await berth(['up', '-f', file], {env})
    assert.equal(r.code, 0, r.stderr)
    assert.match(r.stdout, /^no changes/)
    assert.equal((await plan()).code, 0)
  })

  test('count 2 -> 3 adds exactly one worker; a changed label is applied in place; a failed create rolls back alone and up resumes', async () => {
    writeFileSync(file, clusterFile(3, 'front'))
    const p = await plan()
    assert.equal(p.code, 2)
    assert.deepEqual(p.plan.items.filter(i => i.action !== 'keep').map(i => `${i.action} ${i.name} ${i.changes.join('; ')}`.trim()),
      ['change az-1 labels: tier: back -> front', 'change az-2 labels: tier: back -> front', 'create az-3'])
    const vms = () => az.inventory().filter(id => /virtualMachines\//i.test(id)).length
    assert.equal(vms(), 2)
    // The cloud refuses the new VM once: only that machine is rolled back, the rest is applied.
    az.inject({type: 'virtualMachines', method: 'PUT', status: 409, code: 'OperationNotAllowed', message: 'Operation could not be completed as it results in exceeding approved standardBSFamily Cores quota.'})
    const failed = await berth(['up', '-f', file], {env, timeoutMs: 300_000})
    assert.equal(failed.code, 1, failed.stderr)
    assert.match(failed.stderr, /berth: az-3: .*quota exceeded/)
    assert.match(failed.stdout, /up: 0 created, 2 changed, 0 removed/)
    await az.settle()
    assert.equal(vms(), 2)
    assert.doesNotMatch((await berth(['ls', '-q'], {env})).stdout, /az-3/)
    assert.deepEqual((await plan()).plan.items.filter(i => i.action !== 'keep').map(i => `${i.action} ${i.name}`), ['create az-3'])
    const r = await berth(['up', '-f', file], {env, timeoutMs: 300_000})
    assert.equal(r.code, 0, r.stderr)
    assert.match(r.stdout, /up: 1 created, 0 changed, 0 removed/)
    assert.equal(vms(), 3)
    const denv = await dockerEnv('head', env)
    assert.deepEqual(docker(['node', 'ls', '--format', '{{.Hostname}}'], denv).stdout.trim().split('\n').sort(), ['az-1', 'az-2', 'az-3', 'head', 'tyo1', 'tyo2'])
    for (const n of ['az-1', 'az-2', 'az-3']) assert.equal((await labelsOf(denv, n)).tier, 'front', n)
    assert.equal((await plan()).code, 0)
  })

  test('count 3 -> 2 drains and removes the worker the file dropped', async () => {
    writeFileSync(file, clusterFile(2, 'front'))
    const r = await berth(['up', '-f', file], {env, timeoutMs: 300_000})
    assert.equal(r.code, 0, r.stderr)
    assert.match(r.stdout, /removed az-3\n/)
    assert.match(r.stdout, /up: 0 created, 0 changed, 1 removed/)
    const denv = await dockerEnv('head', env)
    assert.deepEqual(docker(['node', 'ls', '--format', '{{.Hostname}}'], denv).stdout.trim().split('\n').sort(), ['az-1', 'az-2', 'head', 'tyo1', 'tyo2'])
    await az.settle()
    assert.equal(az.inventory().filter(id => /virtualMachines\//i.test(id)).length, 2)
  })

  test('a machine of the same name not made from the file is a conflict, and down leaves it alone', async () => {
    const byHand = await berth(['create', '-d', 'lab', '--lab-subnet', SUBNET, 'az-3'], {env})
    assert.equal(byHand.code, 0, byHand.stderr)
    writeFileSync(file, clusterFile(3, 'front'))
    const p = await berth(['plan', '-f', file], {env})
    assert.equal(p.code, 1)
    assert.match(p.stdout, /conflict: machine "az-3" exists and was not made from /)
    writeFileSync(file, clusterFile(2, 'front'))
  })

  test('down removes workers first, the manager last, and leaves both clouds and the lab empty', async () => {
    const r = await berth(['down', '-f', file, '-y'], {env, timeoutMs: 300_000})
    assert.equal(r.code, 0, r.stderr)
    const order = r.stdout.trim().split('\n').map(l => l.replace(/^removed /, ''))
    assert.equal(order.at(-1), 'head')
    assert.deepEqual([...order].sort(), ['az-1', 'az-2', 'head', 'tyo1', 'tyo2'])
    assert.deepEqual(JSON.parse((await berth(['ls', '--json'], {env})).stdout).map((m: {name: string}) => m.name), ['az-3'])
    assert.equal((await berth(['rm', '-y', 'az-3'], {env})).code, 0)
    await az.settle()
    await os.settle()
    assert.deepEqual(az.inventory(), [])
    const inv = await os.inventory()
    assert.deepEqual(Object.fromEntries(Object.entries(inv).filter(([, v]) => v.length)), {})
    assert.deepEqual(labLeftovers([...os.hostIds]), [])
    const again = await berth(['down', '-f', file, '-y'], {env})
    assert.equal(again.code, 0, again.stderr)
  })
})
