/**
 * An emulated WAN between lab networks (issue 14), with real packets through the userspace wire
 * (drivers/lab/wan.ts; this kernel has no sch_netem): 75 ms each way is ~150 ms of ping, 0.5 % each
 * way is ~1 % of pings lost, a network behind NAT keeps its NAT across its own WAN, and a swarm
 * formed across the WAN (manager in one network, workers in another) runs a service on every member
 * with every path of `swarm doctor` green. Everything made here is checked gone at the end.
 */
import {after, before, describe, test} from 'node:test'
import assert from 'node:assert/strict'
import {execFileSync} from 'node:child_process'
import {readFileSync} from 'node:fs'
import {berth, busyboxTar, docker, dockerEnv, isRoot, sleep, tmpDir} from '../helpers.js'
import {networkBridge} from '../../drivers/lab/network.js'
import {dropTagged} from '../../drivers/lab/nat.js'

const PUBLIC = '172.30.225.0/24'
const DC = '172.30.226.0/24'
const CLOUD = '172.30.227.0/24'
const HOME = '172.30.228.0/24'
const NETS = ['wandc', 'wancloud', 'wanhome']
const NAMES = ['m1', 'w1', 'w2', 'h1', 'bad0', 'bad1', 'bad2', 'bad3', 'bad4', 'bad5']

const sh = (cmd: string) => execFileSync('sh', ['-c', cmd]).toString()
const id = (net: string) => networkBridge(net).slice(3)
const routerNote = (net: string) => JSON.parse(readFileSync(`/var/lib/berth-lab/leases/${networkBridge(net)}.router/router.json`, 'utf8')) as {public: string; wire?: {pid: number}}
/** What this file's networks would leave in the box: namespaces, links, tagged rules, wire processes. */
const leftovers = (nets: string[], pids: number[]) => [
  ...sh('ip netns list').split('\n').filter(l => nets.some(n => l.includes(`berth-rt-${id(n)}`))),
  ...sh('ip -o link').split('\n').filter(l => nets.some(n => l.includes(id(n)))),
  ...sh('iptables-save').split('\n').filter(l => nets.some(n => l.includes(networkBridge(n)))),
  ...pids.filter(p => sh(`cat /proc/${p}/cmdline 2>/dev/null | tr '\\0' ' '`).includes('berth-lab-wan')).map(p => `wire ${p}`),
]

interface Ping {sent: number; received: number; min: number; avg: number}
function parsePing(out: string): Ping {
  const c = /(\d+) packets transmitted, (\d+) packets received/.exec(out)
  const t = /min\/avg\/max = ([\d.]+)\/([\d.]+)\//.exec(out)
  assert.ok(c && t, out)
  return {sent: Number(c[1]), received: Number(c[2]), min: Number(t[1]), avg: Number(t[2])}
}

describe('an emulated WAN between lab networks', {skip: !isRoot() && 'needs root', concurrency: false}, () => {
  const env = {BERTH_STORAGE_PATH: tmpDir('wanstore'), BERTH_LAB_DIR: tmpDir('wanlab'), BERTH_LAB_PUBLIC_SUBNET: PUBLIC, BERTH_LAB_SUBNET: ''}
  const run = (args: string[]) => berth(args, {env})
  const ssh = async (host: string, cmd: string) => (await run(['ssh', host, cmd])).stdout
  const ipOf = async (host: string) => (await run(['ip', host])).stdout.trim()
  const ping = async (from: string, to: string, count: number, interval: number) => parsePing(await ssh(from, `busybox ping -q -c ${count} -i ${interval} ${await ipOf(to)}`))
  const wires: number[] = []

  before(async () => {
    const made = await Promise.all([
      // A data centre on the WAN with no delay of its own (a routed network), the cloud 75 ms away.
      run(['create', '--lab-network', 'wandc', '--lab-wan-delay', '0ms', '--lab-subnet', DC, 'm1']),
      run(['create', '--lab-network', 'wancloud', '--lab-wan-delay', '75ms', '--lab-wan-loss', '0.5%', '--lab-subnet', CLOUD, 'w1']),
      run(['create', '--lab-network', 'wanhome', '--lab-behind-nat', '--lab-wan-delay', '20ms', '--lab-wan-jitter', '2ms', '--lab-subnet', HOME, 'h1']),
    ])
    for (const r of made) assert.equal(r.code, 0, r.stderr)
    // A later host joins by name alone: it gets the network's WAN and its router as its gateway.
    const w2 = await run(['create', '--lab-network', 'wancloud', 'w2'])
    assert.equal(w2.code, 0, w2.stderr)
    for (const n of ['wancloud', 'wanhome']) wires.push(routerNote(n).wire!.pid)
  })

  after(async () => {
    await run(['rm', '-f', '-y', ...NAMES])
    // Only a wire that is still this file's (a PID may have been reused since).
    for (const p of leftovers([], wires)) process.kill(Number(p.split(' ')[1]), 'SIGKILL')
    execFileSync('sh', ['-c', NETS.map(n => `ip netns del berth-rt-${id(n)} 2>/dev/null; for l in bwa bwb bwl ${networkBridge(n).slice(0, 3)}; do ip link del $l${id(n)} 2>/dev/null; done;`).join(' ') + ' true'])
    for (const n of NETS) await dropTagged(networkBridge(n))
  })

  test('75 ms each way is ~150 ms of ping, 0.5 % each way ~1 % lost; inside a network nothing waits', async () => {
    const [wan, inside, home, across, direct] = await Promise.all([
      ping('w1', 'm1', 1500, 0.005), ping('w1', 'w2', 100, 0.01), ping('h1', 'm1', 100, 0.02), ping('h1', 'w1', 100, 0.02), ping('m1', 'w1', 5, 0.2),
    ])
    const lost = 1 - wan.received / wan.sent
    // The floor is exact; above it a busy box adds its scheduling delay (the wire is a user process).
    assert.ok(wan.min >= 149.5 && wan.min < 153 && wan.avg < 180, `WAN round trip ${wan.min}/${wan.avg} ms`)
    assert.ok(lost > 0.002 && lost < 0.03, `WAN loss ${(lost * 100).toFixed(2)} %`)
    assert.ok(inside.avg < 10 && inside.received === inside.sent, `inside ${JSON.stringify(inside)}`)
    assert.match(await ssh('w2', 'ip route show default'), /^default via 172\.30\.227\.254 /)
    // Behind NAT, 20 ± 2 ms each way: 36-44 ms to the data centre, and both WANs (95 ms each way) to the cloud.
    assert.ok(home.min >= 35.5 && home.min < 42 && home.avg < 80, `home to dc ${JSON.stringify(home)}`)
    assert.ok(across.min >= 185.5 && across.min < 195 && across.avg < 280, `home to cloud ${JSON.stringify(across)}`)
    assert.ok(direct.received >= 3 && direct.min >= 149.5, `dc to cloud ${JSON.stringify(direct)}`)
    console.log(`# WAN ping: ${wan.sent} sent, ${(lost * 100).toFixed(2)} % lost, min/avg ${wan.min}/${wan.avg} ms; home->dc ${home.avg} ms, home->cloud ${across.avg} ms`)
  })

  test('behind NAT across its WAN, the others still see the router\'s address, and nothing gets in', async () => {
    const server = `perl -MIO::Socket::INET -e 'alarm 20; $s=IO::Socket::INET->new(LocalPort=>9300,Listen=>1,ReuseAddr=>1) or die; $c=$s->accept; print $c $c->peerhost, qq(\\n)'`
    const served = ssh('m1', server)
    await sleep(1500)
    assert.equal((await ssh('h1', `cat </dev/tcp/${await ipOf('m1')}/9300`)).trim(), routerNote('wanhome').public)
    await served
    assert.equal((await ssh('m1', `timeout 3 bash -c '</dev/tcp/${await ipOf('h1')}/22' 2>/dev/null && echo open || echo closed`)).trim(), 'closed')
  })

  test('a swarm across the WAN: formed, a service on every member, every doctor path green', async () => {
    const t0 = Date.now()
    const init = await run(['swarm', 'init', 'm1', '--name', 'wan'])
    assert.equal(init.code, 0, init.stderr)
    const join = await run(['swarm', 'join', 'wan', 'w1', 'w2'])
    assert.equal(join.code, 0, join.stderr)
    const formed = Date.now() - t0
    const sw = JSON.parse((await run(['swarm', 'ls', '--json'])).stdout) as Array<{managers: string[]; workers: string[]}>
    assert.deepEqual([sw[0].managers, sw[0].workers], [['m1'], ['w1', 'w2']])

    const image = busyboxTar()
    for (const n of ['m1', 'w1', 'w2']) assert.equal(docker(['import', '-', 'bb:wan'], await dockerEnv(n, env), image).code, 0)
    const denv = await dockerEnv('m1', env)
    assert.equal(docker(['service', 'create', '--no-resolve-image', '--detach', '--name', 'g', '--mode', 'global', '--stop-grace-period', '1s', 'bb:wan', 'sleep', '100000'], denv).code, 0)
    const running = () => docker(['service', 'ps', 'g', '--filter', 'desired-state=running', '--format', '{{.Node}} {{.CurrentState}}'], denv).stdout
      .split('\n').filter(l => / Running /.test(l)).map(l => l.split(' ')[0]).sort()
    for (let i = 0; i < 120 && running().length < 3; i++) await sleep(1000)
    assert.deepEqual(running(), ['m1', 'w1', 'w2'])

    const d = await run(['swarm', 'doctor', 'wan', '--json'])
    assert.equal(d.code, 0, d.stdout + d.stderr)
    const report = JSON.parse(d.stdout) as {ok: boolean; paths: Array<{ok: boolean}>}
    assert.equal(report.paths.length, 3 * 2 * 4)
    assert.ok(report.ok && report.paths.every(p => p.ok), d.stdout)
    console.log(`# swarm of 3 across the WAN formed in ${(formed / 1000).toFixed(1)} s`)
  })

  test('bad WAN options are refused with one line and leave nothing', async () => {
    const cases: Array<[string[], RegExp]> = [
      [['--lab-wan-delay', '75ms', '--lab-subnet', '172.30.229.0/24'], /--lab-wan-delay.*--lab-network NAME/],
      [['--lab-network', 'wanx', '--lab-wan-delay', 'soon', '--lab-subnet', '172.30.229.0/24'], /bad --lab-wan-delay "soon"/],
      [['--lab-network', 'wanx', '--lab-wan-loss', '150%', '--lab-subnet', '172.30.229.0/24'], /bad --lab-wan-loss "150%"/],
      [['--lab-network', 'wanx', '--lab-wan-delay', '5ms', '--lab-wan-jitter', '10ms', '--lab-subnet', '172.30.229.0/24'], /jitter 10ms is more than --lab-wan-delay 5ms/],
      [['--lab-network', 'wancloud', '--lab-wan-delay', '10ms'], /lab network wancloud's WAN is 75 ms each way, 0\.5 % loss each way/],
      [['--lab-network', 'wancloud', '--lab-nat'], /--lab-nat .*--lab-wan/],
    ]
    const results = await Promise.all(cases.map(([args], i) => run(['create', ...args, `bad${i}`])))
    for (const [i, [args, re]] of cases.entries()) {
      const r = results[i]
      assert.notEqual(r.code, 0, args.join(' '))
      assert.match(r.stderr, re)
      assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr)
    }
    const ls = JSON.parse((await run(['ls', '--json'])).stdout) as Array<{name: string}>
    assert.deepEqual(ls.map(m => m.name).sort(), ['h1', 'm1', 'w1', 'w2'])
  })

  test('rm of the last hosts stops the wires by PID and removes routers, links, routes and rules', async () => {
    assert.equal(wires.length, 2)
    const homeRoutes = () => sh(`ip -n berth-rt-${id('wanhome')} route`)
    assert.match(homeRoutes(), new RegExp(`^${CLOUD.replace(/\./g, '\\.')} via `, 'm'))
    const cloud = await run(['rm', '-f', '-y', 'w1', 'w2'])
    assert.equal(cloud.code, 0, cloud.stderr)
    // The cloud's wire is gone and no router routes to it any more; the home's wire still runs.
    assert.doesNotMatch(homeRoutes(), new RegExp(CLOUD.replace(/\./g, '\\.')))
    assert.deepEqual(leftovers(['wancloud'], [wires[0]]), [])
    assert.match(sh(`cat /proc/${wires[1]}/cmdline | tr '\\0' ' '`), /berth-lab-wan/)
    const r = await run(['rm', '-f', '-y', 'm1', 'h1'])
    assert.equal(r.code, 0, r.stderr)
    assert.deepEqual(leftovers(NETS, wires), [])
  })
})
