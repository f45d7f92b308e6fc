/**
 * Seed 004's scene, composed (issue 14's "Done when"): a lab head behind a home NAT, two Azure
 * VMs on the Azure simulator's vnet behind its router, two ConoHa servers made with `-d conoha`
 * on the "internet" directly, both clouds' firewalls enforced as their inventories say.
 * Without a mesh the NAT'd manager is refused before anything joins and the cloud VM it made is
 * rolled back; with `--swarm-mesh wireguard` all five form one swarm, a service spreads over them,
 * an overlay carries TCP from the NAT'd head to a ConoHa server, and the doctor is green. Then
 * an Azure VM and a ConoHa server leave that swarm for a classic group headed behind the same
 * NAT: `docker run -d` through `berth swarm manage` spreads over the three, and nothing was ever
 * opened inward on the home router. rm of everything leaves nothing.
 */
import {after, before, describe, test} from 'node:test'
import assert from 'node:assert/strict'
import {execFileSync, spawn, type ChildProcess} from 'node:child_process'
import {existsSync, readdirSync, readFileSync} from 'node:fs'
import path from 'node:path'
import {BIN, berth, busyboxTar, docker, dockerEnv, isRoot, labLeftovers, sleep, tmpDir, until as untilEvery} from '../helpers.js'
import {bridgeName, networkBridge} from '../../drivers/lab/network.js'
import {dropTagged} from '../../drivers/lab/nat.js'
import {startAzureSim, type AzureSim} from '../sim/azure.js'
import {OpenStackSim} from '../sim/openstack.js'

const until = <T>(what: string, fn: () => Promise<T | undefined | false> | T | undefined | false, timeoutMs = 120_000) => untilEvery(what, fn, timeoutMs, 1000)
const INTERNET = '172.30.235.0/24'
const VNET = '172.30.236.0/24'
const HOME = '172.30.237.0/24'
const HOME_NET = 's4home'
const SWARM = 's4'
const GROUP = 's4c'
const MEMBERS = ['head', 'az1', 'az2', 'tyo1', 'tyo2']
const ALL = [...MEMBERS, 'phead', 'paz', 'chead']
const SLEEP = ['sleep', '100000']
const routerNs = `berth-rt-${networkBridge(HOME_NET).slice(3)}`
const sh = (cmd: string) => execFileSync('sh', ['-c', cmd]).toString()
// Seed 004's ConoHa flags, under the conoha driver's names.
const CONOHA = ['-d', 'conoha', '--conoha-region', 'tyo1', '--conoha-flavor-name', 'g-1gb', '--conoha-image-name', 'vmi-ubuntu-14.04-amd64', '--conoha-sec-groups', 'default,gncs-ipv4-all']
const AZURE = ['-d', 'azure', '--azure-location', 'japaneast']
const LAB_HOME = ['--lab-network', HOME_NET, '--lab-behind-nat', '--lab-subnet', HOME]

interface Path {from: string; to: string; address: string; port: number; proto: string; ok: boolean; seenAs?: string; reason?: string}

describe('seed 004: a NAT\'d lab head, Azure and ConoHa workers, firewalls enforced', {skip: !isRoot() && 'needs root', concurrency: false}, () => {
  let az: AzureSim
  let os: OpenStackSim
  let env: Record<string, string | undefined>
  let denv: Record<string, string> = {}
  let routerPublic = ''
  let manage: {proc: ChildProcess; stderr: string; exit: Promise<number | null>} | undefined
  const labIds: string[] = []
  const run = (args: string[]) => berth(args, {env})
  const inspect = async (n: string) => JSON.parse((await run(['inspect', n])).stdout)
  const tasks = (service: string) => docker(['service', 'ps', service, '--filter', 'desired-state=running', '--format', '{{.Node}} {{.CurrentState}}'], denv)
    .stdout.trim().split('\n').filter(l => / Running /.test(l)).map(l => l.split(' ')[0])
  const vms = () => az.inventory().filter(i => /virtualMachines\//i.test(i))
  const labId = (n: string) => JSON.parse(readFileSync(path.join(env.BERTH_STORAGE_PATH!, 'machines', n, 'config.json'), 'utf8')).id as string
  /** The home router's own firewall and NAT, as iptables prints them: what it admits inward. */
  const routerRules = () => sh(`ip netns exec ${routerNs} iptables-save | grep -v '^[#:]'`)

  before(async () => {
    ;[az, os] = await Promise.all([
      startAzureSim({labRoot: tmpDir('s4az'), topology: {internet: INTERNET, subnet: VNET}, retryAfter: 0}),
      OpenStackSim.start({boot: 'lab', subnet: INTERNET, topology: {internet: INTERNET}, profile: 'conoha-v2', labRoot: tmpDir('s4os')}),
    ])
    env = {
      ...az.env(), AZURE_LOCATION: 'japaneast', AZURE_SUBNET_PREFIX: VNET,
      OS_AUTH_URL: os.authUrl('2.0'), OS_USERNAME: 'demo', OS_PASSWORD: 'secretsecret', OS_TENANT_NAME: 'demo', OS_CLOUD: '',
      BERTH_STORAGE_PATH: tmpDir('s4store'), BERTH_LAB_DIR: tmpDir('s4lab'), BERTH_LAB_PUBLIC_SUBNET: INTERNET, BERTH_LAB_SUBNET: undefined,
    }
  })

  after(async () => {
    if (manage) {
      manage.proc.kill('SIGTERM')
      await manage.exit
    }
    await berth(['rm', '-f', '-y', ...ALL], {env})
    const ids = [...(os?.hostIds ?? []), ...(az?.hosts() ?? []).map(h => h.id), ...labIds]
    await Promise.all([az?.close(), os?.close()])
    execFileSync('sh', ['-c', `ip netns del ${routerNs} 2>/dev/null; ip link del ${networkBridge(HOME_NET)} 2>/dev/null; true`])
    await dropTagged(networkBridge(HOME_NET))
    assert.deepEqual(labLeftovers(ids), [])
  })

  test('without a mesh the NAT\'d manager is refused before anything joins, and the Azure VM made for the join is rolled back', async () => {
    const h = await run(['create', '--swarm', 's4plain', ...LAB_HOME, 'phead'])
    assert.equal(h.code, 0, h.stderr)
    labIds.push(labId('phead'))
    routerPublic = sh(`ip -n ${routerNs} -4 -o addr show wan`).split(/\s+/)[3].split('/')[0]
    assert.match(routerPublic, /^172\.30\.235\./)
    const r = await run(['create', ...AZURE, '--swarm', 's4plain', 'paz'])
    assert.notEqual(r.code, 0)
    const lines = r.stderr.trim().split('\n').filter(l => /^berth:/.test(l))
    assert.equal(lines.length, 1, r.stderr)
    assert.match(lines[0], /paz cannot reach manager phead .*phead is behind NAT.*nothing joined.*--swarm-mesh wireguard.*--swarm-mode classic/)
    const ls = JSON.parse((await run(['ls', '--json'])).stdout) as Array<{name: string}>
    assert.deepEqual(ls.map(m => m.name), ['phead'])
    await az.settle()
    assert.deepEqual(vms(), [], 'the refused VM is gone from the cloud')
    const nodes = docker(['node', 'ls', '--format', '{{.Hostname}}'], await dockerEnv('phead', env)).stdout.trim()
    assert.equal(nodes, 'phead', 'nothing joined')
    assert.equal((await run(['rm', '-y', 'phead'])).code, 0)
  })

  test('with --swarm-mesh wireguard all five form one swarm over the mesh, the clouds\' firewalls admitting the head\'s router', async () => {
    const h = await run(['create', '--swarm', SWARM, '--swarm-mesh', 'wireguard', ...LAB_HOME, 'head'])
    assert.equal(h.code, 0, h.stderr)
    labIds.push(labId('head'))
    routerPublic = sh(`ip -n ${routerNs} -4 -o addr show wan`).split(/\s+/)[3].split('/')[0]
    const [a, c] = await Promise.all([run(['create', ...AZURE, '--swarm', SWARM, 'az1', 'az2']), run(['create', ...CONOHA, '--swarm', SWARM, 'tyo1', 'tyo2'])])
    assert.equal(a.code, 0, a.stderr)
    assert.equal(c.code, 0, c.stderr)
    denv = await dockerEnv('head', env)
    const nodes = docker(['node', 'ls', '--format', '{{.Hostname}} {{.Status}}'], denv).stdout.trim().split('\n').sort()
    assert.deepEqual(nodes, MEMBERS.map(n => `${n} Ready`).sort())
    for (const n of MEMBERS) {
      const rec = await inspect(n)
      assert.match(rec.mesh.address, /^10\.209\.0\.\d+$/, n)
      assert.equal(rec.swarm.advertiseAddr, rec.mesh.address, n)
      assert.equal(docker(['node', 'inspect', n, '--format', '{{.Status.Addr}}'], denv).stdout.trim(), rec.mesh.address, n)
    }
    // The head is seen from the clouds as its home router: its cert and every cloud firewall name that address.
    const head = await inspect('head')
    assert.ok(head.tls.sans.includes(routerPublic), `head's SANs ${head.tls.sans} lack its router's ${routerPublic}`)
    for (const id of az.inventory().filter(i => /networkSecurityGroups\//i.test(i))) {
      const nsg = az.resource('networkSecurityGroups', id.split('/').pop()!)!
      const rules = nsg.properties.securityRules as Array<{name: string; properties: {sourceAddressPrefixes?: string[]}}>
      assert.deepEqual(rules.filter(r => r.name.startsWith('berth-peers-')).map(r => r.name), ['berth-peers-51820-udp'], nsg.name)
      assert.ok(rules.find(r => r.name === 'berth-peers-51820-udp')!.properties.sourceAddressPrefixes!.includes(routerPublic), nsg.name)
    }
    const group = [...os.groups.values()].find(g => g.name === `berth-swarm-${SWARM}`)
    assert.ok(group, 'berth\'s swarm group on ConoHa')
    const wg = [...os.rules.values()].filter(r => r.groupId === group.id && r.min === 51820).map(r => r.prefix)
    assert.ok(wg.includes(`${routerPublic}/32`), `ConoHa admits ${wg}`)
  })

  test('a 6-replica service runs on all five members', async () => {
    const image = busyboxTar()
    await Promise.all(MEMBERS.map(async n => assert.equal(docker(['import', '-', 'bb:v1'], await dockerEnv(n, env), image).code, 0, n)))
    const c = docker(['service', 'create', '--no-resolve-image', '--detach', '--name', 'six', '--replicas', '6', '--replicas-max-per-node', '2', '--stop-grace-period', '1s', 'bb:v1', ...SLEEP], denv)
    assert.equal(c.code, 0, c.stderr)
    const placed = await until('6 running tasks', () => tasks('six').length === 6 && tasks('six'))
    assert.deepEqual([...new Set(placed)].sort(), [...MEMBERS].sort(), placed.join(' '))
    assert.equal(docker(['service', 'rm', 'six'], denv).code, 0)
  })

  test('an attachable overlay carries TCP from a container on the NAT\'d head to one on a ConoHa server', async () => {
    assert.equal(docker(['network', 'create', '-d', 'overlay', '--attachable', '-o', 'com.docker.network.driver.mtu=1370', 's4net'], denv).code, 0)
    const s = docker(['run', '-d', '--name', 'srv', '--network', 's4net', 'bb:v1', 'sh', '-c',
      'mkdir -p /www && hostname > /www/index.html && head -c 200000 /dev/zero | tr "\\0" x > /www/big && httpd -f -p 8080 -h /www'], await dockerEnv('tyo1', env))
    assert.equal(s.code, 0, s.stderr)
    const id = s.stdout.trim().slice(0, 12)
    const fetch = (file: string) => {
      const r = docker(['run', '--rm', '--network', 's4net', 'bb:v1', 'sh', '-c', `printf "GET /${file} HTTP/1.0\\r\\n\\r\\n" | nc -w 5 srv 8080`], denv)
      return r.code === 0 ? r.stdout : ''
    }
    assert.equal(await until('a reply over the overlay', () => fetch('index.html').trim().split('\n').pop(), 60_000), id)
    assert.equal(fetch('big').split('\r\n\r\n')[1]?.length, 200_000, 'full-size segments fit inside the tunnel')
    assert.equal(docker(['rm', '-f', 'srv'], await dockerEnv('tyo1', env)).code, 0)
  })

  test('swarm doctor: every path between the five is green over the mesh', async () => {
    const r = await run(['swarm', 'doctor', SWARM, '--json'])
    const report = JSON.parse(r.stdout) as {ok: boolean; paths: Path[]}
    assert.deepEqual(report.paths.filter(p => !p.ok), [], r.stdout)
    assert.equal(report.ok, true)
    assert.equal(r.code, 0, r.stderr)
    assert.equal(report.paths.length, 5 * 4 * 5)
    for (const p of report.paths.filter(p => p.port !== 51820)) assert.match(p.address, /^10\.209\.0\.\d+$/, JSON.stringify(p))
    // Everyone sees the head's tunnel come from its home router.
    for (const p of report.paths.filter(p => p.port === 51820 && p.to === 'head')) assert.match(p.seenAs ?? '', new RegExp(`^${routerPublic.replace(/\./g, '\\.')}:\\d+$`), JSON.stringify(p))
  })

  test('classic cluster mode: an Azure VM and a ConoHa server move to a classic group headed behind the NAT; docker run -d spreads over the three', async () => {
    for (const n of ['az1', 'tyo1']) {
      const left = await run(['swarm', 'leave', n])
      assert.equal(left.code, 0, left.stderr)
    }
    const ch = await run(['create', '--swarm', GROUP, '--swarm-mode', 'classic', '--swarm-master', ...LAB_HOME, 'chead'])
    assert.equal(ch.code, 0, ch.stderr)
    labIds.push(labId('chead'))
    const j = await run(['swarm', 'join', GROUP, 'az1', 'tyo1'])
    assert.equal(j.code, 0, j.stderr)
    const ins = JSON.parse((await run(['swarm', 'inspect', GROUP])).stdout)
    assert.equal(ins.mode, 'classic')
    assert.deepEqual(ins.nodes.map((n: {machine: string; state: string}) => `${n.machine}:${n.state}`), ['az1:ready', 'chead:ready', 'tyo1:ready'])
    assert.equal(docker(['import', '-', 'bb:v1'], await dockerEnv('chead', env), busyboxTar()).code, 0)

    // The endpoint runs on the head's side of the NAT, in its namespace, and dials out.
    const headNs = `berth-${labId('chead')}`
    const proc = spawn('ip', ['netns', 'exec', headNs, process.execPath, BIN, 'swarm', 'manage', GROUP, '--listen', '127.0.0.1:0'], {env: {...process.env, BERTH_DEBUG: '', ...env}, stdio: ['ignore', 'pipe', 'pipe']})
    manage = {proc, stderr: '', exit: new Promise(resolve => proc.on('exit', code => resolve(code)))}
    proc.stderr!.on('data', d => (manage!.stderr += d))
    proc.stdout!.resume()
    let cenv: Record<string, string> = {}
    for (const end = Date.now() + 60_000; Date.now() < end && proc.exitCode === null && !cenv.DOCKER_HOST; await sleep(200)) {
      const r = await run(['env', '--swarm', GROUP, '--json'])
      if (r.code === 0) cenv = JSON.parse(r.stdout)
    }
    assert.ok(cenv.DOCKER_HOST, `berth swarm manage did not start: ${manage.stderr}`)
    const viaHead = (args: string[]) => execFileSync('ip', ['netns', 'exec', headNs, 'docker', ...args], {env: {...process.env, ...cenv}, timeout: 60_000}).toString().trim()
    const placed = [0, 1, 2].map(() => viaHead(['inspect', '--format', '{{.Node.Name}}', viaHead(['run', '-d', 'bb:v1', ...SLEEP])]))
    assert.deepEqual(placed.sort(), ['az1', 'chead', 'tyo1'])

    // Nothing inward on the home router: no DNAT, nothing forwarded in that is not an answer, and
    // the head's engine not reached from the clouds at its router.
    const rules = routerRules()
    assert.doesNotMatch(rules, /DNAT|REDIRECT/, rules)
    assert.deepEqual(rules.split('\n').filter(l => /-i wan/.test(l) && / -j ACCEPT/.test(l) && !/ESTABLISHED/.test(l)), [], rules)
    const probe = (await run(['ssh', 'tyo1', `timeout 3 bash -c '</dev/tcp/${routerPublic}/2376' 2>/dev/null && echo open || echo closed`])).stdout.trim()
    assert.equal(probe, 'closed')
    manage.proc.kill('SIGTERM')
    assert.equal(await manage.exit, 0, manage.stderr)
    manage = undefined
  })

  test('rm of everything empties both clouds and leaves no router, lease or rule', async () => {
    const r = await run(['rm', '-y', 'head', 'az1', 'az2', 'tyo1', 'tyo2', 'chead'])
    assert.equal(r.code, 0, r.stderr)
    assert.deepEqual(readdirSync(path.join(env.BERTH_STORAGE_PATH!, 'machines')), [])
    await az.settle()
    assert.deepEqual(az.inventory(), [])
    await os.settle()
    const inv = await os.inventory()
    assert.deepEqual(Object.fromEntries(Object.entries(inv).filter(([, v]) => v.length)), {})
    const netns = sh('ip netns list')
    for (const ns of [routerNs, az.network!.netns]) assert.ok(!netns.includes(ns), `router ${ns} left`)
    const bridges = [networkBridge(HOME_NET), bridgeName(INTERNET), bridgeName(VNET), bridgeName(HOME)]
    for (const b of bridges) {
      const leases = `/var/lib/berth-lab/leases/${b}`
      assert.deepEqual(existsSync(leases) ? readdirSync(leases) : [], [], leases)
    }
    const ipt = sh('iptables-save')
    for (const b of bridges) assert.doesNotMatch(ipt, new RegExp(b), `iptables rules for ${b} left`)
    assert.doesNotMatch(sh('ip -o link'), new RegExp(networkBridge(HOME_NET)))
  })
})
