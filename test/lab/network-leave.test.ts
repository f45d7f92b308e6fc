/**
 * The last lab host out of a NAT'd network takes its router, bridges and leases (real namespaces
 * and bridges). Before leaveNetwork, a host released its lease, removed its folder and then,
 * separately, looked for other leases: a folder that would not go (a mount left in it) ended the
 * removal before that look, and the network's router stayed for good. Parallel removals decide
 * "last one out" under the leases lock.
 */
import {after, test} from 'node:test'
import assert from 'node:assert/strict'
import {execFileSync} from 'node:child_process'
import {existsSync, mkdirSync, mkdtempSync} from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import {bridgeName, joinNetwork, networkBridge, normaliseSubnet} from '../../drivers/lab/network.js'
import {destroyHost, type LabHost} from '../../drivers/lab/host.js'
import {dropTagged} from '../../drivers/lab/nat.js'
import {isRoot} from '../helpers.js'

const HOME = '172.30.245.0/25'
const PUBLIC = '172.30.245.128/25'
const NET = 'up14leave'
const LEASES = '/var/lib/berth-lab/leases'
const bridge = networkBridge(NET)
const routerNs = `berth-rt-${bridge.slice(3)}`
const sh = (cmd: string) => execFileSync('sh', ['-c', cmd]).toString()
/** What a failed run would leave of a bridge besides the link: its own FORWARD accept rule. */
const dropForward = (b: string) => sh(`while iptables -D FORWARD -i ${b} -o ${b} -j ACCEPT 2>/dev/null; do :; done; true`)
const skip = !isRoot() && 'needs root'

function leftovers(): string[] {
  const left: string[] = []
  if (sh('ip netns list').split('\n').some(l => l.split(' ')[0] === routerNs)) left.push(`netns ${routerNs}`)
  for (const b of [bridge, bridgeName(PUBLIC)]) {
    if (existsSync(`/sys/class/net/${b}`)) left.push(`bridge ${b}`)
    if (existsSync(path.join(LEASES, b))) left.push(`leases ${b}`)
  }
  for (const f of ['router', 'net', 'name']) if (existsSync(path.join(LEASES, `${bridge}.${f}`))) left.push(`${bridge}.${f}`)
  return left
}

/** A host as far as the network knows it: a folder owning a lease on the NAT'd network (no processes). */
async function host(root: string, n: number): Promise<LabHost> {
  const id = `fe${n.toString(16).padStart(4, '0')}${Date.now().toString(16)}`
  const dir = path.join(root, id)
  mkdirSync(dir)
  const h: LabHost = {id, hostname: `h${n}`, ip: '', subnet: normaliseSubnet(HOME), bridge, dir, netns: `berth-${id}`, veth: `bl${id.slice(0, 12)}`, initPid: 0, initStart: 0, net: {name: NET, behindNat: PUBLIC}}
  const lease = await joinNetwork({subnet: HOME, bridge, dir, net: h.net})
  h.ip = lease.ip
  return h
}

after(async () => {
  sh(`ip netns del ${routerNs} 2>/dev/null; ip link del ${bridge} 2>/dev/null; ip link del ${bridgeName(PUBLIC)} 2>/dev/null; true`)
  for (const b of [bridge, bridgeName(PUBLIC)]) {
    dropForward(b)
    await dropTagged(b)
  }
})

test('parallel removal of every host of a NAT\'d network leaves no router, bridge or lease, round after round', {skip}, async () => {
  const root = mkdtempSync(path.join(os.tmpdir(), 'berth-leave-'))
  for (let round = 0; round < 4; round++) {
    const hosts = await Promise.all([1, 2, 3].map(n => host(root, round * 10 + n)))
    assert.ok(leftovers().includes(`netns ${routerNs}`), 'the network has its router')
    await Promise.all(hosts.map(h => destroyHost(h)))
    assert.deepEqual(leftovers(), [], `round ${round}`)
  }
})

test('the last host out takes the network even when its folder will not go', {skip}, async () => {
  const root = mkdtempSync(path.join(os.tmpdir(), 'berth-leave-'))
  const [a, b] = [await host(root, 1), await host(root, 2)]
  await destroyHost(b)
  assert.ok(leftovers().includes(`netns ${routerNs}`), 'a host is still on the network')
  // A mount point in the folder: rmdir says EBUSY, as a host's dead mount left behind would.
  mkdirSync(path.join(a.dir, 'stuck'))
  sh(`mount -t tmpfs up14 ${path.join(a.dir, 'stuck')}`)
  try {
    await assert.rejects(destroyHost(a), /EBUSY|busy/)
    assert.deepEqual(leftovers(), [])
  } finally {
    sh(`umount ${path.join(a.dir, 'stuck')}`)
  }
  await destroyHost(a)
  assert.ok(!existsSync(a.dir))
  assert.deepEqual(leftovers(), [])
})
