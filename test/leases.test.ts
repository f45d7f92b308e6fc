import {test} from 'node:test'
import assert from 'node:assert/strict'
import {mkdirSync, readFileSync, rmSync} from 'node:fs'
import net from 'node:net'
import path from 'node:path'
import {freePort, lease, parseSubnet, release} from '../src/sdk/leases.js'
import {tmpDir} from './helpers.js'

test('parseSubnet takes /16../29 IPv4 networks and normalises the base', () => {
  assert.deepEqual(parseSubnet('192.168.76.0/24', 'qemu-subnet'), {base: 0xc0a84c00, prefix: 24})
  assert.deepEqual(parseSubnet('10.1.2.77/24', 'qemu-subnet'), {base: 0x0a010200, prefix: 24})
  for (const bad of ['10.0.0.0/8', '192.168.76.0', '300.1.1.1/24', 'x/24', '192.168.1.0/30']) assert.throws(() => parseSubnet(bad, 'qemu-subnet'), /--qemu-subnet/)
})

test('leases: addresses from .2 up, reused after release, pruned when a machine folder vanished', async () => {
  const root = tmpDir('lease')
  const dir = (n: string) => {
    const d = path.join(root, 'machines', n)
    mkdirSync(d, {recursive: true})
    return d
  }
  const sn = '192.168.80.0/29'
  const pool = path.join(root, 'qemu')
  const opts = {flag: 'qemu-subnet'}
  const a = await lease(pool, 'a', dir('a'), sn, opts)
  const b = await lease(pool, 'b', dir('b'), sn, opts)
  assert.equal(a.address, '192.168.80.2/29')
  assert.equal(b.address, '192.168.80.3/29')
  assert.deepEqual(await lease(pool, 'a', dir('a'), sn, opts), a, 'a lease is stable')
  await release(pool, 'a')
  assert.equal((await lease(pool, 'c', dir('c'), sn, opts)).address, '192.168.80.2/29')
  rmSync(path.join(root, 'machines', 'b'), {recursive: true})
  assert.equal((await lease(pool, 'd', dir('d'), sn, opts)).address, '192.168.80.3/29')
  await lease(pool, 'e', dir('e'), sn, opts)
  await lease(pool, 'f', dir('f'), sn, opts)
  await lease(pool, 'g', dir('g'), sn, opts)
  await assert.rejects(lease(pool, 'h', dir('h'), sn, opts), /no free address left in 192\.168\.80\.0\/29/)
  const leases = JSON.parse(readFileSync(path.join(root, 'qemu', 'leases.json'), 'utf8'))
  assert.deepEqual(Object.keys(leases).sort(), ['c', 'd', 'e', 'f', 'g'])
})

test('freePort gives a port nobody listens on, never one of the avoided', async () => {
  const p = await freePort()
  await new Promise<void>((resolve, reject) => {
    const s = net.createServer().listen(p, '127.0.0.1', () => s.close(() => resolve()))
    s.on('error', reject)
  })
  const avoid = new Set<number>()
  for (let i = 0; i < 20; i++) avoid.add(await freePort(avoid))
  assert.equal(avoid.size, 20)
})
