/**
 * `--swarm-mesh wireguard`: an encrypted WireGuard mesh among a swarm's members, which the swarm
 * then forms over (advertise and data-path addresses on the mesh). Each machine gets one address
 * of the swarm's mesh subnet, a key made on its own host, and every other member as a peer with
 * persistent keepalive, so a member behind NAT is reached through the tunnels it dials out.
 * The records hold what peers need (address, public key, endpoint); berth keeps every peer in
 * step as machines join and leave, and brings the interface back when a host starts.
 */
import path from 'node:path'
import {acquireLock, errorMessage, ipNumber, ipString, maskOf, mkdirPrivate, parallel, parseCidr, UserError} from '../core/index.js'
import {type Ctx, handleFor, loadDriver, openSSH} from '../host/index.js'
import {CorruptRecord, type MachineRecord, type MeshMembership} from '../store/index.js'
import type {SSHSession} from '../ssh/index.js'
import * as sh from './scripts.js'

export interface MeshOptions {
  kind: 'wireguard'
  /** IPv4 network the members' mesh addresses come from (default 10.209.0.0/16). */
  subnet?: string
  /** The WireGuard UDP port every member listens on (default 51820). */
  port?: number
}

export const MESH_DEFAULTS = {subnet: '10.209.0.0/16', port: 51820}

/** Every machine of the store in swarm's mesh, joined or joining. */
export async function meshMembers(ctx: Ctx, swarm: string): Promise<MachineRecord[]> {
  const all = await ctx.store.loadAll()
  return all.filter((r): r is MachineRecord => !(r instanceof CorruptRecord) && r.mesh?.swarm === swarm)
}

/** A subnet flag as berth takes it: IPv4, room for members, written as its network. */
export function checkMeshSubnet(text: string): string {
  const c = parseCidr(text)
  if (!c || c.v6 || c.prefix > 28 || c.prefix < 8) throw new UserError(`bad --swarm-mesh-subnet "${text}": use an IPv4 network from /8 to /28, e.g. ${MESH_DEFAULTS.subnet}`)
  return `${ipString(ipNumber(c.ip) & maskOf(c.prefix))}/${c.prefix}`
}

/**
 * The mesh a machine joining `swarm` takes: the one its members already have (a joiner of a mesh
 * swarm is in the mesh without asking), or the one asked for on a new swarm. Checked before
 * anything is made: a swarm is all on the mesh or not at all.
 */
export async function meshFor(ctx: Ctx, swarm: string, asked?: MeshOptions): Promise<Required<MeshOptions> | undefined> {
  // One read of the store: a 50-machine create asks this 50 times.
  const all = (await ctx.store.loadAll()).filter((r): r is MachineRecord => !(r instanceof CorruptRecord))
  const inMesh = all.filter(r => r.mesh?.swarm === swarm)
  const swarmMembers = all.filter(r => r.swarm?.name === swarm || r.swarmJoin?.name === swarm)
  if (!inMesh.length) {
    if (!asked) return undefined
    const plain = swarmMembers.filter(r => !r.mesh)
    if (plain.length) throw new UserError(`swarm ${swarm} was formed without a mesh (${plain.map(r => r.name).join(', ')}): --swarm-mesh applies to a new swarm; make the mesh swarm under another name`)
    return {kind: 'wireguard', subnet: checkMeshSubnet(asked.subnet ?? MESH_DEFAULTS.subnet), port: asked.port ?? MESH_DEFAULTS.port}
  }
  const {subnet, port} = inMesh[0].mesh!
  if (asked?.subnet && checkMeshSubnet(asked.subnet) !== subnet) throw new UserError(`swarm ${swarm}'s mesh is on ${subnet}, not ${asked.subnet}: leave --swarm-mesh-subnet out to join it`)
  if (asked?.port && asked.port !== port) throw new UserError(`swarm ${swarm}'s mesh listens on ${port}/udp, not ${asked.port}: leave --swarm-mesh-port out to join it`)
  return {kind: 'wireguard', subnet, port}
}

async function meshLock(ctx: Ctx, swarm: string) {
  const dir = path.join(ctx.store.root, 'swarms')
  await mkdirPrivate(dir)
  return acquireLock(path.join(dir, `${swarm}.mesh.lock`), {timeoutMs: 300_000, what: `the mesh of swarm "${swarm}"`})
}

/** The lowest address of the subnet no member holds (.0 and the broadcast address excluded). */
function freeAddress(subnet: string, taken: string[]): string {
  const c = parseCidr(subnet)!
  const base = ipNumber(c.ip) & maskOf(c.prefix)
  const size = 2 ** (32 - c.prefix)
  const used = new Set(taken.map(ipNumber))
  for (let i = 1; i < size - 1; i++) if (!used.has(base + i)) return ipString(base + i)
  throw new UserError(`the mesh subnet ${subnet} has no address left: use a larger --swarm-mesh-subnet for a new swarm`)
}

/** Where the other members send to this one: its swarm address (the driver's), on the mesh's port. */
async function underlay(ctx: Ctx, record: MachineRecord, port: number): Promise<string> {
  const driver = await loadDriver(ctx, record.driver)
  const h = handleFor(ctx, record)
  return `${(await driver.swarmAddress?.(h)) ?? await driver.ip(h)}:${port}`
}

const peerOf = (r: MachineRecord): sh.Peer => ({publicKey: r.mesh!.publicKey!, address: r.mesh!.address, endpoint: r.mesh!.endpoint})

/** Every other member with a key: a host's peers, as its file lists them. */
async function peersOf(ctx: Ctx, record: MachineRecord): Promise<sh.Peer[]> {
  return (await meshMembers(ctx, record.mesh!.swarm)).filter(r => r.name !== record.name && r.mesh!.publicKey && r.status !== 'removing').map(peerOf)
}

async function writeState(s: SSHSession, m: MeshMembership, peers: sh.Peer[]): Promise<void> {
  await s.run(`umask 077; mkdir -p ${sh.DIR}`, {root: true, what: 'make the mesh folder'})
  await s.writeFile(`${sh.DIR}/mesh.env`, sh.envFile(m), 0o600)
  await s.writeFile(`${sh.DIR}/peers.conf`, sh.peersConf(m.port, peers), 0o600)
}

/**
 * Put a machine into its swarm's mesh: an address, tools and key on its host, its peers, the
 * interface up (and on boot), then itself added to every other member. Under the mesh's lock,
 * so two joiners each see the other. Returns the mesh address the swarm is to use.
 */
export async function joinMesh(ctx: Ctx, record: MachineRecord, session: SSHSession, mesh: Required<MeshOptions>, swarm: string): Promise<string> {
  const say = (m: string) => ctx.progress?.(record.name, m)
  const lock = await meshLock(ctx, swarm)
  try {
    const taken = (await meshMembers(ctx, swarm)).filter(r => r.name !== record.name).map(r => r.mesh!.address)
    record.mesh = {kind: 'wireguard', swarm, subnet: mesh.subnet, address: freeAddress(mesh.subnet, taken), port: mesh.port, mtu: sh.MESH_MTU}
    // On record before the host is touched: a create killed from here on leaves what rm undoes.
    await ctx.store.save(record)
    say(`joining the WireGuard mesh of swarm ${swarm} as ${record.mesh.address}`)
    const impl = (await session.run(sh.ENSURE_TOOLS, {root: true, what: 'install WireGuard'})).match(/impl (\S+)/)?.[1]
    record.mesh.impl = impl === 'kernel' ? 'kernel' : 'wireguard-go'
    record.mesh.publicKey = (await session.run(sh.KEYGEN, {root: true, what: 'make the WireGuard key'})).trim()
    if (!/^[A-Za-z0-9+/]{42}[AEIMQUYcgkosw048]=$/.test(record.mesh.publicKey)) throw new Error('wg pubkey gave no public key')
    record.mesh.endpoint = await underlay(ctx, record, mesh.port)
    await writeState(session, record.mesh, await peersOf(ctx, record))
    await session.writeFile(`${sh.DIR}/up.sh`, sh.UP_SCRIPT, 0o700)
    await session.writeFile(sh.UNIT, sh.UNIT_FILE, 0o644).catch(() => {})
    await session.run(`${sh.DIR}/up.sh && ${sh.ENABLE_UNIT}`, {root: true, what: `bring ${sh.IFACE} up`})
    await ctx.store.save(record)
    await updatePeers(ctx, record, () => sh.setPeer(peerOf(record)), 'add')
    return record.mesh.address
  } finally {
    await lock.release()
  }
}

/**
 * Tell every other member of record's mesh: rewrite its peers file from the records, and apply
 * the change to its live interface. A member that does not answer (stopped) is warned about;
 * its file is rewritten when it starts (meshUp).
 */
async function updatePeers(ctx: Ctx, record: MachineRecord, live: (other: MachineRecord) => string, what: string): Promise<void> {
  // Those still creating count: with a key on record their interface is up, and they listed their peers before this one had a key.
  const others = (await meshMembers(ctx, record.mesh!.swarm)).filter(r => r.name !== record.name && (r.status === 'ready' || r.status === 'creating') && r.mesh!.publicKey)
  const res = await parallel(others, 8, async o => {
    const s = await openSSH(ctx, o, {timeoutSec: 10})
    try {
      await s.writeFile(`${sh.DIR}/peers.conf`, sh.peersConf(o.mesh!.port, await peersOf(ctx, o)), 0o600)
      await s.run(live(o), {root: true, what: `${what} the WireGuard peer ${record.name}`})
    } finally {
      s.close()
    }
  })
  res.forEach((x, i) => x.status === 'rejected' && ctx.warn?.(`mesh of swarm ${record.mesh!.swarm}: ${others[i].name} not updated (${errorMessage(x.reason)}): it takes the change when berth starts it`))
}

/**
 * Take a machine out of its mesh: every other member drops it as a peer, and its own host loses
 * the interface, unit and folder (best effort: a host about to be deleted may not answer).
 */
export async function leaveMesh(ctx: Ctx, record: MachineRecord, opts: {host?: boolean} = {}): Promise<void> {
  if (!record.mesh) return
  const lock = await meshLock(ctx, record.mesh.swarm)
  try {
    ctx.progress?.(record.name, `leaving the WireGuard mesh of swarm ${record.mesh.swarm}`)
    const mesh = record.mesh
    if (mesh.publicKey) {
      // The records of the others must not list it while their files are rewritten.
      const prior = record.status
      record.status = 'removing'
      await ctx.store.save(record)
      await updatePeers(ctx, record, () => sh.removePeer(mesh.publicKey!), 'remove')
      record.status = prior
    }
    if (opts.host !== false) {
      const s = await openSSH(ctx, record, {timeoutSec: 5}).catch(() => undefined)
      if (s) await s.run(sh.TEARDOWN, {root: true, what: 'remove the mesh'}).catch(err => ctx.warn?.(`${record.name}: ${errorMessage(err)}`)).finally(() => s.close())
    }
    delete record.mesh
    await ctx.store.save(record)
  } finally {
    await lock.release()
  }
}

/**
 * After a host starts, before its engine: peers rewritten from the records (members may have
 * come and gone while it was down), then the interface up. On systemd hosts the unit did it at
 * boot already; running again is harmless.
 */
export async function meshUp(ctx: Ctx, record: MachineRecord, session: SSHSession): Promise<void> {
  if (!record.mesh?.publicKey) return
  ctx.progress?.(record.name, `bringing the WireGuard mesh up (${record.mesh.address})`)
  await writeState(session, record.mesh, await peersOf(ctx, record))
  await session.run(`${sh.DIR}/up.sh`, {root: true, what: `bring ${sh.IFACE} up`})
}
