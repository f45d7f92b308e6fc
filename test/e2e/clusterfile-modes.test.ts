/**
 * Issue 14 in cluster files: `berth up` of a mesh swarm (a head behind a home NAT, a worker on
 * the "internet") and of a classic group, checked for real (nodes Ready on their mesh addresses;
 * `berth swarm manage` placing containers on both classic members), a file changing the mode of
 * the formed swarm refused in one line, and `berth down` leaving nothing. Then the lab's NAT'd
 * networks under one parallel rm of all their hosts.
 */
import {after, describe, test} from 'node:test'
import assert from 'node:assert/strict'
import {execFileSync} from 'node:child_process'
import {spawn} from 'node:child_process'
import {existsSync, readFileSync, writeFileSync} from 'node:fs'
import path from 'node:path'
import {BIN, berth, busyboxTar, docker, dockerEnv, isRoot, labLeftovers, sleep, tmpDir} from '../helpers.js'
import {bridgeName, networkBridge} from '../../drivers/lab/network.js'
import {dropTagged} from '../../drivers/lab/nat.js'

const sh = (cmd: string) => execFileSync('sh', ['-c', cmd]).toString()
/** What a failed run would leave of a bridge besides the link: its own FORWARD accept rule. */
const dropForward = (b: string) => sh(`while iptables -D FORWARD -i ${b} -o ${b} -j ACCEPT 2>/dev/null; do :; done; true`)
const routerNs = (network: string) => `berth-rt-${networkBridge(network).slice(3)}`
const LEASES = '/var/lib/berth-lab/leases'

/** What a NAT'd lab network leaves on this box while it exists: router namespace, bridges, leases. */
function networkLeftovers(network: string, publicSubnet: string): string[] {
  const left: string[] = []
  const bridge = networkBridge(network)
  if (sh('ip netns list').split('\n').some(l => l.split(' ')[0] === routerNs(network))) left.push(`netns ${routerNs(network)}`)
  for (const b of [bridge, bridgeName(publicSubnet)]) {
    if (sh(`ip link show ${b} >/dev/null 2>&1 && echo y || true`).trim()) left.push(`bridge ${b}`)
    if (existsSync(`${LEASES}/${b}`)) left.push(`leases ${b}`)
  }
  for (const f of [`${bridge}.router`, `${bridge}.net`, `${bridge}.name`]) if (existsSync(`${LEASES}/${f}`)) left.push(f)
  return left
}

describe('one rm of every host of a NAT\'d network takes its router with the last of them', {skip: !isRoot() && 'needs root', concurrency: false}, () => {
  const PUBLIC = '172.30.241.0/24'
  const HOME = '172.30.242.0/24'
  const NET = 'up14race'
  const env = {BERTH_STORAGE_PATH: tmpDir('rcstore'), BERTH_LAB_DIR: tmpDir('rclab'), BERTH_LAB_PUBLIC_SUBNET: PUBLIC, BERTH_LAB_SUBNET: undefined}
  const names = ['r1', 'r2', 'r3']

  after(async () => {
    await berth(['rm', '-f', '-y', ...names], {env})
    sh(`ip netns del ${routerNs(NET)} 2>/dev/null; ip link del ${networkBridge(NET)} 2>/dev/null; ip link del ${bridgeName(PUBLIC)} 2>/dev/null; true`)
    for (const b of [networkBridge(NET), bridgeName(PUBLIC)]) {
      dropForward(b)
      await dropTagged(b)
    }
  })

  for (let round = 1; round <= 4; round++) {
    const hosts = names.slice(0, 2 + (round % 2))
    test(`round ${round}: create ${hosts.length}, rm -f -y them in one command, nothing of the network is left`, async () => {
      const c = await berth(['create', '--lab-network', NET, '--lab-behind-nat', '--lab-subnet', HOME, ...hosts], {env})
      assert.equal(c.code, 0, c.stderr)
      assert.ok(networkLeftovers(NET, PUBLIC).includes(`netns ${routerNs(NET)}`), 'the network has its router while hosts are on it')
      const r = await berth(['rm', '-f', '-y', ...hosts], {env})
      assert.equal(r.code, 0, r.stderr)
      assert.deepEqual(networkLeftovers(NET, PUBLIC), [])
    })
  }
})

describe('cluster files: a mesh swarm across a NAT and a classic group, up and down', {skip: !isRoot() && 'needs root', concurrency: false}, () => {
  const PUBLIC = '172.30.243.0/24'
  const HOME = '172.30.244.0/24'
  const CLASSIC = '172.30.245.0/26'
  const NET = 'up14home'
  const env = {BERTH_STORAGE_PATH: tmpDir('cmstore'), BERTH_LAB_DIR: tmpDir('cmlab'), BERTH_LAB_PUBLIC_SUBNET: PUBLIC, BERTH_LAB_SUBNET: undefined}
  const dir = tmpDir('cmdir')
  const meshFile = path.join(dir, 'mesh.yml')
  const classicFile = path.join(dir, 'classic.yml')
  const run = (args: string[]) => berth(args, {env})
  const names = ['mhead', 'mw', 'cl-h', 'cl-1']
  const ids: string[] = []
  const MESH_YML = `swarm:
  name: up14mesh
  mesh: wireguard
  mesh-subnet: 10.214.0.0/24
groups:
  mhead:
    driver: lab
    role: manager
    options: {network: ${NET}, behind-nat: true, subnet: ${HOME}}
  mw:
    driver: lab
    labels: {side: public}
    options: {subnet: ${PUBLIC}}
`
  const CLASSIC_YML = `swarm:
  name: up14classic
  mode: classic
  strategy: spread
groups:
  clh:
    driver: lab
    role: manager
    name: cl-h
    options: {subnet: ${CLASSIC}}
  cl:
    driver: lab
    count: 1
    options: {subnet: ${CLASSIC}}
`

  after(async () => {
    await run(['rm', '-f', '-y', ...names])
    sh(`ip netns del ${routerNs(NET)} 2>/dev/null; ip link del ${networkBridge(NET)} 2>/dev/null; true`)
    for (const b of [networkBridge(NET), bridgeName(PUBLIC), bridgeName(CLASSIC)]) {
      sh(`ip link del ${b} 2>/dev/null; true`)
      dropForward(b)
      await dropTagged(b)
    }
  })

  test('plan shows the mode and the mesh; up makes both clusters', async () => {
    writeFileSync(meshFile, MESH_YML)
    writeFileSync(classicFile, CLASSIC_YML)
    const [pm, pc] = await Promise.all([run(['plan', '-f', meshFile]), run(['plan', '-f', classicFile])])
    assert.equal(pm.code, 2, pm.stderr)
    assert.match(pm.stdout, /^swarm up14mesh: swarm mode, WireGuard mesh on 10\.214\.0\.0\/24, 51820\/udp$/m)
    assert.match(pc.stdout, /^swarm up14classic: classic group \(engines not in swarm mode, placed by berth swarm manage\)$/m)
    const [um, uc] = await Promise.all([run(['up', '-f', meshFile]), run(['up', '-f', classicFile])])
    assert.equal(um.code, 0, um.stderr)
    assert.equal(uc.code, 0, uc.stderr)
    for (const n of names) ids.push(JSON.parse(readFileSync(path.join(env.BERTH_STORAGE_PATH, 'machines', n, 'config.json'), 'utf8')).id)
    const again = await run(['plan', '-f', meshFile])
    assert.equal(again.code, 0, again.stdout)
  })

  test('the mesh swarm: both nodes Ready on their mesh addresses, the head behind NAT', async () => {
    const inspect = async (n: string) => JSON.parse((await run(['inspect', n])).stdout) as {mesh?: {address: string}; swarm?: {advertiseAddr: string}}
    const [h, w] = await Promise.all([inspect('mhead'), inspect('mw')])
    assert.deepEqual([h.mesh!.address, w.mesh!.address].sort(), ['10.214.0.1', '10.214.0.2'])
    assert.equal(h.swarm!.advertiseAddr, h.mesh!.address)
    assert.match((await run(['ip', 'mhead'])).stdout, /^172\.30\.244\./)
    const denv = await dockerEnv('mhead', env)
    const nodes = docker(['node', 'ls', '--format', '{{.Hostname}} {{.Status}}'], denv).stdout.trim().split('\n').sort()
    assert.deepEqual(nodes, ['mhead Ready', 'mw Ready'])
    assert.equal(docker(['node', 'inspect', 'mw', '--format', '{{.Status.Addr}} {{index .Spec.Labels "side"}}'], denv).stdout.trim(), `${w.mesh!.address} public`)
  })

  test('the classic group: no engine in swarm mode; berth swarm manage spreads containers over both members', async () => {
    for (const n of ['cl-h', 'cl-1']) assert.equal(docker(['info', '--format', '{{.Swarm.LocalNodeState}}'], await dockerEnv(n, env)).stdout.trim(), 'inactive', n)
    const ls = await run(['swarm', 'ls'])
    assert.match(ls.stdout, /^up14classic +classic +cl-h +cl-1 /m)
    const proc = spawn(process.execPath, [BIN, 'swarm', 'manage', 'up14classic', '--listen', '127.0.0.1:0'], {env: {...process.env, BERTH_DEBUG: '', ...env} as NodeJS.ProcessEnv, stdio: ['ignore', 'ignore', 'pipe']})
    let stderr = ''
    proc.stderr!.on('data', d => (stderr += d))
    const exit = new Promise(resolve => proc.on('exit', resolve))
    try {
      let denv: Record<string, string> | undefined
      for (const end = Date.now() + 30_000; !denv && Date.now() < end && proc.exitCode === null; await sleep(200)) {
        const r = await run(['env', '--swarm', 'up14classic', '--json'])
        if (r.code === 0) denv = JSON.parse(r.stdout)
      }
      assert.ok(denv, `berth swarm manage did not start: ${stderr}`)
      // No image to pull in the lab: each engine has busybox's files as an image of its own.
      const tar = busyboxTar()
      for (const n of ['cl-h', 'cl-1']) assert.equal(docker(['import', '-', 'bb:v1'], await dockerEnv(n, env), tar).code, 0)
      const placed: string[] = []
      for (let i = 0; i < 2; i++) {
        const r = docker(['run', '-d', 'bb:v1', 'sleep', '1000'], denv!)
        assert.equal(r.code, 0, r.stderr)
        placed.push(docker(['inspect', '--format', '{{.Node.Name}}', r.stdout.trim()], denv!).stdout.trim())
      }
      assert.deepEqual([...placed].sort(), ['cl-1', 'cl-h'])
    } finally {
      proc.kill('SIGTERM')
      await exit
    }
  })

  test('a file switching the formed swarm to classic is refused in one line, nothing touched', async () => {
    const switched = path.join(dir, 'switched.yml')
    writeFileSync(switched, MESH_YML.replace('  mesh: wireguard\n  mesh-subnet: 10.214.0.0/24\n', '  mode: classic\n'))
    const r = await berth(['up', '-f', switched], {env})
    assert.notEqual(r.code, 0)
    assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr)
    assert.match(r.stderr, /swarm up14mesh is a swarm-mode swarm \(mhead, mw\), the file says mode: classic: a swarm keeps its mode/)
    assert.equal((JSON.parse((await run(['ls', '--json'])).stdout) as unknown[]).length, names.length)
    assert.equal((await run(['plan', '-f', meshFile])).code, 0)
  })

  test('down of both files leaves no machine, host, router, bridge or lease', async () => {
    const [dm, dc] = await Promise.all([run(['down', '-y', '-f', meshFile]), run(['down', '-y', '-f', classicFile])])
    assert.equal(dm.code, 0, dm.stderr)
    assert.equal(dc.code, 0, dc.stderr)
    assert.deepEqual(JSON.parse((await run(['ls', '--json'])).stdout), [])
    assert.deepEqual(labLeftovers(ids), [])
    assert.deepEqual(networkLeftovers(NET, PUBLIC), [])
    assert.ok(!existsSync(`/sys/class/net/${bridgeName(CLASSIC)}`))
    assert.ok(!existsSync(path.join(env.BERTH_STORAGE_PATH, 'groups', 'up14classic.json')))
  })
})
