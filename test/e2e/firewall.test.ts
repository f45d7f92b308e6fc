/**
 * Firewalls follow membership (issue 14), on a cloud-only hybrid: an Azure-simulator manager and
 * worker, two OpenStack-simulator workers, no NAT, no mesh, both clouds' firewalls enforced with
 * iptables in each VM's lab host exactly as the simulators' inventories say. The rules berth
 * writes admit exactly the members: they reach each other (the doctor's matrix, direct probes),
 * a lab host that is no member is dropped; a machine added later is admitted, one that left is
 * not; rm leaves no rule, group or resource. Overlays made through the endpoint across the two
 * clouds are encrypted by default.
 */
import {after, before, describe, test} from 'node:test'
import assert from 'node:assert/strict'
import {execFile, spawn, type ChildProcess} from 'node:child_process'
import {randomBytes} from 'node:crypto'
import {BIN, berth, docker, isRoot, labLeftovers, sleep, tmpDir} from '../helpers.js'
import {bootHost, destroyHost, type LabHost} from '../../drivers/lab/host.js'
import {startAzureSim, type AzureSim} from '../sim/azure.js'
import {OpenStackSim} from '../sim/openstack.js'

const SUBNET = '172.30.215.0/24'
const SWARM = 'fw'
const NAMES = ['az1', 'az2', 'os1', 'os2', 'az3']
const SWARM_TCP = [2377, 7946]

type Probe = 'open' | 'refused' | 'dropped'

/** A TCP connect from inside a namespace: open, refused (the SYN got there), or dropped on the way. */
function probeFrom(netns: string, ip: string, port: number): Promise<Probe> {
  return new Promise(resolve => {
    execFile('ip', ['netns', 'exec', netns, 'timeout', '3', 'bash', '-c', `exec 3<>/dev/tcp/${ip}/${port}`], (err, _out, stderr) => {
      if (!err) return resolve('open')
      resolve(/refused/i.test(stderr) ? 'refused' : 'dropped')
    })
  })
}

interface Report {ok: boolean; paths: Array<{from: string; to: string; port: number; proto: string; ok: boolean; reason?: string}>}

describe('cloud firewalls follow swarm membership: Azure + OpenStack, no NAT, no mesh', {skip: !isRoot() && 'needs root', concurrency: false}, () => {
  let az: AzureSim
  let os: OpenStackSim
  let outsider: LabHost
  let env: Record<string, string>
  const ip = new Map<string, string>()
  const run = (args: string[]) => berth(args, {env})
  const OS_FLAGS = ['-d', 'openstack', '--openstack-flavor-name', 'm1.small', '--openstack-image-name', 'ubuntu-24.04']

  /** A member's namespace, by its address (both simulators' VMs are lab hosts). */
  const netnsOf = (addr: string) => {
    const h = [...az.hosts(), ...[...os.servers.values()].flatMap(s => (s.host ? [s.host] : []))].find(x => x.ip === addr)
    assert.ok(h, `no lab host at ${addr}`)
    return h.netns
  }
  /** The addresses each firewall admits on 7946/tcp: Azure NSGs by machine, and the OpenStack swarm group. */
  const admitted = () => {
    const out: Record<string, string[]> = {}
    for (const id of az.inventory().filter(i => /networkSecurityGroups/i.test(i))) {
      const nsg = az.resource('networkSecurityGroups', id.split('/').pop()!)!
      const rule = (nsg.properties.securityRules ?? []).find((r: {name: string}) => r.name === 'berth-peers-7946-tcp')
      out[nsg.name.replace(/-[0-9a-f]{8}-nsg$/, '')] = [...(rule?.properties.sourceAddressPrefixes ?? [])].sort()
    }
    const group = [...os.groups.values()].find(g => g.name === `berth-swarm-${SWARM}`)
    if (group) {
      out.openstack = [...os.rules.values()].filter(r => r.groupId === group.id && r.protocol === 'tcp' && r.min === 7946 && r.description.startsWith('berth swarm peer'))
        .map(r => r.prefix!.replace(/\/32$/, '')).sort()
    }
    return out
  }
  const ips = (...names: string[]) => names.map(n => ip.get(n)!).sort()
  const doctor = async () => {
    const r = await run(['swarm', 'doctor', SWARM, '--json'])
    return {code: r.code, report: JSON.parse(r.stdout) as Report, stderr: r.stderr}
  }
  const learn = async (...names: string[]) => {
    for (const n of names) {
      const r = await run(['ip', n])
      assert.equal(r.code, 0, r.stderr)
      ip.set(n, r.stdout.trim())
    }
  }

  before(async () => {
    ;[az, os, outsider] = await Promise.all([
      startAzureSim({labRoot: tmpDir('fwaz'), labSubnet: SUBNET, retryAfter: 0}),
      OpenStackSim.start({boot: 'lab', subnet: SUBNET, profile: 'generic', labRoot: tmpDir('fwos')}),
      // A lab host on the same network that is no member (nor a VM of either cloud).
      bootHost({id: randomBytes(6).toString('hex'), hostname: 'outsider', authorizedKeys: '', subnet: SUBNET, root: tmpDir('fwout')}),
    ])
    env = {
      ...az.env(), AZURE_LOCATION: 'japaneast',
      OS_AUTH_URL: os.authUrl('3'), OS_USERNAME: 'demo', OS_PASSWORD: 'secretsecret', OS_TENANT_NAME: 'demo', OS_DOMAIN_NAME: 'Default', OS_CLOUD: '',
      BERTH_STORAGE_PATH: tmpDir('fwstore'), BERTH_LAB_DIR: tmpDir('fwlab'), BERTH_LAB_SUBNET: SUBNET,
    }
  })

  after(async () => {
    await run(['rm', '-f', '-y', ...NAMES])
    const ids = [...os.hostIds, outsider?.id].filter(Boolean) as string[]
    if (outsider) await destroyHost(outsider)
    await Promise.all([az?.close(), os?.close()])
    assert.deepEqual(labLeftovers(ids), [])
  })

  test('the swarm forms across both clouds; each firewall admits exactly the other members; a non-member is dropped', async () => {
    const m = await run(['create', '-d', 'azure', '--swarm', SWARM, 'az1'])
    assert.equal(m.code, 0, m.stderr)
    const [a, o] = await Promise.all([run(['create', '-d', 'azure', '--swarm', SWARM, 'az2']), run(['create', ...OS_FLAGS, '--swarm', SWARM, 'os1', 'os2'])])
    assert.equal(a.code, 0, a.stderr)
    assert.equal(o.code, 0, o.stderr)
    await learn('az1', 'az2', 'os1', 'os2')
    const sw = JSON.parse((await run(['swarm', 'ls', '--json'])).stdout)
    assert.deepEqual([sw[0].managers, sw[0].workers], [['az1'], ['az2', 'os1', 'os2']])
    assert.deepEqual(admitted(), {az1: ips('az2', 'os1', 'os2'), az2: ips('az1', 'os1', 'os2'), openstack: ips('az1', 'az2', 'os1', 'os2')})
    // Every swarm port between every pair, probed for real.
    const {code, report} = await doctor()
    assert.equal(code, 0, JSON.stringify(report.paths.filter(p => !p.ok)))
    assert.equal(report.paths.length, 4 * 3 * 4)
    // Across the clouds, directly: the manager's 2377 and gossip both ways.
    assert.equal(await probeFrom(netnsOf(ip.get('os1')!), ip.get('az1')!, 2377), 'open')
    assert.equal(await probeFrom(netnsOf(ip.get('az2')!), ip.get('os2')!, 7946), 'open')
    // From a lab host that is no member: dropped by both clouds' firewalls (SSH stays open, as --*-open-cidr says).
    const probes = ['az1', 'az2', 'os1', 'os2'].flatMap(n => [...SWARM_TCP, 22].map(async port => `${n}:${port} ${await probeFrom(outsider.netns, ip.get(n)!, port)}`))
    assert.deepEqual(await Promise.all(probes), ['az1', 'az2', 'os1', 'os2'].flatMap(n => [...SWARM_TCP.map(p => `${n}:${p} dropped`), `${n}:22 open`]))
  })

  test('an overlay made through the endpoint across the clouds is encrypted by default, and says so', async () => {
    let manage: ChildProcess | undefined
    try {
      manage = spawn(process.execPath, [BIN, 'swarm', 'manage', SWARM, '--listen', '127.0.0.1:0'], {env: {...process.env, BERTH_DEBUG: '', ...env}, stdio: ['ignore', 'ignore', 'ignore']})
      let denv: Record<string, string> | undefined
      for (let end = Date.now() + 30_000; !denv && Date.now() < end; await sleep(200)) {
        const e = await run(['env', '--swarm', SWARM, '--manage', '--json'])
        if (e.code === 0) denv = JSON.parse(e.stdout)
      }
      assert.ok(denv, 'berth swarm manage did not start')
      const made = docker(['network', 'create', 'fwnet'], denv)
      assert.equal(made.code, 0, made.stderr)
      const plain = docker(['network', 'create', '-o', 'encrypted=false', 'fwplain'], denv)
      assert.equal(plain.code, 0, plain.stderr)
      const opts = (n: string) => JSON.parse(docker(['network', 'inspect', '--format', '{{json .Options}}', n], denv).stdout || 'null')
      assert.ok('encrypted' in opts('fwnet'), JSON.stringify(opts('fwnet')))
      assert.ok(!('encrypted' in (opts('fwplain') ?? {})), JSON.stringify(opts('fwplain')))
      assert.equal(docker(['network', 'rm', 'fwnet', 'fwplain'], denv).code, 0)
    } finally {
      manage?.kill('SIGTERM')
    }
  })

  test('a machine added later is admitted by every member, and admits them', async () => {
    const r = await run(['create', '-d', 'azure', '--swarm', SWARM, 'az3'])
    assert.equal(r.code, 0, r.stderr)
    await learn('az3')
    assert.deepEqual(admitted(), {
      az1: ips('az2', 'az3', 'os1', 'os2'), az2: ips('az1', 'az3', 'os1', 'os2'), az3: ips('az1', 'az2', 'os1', 'os2'), openstack: ips('az1', 'az2', 'az3', 'os1', 'os2'),
    })
    assert.equal(await probeFrom(netnsOf(ip.get('az3')!), ip.get('os1')!, 7946), 'open')
    assert.equal(await probeFrom(netnsOf(ip.get('os2')!), ip.get('az3')!, 7946), 'open')
  })

  test('one that left is admitted no more; one removed leaves no rule behind', async () => {
    // os2 leaves but its host stays: from it, the Azure members are closed now.
    const l = await run(['swarm', 'leave', 'os2'])
    assert.equal(l.code, 0, l.stderr)
    const rm = await run(['rm', '-y', 'az2'])
    assert.equal(rm.code, 0, rm.stderr)
    assert.deepEqual(admitted(), {az1: ips('az3', 'os1'), az3: ips('az1', 'os1'), openstack: ips('az1', 'az3', 'os1')})
    const fromOs2 = await Promise.all(['az1', 'az3'].map(async n => `${n}:7946 ${await probeFrom(netnsOf(ip.get('os2')!), ip.get(n)!, 7946)}`))
    assert.deepEqual(fromOs2, ['az1:7946 dropped', 'az3:7946 dropped'], 'from os2, which left')
    const {code, report} = await doctor()
    assert.equal(code, 0, JSON.stringify(report.paths.filter(p => !p.ok)))
    assert.equal(report.paths.length, 3 * 2 * 4)
  })

  test('rm of every machine leaves nothing in either cloud', async () => {
    const r = await run(['rm', '-y', 'az1', 'az3', 'os1', 'os2'])
    assert.equal(r.code, 0, r.stderr)
    await az.settle()
    await os.settle()
    assert.deepEqual(az.inventory(), [])
    const inv = await os.inventory()
    assert.deepEqual(Object.fromEntries(Object.entries(inv).filter(([, v]) => v.length)), {})
    assert.deepEqual([...os.rules.values()].filter(r => r.description.startsWith('berth')), [])
  })
})
