/**
 * Classic cluster mode (issue 14, seed 004's own model): a head behind a home NAT and two workers
 * with public addresses on the shared "internet" (as cloud VMs), none of them in swarm mode,
 * grouped by `create --swarm S --swarm-mode classic` and placed by `berth swarm manage`, which
 * runs ON the NAT'd head (in its network namespace, as seed 004 ran the master on the local
 * machine) and dials out to each engine over mutual TLS through the home router's MASQUERADE.
 * Nothing listens on a swarm port and nothing can reach the head from the workers' side, yet
 * plain `docker run -d` spreads over all three, binpacks onto one and follows a constraint.
 * The hosts are shared by every subtest; `rm` of the group leaves nothing.
 */
import {after, before, describe, test} from 'node:test'
import assert from 'node:assert/strict'
import {spawn, execFileSync, type ChildProcess} from 'node:child_process'
import {existsSync, readdirSync, readFileSync} from 'node:fs'
import path from 'node:path'
import {BIN, berth, busyboxTar, docker, dockerEnv, isRoot, labLeftovers, sleep, tmpDir} from '../helpers.js'
import {bridgeName, networkBridge} from '../../drivers/lab/network.js'
import {dropTagged} from '../../drivers/lab/nat.js'

const GROUP = 'c4'
const PUBLIC = '172.30.200.0/24'
const HOME = '172.30.201.0/24'
const HOME_NET = 'clhome'
const WORKERS = ['cw1', 'cw2']
const ALL = ['head', ...WORKERS]
const SLEEP = ['sleep', '100000']
const routerNs = (network: string) => `berth-rt-${networkBridge(network).slice(3)}`
const sh = (cmd: string) => execFileSync('sh', ['-c', cmd]).toString()

describe('classic cluster mode: a NAT\'d head and two workers, no swarm mode (seed 004)', {skip: !isRoot() && 'needs root', concurrency: false}, () => {
  const env = {BERTH_STORAGE_PATH: tmpDir('clstore'), BERTH_LAB_DIR: tmpDir('cllab'), BERTH_LAB_PUBLIC_SUBNET: PUBLIC, BERTH_LAB_SUBNET: undefined}
  const run = (args: string[]) => berth(args, {env})
  const direct: Record<string, Record<string, string>> = {}
  const ips: Record<string, string> = {}
  const ids: string[] = []
  let manage: {proc: ChildProcess; stderr: string; exit: Promise<number | null>} | undefined
  let denv: Record<string, string> = {}
  /** The head's network namespace: the endpoint and the docker CLI pointed at it run there. */
  let headNs = ''

  /**
   * Starts the endpoint inside the head's network namespace (its loopback, its NAT'd way out);
   * `berth env --swarm S` (no --manage: the group is classic) then points at it.
   */
  async function startManage(): Promise<void> {
    const proc = spawn('ip', ['netns', 'exec', headNs, process.execPath, BIN, 'swarm', 'manage', GROUP, '--listen', '127.0.0.1:0'], {env: {...process.env, BERTH_DEBUG: '', ...env}, stdio: ['ignore', 'pipe', 'pipe']})
    const m = {proc, stderr: '', exit: new Promise<number | null>(resolve => proc.on('exit', code => resolve(code)))}
    proc.stderr!.on('data', d => (m.stderr += d))
    proc.stdout!.resume()
    manage = m
    for (const end = Date.now() + 30_000; Date.now() < end && proc.exitCode === null; await sleep(100)) {
      const r = await run(['env', '--swarm', GROUP, '--json'])
      if (r.code === 0) {
        denv = JSON.parse(r.stdout)
        return
      }
    }
    throw new Error(`berth swarm manage did not start: ${m.stderr}`)
  }

  /** The stock docker CLI on the head's side of the NAT, pointed at the endpoint there. */
  const viaHead = (args: string[]) => {
    try {
      const stdout = execFileSync('ip', ['netns', 'exec', headNs, 'docker', ...args], {env: {...process.env, ...denv}, stdio: ['ignore', 'pipe', 'pipe'], timeout: 60_000}).toString()
      return {code: 0, stdout, stderr: ''}
    } catch (err) {
      const e = err as {status?: number; stdout?: Buffer; stderr?: Buffer}
      return {code: e.status ?? 1, stdout: e.stdout?.toString() ?? '', stderr: e.stderr?.toString() ?? ''}
    }
  }
  const machineOf = (id: string) => viaHead(['inspect', '--format', '{{.Node.Name}}', id]).stdout.trim()
  const dockerRun = (args: string[]) => viaHead(['run', '-d', ...args])
  const clean = () => {
    const found = viaHead(['ps', '-aq']).stdout.trim().split('\n').filter(Boolean)
    if (found.length) assert.equal(viaHead(['rm', '-f', ...found]).code, 0)
  }
  const tcp = async (host: string, ip: string, port: number) => (await run(['ssh', host, `timeout 3 bash -c '</dev/tcp/${ip}/${port}' 2>/dev/null && echo open || echo closed`])).stdout.trim()

  before(async () => {
    // The head first: docker-machine's --swarm-master, behind a home router. The workers, public
    // hosts on the "internet", join the existing group by name alone (its mode is the group's).
    const head = await run(['create', '--swarm', GROUP, '--swarm-mode', 'classic', '--swarm-master', '--lab-network', HOME_NET, '--lab-behind-nat', '--lab-subnet', HOME, 'head'])
    assert.equal(head.code, 0, head.stderr)
    const workers = await run(['create', '--swarm', GROUP, '--swarm-label', 'disk=ssd', '--lab-subnet', PUBLIC, ...WORKERS])
    assert.equal(workers.code, 0, workers.stderr)
    const tar = busyboxTar()
    await Promise.all(ALL.map(async n => {
      direct[n] = await dockerEnv(n, {...env, BERTH_LAB_SUBNET: ''})
      ips[n] = (await run(['ip', n])).stdout.trim()
      ids.push(JSON.parse(readFileSync(path.join(env.BERTH_STORAGE_PATH, 'machines', n, 'config.json'), 'utf8')).id)
    }))
    headNs = `berth-${JSON.parse(readFileSync(path.join(env.BERTH_STORAGE_PATH, 'machines', 'head', 'config.json'), 'utf8')).id}`
    for (const n of ALL) {
      const imp = docker(['import', '-', 'bb:v1'], direct[n], tar)
      assert.equal(imp.code, 0, imp.stderr)
    }
    await startManage()
  })

  after(async () => {
    if (manage) {
      manage.proc.kill('SIGTERM')
      await manage.exit
    }
    await run(['rm', '-f', '-y', ...ALL, 'bad1', 'bad2'])
    // Whatever a failed rm would leave of this file's networks: routers, bridges, tagged rules.
    execFileSync('sh', ['-c', `ip netns del ${routerNs(HOME_NET)} 2>/dev/null; ip link del ${networkBridge(HOME_NET)} 2>/dev/null; ip link del ${bridgeName(PUBLIC)} 2>/dev/null; true`])
    for (const b of [networkBridge(HOME_NET), bridgeName(PUBLIC)]) await dropTagged(b)
  })

  test('the group is classic: no engine is in swarm mode, no swarm port listens, nothing reaches the NAT\'d head', async () => {
    assert.match(ips.head, /^172\.30\.201\./)
    for (const w of WORKERS) assert.match(ips[w], /^172\.30\.200\./)
    for (const n of ALL) assert.equal(docker(['info', '--format', '{{.Swarm.LocalNodeState}}'], direct[n]).stdout.trim(), 'inactive', n)
    const listening = await Promise.all(ALL.map(async n => (await run(['ssh', n, 'ss -Hlntu'])).stdout))
    for (const [i, l] of listening.entries()) {
      assert.match(l, /:2376\b/, `${ALL[i]}: the engine listens (the only port the endpoint dials)`)
      assert.doesNotMatch(l, /:(2377|7946|4789)\b/, `${ALL[i]}: no swarm-mode port`)
    }
    // From the workers' side the head (and its router's public address) take no connection at all.
    const routerPublic = sh(`ip -n ${routerNs(HOME_NET)} -4 -o addr show wan`).split(/\s+/)[3].split('/')[0]
    assert.deepEqual(await Promise.all([tcp('cw1', ips.head, 2376), tcp('cw1', routerPublic, 2376), tcp('cw2', ips.head, 22)]), ['closed', 'closed', 'closed'])
    const ls = await run(['swarm', 'ls'])
    assert.equal(ls.code, 0, ls.stderr)
    assert.match(ls.stdout, /^SWARM +MODE +MANAGERS +WORKERS +LEADER +REACHABLE/m)
    assert.match(ls.stdout, new RegExp(`^${GROUP} +classic +head +cw1,cw2 +- +yes \\(via 3/3 engines\\)`, 'm'))
    const inspect = JSON.parse((await run(['swarm', 'inspect', GROUP])).stdout)
    assert.equal(inspect.mode, 'classic')
    assert.equal(JSON.parse(readFileSync(path.join(env.BERTH_STORAGE_PATH, 'groups', `${GROUP}.json`), 'utf8')).mode, 'classic')
    assert.deepEqual(inspect.managers, ['head'])
    assert.deepEqual(inspect.nodes.map((n: {machine: string; state: string}) => `${n.machine}:${n.state}`), ['cw1:ready', 'cw2:ready', 'head:ready'])
    assert.deepEqual(JSON.parse((await run(['env', '--swarm', GROUP, '--manage', '--json'])).stdout), denv, 'env --swarm S and --swarm S --manage agree for a classic group')
    assert.match(denv.DOCKER_HOST, /^tcp:\/\/127\.0\.0\.1:\d+$/)
    const info = viaHead(['info'])
    assert.equal(info.code, 0, info.stderr)
    assert.match(info.stdout, /Role: primary/)
    assert.match(info.stdout, /Nodes: 3/)
    assert.match(info.stdout, new RegExp(`  head: ${ips.head.replace(/\./g, '\\.')}:2376`))
    assert.match(info.stdout, /└ Labels: berth\.driver=lab, berth\.machine=cw1, berth\.region=lab, disk=ssd/)
  })

  test('three docker run -d through the endpoint on the NAT\'d head land on three machines (spread), dialled out through its NAT', async () => {
    const placed = [0, 1, 2].map(() => {
      const r = dockerRun(['bb:v1', ...SLEEP])
      assert.equal(r.code, 0, r.stderr)
      return machineOf(r.stdout.trim())
    })
    assert.deepEqual(placed.sort(), ALL.slice().sort())
    // Each worker's engine sees the endpoint's connections coming from the home router's public
    // address: `docker events` through the endpoint holds one open to every engine meanwhile.
    const routerPublic = sh(`ip -n ${routerNs(HOME_NET)} -4 -o addr show wan`).split(/\s+/)[3].split('/')[0]
    const events = spawn('ip', ['netns', 'exec', headNs, 'docker', 'events'], {env: {...process.env, ...denv}, stdio: 'ignore'})
    await sleep(1500)
    const seen = await Promise.all(WORKERS.map(async w => (await run(['ssh', w, 'ss -Htn state established \'( sport = :2376 )\''])).stdout)).finally(() => events.kill())
    for (const [i, w] of WORKERS.entries()) {
      const peers = seen[i]
      // dockerd listens on both families: IPv4 peers show as [::ffff:a.b.c.d].
      assert.match(peers, new RegExp(`\\s(\\[::ffff:)?${routerPublic.replace(/\./g, '\\.')}\\]?:\\d+\\s*$`, 'm'), `${w}: ${peers}`)
      assert.doesNotMatch(peers, new RegExp(ips.head.replace(/\./g, '\\.')), 'the head\'s own address never shows outside its NAT')
    }
  })

  test('binpack (berth run) fills one machine; berth ps lists the containers as machine/name', async () => {
    clean()
    const placed: string[] = []
    for (let i = 0; i < 3; i++) {
      const r = await run(['run', '--swarm', GROUP, '--strategy', 'binpack', '-m', '32m', '-d', '--name', `bp${i}`, 'bb:v1', ...SLEEP])
      assert.equal(r.code, 0, r.stderr)
      placed.push(r.stdout.trim().split('/')[0])
    }
    assert.equal(new Set(placed).size, 1, placed.join(' '))
    assert.ok(ALL.includes(placed[0]))
    const ps = await run(['ps', '--swarm', GROUP])
    assert.equal(ps.code, 0, ps.stderr)
    for (let i = 0; i < 3; i++) assert.match(ps.stdout, new RegExp(`${placed[0]}/bp${i}$`, 'm'))
    const json = JSON.parse((await run(['ps', '--swarm', GROUP, '--json'])).stdout) as Array<{machine: string; name: string}>
    assert.deepEqual(json.map(r => `${r.machine}/${r.name}`).sort(), [0, 1, 2].map(i => `${placed[0]}/bp${i}`))
  })

  test('constraints and affinities: a node label pins to the workers, node== pins one, affinity follows a container', () => {
    clean()
    const ssd = [0, 1].map(() => machineOf(dockerRun(['-e', 'constraint:disk==ssd', 'bb:v1', ...SLEEP]).stdout.trim()))
    assert.deepEqual(ssd.sort(), WORKERS, 'spread over the labelled workers only')
    const pinned = dockerRun(['--name', 'pin', '-e', 'constraint:node==head', 'bb:v1', ...SLEEP])
    assert.equal(pinned.code, 0, pinned.stderr)
    assert.equal(machineOf('pin'), 'head')
    assert.equal(machineOf(dockerRun(['-e', 'affinity:container==pin', 'bb:v1', ...SLEEP]).stdout.trim()), 'head')
    assert.equal(machineOf(dockerRun(['-e', 'constraint:berth.machine==cw2', 'bb:v1', ...SLEEP]).stdout.trim()), 'cw2')
    const bad = dockerRun(['-e', 'constraint:disk==nvme', 'bb:v1', ...SLEEP])
    assert.notEqual(bad.code, 0)
    assert.match(bad.stderr, /no node fits: constraint disk==nvme eliminated cw1, cw2, head/)
  })

  test('mixing modes in one group is refused in one line, before anything is made', async () => {
    const store = path.join(env.BERTH_STORAGE_PATH, 'machines')
    const before = readdirSync(store).sort()
    const mixed = await run(['create', '--swarm', GROUP, '--swarm-mode', 'swarm', '--lab-subnet', '172.30.203.0/24', 'bad1'])
    assert.notEqual(mixed.code, 0)
    assert.equal(mixed.stderr, `berth: "${GROUP}" is a classic group, and a group has one mode: drop --swarm-mode swarm, or choose another --swarm name\n`)
    const addr = await run(['create', '--swarm', GROUP, '--swarm-advertise-addr', '172.30.203.9', '--lab-subnet', '172.30.203.0/24', 'bad2'])
    assert.notEqual(addr.code, 0)
    assert.match(addr.stderr, /^berth: --swarm-advertise-addr is for swarm mode: the classic group "c4" advertises nothing[^\n]*\n$/)
    assert.deepEqual(readdirSync(store).sort(), before)
    assert.equal(existsSync(`/sys/class/net/${bridgeName('172.30.203.0/24')}`), false, 'no bridge was made')
    const doctor = await run(['swarm', 'doctor', GROUP])
    assert.notEqual(doctor.code, 0)
    assert.match(doctor.stderr, /is a classic group: it needs no swarm port/)
  })

  test('a worker removed leaves the group; rm of the group leaves nothing', async () => {
    clean()
    const rm1 = await run(['rm', '-y', 'cw2'])
    assert.equal(rm1.code, 0, rm1.stderr)
    assert.match(viaHead(['info']).stdout, /Nodes: 2/)
    const two = [0, 1].map(() => machineOf(dockerRun(['bb:v1', ...SLEEP]).stdout.trim()))
    assert.deepEqual(two.sort(), ['cw1', 'head'])
    manage!.proc.kill('SIGTERM')
    assert.equal(await manage!.exit, 0, manage!.stderr)
    manage = undefined
    const rm = await run(['rm', '-y', 'head', 'cw1'])
    assert.equal(rm.code, 0, rm.stderr)
    assert.deepEqual(readdirSync(path.join(env.BERTH_STORAGE_PATH, 'machines')), [])
    assert.equal((await run(['swarm', 'ls', '--json'])).stdout.trim(), '[]')
    const swarms = path.join(env.BERTH_STORAGE_PATH, 'swarms')
    assert.deepEqual(existsSync(swarms) ? readdirSync(swarms).filter(f => f.startsWith(GROUP)) : [], [])
    assert.equal(existsSync(path.join(env.BERTH_STORAGE_PATH, 'groups', `${GROUP}.json`)), false, 'the group record went with its last member')
    assert.deepEqual(labLeftovers(ids), [])
    assert.doesNotMatch(sh('ip netns list'), new RegExp(routerNs(HOME_NET)))
    assert.doesNotMatch(sh('ip -o link'), new RegExp(networkBridge(HOME_NET)))
    assert.doesNotMatch(sh('iptables-save'), new RegExp(`berth-lab-${networkBridge(HOME_NET)}`))
  })
})
