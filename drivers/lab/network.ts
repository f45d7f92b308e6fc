/**
 * The lab's network: one bridge per subnet on this host, shared by every host on it, and the
 * addresses on it, leased as files so that no two hosts (of any store) get one IP.
 */
import {createHash} from 'node:crypto'
import {promises as fs} from 'node:fs'
import path from 'node:path'
import {acquireLock, ipString, maskOf, parseSubnet as parseNetwork, UserError} from '../../src/sdk/index.js'
import {execFileP, run} from './run.js'

export const DEFAULT_SUBNET = '172.30.77.0/24'
/** Leases are global per bridge, whatever the host root, so two stores never share an IP. */
const LEASES = '/var/lib/berth-lab/leases'

export const parseSubnet = (subnet: string) => parseNetwork(subnet, 'lab-subnet', {maxPrefix: 28, example: DEFAULT_SUBNET})

/**
 * The network a subnet names, host bits cleared: 172.30.200.77/24 is 172.30.200.0/24, so both
 * spellings share one bridge and one set of leases instead of two bridges handing out one address.
 */
export function normaliseSubnet(subnet: string): string {
  const {base, prefix} = parseSubnet(subnet)
  return `${ipString(base)}/${prefix}`
}

export const ipAt = (subnet: string, n: number) => ipString((parseSubnet(subnet).base + n) >>> 0)

export function bridgeName(subnet: string): string {
  return 'bbr' + createHash('sha1').update(normaliseSubnet(subnet)).digest('hex').slice(0, 8)
}

/** Two networks share an address when they agree on the shorter prefix. */
export function subnetsOverlap(a: string, b: string): boolean {
  const [x, y] = [parseSubnet(a), parseSubnet(b)]
  const mask = maskOf(Math.min(x.prefix, y.prefix))
  return ((x.base & mask) >>> 0) === ((y.base & mask) >>> 0)
}

/*
 * One lock over every bridge's leases and the networks they are on: the overlap check, a lease,
 * and the last host's removal of its bridge must not interleave (a lease into a folder being
 * removed, or two overlapping networks each seeing the other as unused).
 */
async function withLeases<T>(root: string, fn: () => Promise<T>): Promise<T> {
  await fs.mkdir(root, {recursive: true, mode: 0o700})
  const lock = await acquireLock(path.join(root, '.lock'), {what: `lab address leases (${root})`})
  try {
    return await fn()
  } finally {
    await lock.release()
  }
}

/** Leases whose host is alive (its folder exists); those a crash left are reclaimed on the way. */
async function liveLeases(ldir: string): Promise<number> {
  let live = 0
  for (const ip of await fs.readdir(ldir).catch(() => [] as string[])) {
    const owner = await fs.readFile(path.join(ldir, ip), 'utf8').catch(() => '')
    if (owner && await fs.access(owner).then(() => true, () => false)) live++
    else await fs.rm(path.join(ldir, ip), {force: true})
  }
  return live
}

/** The last host out removes what the first host in made: rule, link, lease folder, network note. */
async function dropBridge(root: string, bridge: string): Promise<void> {
  await run('iptables', ['-D', 'FORWARD', '-i', bridge, '-o', bridge, '-j', 'ACCEPT']).catch(() => {})
  if (await linkExists(bridge)) await run('ip', ['link', 'del', bridge]).catch(() => {})
  await fs.rm(path.join(root, bridge), {recursive: true, force: true})
  await fs.rm(path.join(root, `${bridge}.net`), {force: true})
}

/** Refuse a subnet sharing addresses with another bridge's while hosts are on it; drop it when none are. */
async function checkOverlap(root: string, subnet: string, bridge: string): Promise<void> {
  for (const ent of await fs.readdir(root).catch(() => [] as string[])) {
    if (!ent.endsWith('.net') || ent === `${bridge}.net`) continue
    const other = (await fs.readFile(path.join(root, ent), 'utf8').catch(() => '')).trim()
    let overlap: boolean
    try {
      overlap = subnetsOverlap(subnet, other)
    } catch {
      continue // not a network berth wrote: nothing to compare
    }
    if (!overlap) continue
    const otherBridge = ent.slice(0, -'.net'.length)
    if (!await liveLeases(path.join(root, otherBridge))) {
      await dropBridge(root, otherBridge)
      continue
    }
    throw new UserError(`lab subnet ${subnet} overlaps ${other}, which lab hosts are using on bridge ${otherBridge}: use --lab-subnet ${other} to join them, or a subnet that shares no address with it`)
  }
}

/** The check alone, for preCreate: a refused subnet is refused before anything is made. */
export async function checkSubnet(subnet: string, root = LEASES): Promise<void> {
  const net = normaliseSubnet(subnet)
  await withLeases(root, () => checkOverlap(root, net, bridgeName(net)))
}

/** Claim a free address: each lease is a file made with O_EXCL, so no two hosts get one IP. */
export async function leaseIp(subnet: string, bridge: string, dir: string, root = LEASES): Promise<string> {
  const net = normaliseSubnet(subnet)
  const {prefix} = parseSubnet(net)
  return withLeases(root, async () => {
    await checkOverlap(root, net, bridge)
    const ldir = path.join(root, bridge)
    await fs.mkdir(ldir, {recursive: true, mode: 0o700})
    await fs.writeFile(path.join(root, `${bridge}.net`), net + '\n', {mode: 0o600})
    // Lowest free address first: simulators hand out the top of the subnet as floating IPs.
    const count = 2 ** (32 - prefix) - 3
    for (let k = 0; k < count; k++) {
      const ip = ipAt(net, 2 + k)
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
    throw new UserError(`lab subnet ${net} is full: remove a lab host or use another --lab-subnet`)
  })
}

/** Release by IP, or (a crash before the IP was recorded) by the host folder the lease names. */
export async function releaseIp(h: {ip?: string; bridge: string; dir: string}, root = LEASES): Promise<void> {
  const ldir = path.join(root, h.bridge)
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
export async function ensureBridge(subnet: string, bridge: string, root = LEASES): Promise<void> {
  await withLeases(root, async () => {
    if (await linkExists(bridge)) return
    const {prefix} = parseSubnet(subnet)
    await run('ip', ['-batch', '-'], `link add ${bridge} type bridge\naddr add ${ipAt(subnet, 1)}/${prefix} dev ${bridge}\nlink set ${bridge} up\n`)
    // With br_netfilter loaded, bridged traffic crosses the host's FORWARD chain; a DROP policy there
    // (dockerd on the host sets one) would cut hosts off from each other.
    await run('iptables', ['-I', 'FORWARD', '-i', bridge, '-o', bridge, '-j', 'ACCEPT']).catch(() => {})
  })
}

export async function maybeRemoveBridge(bridge: string, root = LEASES): Promise<void> {
  await withLeases(root, async () => {
    if (await liveLeases(path.join(root, bridge))) return
    await dropBridge(root, bridge)
  })
}
