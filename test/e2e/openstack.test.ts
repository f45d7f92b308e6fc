/**
 * The openstack and conoha drivers end to end: the real berth CLI against the OpenStack
 * simulator, whose servers are lab hosts (real sshd and dockerd, security groups enforced
 * with iptables), reached by the stock docker CLI through `berth env`.
 */
import {after, before, describe, test} from 'node:test'
import assert from 'node:assert/strict'
import {mkdirSync, readdirSync, writeFileSync} from 'node:fs'
import net from 'node:net'
import path from 'node:path'
import {berth, docker, dockerEnv, isRoot, labLeftovers, tmpDir} from '../helpers.js'
import {OpenStackSim} from '../sim/openstack.js'

const SUBNET = '172.30.90.0/24'
/** This box's address on the lab bridge: "the user's address" the security groups admit. */
const ME = '172.30.90.1/32'

/** open: something answered; refused: allowed but nothing listens; dropped: a security group said no. */
function probe(host: string, port: number, timeoutMs = 800): Promise<'open' | 'refused' | 'dropped'> {
  return new Promise(resolve => {
    const s = net.connect({host, port})
    const done = (r: 'open' | 'refused' | 'dropped') => {
      s.destroy()
      resolve(r)
    }
    s.setTimeout(timeoutMs, () => done('dropped'))
    s.on('connect', () => done('open'))
    s.on('error', err => done((err as NodeJS.ErrnoException).code === 'ECONNREFUSED' ? 'refused' : 'dropped'))
  })
}

const lastLine = (s: string) => s.trim().split('\n').at(-1) ?? ''

describe('openstack and conoha drivers end to end', {skip: !isRoot() && 'lab hosts need root', concurrency: false}, () => {
  let v3: OpenStackSim
  let v2: OpenStackSim
  let c3: OpenStackSim
  const store = tmpDir('osstore')
  const base = {BERTH_STORAGE_PATH: store, BERTH_OPENSTACK_RETRIES: '1', BERTH_OPENSTACK_RETRY_BASE_MS: '20', OS_CLOUD: '', OS_AUTH_URL: '', OS_PASSWORD: '', OS_USERNAME: ''}
  let v3env: Record<string, string>
  /** The API steps of a full create, as the simulator saw them. */
  let steps: string[] = []
  const FULL = ['--openstack-flavor-name', 'm1.small', '--openstack-image-name', 'ubuntu-24.04', '--openstack-net-name', 'private', '--openstack-sec-groups', 'default',
    '--openstack-floatingip-pool', 'public', '--openstack-open-cidr', ME, '--openstack-boot-volume-size', '10']

  before(async () => {
    const common = {boot: 'lab' as const, subnet: SUBNET, enforceSecurityGroups: true}
    ;[v3, v2, c3] = await Promise.all([
      OpenStackSim.start({...common, profile: 'generic', labRoot: tmpDir('oslab-v3')}),
      OpenStackSim.start({...common, profile: 'conoha-v2', labRoot: tmpDir('oslab-v2')}),
      OpenStackSim.start({...common, profile: 'conoha-v3', labRoot: tmpDir('oslab-c3')}),
    ])
    // docker-machine's variable names, as seed 004 sets them.
    v3env = {...base, OS_AUTH_URL: v3.authUrl('3'), OS_USERNAME: 'demo', OS_PASSWORD: 'secretsecret', OS_TENANT_NAME: 'demo', OS_DOMAIN_NAME: 'Default'}
  })

  after(async () => {
    await Promise.all([v3, v2, c3].filter(Boolean).map(s => s.close()))
    assert.deepEqual(labLeftovers([v3, v2, c3].filter(Boolean).flatMap(s => s.hostIds)), [])
  })

  async function empty(sim: OpenStackSim): Promise<void> {
    await sim.settle()
    const inv = await sim.inventory()
    assert.deepEqual(Object.fromEntries(Object.entries(inv).filter(([, v]) => v.length)), {}, 'the simulator still holds resources')
  }

  test('flags: a password on the command line draws a warning; -d conoha takes conoha-* flags', async () => {
    const r = await berth(['create', '-d', 'openstack', '--openstack-password', 'secretsecret', '--openstack-flavor-name', 'm1.nope', '--openstack-image-name', 'ubuntu-24.04', 'osx'], {env: v3env})
    assert.equal(r.code, 3) // a failed pre-create check, as docker-machine
    assert.match(r.stderr, /warning: --openstack-password on the command line is visible to other users in ps and shell history; prefer OS_PASSWORD/)
    assert.equal(lastLine(r.stderr), 'berth: flavor "m1.nope" not found (the cloud has: m1.tiny, m1.small, m1.medium)')
    const c = await berth(['create', '-d', 'conoha', '--openstack-flavor-name', 'g-1gb', 'osx'], {env: v3env})
    assert.equal(lastLine(c.stderr), 'berth: --openstack-flavor-name belongs to the openstack driver, not conoha')
    await empty(v3)
  })

  test('create -d openstack with OS_* (Keystone v3): floating IP, boot volume, own security group; docker works; stop/start; rm leaves nothing', async () => {
    v3.resetCounters()
    const r = await berth(['create', '-d', 'openstack', ...FULL, 'os1'], {env: v3env})
    assert.equal(r.code, 0, r.stderr)
    steps = [...new Set(v3.requests.map(q => q.op))]
    const denv = await dockerEnv('os1', v3env)
    const fip = [...v3.fips.values()][0].address
    assert.equal(denv.DOCKER_HOST, `tcp://${fip}:2376`)
    const info = docker(['info', '--format', '{{.Name}} {{json .Labels}}'], denv)
    assert.equal(info.code, 0, info.stderr)
    assert.match(info.stdout, /^os1 .*"provider=openstack"/)
    assert.equal((await berth(['ip', 'os1'], {env: v3env})).stdout.trim(), fip)
    // The group admits SSH and the engine from this box, and nothing else.
    assert.equal(await probe(fip, 2376), 'open')
    assert.equal(await probe(fip, 2377), 'dropped')
    let s = await berth(['stop', 'os1'], {env: v3env})
    assert.equal(s.code, 0, s.stderr)
    assert.equal((await berth(['status', 'os1'], {env: v3env})).stdout.trim(), 'Stopped')
    assert.equal([...v3.servers.values()][0].status, 'SHUTOFF')
    s = await berth(['start', 'os1'], {env: v3env})
    assert.equal(s.code, 0, s.stderr)
    assert.equal(docker(['version', '--format', '{{.Server.Version}}'], denv).code, 0)
    const rm = await berth(['rm', '-y', 'os1'], {env: v3env})
    assert.equal(rm.code, 0, rm.stderr)
    await empty(v3)
  })

  test('create -d openstack from clouds.yaml (~/.config/openstack, application credential in secure.yaml)', async () => {
    const home = tmpDir('oshome')
    mkdirSync(path.join(home, '.config', 'openstack'), {recursive: true})
    const cred = v3.appCreds[0]
    writeFileSync(path.join(home, '.config', 'openstack', 'clouds.yaml'), `clouds:\n  lab:\n    auth_type: v3applicationcredential\n    auth:\n      auth_url: ${v3.url}\n      application_credential_id: ${cred.id}\n    region_name: RegionOne\n    identity_api_version: 3\n`)
    writeFileSync(path.join(home, '.config', 'openstack', 'secure.yaml'), `clouds:\n  lab:\n    auth:\n      application_credential_secret: ${cred.secret}\n`)
    const env = {...base, HOME: home, OS_CLOUD: 'lab'}
    const r = await berth(['create', '-d', 'openstack', '--openstack-flavor-name', 'm1.tiny', '--openstack-image-name', 'cirros-0.3.2-x86_64-disk', '--openstack-open-cidr', ME, 'os2'], {env})
    assert.equal(r.code, 0, r.stderr)
    const ver = docker(['version', '--format', '{{.Server.Version}}'], await dockerEnv('os2', env))
    assert.equal(ver.code, 0, ver.stderr)
    assert.equal((await berth(['rm', '-y', 'os2'], {env})).code, 0)
    await empty(v3)
  })

  test('Keystone v2.0 ConoHa (tyo1): seed 004\'s -d openstack command, and -d conoha, side by side', async () => {
    // OS_USERNAME OS_TENANT_NAME OS_PASSWORD OS_AUTH_URL, as seed 004 has them.
    const env = {...base, OS_AUTH_URL: v2.authUrl('2.0'), OS_USERNAME: 'demo', OS_PASSWORD: 'secretsecret', OS_TENANT_NAME: 'demo'}
    const [a, b] = await Promise.all([
      berth(['create', '-d', 'openstack', '--openstack-flavor-name', 'g-1gb', '--openstack-image-name', 'vmi-ubuntu-14.04-amd64', '--openstack-sec-groups', 'default,gncs-ipv4-all', 'seed004'], {env}),
      berth(['create', '-d', 'conoha', '--conoha-region', 'tyo1', '--conoha-flavor-name', 'g-1gb', '--conoha-image-name', 'vmi-ubuntu-16.04-amd64-unified', '--conoha-sec-groups', 'default,gncs-ipv4-all', 'tyo'], {env}),
    ])
    assert.equal(a.code, 0, a.stderr)
    assert.equal(b.code, 0, b.stderr)
    for (const n of ['seed004', 'tyo']) {
      const info = docker(['info', '--format', '{{.Name}} {{json .Labels}}'], await dockerEnv(n, env))
      assert.equal(info.code, 0, info.stderr)
      assert.match(info.stdout, new RegExp(`^${n} `))
    }
    assert.match(docker(['info', '--format', '{{json .Labels}}'], await dockerEnv('tyo', env)).stdout, /"provider=conoha".*"region=tyo1"|"region=tyo1".*"provider=conoha"/)
    const tagged = [...v2.servers.values()].find(s => s.name === 'tyo')!
    assert.equal(tagged.metadata.instance_name_tag, 'tyo')
    assert.equal((await berth(['rm', '-y', 'seed004', 'tyo'], {env})).code, 0)
    await empty(v2)
  })

  test('-d conoha on c3j1 (Keystone v3): a boot volume made first, and SSH/Docker opened since the default group admits nothing', async () => {
    const env = {...base, OS_AUTH_URL: c3.authUrl('3'), OS_USERNAME: 'demo', OS_PASSWORD: 'secretsecret', OS_TENANT_ID: c3.project.id}
    const r = await berth(['create', '-d', 'conoha', '--conoha-region', 'c3j1', '--conoha-flavor-name', 'g2l-t-c2m1', '--conoha-image-name', 'vmi-ubuntu-24.04-amd64', 'c3'], {env})
    assert.equal(r.code, 0, r.stderr)
    const srv = [...c3.servers.values()][0]
    const vol = [...c3.volumes.values()][0]
    assert.deepEqual([vol.size, vol.type, vol.status, srv.imageId], [100, 'c3j1-ds02-boot', 'in-use', ''])
    assert.equal(srv.metadata.instance_name_tag, 'c3')
    const denv = await dockerEnv('c3', env)
    assert.equal(docker(['version', '--format', '{{.Server.Version}}'], denv).code, 0)
    assert.equal(await probe(srv.fixedIp!, 2377), 'dropped')
    assert.equal((await berth(['rm', '-y', 'c3'], {env})).code, 0)
    await empty(c3)
  })

  test('a fault at every API step of create: exit code 1, one clear line, the simulator exactly as before', async () => {
    assert.equal(steps.length, 14, `steps seen: ${steps.join(', ')}`)
    await v3.settle()
    const before = await v3.inventory()
    // 2 s: long enough that a busy CI box never loses an answer by accident.
    const env = {...v3env, BERTH_OPENSTACK_API_TIMEOUT: '2'}
    const cases: [string, 500 | 'timeout' | 'error'][] = [
      ...steps.map(op => [op, 500] as [string, 500]),
      ...steps.filter(op => /\.create$/.test(op)).map(op => [op, 'timeout'] as [string, 'timeout']),
      ['nova.servers.create', 'error'],
    ]
    for (const [op, kind] of cases) {
      v3.clearFaults()
      if (kind === 'error') v3.failBuilds(1)
      // Outlast the one retry of each call (the two network lookups run at once); the rollback's calls then succeed.
      else v3.inject(op, kind, {times: kind === 'timeout' ? 1 : op === 'neutron.networks.list' ? 4 : 2})
      const r = await berth(['create', '-d', 'openstack', ...FULL, 'osf'], {env})
      const what = `${kind} at ${op}`
      assert.notEqual(r.code, 0, what)
      const line = lastLine(r.stderr)
      assert.match(line, kind === 'error' ? /^berth: nova server \S+ went to ERROR: No valid host was found/ : /^berth: (keystone|nova|neutron|glance|cinder) (GET|POST|PUT|DELETE) \/\S*: /, `${what}: ${line}`)
      assert.match(line, kind === 500 ? /500 Internal Server Error/ : kind === 'timeout' ? /no answer within 2 s$/ : /ERROR/, what)
      assert.doesNotMatch(r.stderr, /secretsecret/)
      await v3.settle()
      assert.deepEqual(await v3.inventory(), before, `${what}: left behind`)
      assert.deepEqual(readdirSync(path.join(store, 'machines')), [], `${what}: record left`)
    }
    v3.clearFaults()
  })

  test('6 machines created at once under 429 throttling all succeed; rm leaves nothing', async () => {
    v3.resetCounters()
    v3.setRateLimit({perSecond: 8, burst: 4, retryAfterSec: 1})
    const names = Array.from({length: 6}, (_, i) => `par${i}`)
    try {
      // The other tests keep retries at 1 to fail fast; throttling is exactly what retries are for.
      const r = await berth(['create', '-d', 'openstack', '--parallel', '6', '--openstack-flavor-name', 'm1.small', '--openstack-image-name', 'ubuntu-24.04',
        '--openstack-floatingip-pool', 'public', '--openstack-open-cidr', ME, ...names], {env: {...v3env, BERTH_OPENSTACK_RETRIES: '8'}, timeoutMs: 240_000})
      assert.equal(r.code, 0, r.stderr)
      assert.ok(v3.throttled > 0, 'the simulator never throttled')
      // One process: one token for all six.
      assert.equal(v3.authCount, 1, 'one token for all six')
      const rows = JSON.parse((await berth(['ls', '--json'], {env: v3env})).stdout)
      assert.deepEqual(rows.map((x: {name: string; state: string}) => `${x.name} ${x.state}`), names.map(n => `${n} Running`))
      for (const n of names) {
        const v = docker(['version', '--format', '{{.Server.Version}}'], await dockerEnv(n, v3env))
        assert.equal(v.code, 0, `${n}: ${v.stderr}`)
      }
    } finally {
      v3.setRateLimit(undefined)
      // Machines whose create failed are already gone: rm's verdict on them would hide the real failure.
      await berth(['rm', '-f', ...names], {env: v3env})
    }
    await empty(v3)
  })

  test('3 openstack machines form a swarm with --swarm; the swarm\'s security group admits its ports between members only', async () => {
    const env = {...v3env}
    const r = await berth(['create', '-d', 'openstack', '--swarm', 'oss', '--openstack-flavor-name', 'm1.small', '--openstack-image-name', 'ubuntu-24.04',
      '--openstack-open-cidr', ME, 'osm', 'osw1', 'osw2'], {env})
    assert.equal(r.code, 0, r.stderr)
    try {
      const groups = [...v3.groups.values()].filter(g => g.name === 'berth-swarm-oss')
      assert.equal(groups.length, 1)
      const servers = [...v3.servers.values()]
      assert.ok(servers.every(s => s.groupIds.includes(groups[0].id)))
      const nodes = docker(['node', 'ls', '--format', '{{.Hostname}} {{.Status}} {{.ManagerStatus}}'], await dockerEnv('osm', env))
      assert.equal(nodes.code, 0, nodes.stderr)
      assert.deepEqual(nodes.stdout.trim().split('\n').map(l => l.trim()).sort(), ['osm Ready Leader', 'osw1 Ready', 'osw2 Ready'])
      // 2377 answers members; from this box (not a member) it is dropped.
      assert.equal(await probe(servers.find(s => s.name === 'osm')!.fixedIp!, 2377), 'dropped')
    } finally {
      assert.equal((await berth(['rm', '-y', 'osw1', 'osw2', 'osm'], {env})).code, 0)
    }
    await empty(v3)
  })
})
