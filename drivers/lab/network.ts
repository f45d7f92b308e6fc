/**
 * The lab's network: one bridge per subnet on this host, shared by every host on it, and the
 * addresses on it, leased as files so that no two hosts (of any store) get one IP.
 */
import {createHash} from 'node:crypto'
import {promises as fs} from 'node:fs'
import path from 'node:path'
import {acquireLock, ipString, parseSubnet as parseNetwork, UserError} from '../../src/sdk/index.js'
import {execFileP, run} from './run.js'

export const DEFAULT_SUBNET = '172.30.77.0/24'
/** Leases are global per bridge, whatever the host root, so two stores never share an IP. */
const LEASES = '/var/lib/berth-lab/leases'

export const parseSubnet = (subnet: string) => parseNetwork(subnet, 'lab-subnet', {maxPrefix: 28, example: DEFAULT_SUBNET})

export const ipAt = (subnet: string, n: number) => ipString((parseSubnet(subnet).base + n) >>> 0)

export function bridgeName(subnet: string): string {
  return 'bbr' + createHash('sha1').update(subnet).digest('hex').slice(0, 8)
}

/** Claim a free address: each lease is a file made with O_EXCL, so no two hosts get one IP. */
export async function leaseIp(subnet: string, bridge: string, dir: string): Promise<string> {
  const {prefix} = parseSubnet(subnet)
  const size = 2 ** (32 - prefix)
  const ldir = path.join(LEASES, bridge)
  await fs.mkdir(ldir, {recursive: true, mode: 0o700})
  // Lowest free address first: simulators hand out the top of the subnet as floating IPs.
  const count = size - 3
  for (let k = 0; k < count; k++) {
    const n = 2 + k
    const ip = ipAt(subnet, n)
    const file = path.join(ldir, ip)
    try {
      await fs.writeFile(file, dir, {flag: 'wx', mode: 0o600})
      return ip
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err
    }
    // A lease whose host folder is gone was left by a crash: reclaim it.
    const owner = await fs.readFile(file, 'utf8').catch(() => '')
    if (owner && !await fs.access(owner).then(() => true, () => false)) {
      await fs.rm(file, {force: true})
      k--
    }
  }
  throw new UserError(`lab subnet ${subnet} is full`)
}

/** Release by IP, or (a crash before the IP was recorded) by the host folder the lease names. */
export async function releaseIp(h: {ip?: string; bridge: string; dir: string}): Promise<void> {
  const ldir = path.join(LEASES, h.bridge)
  if (h.ip) return fs.rm(path.join(ldir, h.ip), {force: true})
  for (const ip of await fs.readdir(ldir).catch(() => [] as string[])) {
    if (await fs.readFile(path.join(ldir, ip), 'utf8').catch(() => '') === h.dir) await fs.rm(path.join(ldir, ip), {force: true})
  }
}

export async function linkExists(name: string, netns?: string): Promise<boolean> {
  try {
    await execFileP('ip', [...(netns ? ['-n', netns] : []), 'link', 'show', name])
    return true
  } catch {
    return false
  }
}

/** The bridge is shared by every host on the subnet: made by the first, removed with the last. */
export async function ensureBridge(subnet: string, bridge: string): Promise<void> {
  const lock = await acquireLock(path.join(LEASES, `${bridge}.lock`), {what: `lab bridge ${bridge}`})
  try {
    if (await linkExists(bridge)) return
    const {prefix} = parseSubnet(subnet)
    await run('ip', ['-batch', '-'], `link add ${bridge} type bridge\naddr add ${ipAt(subnet, 1)}/${prefix} dev ${bridge}\nlink set ${bridge} up\n`)
    // With br_netfilter loaded, bridged traffic crosses the host's FORWARD chain; a DROP policy there
    // (dockerd on the host sets one) would cut hosts off from each other.
    await run('iptables', ['-I', 'FORWARD', '-i', bridge, '-o', bridge, '-j', 'ACCEPT']).catch(() => {})
  } finally {
    await lock.release()
  }
}

export async function maybeRemoveBridge(bridge: string): Promise<void> {
  const lock = await acquireLock(path.join(LEASES, `${bridge}.lock`), {what: `lab bridge ${bridge}`})
  try {
    const left = await fs.readdir(path.join(LEASES, bridge)).catch(() => [])
    if (left.length) return
    await run('iptables', ['-D', 'FORWARD', '-i', bridge, '-o', bridge, '-j', 'ACCEPT']).catch(() => {})
    await run('ip', ['link', 'del', bridge]).catch(() => {})
  } finally {
    await lock.release()
  }
}
