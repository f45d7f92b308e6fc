/**
 * Addresses and loopback ports for VMs that run on this host: each machine leases an address on
 * the network its driver's VMs share (static, given by cloud-init) and two free loopback ports
 * for forwarded SSH and engine. Leases live in the driver's folder of the store (`driverDir`),
 * under a lock, so parallel creates never share an address or a port.
 */
import {promises as fs} from 'node:fs'
import net from 'node:net'
import path from 'node:path'
import {acquireLock, ipNumber, maskOf, mkdirPrivate, parseCidr, UserError, writeFileAtomic} from '../core/index.js'
import {ipString} from '../core/index.js'

export interface Subnet {
  base: number
  prefix: number
}

/** An IPv4 network given to --flag, its base masked; prefixes /16 to maxPrefix (default /29). */
export function parseSubnet(cidr: string, flag: string, opts: {maxPrefix?: number; example?: string} = {}): Subnet {
  const max = opts.maxPrefix ?? 29
  const c = parseCidr(cidr)
  if (!c || c.v6 || c.prefix < 16 || c.prefix > max) throw new UserError(`bad --${flag} "${cidr}": use an IPv4 network like ${opts.example ?? '192.168.76.0/24'} (prefix /16 to /${max})`)
  return {base: (ipNumber(c.ip) & maskOf(c.prefix)) >>> 0, prefix: c.prefix}
}

export interface Lease {
  dir: string
  address: string
  sshPort: number
  enginePort: number
}

type Leases = Record<string, Lease>

async function withLeases<T>(dir: string, fn: (leases: Leases) => Promise<T> | T): Promise<T> {
  await mkdirPrivate(dir)
  const lock = await acquireLock(path.join(dir, 'leases.lock'), {what: `${path.basename(dir)} address leases`})
  try {
    const file = path.join(dir, 'leases.json')
    const leases: Leases = JSON.parse(await fs.readFile(file, 'utf8').catch(() => '{}'))
    // Machines removed without their driver (rm -f of a broken record) leave leases behind.
    for (const [id, l] of Object.entries(leases)) {
      if (!(await fs.stat(l.dir).then(() => true, () => false))) delete leases[id]
    }
    const before = JSON.stringify(leases)
    const out = await fn(leases)
    if (JSON.stringify(leases) !== before) await writeFileAtomic(file, JSON.stringify(leases, null, 2) + '\n')
    return out
  } finally {
    await lock.release()
  }
}

/** A port free on 127.0.0.1 right now (QEMU binds it moments later; a lost race is retried). */
export function freePort(avoid: Set<number> = new Set()): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer()
    s.unref()
    s.on('error', reject)
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as net.AddressInfo).port
      s.close(() => (avoid.has(port) ? freePort(avoid).then(resolve, reject) : resolve(port)))
    })
  })
}

/** Lease an address on the segment and two loopback ports for a machine. */
export async function lease(driverDir: string, machineId: string, machineDir: string, subnet: string, opts: {flag: string}): Promise<Lease> {
  const sn = parseSubnet(subnet, opts.flag)
  return withLeases(driverDir, async leases => {
    if (leases[machineId]) return leases[machineId]
    const used = new Set(Object.values(leases).map(l => l.address.split('/')[0]))
    const size = 2 ** (32 - sn.prefix)
    // .1 is left for a host-side gateway, should anyone add one; the last is broadcast.
    let address: string | undefined
    for (let i = 2; i < size - 1; i++) {
      const a = ipString(sn.base + i)
      if (!used.has(a)) {
        address = a
        break
      }
    }
    if (!address) throw new UserError(`no free address left in ${subnet} for another VM: remove a machine or use another --${opts.flag}`)
    const ports = new Set(Object.values(leases).flatMap(l => [l.sshPort, l.enginePort]))
    const sshPort = await freePort(ports)
    ports.add(sshPort)
    const enginePort = await freePort(ports)
    leases[machineId] = {dir: machineDir, address: `${address}/${sn.prefix}`, sshPort, enginePort}
    return leases[machineId]
  })
}

/** New loopback ports for a machine whose old ones were taken by something else. */
export async function reassignPorts(driverDir: string, machineId: string): Promise<Lease> {
  return withLeases(driverDir, async leases => {
    const l = leases[machineId]
    if (!l) throw new Error(`no lease for machine ${machineId}`)
    const ports = new Set(Object.values(leases).flatMap(x => [x.sshPort, x.enginePort]))
    l.sshPort = await freePort(ports)
    ports.add(l.sshPort)
    l.enginePort = await freePort(ports)
    return l
  })
}

export async function release(driverDir: string, machineId: string): Promise<void> {
  await withLeases(driverDir, leases => {
    delete leases[machineId]
  })
}
