/**
 * Lab networks (issue 14) and --lab-nat (issue 13), on real hosts and real packets: a named
 * network behind a home router (MASQUERADE out, nothing in, from a plain host on the shared
 * "internet" or from another network behind NAT), and a host going out through this box to a
 * server that has no route back to it. Everything made here is checked gone at the end.
 */
import {after, before, describe, test} from 'node:test'
import assert from 'node:assert/strict'
import {execFileSync} from 'node:child_process'
import {berth, isRoot, sleep, tmpDir} from '../helpers.js'
import {bridgeName, networkBridge} from '../../drivers/lab/network.js'
import {dropTagged} from '../../drivers/lab/nat.js'

const PUBLIC = '172.30.160.0/24'
const HOME = '172.30.161.0/24'
const OFFICE = '172.30.162.0/24'
const NATTED = '172.30.157.0/24'
const PLAIN = '172.30.158.0/24'
const SERVER_NS = 'bnt-srv168'
const NAMES = ['pub1', 'h1', 'h2', 'o1', 'n1', 'p2', 'bad', 'bad2']

const sh = (cmd: string) => execFileSync('sh', ['-c', cmd]).toString()
const routerNs = (network: string) => `berth-rt-${networkBridge(network).slice(3)}`
const publicIp = (network: string) => sh(`ip -n ${routerNs(network)} -4 -o addr show wan`).split(/\s+/)[3].split('/')[0]
/** What this test leaves in the box's namespace: a tag per bridge it made, namespaces, links. */
const leftovers = () => [
  ...sh('ip netns list').split('\n').filter(l => l.includes(routerNs('home')) || l.includes(routerNs('office')) || l.includes(SERVER_NS)),
  ...sh('iptables-save').split('\n').filter(l => /berth-lab-bbn|berth-lab-bbr/.test(l) && [networkBridge('home'), networkBridge('office')].some(b => l.includes(b))),
  ...sh('ip -o link').split('\n').filter(l => [networkBridge('home'), networkBridge('office')].some(b => l.includes(b.slice(3)))),
]

describe('lab networks, behind NAT, and --lab-nat', {skip: !isRoot() && 'needs root', concurrency: false}, () => {
  const env = {BERTH_STORAGE_PATH: tmpDir('nwstore'), BERTH_LAB_DIR: tmpDir('nwlab'), BERTH_LAB_PUBLIC_SUBNET: PUBLIC, BERTH_LAB_SUBNET: undefined}
  const run = (args: string[]) => berth(args, {env})
  const ssh = async (host: string, cmd: string) => (await run(['ssh', host, cmd])).stdout.trim()
  const ipOf = async (host: string) => (await run(['ip', host])).stdout.trim()
  /** A one-shot TCP server on a host that tells its client the address it came from. */
  const serve = (host: string, port: number) => {
    void run(['ssh', host, `perl -MIO::Socket::INET -e 'alarm 20; $s=IO::Socket::INET->new(LocalPort=>${port},Listen=>1,ReuseAddr=>1) or die; $c=$s->accept; print $c $c->peerhost, qq(\\n)'`])
    return sleep(1500)
  }
  const tcp = (host: string, ip: string, port: number) => ssh(host, `timeout 3 bash -c '</dev/tcp/${ip}/${port}' 2>/dev/null && echo open || echo closed`)
  let forwarding = ''

  before(async () => {
    forwarding = sh('cat /proc/sys/net/ipv4/ip_forward')
    const made = await Promise.all([
      run(['create', '--lab-subnet', PUBLIC, 'pub1']),
      run(['create', '--lab-network', 'home', '--lab-behind-nat', '--lab-subnet', HOME, 'h1']),
      run(['create', '--lab-network', 'office', '--lab-behind-nat', '--lab-subnet', OFFICE, 'o1']),
      run(['create', '--lab-nat', '--lab-subnet', NATTED, 'n1']),
      run(['create', '--lab-subnet', PLAIN, 'p2']),
    ])
    for (const r of made) assert.equal(r.code, 0, r.stderr)
    // Joined by name alone: the network keeps the subnet its first host gave it.
    const h2 = await run(['create', '--lab-network', 'home', 'h2'])
    assert.equal(h2.code, 0, h2.stderr)
    // A second network of this box, with no route to any lab subnet: only NAT can get an answer back.
    sh(`ip netns add ${SERVER_NS}; ip link add bnt168 type veth peer name eth0 netns ${SERVER_NS}; ip addr add 172.30.168.1/24 dev bnt168; ip link set bnt168 up;` +
      `ip -n ${SERVER_NS} addr add 172.30.168.2/24 dev eth0; ip -n ${SERVER_NS} link set eth0 up; ip -n ${SERVER_NS} link set lo up`)
  })

  after(async () => {
    await run(['rm', '-f', '-y', ...NAMES])
    execFileSync('sh', ['-c', `ip netns del ${SERVER_NS} 2>/dev/null; ip link del bnt168 2>/dev/null; true`])
    // Whatever a failed rm would leave of this file's networks: routers, bridges, tagged rules.
    const bridges = [networkBridge('home'), networkBridge('office'), bridgeName(NATTED), bridgeName(PLAIN), bridgeName(PUBLIC)]
    execFileSync('sh', ['-c', `for n in ${routerNs('home')} ${routerNs('office')}; do ip netns del $n 2>/dev/null; done; for b in ${bridges.slice(0, 2).join(' ')}; do ip link del $b 2>/dev/null; done; true`])
    for (const b of bridges) await dropTagged(b)
  })

  test('a named network has its own subnet and bridge; its hosts reach each other, their gateway is the router', async () => {
    assert.match(await ipOf('h1'), /^172\.30\.161\./)
    assert.match(await ipOf('h2'), /^172\.30\.161\./)
    assert.match(sh(`ip -o link show master ${networkBridge('home')}`), /bl/)
    assert.equal(await tcp('h1', await ipOf('h2'), 22), 'open')
    assert.match(await ssh('h2', 'ip route show default'), /^default via 172\.30\.161\.254 /)
    assert.equal(await ssh('p2', 'ip route show default'), '')
  })

  test('behind NAT, hosts go out with their router\'s public address', async () => {
    await serve('pub1', 9100)
    const home = publicIp('home')
    assert.match(home, /^172\.30\.160\./)
    assert.equal(await ssh('h1', 'cat </dev/tcp/' + await ipOf('pub1') + '/9100'), home)
    await serve('pub1', 9101)
    assert.equal(await ssh('o1', 'cat </dev/tcp/' + await ipOf('pub1') + '/9101'), publicIp('office'))
  })

  test('nothing gets into a network behind NAT from another network, even with a route to it', async () => {
    const h1 = await ipOf('h1')
    // A hostile neighbour on the "internet" routes the private subnet at the router: the router drops it.
    await ssh('pub1', `ip route add ${HOME} via ${publicIp('home')}`)
    const home = publicIp('home')
    // pub1 and o1 from the "internet" and another home; n1 (--lab-nat) through this box, which forwards: its guard drops it.
    const tries = await Promise.all([tcp('pub1', h1, 22), tcp('pub1', home, 22), tcp('o1', h1, 22), tcp('o1', home, 22), tcp('n1', h1, 22)])
    assert.deepEqual(tries, ['closed', 'closed', 'closed', 'closed', 'closed'])
    // The control: the same probe from inside the network gets through.
    assert.equal(await tcp('h2', h1, 22), 'open')
    // The box itself is inside (the user's workstation): it reaches the hosts, as berth must.
    assert.equal((await run(['ssh', 'h1', 'true'])).code, 0)
  })

  test('--lab-nat: out through this box to a network with no route back; the server sees the box', async () => {
    assert.doesNotMatch(sh(`ip -n ${SERVER_NS} route`), /default|172\.30\.157/)
    const server = `timeout 20 ip netns exec ${SERVER_NS} perl -MIO::Socket::INET -e '$s=IO::Socket::INET->new(LocalAddr=>"172.30.168.2",LocalPort=>9200,Listen=>1,ReuseAddr=>1) or die; $c=$s->accept; print $c $c->peerhost, qq(\\n)'`
    const child = execFileSync('sh', ['-c', `(${server}) >/dev/null 2>&1 & echo $!`]).toString().trim()
    try {
      await sleep(1000)
      assert.match(await ssh('n1', 'ip route show default'), /^default via 172\.30\.157\.1 /)
      assert.equal(await ssh('n1', 'cat </dev/tcp/172.30.168.2/9200'), '172.30.168.1')
      assert.equal(await tcp('p2', '172.30.168.2', 9200), 'closed')
    } finally {
      try {
        process.kill(Number(child))
      } catch { /* done */ }
    }
  })

  test('bad networks are refused with one line and leave nothing', async () => {
    const cases: Array<[string[], RegExp]> = [
      [['--lab-network', 'other', '--lab-subnet', '172.30.161.128/25', 'bad'], /overlaps 172\.30\.161\.0\/24, which lab hosts are using on network home .*--lab-network home/],
      [['--lab-network', 'home', '--lab-subnet', '172.30.166.0/24', 'bad'], /lab network home is on 172\.30\.161\.0\/24, not 172\.30\.166\.0\/24/],
      [['--lab-behind-nat', '--lab-subnet', '172.30.166.0/24', 'bad'], /--lab-behind-nat .* --lab-network NAME/],
      [['--lab-network', 'home', '--lab-nat', 'bad'], /--lab-nat .*--lab-behind-nat/],
      [['--lab-network', 'x1', '--lab-behind-nat', '--lab-subnet', '172.30.160.0/24', 'bad2'], /share addresses/],
    ]
    for (const [args, re] of cases) {
      const r = await run(['create', ...args])
      assert.notEqual(r.code, 0, args.join(' '))
      assert.match(r.stderr, re)
      assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr)
    }
    const ls = JSON.parse((await run(['ls', '--json'])).stdout) as Array<{name: string}>
    assert.deepEqual(ls.map(m => m.name).sort(), ['h1', 'h2', 'n1', 'o1', 'p2', 'pub1'])
  })

  test('rm of the last hosts removes routers, bridges, rules and forwarding it turned on', async () => {
    const r = await run(['rm', '-y', 'pub1', 'h1', 'h2', 'o1', 'n1', 'p2'])
    assert.equal(r.code, 0, r.stderr)
    execFileSync('sh', ['-c', `ip netns del ${SERVER_NS}; ip link del bnt168 2>/dev/null; true`])
    assert.deepEqual(leftovers(), [])
    assert.deepEqual(sh('iptables-save').split('\n').filter(l => l.includes(bridgeName(NATTED)) || l.includes(NATTED)), [])
    assert.equal(sh('cat /proc/sys/net/ipv4/ip_forward'), forwarding)
  })
})
