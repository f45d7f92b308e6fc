/**
 * The lab's network: one bridge per subnet on this host, shared by every host on it, and the
 * addresses on it, leased as files so that no two hosts (of any store) get one IP.
 */
import {createHash} from 'node:crypto'
import {promises as fs} from 'node:fs'
import path from 'node:path'
import {acquireLock, ipString, maskOf, parseSubnet as parseNetwork, UserError} from '../../src/sdk/index.js'
import {allowOut, dropRouter, dropTagged, guardNatted, makeRouter, routerExists, routerNetns, type RouterPlan, stopForwarding, type WanSpec} from './nat.js'
import {linkRoutes, startWire, stopWire, unlinkRoutes, wants, wireAlive} from './wan.js'
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

/** A named network's bridge follows from its name, whatever subnet it was given. */
export const networkBridge = (name: string) => 'bbn' + createHash('sha1').update(`network:${name}`).digest('hex').slice(0, 8)

/** What a host asks of its network beyond an address: a name, a home router, a way out through this box. */
export interface LabNet {
  name?: string
  /** The subnet of the shared "internet" bridge the network's router sits on (behind NAT). */
  behindNat?: string
  /** A default route through this box, MASQUERADE on the bridge (--lab-nat). */
  nat?: boolean
  /**
   * This box takes no address on the network: only its router reaches it, as only a cloud's
   * router reaches the cloud's private network (the simulators' vnet and tenant networks).
   */
  sealed?: boolean
  /** The subnet of the "internet" bridge a routed network's router sits on (no NAT: --lab-wan-*). */
  routed?: string
  /** Delay and loss on the router's public leg (wan.ts). */
  wan?: WanSpec
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
  const router = await readRouter(root, bridge)
  if (router) {
    await unlinkRoutes(router, await otherRouters(root, bridge))
    await stopWire(router)
    await dropRouter(router)
    await fs.rm(path.join(root, router.publicBridge, router.public), {force: true})
    await fs.rm(routerDir(root, bridge), {recursive: true, force: true})
    if (!await liveLeases(path.join(root, router.publicBridge))) await dropBridge(root, router.publicBridge)
  }
  await dropTagged(bridge)
  if (await fs.rm(path.join(root, `${bridge}.nat`)).then(() => true, () => false) && !await anyNat(root)) {
    if (await fs.rm(path.join(root, '.forwarding')).then(() => true, () => false)) await stopForwarding()
  }
  await run('iptables', ['-D', 'FORWARD', '-i', bridge, '-o', bridge, '-j', 'ACCEPT']).catch(() => {})
  if (await linkExists(bridge)) await run('ip', ['link', 'del', bridge]).catch(() => {})
  await fs.rm(path.join(root, bridge), {recursive: true, force: true})
  await fs.rm(path.join(root, `${bridge}.net`), {force: true})
  await fs.rm(path.join(root, `${bridge}.name`), {force: true})
}

const routerDir = (root: string, bridge: string) => path.join(root, `${bridge}.router`)

/** The network's router as its first host noted it; undefined when there is no note. */
async function routerNote(root: string, bridge: string): Promise<RouterPlan | undefined> {
  const text = await fs.readFile(path.join(routerDir(root, bridge), 'router.json'), 'utf8').catch(() => '')
  return text ? JSON.parse(text) as RouterPlan : undefined
}

async function readRouter(root: string, bridge: string): Promise<RouterPlan | undefined> {
  const note = await routerNote(root, bridge)
  if (note) return note
  // A crash between the namespace and its note: the name follows from the bridge.
  const netns = routerNetns(bridge)
  if (await routerExists({netns})) {
    await stopWire({bridge})
    await dropRouter({netns, bridge})
  }
  return undefined
}

/** The routers of the other networks: a routed network is reached through each of them. */
async function otherRouters(root: string, bridge: string): Promise<RouterPlan[]> {
  const out: RouterPlan[] = []
  for (const ent of await fs.readdir(root).catch(() => [] as string[])) {
    if (!ent.endsWith('.router') || ent === `${bridge}.router`) continue
    const note = await routerNote(root, ent.slice(0, -'.router'.length))
    if (note) out.push(note)
  }
  return out
}

async function anyNat(root: string): Promise<boolean> {
  return (await fs.readdir(root).catch(() => [] as string[])).some(e => e.endsWith('.nat'))
}

/** The subnet, NAT-ness and WAN of a named network while it exists (it has hosts), else undefined. */
export async function namedNetwork(name: string, root = LEASES): Promise<{subnet: string; behindNat: boolean; routed: boolean; wan?: WanSpec} | undefined> {
  const bridge = networkBridge(name)
  return withLeases(root, async () => {
    const subnet = (await fs.readFile(path.join(root, `${bridge}.net`), 'utf8').catch(() => '')).trim()
    if (!subnet) return undefined
    if (!await liveLeases(path.join(root, bridge))) {
      await dropBridge(root, bridge)
      return undefined
    }
    const r = await readRouter(root, bridge)
    const wan = r?.wire ? {delayMs: r.wire.delayMs, jitterMs: r.wire.jitterMs, lossPct: r.wire.lossPct} : undefined
    return {subnet, behindNat: Boolean(r && !r.routed), routed: Boolean(r?.routed), ...(wan ? {wan} : {})}
  })
}

/**
 * The address a network behind NAT shows the others: its router's public one, where every packet
 * of its hosts comes from after MASQUERADE (a cloud firewall admitting a NAT'd host must admit
 * that). Undefined for a routed network (its hosts are seen as themselves) or one with no router.
 */
export async function natPublicAddress(bridge: string, root = LEASES): Promise<string | undefined> {
  const r = await routerNote(root, bridge)
  return r && !r.routed ? r.public : undefined
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
    const name = (await fs.readFile(path.join(root, `${otherBridge}.name`), 'utf8').catch(() => '')).trim()
    const join = name ? `--lab-network ${name}` : `--lab-subnet ${other}`
    throw new UserError(`lab subnet ${subnet} overlaps ${other}, which lab hosts are using on ${name ? `network ${name} (bridge ${otherBridge})` : `bridge ${otherBridge}`}: use ${join} to join them, or a subnet that shares no address with it`)
  }
}

/** The check alone, for preCreate: a refused subnet is refused before anything is made. */
export async function checkSubnet(subnet: string, root = LEASES, bridge = bridgeName(subnet)): Promise<void> {
  const net = normaliseSubnet(subnet)
  await withLeases(root, () => checkOverlap(root, net, bridge))
}

/** Claim a free address: each lease is a file made with O_EXCL, so no two hosts get one IP. */
export async function leaseIp(subnet: string, bridge: string, dir: string, root = LEASES): Promise<string> {
  return withLeases(root, () => leaseIn(root, normaliseSubnet(subnet), bridge, dir))
}

/** The top address of a network behind NAT is its router's: never leased to a host. */
const topOf = (net: string) => ipAt(net, 2 ** (32 - parseSubnet(net).prefix) - 2)

async function leaseIn(root: string, net: string, bridge: string, dir: string, skip?: string): Promise<string> {
  const {prefix} = parseSubnet(net)
  await checkOverlap(root, net, bridge)
  const ldir = path.join(root, bridge)
  await fs.mkdir(ldir, {recursive: true, mode: 0o700})
  await fs.writeFile(path.join(root, `${bridge}.net`), net + '\n', {mode: 0o600})
  // Lowest free address first: simulators hand out the top of the subnet as floating IPs. The
  // leases this process made itself are live without a look: the fiftieth host of one create
  // would otherwise try, and check the owner of, each of the 49 addresses before it.
  const count = 2 ** (32 - prefix) - 3
  const taken = new Set(await fs.readdir(ldir).catch(() => [] as string[]))
  for (let k = 0; k < count; k++) {
    const ip = ipAt(net, 2 + k)
    if (ip === skip) continue
    const file = path.join(ldir, ip)
    if (!taken.has(ip) || !mine.has(file)) {
      try {
        await fs.writeFile(file, dir, {flag: 'wx', mode: 0o600})
        mine.add(file)
        return ip
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err
      }
    }
    if (mine.has(file)) continue
    // A lease whose host folder is gone was left by a crash: reclaim it.
    const owner = await fs.readFile(file, 'utf8').catch(() => '')
    if (owner && !await fs.access(owner).then(() => true, () => false)) {
      await fs.rm(file, {force: true})
      k--
    }
  }
  throw new UserError(`lab subnet ${net} is full: remove a lab host or use another --lab-subnet`)
}

/**
 * A host's address on its network, and the network made ready around it under the one lock: its
 * bridge, its router when behind NAT, its way out with --lab-nat. Returns the host's gateway.
 */
export async function joinNetwork(h: {subnet: string; bridge: string; dir: string; net?: LabNet}, root = LEASES): Promise<{ip: string; gateway?: string}> {
  const net = normaliseSubnet(h.subnet)
  const spec = h.net ?? {}
  if (!spec.name && !spec.behindNat && !spec.nat) {
    const ip = await leaseIp(net, h.bridge, h.dir, root)
    await forgetNeighbour(root, h.bridge, ip)
    return {ip}
  }
  return withLeases(root, async () => {
    const ip = await leaseIn(root, net, h.bridge, h.dir, topOf(net))
    await forgetNeighbour(root, h.bridge, ip)
    if (spec.name) await fs.writeFile(path.join(root, `${h.bridge}.name`), spec.name + '\n', {mode: 0o600})
    await makeBridge(net, h.bridge, spec.sealed)
    const pub = spec.behindNat ?? spec.routed
    if (pub) return {ip, gateway: (await ensureRouter(root, net, h.bridge, pub, spec)).inside}
    if (spec.nat) {
      if (!await fs.access(path.join(root, `${h.bridge}.nat`)).then(() => true, () => false)) {
        await fs.writeFile(path.join(root, `${h.bridge}.nat`), net + '\n', {mode: 0o600})
        if (await allowOut(h.bridge, net)) await fs.writeFile(path.join(root, '.forwarding'), 'berth turned forwarding on\n', {mode: 0o600})
      }
      return {ip, gateway: ipAt(net, 1)}
    }
    return {ip}
  })
}

/**
 * A router on the bridge may still hold the MAC of the address's previous host: it would send
 * there until the entry went stale (the box's own cache is flushed when the host is wired).
 */
async function forgetNeighbour(root: string, bridge: string, ip: string): Promise<void> {
  for (const ent of await fs.readdir(root).catch(() => [] as string[])) {
    if (!ent.endsWith('.router')) continue
    const r = await readRouter(root, ent.slice(0, -'.router'.length)).catch(() => undefined)
    if (r && (r.publicBridge === bridge || r.bridge === bridge)) await run('ip', ['-n', r.netns, 'neigh', 'flush', 'to', ip]).catch(() => {})
  }
}

/**
 * The network's router, made by its first host: a public address leased on the shared bridge, NAT
 * (a home) or routed, and its WAN. A later host restarts a wire that died (its network was cut off).
 */
async function ensureRouter(root: string, net: string, bridge: string, publicSubnet: string, spec: LabNet): Promise<RouterPlan> {
  const known = await readRouter(root, bridge)
  if (known && await routerExists(known)) {
    if (!known.wire || await wireAlive(known)) return known
    return writeRouter(root, await startWire(known, known.wire, routerDir(root, bridge)))
  }
  const pub = normaliseSubnet(publicSubnet)
  const publicBridge = bridgeName(pub)
  const dir = routerDir(root, bridge)
  await fs.mkdir(dir, {recursive: true, mode: 0o700})
  const r: RouterPlan = {
    netns: routerNetns(bridge), inside: topOf(net), prefix: parseSubnet(net).prefix, bridge,
    public: await leaseIn(root, pub, publicBridge, dir), publicPrefix: parseSubnet(pub).prefix, publicBridge,
    ...(spec.routed && !spec.behindNat ? {routed: true} : {}),
  }
  await writeRouter(root, r)
  await makeBridge(pub, publicBridge)
  await makeRouter(r)
  if (!r.routed) await guardNatted(bridge)
  await linkRoutes(r, await otherRouters(root, bridge))
  return wants(spec.wan) ? writeRouter(root, await startWire(r, spec.wan, dir)) : r
}

async function writeRouter(root: string, r: RouterPlan): Promise<RouterPlan> {
  await fs.writeFile(path.join(routerDir(root, r.bridge), 'router.json'), JSON.stringify(r, null, 2), {mode: 0o600})
  return r
}

/** Leases this process made and has not released (their hosts are its own, alive). */
const mine = new Set<string>()

/** Release by IP, or (a crash before the IP was recorded) by the host folder the lease names. */
export async function releaseIp(h: {ip?: string; bridge: string; dir: string}, root = LEASES): Promise<void> {
  await withLeases(root, () => releaseIn(root, h))
}

async function releaseIn(root: string, h: {ip?: string; bridge: string; dir: string}): Promise<void> {
  const ldir = path.join(root, h.bridge)
  if (h.ip) {
    mine.delete(path.join(ldir, h.ip))
    return fs.rm(path.join(ldir, h.ip), {force: true})
  }
  for (const f of mine) if (path.dirname(f) === ldir) mine.delete(f) // re-checked on the next lease
  for (const ip of await fs.readdir(ldir).catch(() => [] as string[])) {
    if (await fs.readFile(path.join(ldir, ip), 'utf8').catch(() => '') === h.dir) await fs.rm(path.join(ldir, ip), {force: true})
  }
}

/**
 * A host leaves its network: its lease goes and, when no live lease is left, the bridge, router
 * and lease folder with it, all under the one lock. Parallel removals of a network's hosts are
 * then ordered: each one's "am I the last?" sees every earlier release, so exactly the last one
 * out takes the network (released apart from the check, two could each see the other's lease).
 */
export async function leaveNetwork(h: {ip?: string; bridge: string; dir: string}, root = LEASES): Promise<void> {
  await withLeases(root, async () => {
    await releaseIn(root, h)
    if (!await liveLeases(path.join(root, h.bridge))) await dropBridge(root, h.bridge)
  })
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
  await withLeases(root, () => makeBridge(subnet, bridge))
}

async function makeBridge(subnet: string, bridge: string, sealed = false): Promise<void> {
  if (await linkExists(bridge)) return
  const {prefix} = parseSubnet(subnet)
  await run('ip', ['-batch', '-'], `link add ${bridge} type bridge\n${sealed ? '' : `addr add ${ipAt(subnet, 1)}/${prefix} dev ${bridge}\n`}link set ${bridge} up\n`)
  // With br_netfilter loaded, bridged traffic crosses the host's FORWARD chain; a DROP policy there
  // (dockerd on the host sets one) would cut hosts off from each other.
  await run('iptables', ['-I', 'FORWARD', '-i', bridge, '-o', bridge, '-j', 'ACCEPT']).catch(() => {})
}

export async function maybeRemoveBridge(bridge: string, root = LEASES): Promise<void> {
  await withLeases(root, async () => {
    if (await liveLeases(path.join(root, bridge))) return
    await dropBridge(root, bridge)
  })
}
