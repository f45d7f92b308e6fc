/**
 * Seeds 000 and 004's scene across real network boundaries, clouds simulated: a lab head on the
 * "internet" bridge, two Azure VMs on the Azure simulator's vnet behind its router (public IPs
 * mapped 1:1 to their private addresses), two ConoHa servers made with `-d conoha` and seed 004's
 * flags (their address on the ext-* network, which is the internet), one swarm over all of them:
 * each member advertises what the others reach (the public addresses, since they span clouds).
 * and an OpenStack server on a tenant network behind its router, reached at its floating IP.
 * Beside it, a swarm of two more Azure VMs alone in their vnet advertises their private addresses.
 */
import {after, before, describe, test} from 'node:test'
import assert from 'node:assert/strict'
import {execFileSync} from 'node:child_process'
import {existsSync, readdirSync} from 'node:fs'
import {bridgeName} from '../../drivers/lab/network.js'
import {berth, busyboxTar, docker, dockerEnv, isRoot, labLeftovers, tmpDir, until} from '../helpers.js'
import {startAzureSim, type AzureSim} from '../sim/azure.js'
import {OpenStackSim} from '../sim/openstack.js'
import {inLabSubnet} from '../sim/openstack.js'

const INTERNET = '172.30.205.0/24'
const VNET = '172.30.206.0/24'
const TENANT = '172.30.207.0/24'
const HYBRID = ['head', 'az1', 'az2', 'tyo1', 'tyo2', 'os1']
const INSIDE = ['in1', 'in2']

describe('hybrid swarm across clouds: lab head on the internet, Azure and ConoHa behind their networks', {skip: !isRoot() && 'needs root', concurrency: false}, () => {
  let az: AzureSim
  let os: OpenStackSim
  let gen: OpenStackSim
  let env: Record<string, string>
  let denv: Record<string, string>
  const inspect = async (n: string) => JSON.parse((await berth(['inspect', n], {env})).stdout)
  const addr = (n: string, e = denv) => docker(['node', 'inspect', n, '--format', '{{.Status.Addr}}'], e).stdout.trim()

  before(async () => {
    ;[az, os, gen] = await Promise.all([
      startAzureSim({labRoot: tmpDir('hyaz'), topology: {internet: INTERNET, subnet: VNET}, retryAfter: 0}),
      OpenStackSim.start({boot: 'lab', subnet: INTERNET, topology: {internet: INTERNET}, profile: 'conoha-v2', labRoot: tmpDir('hyos')}),
      OpenStackSim.start({boot: 'lab', subnet: TENANT, topology: {internet: INTERNET, subnet: TENANT}, profile: 'generic', labRoot: tmpDir('hygen')}),
    ])
    env = {
      ...az.env(), AZURE_LOCATION: 'japaneast', AZURE_SUBNET_PREFIX: VNET,
      OS_AUTH_URL: os.authUrl('2.0'), OS_USERNAME: 'demo', OS_PASSWORD: 'secretsecret', OS_TENANT_NAME: 'demo', OS_CLOUD: '',
      BERTH_STORAGE_PATH: tmpDir('hystore'), BERTH_LAB_DIR: tmpDir('hylab'), BERTH_LAB_SUBNET: INTERNET,
    }
  })

  after(async () => {
    await berth(['rm', '-f', ...HYBRID, ...INSIDE], {env})
    const ids = [...(os?.hostIds ?? []), ...(gen?.hostIds ?? []), ...(az?.hosts() ?? []).map(h => h.id)]
    await Promise.all([az?.close(), os?.close(), gen?.close()])
    assert.deepEqual(labLeftovers(ids), [])
  })

  test('one swarm forms across the internet, each member advertising the address the others reach', async () => {
    const head = await berth(['create', '--swarm', 'hybrid', '--swarm-strategy', 'spread', 'head'], {env})
    assert.equal(head.code, 0, head.stderr)
    const [azr, osr, inr, genr] = await Promise.all([
      berth(['create', '-d', 'azure', '--azure-location', 'japaneast', '--swarm', 'hybrid', 'az1', 'az2'], {env}),
      // Seed 004's flags, under the conoha driver's names.
      berth(['create', '-d', 'conoha', '--conoha-region', 'tyo1', '--conoha-flavor-name', 'g-1gb', '--conoha-image-name', 'vmi-ubuntu-14.04-amd64',
        '--conoha-sec-groups', 'default,gncs-ipv4-all', '--swarm', 'hybrid', 'tyo1', 'tyo2'], {env}),
      berth(['create', '-d', 'azure', '--azure-location', 'japaneast', '--swarm', 'inside', ...INSIDE], {env}),
      berth(['create', '-d', 'openstack', '--openstack-flavor-name', 'm1.small', '--openstack-image-name', 'ubuntu-24.04', '--openstack-net-name', 'private',
        '--openstack-floatingip-pool', 'public', '--swarm', 'hybrid', 'os1'], {env: {...env, OS_AUTH_URL: gen.authUrl('3'), OS_DOMAIN_NAME: 'Default'}}),
    ])
    assert.equal(azr.code, 0, azr.stderr)
    assert.equal(osr.code, 0, osr.stderr)
    assert.equal(inr.code, 0, inr.stderr)
    assert.equal(genr.code, 0, genr.stderr)
    const sw = JSON.parse((await berth(['swarm', 'ls', '--json'], {env})).stdout)
    const hybrid = sw.find((s: {name: string}) => s.name === 'hybrid')
    assert.deepEqual(hybrid.managers, ['head'])
    assert.deepEqual(hybrid.workers, ['az1', 'az2', 'os1', 'tyo1', 'tyo2'])
    denv = await dockerEnv('head', env)
    assert.deepEqual(docker(['node', 'ls', '--format', '{{.Hostname}}'], denv).stdout.trim().split('\n').sort(), [...HYBRID].sort())

    // Azure: the public IP on the internet, the private one on the vnet, both on record; the VM
    // itself holds only the private one (the router maps the public one to it).
    // OpenStack alike: the floating IP on the internet, the fixed one on the tenant network.
    for (const [n, net] of [['az1', VNET], ['az2', VNET], ['in1', VNET], ['in2', VNET], ['os1', TENANT]]) {
      const d = (await inspect(n)).Driver
      d.publicIp ??= d.floatingIp.address
      assert.ok(inLabSubnet(d.publicIp, INTERNET), `${n} public ${d.publicIp}`)
      assert.ok(inLabSubnet(d.privateIp, net), `${n} private ${d.privateIp}`)
      assert.equal((await berth(['ip', n], {env})).stdout.trim(), d.publicIp)
      const own = (await berth(['ssh', n, 'ip -4 -o addr show'], {env})).stdout
      assert.ok(own.includes(` ${d.privateIp}/`) && !own.includes(` ${d.publicIp}/`), own)
      const rec = await inspect(n)
      for (const a of [d.publicIp, d.privateIp]) assert.ok(rec.tls.sans.includes(a), `${n} certificate SANs ${rec.tls.sans} lack ${a}`)
    }
    // Across clouds: every member's node address is its public one, as its record says it advertised.
    for (const n of HYBRID) {
      const rec = await inspect(n)
      const pub = (await berth(['ip', n], {env})).stdout.trim()
      assert.ok(inLabSubnet(pub, INTERNET), `${n} ${pub}`)
      assert.equal(rec.swarm.advertiseAddr, pub, n)
      assert.equal(addr(n), pub, `${n}: node address`)
    }
    for (const n of ['tyo1', 'tyo2']) {
      const d = (await inspect(n)).Driver
      assert.equal(d.privateIp, undefined, 'a ConoHa server has one address, on ext-*')
      assert.equal(JSON.parse(docker(['node', 'inspect', n, '--format', '{{json .Spec.Labels}}'], denv).stdout)['berth.driver'], 'conoha')
    }
    // Every swarm port between every pair, for real, through the routers' 1:1 NAT.
    const doc = await berth(['swarm', 'doctor', 'hybrid', '--json'], {env})
    const report = JSON.parse(doc.stdout)
    assert.deepEqual(report.paths.filter((p: {ok: boolean}) => !p.ok), [], doc.stdout)
    assert.equal(report.paths.length, HYBRID.length * (HYBRID.length - 1) * 4)
    assert.equal(doc.code, 0, doc.stderr)
    // Inside one vnet: the private addresses.
    const ienv = await dockerEnv('in1', env)
    for (const n of INSIDE) assert.equal(addr(n, ienv), (await inspect(n)).Driver.privateIp, `${n}: node address inside the vnet`)
  })

  test('a service runs on every member, and the overlay carries traffic from a ConoHa server to an Azure VM through its router', async () => {
    const image = busyboxTar()
    await Promise.all(HYBRID.map(async n => assert.equal(docker(['import', '-', 'bb:v1'], await dockerEnv(n, env), image).code, 0)))
    const g = docker(['service', 'create', '--no-resolve-image', '--detach', '--name', 'every', '--mode', 'global', 'bb:v1', 'sleep', '100000'], denv)
    assert.equal(g.code, 0, g.stderr)
    const running = (s: string) => docker(['service', 'ps', s, '--filter', 'desired-state=running', '--format', '{{.Node}} {{.CurrentState}}'], denv)
      .stdout.trim().split('\n').filter(l => / Running/.test(l)).map(l => l.split(' ')[0]).sort()
    await until('a task on every member', () => running('every').join() === [...HYBRID].sort().join())

    assert.equal(docker(['network', 'create', '-d', 'overlay', '--attachable', 'across'], denv).code, 0)
    const c = docker(['service', 'create', '--no-resolve-image', '--detach', '--name', 'web', '--network', 'across', '--endpoint-mode', 'dnsrr',
      '--constraint', 'node.labels.berth.machine==az1', 'bb:v1', 'sh', '-c', 'mkdir -p /www && hostname > /www/index.html && httpd -f -p 8080 -h /www'], denv)
    assert.equal(c.code, 0, c.stderr)
    await until('web running on az1', () => running('web').join() === 'az1')
    const tenv = await dockerEnv('tyo1', env)
    const got = await until('a reply over the overlay', () => {
      const r = docker(['run', '--rm', '--network', 'across', 'bb:v1', 'sh', '-c', 'printf "GET / HTTP/1.0\\r\\n\\r\\n" | nc -w 3 web 8080'], tenv)
      return r.code === 0 && r.stdout.trim().split('\n').pop()
    }, 60_000)
    assert.match(got, /^[0-9a-f]{12}$/)
  })

  test('rm of every machine empties the three clouds and takes their routers and public IPs with it', async () => {
    const r = await berth(['rm', '-y', ...HYBRID, ...INSIDE], {env})
    assert.equal(r.code, 0, r.stderr)
    await az.settle()
    assert.deepEqual(az.inventory(), [])
    for (const sim of [os, gen]) {
      await sim.settle()
      const inv = await sim.inventory()
      assert.deepEqual(Object.fromEntries(Object.entries(inv).filter(([, v]) => v.length)), {})
    }
    const netns = execFileSync('ip', ['netns', 'list']).toString()
    for (const router of [az.network!.netns, gen.network!.netns]) assert.ok(!netns.includes(router), `router ${router} left`)
    // Nothing holds an address on the internet any more: no public IP, router or host.
    const leases = `/var/lib/berth-lab/leases/${bridgeName(INTERNET)}`
    assert.deepEqual(existsSync(leases) ? readdirSync(leases) : [], [])
  })
})
