/**
 * Firewalls follow membership: after each join, leave and rm, every member whose driver keeps a
 * cloud firewall (Driver.firewall: an OpenStack security group, an Azure NSG) is told to admit
 * exactly the other members' addresses on the swarm's ports. A joiner counts as a member from
 * just before its paths are checked (the manager's firewall must let it in for the check and the
 * join), and stops counting if its join fails: a file per joiner (swarms/<swarm>.joining/<name>,
 * holding its process id) tells the updates of other berth processes about it.
 *
 * One update per swarm runs at a time (a lock file, for other berth processes too), and it reads
 * the membership when it starts: calls that arrive while one runs share the next, which sees
 * all of them. Fifty workers joining side by side cost a handful of updates, not fifty.
 */
import {promises as fs} from 'node:fs'
import path from 'node:path'
import type {FirewallPort, FirewallRequest} from '../sdk/index.js'
import {acquireLock, errorMessage, mkdirPrivate, parallel, pidAlive, SWARM_PORTS, writeFileAtomic} from '../core/index.js'
import {type Ctx, handleFor, loadDriver} from '../host/index.js'
import {CorruptRecord, type MachineRecord} from '../store/index.js'
import {swarmIp} from './members.js'

/**
 * The ports members admit from one another. 2377/tcp on every member, not only the managers: a
 * worker promoted later needs no firewall change, and the doctor's matrix stays green. ESP for
 * encrypted overlays (berth's default across clouds, src/manage/overlay.ts). A mesh (when the
 * swarm has one) replaces them all by its own UDP port.
 */
function swarmPorts(): FirewallPort[] {
  return [...SWARM_PORTS.map(p => ({port: p.port, proto: p.proto})), {proto: 'esp'}]
}

const portName = (p: FirewallPort) => ('port' in p ? `${p.port}/${p.proto}` : p.proto)

interface Pending {
  /** Machines that just left: their own firewall stops admitting the swarm. */
  left: Map<string, MachineRecord>
  running?: Promise<string[]>
  next?: Promise<string[]>
}

const pending = new Map<string, Pending>()

const state = (ctx: Ctx, swarm: string): Pending => {
  const key = `${ctx.store.root}\0${swarm}`
  let p = pending.get(key)
  if (!p) {
    p = {left: new Map()}
    pending.set(key, p)
  }
  return p
}

/** Every address a member's packets may come from: the cloud's view (public and private) and the swarm's. */
async function addressesOf(ctx: Ctx, r: MachineRecord): Promise<string[]> {
  const driver = await loadDriver(ctx, r.driver)
  const h = handleFor(ctx, r)
  const found = await Promise.all([
    driver.addresses?.(h).catch(() => []) ?? [],
    swarmIp(ctx, r).then(a => [a], () => []),
    r.swarm?.advertiseAddr ? [r.swarm.advertiseAddr] : [],
    r.tls?.ip ? [r.tls.ip] : [],
  ])
  return [...new Set(found.flat().filter(a => /^\d+\.\d+\.\d+\.\d+$/.test(a) && !a.startsWith('127.')))].sort()
}

const joiningDir = (ctx: Ctx, swarm: string) => path.join(ctx.store.root, 'swarms', `${swarm}.joining`)

/** Joiners of any berth process still at it (a dead process's are skipped; its create rolled back or died). */
async function joiners(ctx: Ctx, swarm: string): Promise<MachineRecord[]> {
  const dir = joiningDir(ctx, swarm)
  const names = await fs.readdir(dir).catch(() => [])
  const out = await Promise.all(names.map(async name => {
    const pid = Number(await fs.readFile(path.join(dir, name), 'utf8').catch(() => '0'))
    if (!pid || !pidAlive(pid)) return undefined
    return ctx.store.load(name).catch(() => undefined)
  }))
  return out.filter((r): r is MachineRecord => Boolean(r))
}

/**
 * Whether any machine of the store (or one that just left) has a driver that keeps a firewall:
 * a store of lab, QEMU or generic hosts has nothing to update, and each joiner of a 50-host
 * create took the update's lock and read every joiner's record twice for nothing. A driver that
 * does not load counts as one that may.
 */
async function anyFirewall(ctx: Ctx, left: MachineRecord[]): Promise<boolean> {
  const all = (await ctx.store.loadAll()).filter((r): r is MachineRecord => !(r instanceof CorruptRecord))
  const names = new Set([...all, ...left].map(r => r.driver))
  const found = await Promise.all([...names].map(d => loadDriver(ctx, d).then(x => Boolean(x.firewall), () => true)))
  return found.some(Boolean)
}

/** One update: what the store says now, joiners included; returns what failed, one line each. */
async function run(ctx: Ctx, swarm: string, st: Pending, ports: FirewallPort[]): Promise<string[]> {
  if (!await anyFirewall(ctx, [...st.left.values()])) {
    st.left.clear()
    return []
  }
  const dir = path.join(ctx.store.root, 'swarms')
  await mkdirPrivate(dir)
  const lock = await acquireLock(path.join(dir, `${swarm}.firewall.lock`), {timeoutMs: 300_000, what: `the firewalls of swarm "${swarm}"`})
  try {
    const left = [...st.left.values()]
    st.left.clear()
    const all = (await ctx.store.loadAll()).filter((r): r is MachineRecord => !(r instanceof CorruptRecord))
    const members = new Map<string, MachineRecord>()
    for (const r of all) {
      // A record being removed is no member, and its firewall is about to go with it.
      if (r.status === 'removing' || r.status === 'error') continue
      // A classic group's engines are in no swarm: nothing to admit.
      if (r.swarm?.mode === 'classic') continue
      if (r.swarm?.name === swarm || r.swarmJoin?.name === swarm) members.set(r.name, r)
    }
    for (const r of await joiners(ctx, swarm)) if (!members.has(r.name)) members.set(r.name, r)
    // Over a mesh every swarm port travels inside the tunnels: the firewalls need only the mesh's own port.
    const mesh = [...members.values()].find(r => r.mesh)?.mesh
    if (mesh) ports = [{port: mesh.port, proto: 'udp'}]
    const drivers = new Map(await Promise.all([...new Set([...members.values(), ...left].map(r => r.driver))].map(async d => [d, await loadDriver(ctx, d)] as const)))
    const targets = [...[...members.values()].map(r => ({r, member: true})), ...left.filter(r => !members.has(r.name)).map(r => ({r, member: false}))]
      .filter(t => drivers.get(t.r.driver)?.firewall)
    if (!targets.length) return []
    const addrs = new Map(await parallel([...members.values()], 8, async r => [r.name, await addressesOf(ctx, r)] as const).then(rs => rs.flatMap(x => (x.status === 'fulfilled' ? [x.value] : []))))
    const failed: string[] = []
    await parallel(targets, 8, async ({r, member}) => {
      const req: FirewallRequest = {
        swarm, member, ports, addresses: addrs.get(r.name) ?? await addressesOf(ctx, r).catch(() => []),
        peers: [...members.values()].filter(p => p.name !== r.name).map(p => ({name: p.name, addresses: addrs.get(p.name) ?? []})),
      }
      ctx.debug?.(r.name, `firewall: admitting ${req.peers.map(p => `${p.name} (${p.addresses.join(' ')})`).join(', ') || 'no member'} on ${ports.map(portName).join(' ')}`)
      try {
        await drivers.get(r.driver)!.firewall!(handleFor(ctx, r), req)
      } catch (err) {
        failed.push(`the firewall of ${r.name}: ${errorMessage(err)}`)
      }
    })
    return failed
  } finally {
    await lock.release()
  }
}

/** Bring every member's firewall to the swarm's membership now; one line per firewall that could not be updated. */
function sync(ctx: Ctx, swarm: string, ports = swarmPorts()): Promise<string[]> {
  const st = state(ctx, swarm)
  if (st.next) return st.next
  const start = () => {
    st.next = undefined
    const p = run(ctx, swarm, st, ports)
    st.running = p
    void p.finally(() => {
      if (st.running === p) st.running = undefined
    }).catch(() => {})
    return p
  }
  if (!st.running) return start()
  st.next = st.running.catch(() => []).then(start)
  return st.next
}

const warnAll = (ctx: Ctx, swarm: string) => (failed: string[]) => {
  for (const f of failed) ctx.warn?.(`swarm ${swarm}: ${f}`)
}

/**
 * Before a machine's paths to the manager are checked: every member admits it, and it admits them.
 * A firewall that cannot be updated fails the join here, before anything joined.
 */
export async function admitJoiner(ctx: Ctx, swarm: string, record: MachineRecord): Promise<void> {
  await mkdirPrivate(joiningDir(ctx, swarm))
  await writeFileAtomic(path.join(joiningDir(ctx, swarm), record.name), String(process.pid))
  const failed = await sync(ctx, swarm)
  if (failed.length) throw new Error(`swarm ${swarm}: ${failed.join('; ')}`)
}

/** After a join (done or failed): the joiner is a member only if it is on record as one. */
export async function afterJoin(ctx: Ctx, swarm: string, record: MachineRecord): Promise<void> {
  await fs.rm(path.join(joiningDir(ctx, swarm), record.name), {force: true})
  await sync(ctx, swarm).then(warnAll(ctx, swarm), err => ctx.warn?.(`swarm ${swarm}: firewalls not updated: ${errorMessage(err)}`))
}

/** After a leave (the machine is on record as no member) or an rm: nobody admits it any more. */
export async function afterLeave(ctx: Ctx, swarm: string, record?: MachineRecord): Promise<void> {
  if (record) state(ctx, swarm).left.set(record.name, record)
  await sync(ctx, swarm).then(warnAll(ctx, swarm), err => ctx.warn?.(`swarm ${swarm}: firewalls not updated: ${errorMessage(err)}`))
}
