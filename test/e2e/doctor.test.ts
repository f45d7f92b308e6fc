/**
 * `berth swarm doctor` and the check before a join (issue 14), on real lab hosts: green on a flat
 * network, a firewall rule named, a head behind a home router refused before anything joins, and
 * the NAT named across the boundary of a swarm with a member behind it.
 */
import {after, before, describe, test} from 'node:test'
import assert from 'node:assert/strict'
import {execFileSync} from 'node:child_process'
import {berth, isRoot, tmpDir} from '../helpers.js'
import {networkBridge} from '../../drivers/lab/network.js'
import {dropTagged} from '../../drivers/lab/nat.js'

const FLAT = '172.30.163.0/24'
const HOME = '172.30.164.0/24'
const PUBLIC = '172.30.165.0/24'
const NAMES = ['f1', 'f2', 'f3', 'head', 'w1', 'pm', 'nh']
const sh = (cmd: string) => execFileSync('sh', ['-c', cmd]).toString()
const routerNs = `berth-rt-${networkBridge('drhome').slice(3)}`

interface Report {ok: boolean; members: Array<{name: string; nat?: string}>; paths: Array<{from: string; to: string; port: number; proto: string; ok: boolean; reason?: string; seenAs?: string}>}

describe('swarm doctor and the check before a join', {skip: !isRoot() && 'needs root', concurrency: false}, () => {
  const env = {BERTH_STORAGE_PATH: tmpDir('drstore'), BERTH_LAB_DIR: tmpDir('drlab'), BERTH_LAB_PUBLIC_SUBNET: PUBLIC, BERTH_LAB_SUBNET: undefined}
  const run = (args: string[]) => berth(args, {env})
  const doctor = async (swarm: string) => {
    const r = await run(['swarm', 'doctor', swarm, '--json'])
    return {code: r.code, report: JSON.parse(r.stdout) as Report, stderr: r.stderr}
  }

  before(async () => {
    const made = await Promise.all([
      run(['create', '--swarm', 'flat', '--lab-subnet', FLAT, 'f1', 'f2', 'f3']),
      run(['create', '--swarm', 'hyb', '--lab-network', 'drhome', '--lab-behind-nat', '--lab-subnet', HOME, 'head']),
    ])
    for (const r of made) assert.equal(r.code, 0, r.stderr)
  })

  after(async () => {
    await run(['rm', '-f', '-y', ...NAMES])
    // Whatever a failed rm would leave of this file's network behind NAT.
    execFileSync('sh', ['-c', `ip netns del ${routerNs} 2>/dev/null; ip link del ${networkBridge('drhome')} 2>/dev/null; true`])
    await dropTagged(networkBridge('drhome'))
  })

  test('a flat network: every port between every pair is green, table and --json', async () => {
    const {code, report} = await doctor('flat')
    assert.equal(code, 0)
    assert.equal(report.ok, true)
    assert.equal(report.paths.length, 3 * 2 * 4)
    assert.ok(report.paths.every(p => p.ok), JSON.stringify(report.paths.filter(p => !p.ok)))
    assert.ok(report.members.every(m => !m.nat))
    const t = await run(['swarm', 'doctor', 'flat'])
    assert.equal(t.code, 0, t.stderr)
    assert.match(t.stdout, /^FROM\s+TO\s+ADDRESS\s+2377\/TCP\s+7946\/TCP\s+7946\/UDP\s+4789\/UDP/)
    assert.equal(t.stdout.trim().split('\n').length, 7)
    assert.doesNotMatch(t.stdout, /BLOCKED/)
  })

  test('a firewall rule on a member is found and named; only the paths it blocks are red', async () => {
    assert.equal((await run(['ssh', 'f2', 'iptables -I INPUT -p udp --dport 4789 -j DROP'])).code, 0)
    try {
      const {code, report} = await doctor('flat')
      assert.equal(code, 1)
      const red = report.paths.filter(p => !p.ok)
      assert.deepEqual(red.map(p => `${p.from}>${p.to}:${p.port}/${p.proto}`).sort(), ['f1>f2:4789/udp', 'f3>f2:4789/udp'])
      for (const p of red) assert.match(p.reason!, /f2's firewall drops it: -A INPUT -p udp -m udp --dport 4789 -j DROP/)
    } finally {
      await run(['ssh', 'f2', 'iptables -D INPUT -p udp --dport 4789 -j DROP'])
    }
  })

  test('a manager behind NAT is refused before anything joins, naming why and the choices', async () => {
    const r = await run(['create', '--swarm', 'hyb', '--lab-subnet', PUBLIC, 'w1'])
    assert.notEqual(r.code, 0)
    const line = r.stderr.trim().split('\n').filter(l => l.startsWith('berth: '))
    assert.equal(line.length, 1, r.stderr)
    assert.match(line[0], /swarm hyb: w1 cannot reach manager head at 172\.30\.164\.\d+ on 2377\/tcp, 7946\/tcp, 7946\/udp, 4789\/udp: head is behind NAT: .*the others see it as 172\.30\.165\.\d+.*nothing joined/)
    assert.match(line[0], /--swarm-mesh wireguard.*classic cluster mode.*a manager the others can reach/)
    const ls = JSON.parse((await run(['ls', '--json'])).stdout) as Array<{name: string}>
    assert.ok(!ls.some(m => m.name === 'w1'))
    const sw = JSON.parse((await run(['swarm', 'inspect', 'hyb'])).stdout) as {nodes: unknown[]}
    assert.equal(sw.nodes.length, 1)
  })

  test('across the boundary: the NAT is named, out is green and seen as the router', async () => {
    assert.equal((await run(['create', '--swarm', 'pubsw', '--lab-subnet', PUBLIC, 'pm'])).code, 0)
    const nh = await run(['create', '--swarm', 'pubsw', '--lab-network', 'drhome', 'nh'])
    assert.equal(nh.code, 0, nh.stderr)
    assert.match(nh.stderr, /pm cannot reach nh on .*nh is behind NAT/)
    const router = sh(`ip -n ${routerNs} -4 -o addr show wan`).split(/\s+/)[3].split('/')[0]
    const {code, report} = await doctor('pubsw')
    assert.equal(code, 1)
    assert.equal(report.members.find(m => m.name === 'nh')!.nat, router)
    const inward = report.paths.filter(p => p.to === 'nh')
    assert.equal(inward.length, 4)
    for (const p of inward) assert.ok(!p.ok && /nh is behind NAT/.test(p.reason!), JSON.stringify(p))
    for (const p of report.paths.filter(p => p.from === 'nh')) assert.ok(p.ok && p.seenAs === router, JSON.stringify(p))
    const t = await run(['swarm', 'doctor', 'pubsw'])
    assert.equal(t.code, 1)
    assert.match(t.stdout, new RegExp(`NAT: nh sees itself as 172\\.30\\.164\\.\\d+, the others see it as ${router.replace(/\./g, '\\.')}`))
    assert.match(t.stdout, /pm\s+nh\s+172\.30\.164\.\d+\s+BLOCKED\s+BLOCKED\s+BLOCKED\s+BLOCKED/)
    assert.match(t.stderr, /4 of 8 paths blocked/)
  })

  test('rm leaves no router, rule or bridge', async () => {
    const r = await run(['rm', '-f', '-y', ...NAMES.filter(n => n !== 'w1')])
    assert.equal(r.code, 0, r.stderr)
    assert.doesNotMatch(sh('ip netns list'), new RegExp(routerNs))
    assert.doesNotMatch(sh('iptables-save'), new RegExp(networkBridge('drhome')))
    assert.doesNotMatch(sh('ip -o link'), new RegExp(networkBridge('drhome').slice(3)))
  })
})
