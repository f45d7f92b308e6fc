/**
 * Swarm-mode formation over the Docker API with mutual TLS (never by typing docker commands
 * over SSH). A swarm is the set of machine records whose `swarm.name` matches; join tokens are
 * read from a manager and handed to the joiner in the same breath, never stored or printed.
 */
import {promises as fs} from 'node:fs'
import net from 'node:net'
import path from 'node:path'
import {Engine, EngineError} from '../engine/index.js'
import {ConflictError, errorMessage, NotFoundError, SWARM_PORTS, UserError} from '../core/index.js'
import {pollUntil} from '../core/index.js'
import {type Ctx, engineFor, handleFor, loadDriver} from '../host/index.js'
import type {MachineRecord, SwarmMembership} from '../store/index.js'
import type {SSHSession} from '../ssh/index.js'
import {members, reachableManager, swarmInfo, swarmIp, swarmLock} from './members.js'
import {checkBeforeJoin} from './doctor.js'


export interface JoinOptions {
  name: string
  manager: boolean
  advertiseAddr?: string
  dataPathAddr?: string
  labels?: Record<string, string>
  strategy?: string
  /**
   * Machine expected to initialise the swarm (the first name of one `create`): others wait for
   * it rather than racing it, so the manager is the one the user named first.
   */
  initialiser?: string
}

/** One-line advice on the manager count (Raft needs a majority: N managers tolerate (N-1)/2 losses). */
export function quorumAdvice(managers: number): string | undefined {
  const tolerate = Math.floor((managers - 1) / 2)
  if (managers > 7) return `${managers} managers: more than 7 slows Raft without adding much; use 1, 3, 5 or 7 (3 tolerate 1 failure, 5 tolerate 2, 7 tolerate 3)`
  if (managers % 2 === 0) return `${managers} managers tolerate ${tolerate} failure${tolerate === 1 ? '' : 's'}, no more than ${managers - 1} would: use an odd count — 1, 3, 5 or 7 (3 tolerate 1 failure, 5 tolerate 2, 7 tolerate 3)`
  return undefined
}

/** TCP reachability of the manager's swarm ports from the joiner (UDP cannot be probed without a listener). */
export async function checkPorts(session: SSHSession | undefined, managerIp: string): Promise<void> {
  const tcp = SWARM_PORTS.filter(p => p.proto === 'tcp')
  if (!session) {
    for (const p of tcp) await probeTcp(managerIp, p.port).catch(err => {
      throw new UserError(`swarm port ${p.port}/tcp (${p.what}) on ${managerIp} is not reachable: ${errorMessage(err)}`)
    })
    return
  }
  const script = tcp.map(p => `if timeout 3 bash -c '</dev/tcp/${managerIp}/${p.port}' 2>/dev/null; then echo ${p.port}:ok; else echo ${p.port}:blocked; fi`).join('; ')
  const out = await session.exec(script)
  for (const p of tcp) {
    if (out.stdout.includes(`${p.port}:blocked`)) throw new UserError(`swarm port ${p.port}/tcp (${p.what}) on ${managerIp} is not reachable from the joining machine: open 2377/tcp, 7946/tcp+udp and 4789/udp between swarm members`)
  }
}

function probeTcp(host: string, port: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const s = net.connect({host, port, timeout: 3000}, () => {
      s.destroy()
      resolve()
    })
    s.on('timeout', () => s.destroy(new Error('timed out')))
    s.on('error', reject)
  })
}

export function nodeLabels(record: MachineRecord, driverLabels: Record<string, string>, extra: Record<string, string> = {}): Record<string, string> {
  const labels: Record<string, string> = {'berth.machine': record.name, 'berth.driver': record.driver}
  for (const [k, v] of Object.entries(driverLabels)) labels[`berth.${k}`] = v
  return {...labels, ...extra}
}

/*
 * The engine's own answers, told apart by what dockerd says (its HTTP statuses do not separate
 * them: both come as 500/503 with a message). Berth's errors are typed; these two are dockerd's.
 */
const outOfSequence = (err: unknown) => err instanceof EngineError && /out of sequence|version/i.test(err.message)
const notInSwarm = (err: unknown) => /not part of a swarm/i.test(errorMessage(err))

/** Change a node's spec through a manager, re-reading it when another update raced this one. */
export async function updateNode(manager: Engine, nodeId: string, change: (spec: Record<string, any>) => void): Promise<void> {
  // Node updates are optimistic: retry when another update raced ours (version out of date).
  for (let attempt = 0; ; attempt++) {
    const node = await manager.request<{Version: {Index: number}; Spec: Record<string, any>}>('GET', `/nodes/${nodeId}`)
    const spec = {...node.Spec}
    change(spec)
    try {
      await manager.request('POST', `/nodes/${nodeId}/update?version=${node.Version.Index}`, spec)
      return
    } catch (err) {
      if (attempt >= 5 || !outOfSequence(err)) throw err
    }
  }
}

/**
 * Put a machine into swarm `opts.name`: initialise the swarm when it has no reachable manager,
 * else join through one (as manager or worker), then label the node. Idempotent per machine.
 */
export async function joinSwarm(ctx: Ctx, record: MachineRecord, opts: JoinOptions, session?: SSHSession): Promise<void> {
  const say = (m: string) => ctx.progress?.(record.name, m)
  const driver = await loadDriver(ctx, record.driver)
  // Not always ip(): a local VM's engine is forwarded to 127.0.0.1, its swarm traffic goes over its own segment.
  const advertise = opts.advertiseAddr ?? await swarmIp(ctx, record)
  if (opts.initialiser && opts.initialiser !== record.name) await waitForInitialiser(ctx, opts.name, opts.initialiser)
  const lock = await swarmLock(ctx, opts.name)
  const engine = await engineFor(ctx, record)
  let manager: {record: MachineRecord; engine: Engine} | undefined
  // Saved before the engine is asked: a create killed right after the join still names the swarm.
  let joined = false
  const intend = async (asManager: boolean) => {
    record.swarmJoin = {name: opts.name, manager: asManager, at: new Date().toISOString()}
    await ctx.store.save(record)
  }
  try {
    const local = await swarmInfo(engine)
    if (local.LocalNodeState === 'active') throw new ConflictError(`machine "${record.name}" is already in a swarm: run "berth swarm leave ${record.name}" first`)
    manager = await reachableManager(ctx, opts.name, {exclude: record.name})
    let role = opts.manager
    let nodeId: string
    if (!manager) {
      const others = (await members(ctx, opts.name)).filter(r => r.name !== record.name && r.swarm?.nodeId)
      if (others.length) throw new UserError(`swarm "${opts.name}" has members but no reachable manager (${others.map(o => o.name).join(', ')}): start a manager first`)
      say(`initialising swarm ${opts.name}`)
      await intend(true)
      nodeId = await engine.request<string>('POST', '/swarm/init', {
        ListenAddr: '0.0.0.0:2377', AdvertiseAddr: advertise, ...(opts.dataPathAddr ? {DataPathAddr: opts.dataPathAddr} : {}),
      })
      joined = true
      role = true
    } else {
      const managerIp = await swarmIp(ctx, manager.record)
      say(`checking swarm paths to and from ${manager.record.name}`)
      await checkBeforeJoin(ctx, opts.name, record, manager.record, session)
      say(`checking swarm ports of ${manager.record.name}`)
      await checkPorts(session, managerIp)
      const sw = await manager.engine.request<{JoinTokens: {Worker: string; Manager: string}}>('GET', '/swarm')
      say(`joining swarm ${opts.name} as ${role ? 'manager' : 'worker'}`)
      await intend(role)
      await engine.request('POST', '/swarm/join', {
        ListenAddr: '0.0.0.0:2377', AdvertiseAddr: advertise, RemoteAddrs: [`${managerIp}:2377`],
        JoinToken: role ? sw.JoinTokens.Manager : sw.JoinTokens.Worker,
        ...(opts.dataPathAddr ? {DataPathAddr: opts.dataPathAddr} : {}),
      })
      joined = true
      nodeId = (await swarmInfo(engine)).NodeID
    }
    const labels = nodeLabels(record, driver.labels?.(handleFor(ctx, record)) ?? {}, opts.labels)
    await updateNode(manager?.engine ?? engine, nodeId, spec => {
      spec.Labels = {...spec.Labels, ...labels}
    })
    const membership: SwarmMembership = {name: opts.name, manager: role, advertiseAddr: advertise, dataPathAddr: opts.dataPathAddr, labels: opts.labels ?? {}, strategy: opts.strategy, nodeId}
    record.swarm = membership
    delete record.swarmJoin
    await ctx.store.save(record)
    const managers = (await members(ctx, opts.name)).filter(r => r.swarm!.manager).length
    const advice = quorumAdvice(managers)
    if (advice) ctx.warn?.(`swarm ${opts.name}: ${advice}`)
  } catch (err) {
    // An engine that refused the init or join is in no swarm: the intent is void. After the join,
    // or when it went unanswered (a timeout, a lost connection), the intent stays on record.
    if (record.swarmJoin && !joined && err instanceof EngineError && err.statusCode !== undefined) {
      delete record.swarmJoin
      await ctx.store.save(record).catch(() => {})
    }
    throw err
  } finally {
    engine.close()
    manager?.engine.close()
    await lock.release()
  }
}

async function waitForInitialiser(ctx: Ctx, swarm: string, initialiser: string): Promise<void> {
  await pollUntil(async () => {
    const recs = await members(ctx, swarm)
    if (recs.some(r => r.swarm!.manager && r.swarm!.nodeId)) return true
    // The initialiser failed (its record is gone or errored): go ahead without it.
    const rec = await ctx.store.load(initialiser).catch(() => undefined)
    return !rec || rec.status === 'error'
  }, {timeoutMs: 600_000, intervalMs: 100, signal: ctx.signal})
}

/** Drain, leave and remove the node entry; the last manager of a swarm with workers needs force. */
export async function leaveSwarm(ctx: Ctx, record: MachineRecord, opts: {force?: boolean} = {}): Promise<void> {
  if (!record.swarm) throw new ConflictError(`machine "${record.name}" is not in a swarm`)
  const name = record.swarm.name
  const say = (m: string) => ctx.progress?.(record.name, m)
  const lock = await swarmLock(ctx, name)
  const others = (await members(ctx, name)).filter(r => r.name !== record.name)
  const otherManagers = others.filter(r => r.swarm!.manager)
  if (record.swarm.manager && !otherManagers.length && others.length && !opts.force) {
    await lock.release()
    throw new ConflictError(`"${record.name}" is the last manager of swarm ${name}, which still has workers (${others.map(o => o.name).join(', ')}): without it they cannot be managed; pass -f to remove it anyway, or promote a worker first`)
  }
  let engine: Engine | undefined
  let manager: {record: MachineRecord; engine: Engine} | undefined
  try {
    manager = await reachableManager(ctx, name, {exclude: record.name})
    const nodeId = record.swarm.nodeId
    if (manager && nodeId) {
      say('draining')
      await updateNode(manager.engine, nodeId, spec => {
        spec.Availability = 'drain'
        if (record.swarm!.manager) spec.Role = 'worker'
      }).catch(() => {})
      if (record.swarm.manager) await waitRole(manager.engine, nodeId, 'worker').catch(() => {})
    }
    say('leaving swarm')
    try {
      engine = await engineFor(ctx, record)
      await engine.request('POST', '/swarm/leave?force=true', undefined, {timeoutMs: 30_000})
    } catch (err) {
      if (!opts.force && !notInSwarm(err)) throw err
    }
    if (manager && nodeId) {
      // The node entry lingers as "down" until removed from a manager.
      await manager.engine.request('DELETE', `/nodes/${nodeId}?force=true`).catch(() => {})
    }
    delete record.swarm
    await ctx.store.save(record)
  } finally {
    engine?.close()
    manager?.engine.close()
    await lock.release()
  }
}

async function waitRole(manager: Engine, nodeId: string, role: string): Promise<void> {
  await pollUntil(async () => {
    const node = await manager.request<{Spec: {Role: string}; ManagerStatus?: {Reachability?: string}}>('GET', `/nodes/${nodeId}`)
    // A promoted node counts only once it is a reachable Raft member; a demoted one once it left Raft.
    const done = role === 'worker' ? !node.ManagerStatus : node.ManagerStatus?.Reachability === 'reachable'
    return node.Spec.Role === role && done
  }, {timeoutMs: 30_000, intervalMs: 200})
}

export async function setRole(ctx: Ctx, record: MachineRecord, manager: boolean): Promise<void> {
  if (!record.swarm?.nodeId) throw new ConflictError(`machine "${record.name}" is not in a swarm`)
  const name = record.swarm.name
  const lock = await swarmLock(ctx, name)
  const m = await reachableManager(ctx, name)
  try {
    if (!m) throw new UserError(`swarm ${name} has no reachable manager`)
    if (!manager && (await members(ctx, name)).filter(r => r.swarm!.manager).length <= 1) throw new ConflictError(`"${record.name}" is the only manager of swarm ${name}: promote another machine first`)
    await updateNode(m.engine, record.swarm.nodeId, spec => {
      spec.Role = manager ? 'manager' : 'worker'
    })
    await waitRole(m.engine, record.swarm.nodeId, manager ? 'manager' : 'worker')
    record.swarm.manager = manager
    await ctx.store.save(record)
    const advice = quorumAdvice((await members(ctx, name)).filter(r => r.swarm!.manager).length)
    if (advice) ctx.warn?.(`swarm ${name}: ${advice}`)
  } finally {
    m?.engine.close()
    await lock.release()
  }
}

/** Dissolve: workers leave first, then managers (the last one with force), records cleared. */
export async function dissolve(ctx: Ctx, name: string): Promise<void> {
  const recs = await members(ctx, name)
  if (!recs.length) throw new NotFoundError(`swarm "${name}" does not exist`)
  const ordered = [...recs.filter(r => !r.swarm!.manager), ...recs.filter(r => r.swarm!.manager)]
  for (const r of ordered) {
    await leaveSwarm(ctx, r, {force: true})
  }
  await fs.rm(path.join(ctx.store.root, 'swarms', `${name}.lock`), {force: true})
}
