/**
 * Lab leases per address space (issue 16). Before the fix, leases were kept per subnet string:
 * 172.30.112.0/25 and 172.30.112.77/24 each got a bridge and a lease folder of their own next to
 * 172.30.112.0/24's, and both handed out 172.30.112.2 a second time. The last host's removal left
 * its lease folder behind.
 */
import {test} from 'node:test'
import assert from 'node:assert/strict'
import {existsSync, mkdtempSync, readdirSync} from 'node:fs'
import {promises as fs} from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import {bridgeName, checkSubnet, leaseIp, maybeRemoveBridge, natPublicAddress, networkBridge, normaliseSubnet, releaseIp, subnetsOverlap} from '../../drivers/lab/network.js'

const tmp = () => mkdtempSync(path.join(os.tmpdir(), 'berth-leases-'))

test('a subnet written with host bits is its network, on the same bridge', () => {
  assert.equal(normaliseSubnet('172.30.112.77/24'), '172.30.112.0/24')
  assert.equal(bridgeName('172.30.112.77/24'), bridgeName('172.30.112.0/24'))
  assert.notEqual(bridgeName('172.30.112.0/25'), bridgeName('172.30.112.0/24'))
  assert.ok(subnetsOverlap('172.30.112.0/24', '172.30.112.128/25'))
  assert.ok(subnetsOverlap('172.30.112.0/25', '172.30.112.0/24'))
  assert.ok(!subnetsOverlap('172.30.112.0/24', '172.30.113.0/24'))
  assert.ok(!subnetsOverlap('172.30.112.0/25', '172.30.112.128/25'))
})

test('an overlapping subnet is refused while the other has hosts; one address is never leased twice', async () => {
  const root = tmp()
  const hosts = tmp()
  const host = async (n: string) => {
    const d = path.join(hosts, n)
    await fs.mkdir(d)
    return d
  }
  const net = '172.30.112.0/24'
  const a = await host('a')
  assert.equal(await leaseIp(net, bridgeName(net), a, root), '172.30.112.2')
  // The same network with host bits: the same leases, the next address.
  const b = await host('b')
  assert.equal(await leaseIp('172.30.112.77/24', bridgeName('172.30.112.77/24'), b, root), '172.30.112.3')
  for (const over of ['172.30.112.0/25', '172.30.112.128/25', '172.30.0.0/16']) {
    await assert.rejects(checkSubnet(over, root), /^UserError: lab subnet .* overlaps 172\.30\.112\.0\/24, .*--lab-subnet 172\.30\.112\.0\/24/)
    await assert.rejects(leaseIp(over, bridgeName(over), await host(`x${over.replace(/\W/g, '')}`), root), /overlaps 172\.30\.112\.0\/24/)
  }
  assert.equal(existsSync(path.join(root, bridgeName('172.30.112.0/25'))), false, 'nothing made for a refused subnet')
  await checkSubnet('172.30.113.0/24', root)
  // Once the last host of the /24 is gone, its network is free and an overlapping one is taken.
  for (const [d, ip] of [[a, '172.30.112.2'], [b, '172.30.112.3']]) {
    await releaseIp({ip, bridge: bridgeName(net), dir: d}, root)
    await fs.rm(d, {recursive: true})
  }
  await maybeRemoveBridge(bridgeName(net), root)
  assert.deepEqual(readdirSync(root).filter(e => e !== '.lock'), [], 'the last host out leaves no lease folder or note')
  const c = await host('c')
  assert.equal(await leaseIp('172.30.112.0/25', bridgeName('172.30.112.0/25'), c, root), '172.30.112.2')
})

test('hosts that crashed do not hold a network: their leases are reclaimed and an overlap is allowed', async () => {
  const root = tmp()
  const gone = path.join(tmp(), 'gone')
  await fs.mkdir(gone)
  await leaseIp('172.30.112.0/24', bridgeName('172.30.112.0/24'), gone, root)
  await fs.rm(gone, {recursive: true})
  await checkSubnet('172.30.112.0/25', root)
  assert.equal(existsSync(path.join(root, bridgeName('172.30.112.0/24'))), false)
})

test('a network behind NAT shows its router\'s public address; a routed one, or one without a router, none', async () => {
  const root = tmp()
  const note = async (name: string, plan: Record<string, unknown>) => {
    const bridge = networkBridge(name)
    await fs.mkdir(path.join(root, `${bridge}.router`), {recursive: true})
    await fs.writeFile(path.join(root, `${bridge}.router`, 'router.json'), JSON.stringify({netns: 'x', inside: '10.0.0.254', prefix: 24, bridge, public: '172.30.99.7', publicPrefix: 24, publicBridge: 'bbrx', ...plan}))
    return bridge
  }
  assert.equal(await natPublicAddress(await note('home', {}), root), '172.30.99.7')
  assert.equal(await natPublicAddress(await note('dc', {routed: true}), root), undefined)
  assert.equal(await natPublicAddress(networkBridge('none'), root), undefined)
})
