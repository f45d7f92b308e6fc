/**
 * Swarm-mode formation over the Docker API with mutual TLS (never by typing docker commands
 * over SSH). A swarm is the set of machine records whose `swarm.name` matches; join tokens are
 * read from a manager and handed to the joiner in the same breath, never stored or printed.
 */
import {promises as fs} from 'node:fs'
import path from 'node:path'
import {Engine, EngineError} from '../engine/index.js'
import {ConflictError, errorMessage, NotFoundError, poll, pollUntil, UserError} from '../core/index.js'
import {type Ctx, engineFor, handleFor, loadDriver} from '../host/index.js'
import type {MachineRecord, SwarmMembership} from '../store/index.js'
import type {SSHSession} from '../ssh/index.js'
import type {Lock} from '../core/index.js'
import {members, reachableManager, swarmInfo, swarmIp, swarmLock, swarmMember} from './members.js'
import {addressFrom, advertiseAddress} from './address.js'
import {sweepDeadJoiners} from './sweep.js'
import {checkBeforeJoin} from './doctor.js'
import {checkPorts} from './ports.js'
import {admitJoiner, afterJoin, afterLeave} from './firewall.js'


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
  /**
   * How long the join may wait on the manager: its ports answering, its Raft accepting the node
   * (default 60 s). A create scales it with its SSH timeout: a box busy starting fifty engines
   * answers slowly, and slow is not blocked.
   */
  patienceMs?: number
}

/** One-line advice on the manager count (Raft needs a majority: N managers tolerate (N-1)/2 losses). */
export function quorumAdvice(managers: number): string | undefined {
  const tolerate = Math.floor((managers - 1) / 2)
  if (managers > 7) return `${managers} managers: more than 7 slows Raft without adding much; use 1, 3, 5 or 7 (3 tolerate 1 failure, 5 tolerate 2, 7 tolerate 3)`
  if (managers % 2 === 0) return `${managers} managers tolerate ${tolerate} failure${tolerate === 1 ? '' : 's'}, no more than ${managers - 1} would: use an odd count — 1, 3, 5 or 7 (3 tolerate 1 failure, 5 tolerate 2, 7 tolerate 3)`
  return undefined
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

/*
 * A join the manager did not take yet, for reasons that pass: its Raft busy or electing a leader,
 * an RPC that ran out of time on a loaded box. dockerd words these in gRPC's terms.
 */
const transientJoin = (err: unknown) => /deadline exceeded|DeadlineExceeded|code = Unavailable|not ready|leader|election|connection refused|i\/o timeout|context canceled|try again|timed out|socket hang up|ECONNRESET/i.test(errorMessage(err))

async function localState(engine: Engine): Promise<string | undefined> {
  return (await swarmInfo(engine, 15_000).catch(() => undefined))?.LocalNodeState
}

/**
 * Join through the manager, retried while the manager says "not now". After any failure the
 * joiner itself is asked: dockerd keeps a join that timed out going in the background, so the
 * node may be (or become) active although the call failed, and a second join would be refused.
 */
async function joinThrough(ctx: Ctx, engine: Engine, manager: Engine, body: Record<string, unknown>, manage: boolean, patienceMs: number, say: (m: string) => void): Promise<void> {
  await poll(async () => {
    try {
      const sw = await manager.request<{JoinTokens: {Worker: string; Manager: string}}>('GET', '/swarm', undefined, {timeoutMs: 30_000})
      await engine.request('POST', '/swarm/join', {...body, JoinToken: manage ? sw.JoinTokens.Manager : sw.JoinTokens.Worker}, {timeoutMs: 90_000})
      return true
    } catch (err) {
      const state = await pollUntil(async () => await localState(engine) !== 'pending', {timeoutMs: 30_000, intervalMs: 500, signal: ctx.signal})
        .then(() => localState(engine))
      if (state === 'active') return true
      if (!transientJoin(err)) throw Object.assign(err as Error, {fatalJoin: true})
      say(`join not accepted yet (${errorMessage(err).split('\n')[0].slice(0, 120)}): retrying`)
      throw err
    }
  }, {timeoutMs: patienceMs, intervalMs: 1000, backoff: 2, maxIntervalMs: 8000, signal: ctx.signal, fatal: err => Boolean((err as {fatalJoin?: boolean}).fatalJoin)})
}

/** The manager lists the node as ready: the join is done in the swarm's eyes, not only the joiner's. */
async function waitListed(manager: Engine, nodeId: string, patienceMs: number, signal?: AbortSignal): Promise<void> {
  await poll(async () => {
    const node = await manager.request<{Status?: {State?: string}}>('GET', `/nodes/${nodeId}`, undefined, {timeoutMs: 15_000})
    return node.Status?.State === 'ready' ? true : undefined
  }, {timeoutMs: patienceMs, intervalMs: 250, backoff: 1.5, maxIntervalMs: 2000, signal, what: `the manager does not list node ${nodeId} as ready`})
}

/** A manager that answers, waited for while the box is busy: one on record that is slow is not gone. */
async function findManager(ctx: Ctx, swarm: string, exclude: string, patienceMs: number): Promise<{record: MachineRecord; engine: Engine}> {
  return poll(async () => reachableManager(ctx, swarm, {exclude, timeoutMs: 10_000}), {
    timeoutMs: patienceMs, intervalMs: 500, backoff: 1.5, maxIntervalMs: 4000, signal: ctx.signal,
    timeoutError: async () => new UserError(`swarm "${swarm}" has members but no reachable manager (${(await members(ctx, swarm)).filter(r => r.name !== exclude).map(o => o.name).join(', ')}): start a manager first`),
  })
}

/**
 * Put a machine into swarm `opts.name`: initialise the swarm when it has no manager, else join
 * through one (as manager or worker), then label the node. Idempotent per machine.
 *
 * Workers join side by side: adding one changes no Raft membership, and fifty of them waiting on
 * one lock made a 50-host create serial at its end. Only a swarm's birth (exactly one machine
 * initialises) and a manager's join (one Raft member added at a time) take the swarm lock.
 */
export async function joinSwarm(ctx: Ctx, record: MachineRecord, opts: JoinOptions, session?: SSHSession): Promise<void> {
  const say = (m: string) => ctx.progress?.(record.name, m)
  const driver = await loadDriver(ctx, record.driver)
  const patience = opts.patienceMs ?? 60_000
  // Not always ip(): a local VM's engine is forwarded to 127.0.0.1, its swarm traffic goes over its own
  // segment; a cloud VM advertises its private address only when every member shares its network.
  const self = await swarmMember(ctx, record)
  const others = await Promise.all((await members(ctx, opts.name)).filter(r => r.name !== record.name).map(r => swarmMember(ctx, r, false)))
  const advertise = opts.advertiseAddr ?? advertiseAddress(self, others)
  if (opts.initialiser && opts.initialiser !== record.name) await waitForInitialiser(ctx, opts.name, opts.initialiser)
  const engine = await engineFor(ctx, record)
  let lock: Lock | undefined
  let manager: {record: MachineRecord; engine: Engine} | undefined
  // Saved before the engine is asked: a create killed right after the join still names the swarm.
  let joined = false
  const intend = async (asManager: boolean) => {
    record.swarmJoin = {name: opts.name, manager: asManager, at: new Date().toISOString()}
    await ctx.store.save(record)
  }
  const managerOnRecord = async () => (await members(ctx, opts.name)).some(r => r.name !== record.name && r.swarm!.manager && r.swarm!.nodeId)
  try {
    const local = await swarmInfo(engine, 30_000)
    if (local.LocalNodeState === 'active') throw new ConflictError(`machine "${record.name}" is already in a swarm: run "berth swarm leave ${record.name}" first`)
    const onRecord = await managerOnRecord()
    if (opts.manager || !onRecord) lock = await swarmLock(ctx, opts.name)
    // Read again only under the lock (another process may have made the swarm meanwhile): a
    // worker's second listing of the whole store said nothing new.
    if (lock ? await managerOnRecord() : onRecord) manager = await findManager(ctx, opts.name, record.name, patience)
    if (manager) await sweepDeadJoiners(ctx, opts.name, record.name, manager.engine)
    let role = opts.manager
    let nodeId: string
    if (!manager) {
      const others = (await members(ctx, opts.name)).filter(r => r.name !== record.name && r.swarm?.nodeId)
      if (others.length) throw new UserError(`swarm "${opts.name}" has members but no reachable manager (${others.map(o => o.name).join(', ')}): start a manager first`)
      say(`initialising swarm ${opts.name}`)
      await intend(true)
      nodeId = await engine.request<string>('POST', '/swarm/init', {
        ListenAddr: '0.0.0.0:2377', AdvertiseAddr: advertise, ...(opts.dataPathAddr ? {DataPathAddr: opts.dataPathAddr} : {}),
      }, {timeoutMs: 90_000})
      joined = true
      role = true
    } else {
      // Over a mesh the manager is reached at its mesh address, through the tunnel.
      const managerIp = manager.record.mesh?.address ?? addressFrom(self, await swarmMember(ctx, manager.record))
      // Clouds' firewalls first: the manager's must let the joiner in for the check and the join.
      await admitJoiner(ctx, opts.name, record)
      say(`checking swarm paths to and from ${manager.record.name}`)
      await checkBeforeJoin(ctx, opts.name, record, manager.record, session, patience)
      say(`checking swarm ports of ${manager.record.name}`)
      await checkPorts(session, managerIp, {timeoutMs: patience, signal: ctx.signal, onRetry: m => ctx.debug?.(record.name, m)})
      say(`joining swarm ${opts.name} as ${role ? 'manager' : 'worker'}`)
      await intend(role)
      await joinThrough(ctx, engine, manager.engine, {
        ListenAddr: '0.0.0.0:2377', AdvertiseAddr: advertise, RemoteAddrs: [`${managerIp}:2377`],
        ...(opts.dataPathAddr ? {DataPathAddr: opts.dataPathAddr} : {}),
      }, role, patience, say)
      joined = true
      nodeId = (await swarmInfo(engine, 30_000)).NodeID
      await waitListed(manager.engine, nodeId, patience, ctx.signal)
    }
    const labels = nodeLabels(record, driver.labels?.(handleFor(ctx, record)) ?? {}, opts.labels)
    await updateNode(manager?.engine ?? engine, nodeId, spec => {
      spec.Labels = {...spec.Labels, ...labels}
    })
    const membership: SwarmMembership = {name: opts.name, manager: role, advertiseAddr: advertise, dataPathAddr: opts.dataPathAddr, labels: opts.labels ?? {}, strategy: opts.strategy, nodeId}
    record.swarm = membership
    delete record.swarmJoin
    await ctx.store.save(record)
    if (role) {
      const advice = quorumAdvice((await members(ctx, opts.name)).filter(r => r.swarm!.manager).length)
      if (advice) ctx.warn?.(`swarm ${opts.name}: ${advice}`)
    }
  } catch (err) {
    // An engine that is in no swarm after a refused init or join: the intent is void. One that
    // joined, or that does not answer (a timeout, a lost connection), keeps the intent on record.
    if (record.swarmJoin && !joined && await localState(engine) === 'inactive') {
      delete record.swarmJoin
      await ctx.store.save(record).catch(() => {})
    }
    throw err
  } finally {
    engine.close()
    manager?.engine.close()
    await lock?.release()
    await afterJoin(ctx, opts.name, record)
  }
}

/** One wait per swarm in this process: fifty joiners polling the store each would cost more than the joins. */
const initialisers = new Map<string, Promise<unknown>>()

function waitForInitialiser(ctx: Ctx, swarm: string, initialiser: string): Promise<unknown> {
  const key = `${ctx.store.root}\0${swarm}\0${initialiser}`
  let wait = initialisers.get(key)
  if (!wait) {
    wait = pollUntil(async () => {
      const rec = await ctx.store.load(initialiser).catch(() => undefined)
      // The initialiser failed (its record is gone or errored): go ahead without it.
      return !rec || rec.status === 'error' || Boolean(rec.swarm?.manager && rec.swarm.nodeId)
    }, {timeoutMs: 600_000, intervalMs: 250})
    initialisers.set(key, wait)
    void wait.finally(() => initialisers.delete(key)).catch(() => {})
  }
  // Each waiter keeps its own Ctrl-C: the shared poll has none, so one abort does not end the others'.
  const signal = ctx.signal
  if (!signal) return wait
  return new Promise((resolve, reject) => {
    const onAbort = () => reject(signal.reason)
    if (signal.aborted) return onAbort()
    signal.addEventListener('abort', onAbort, {once: true})
    wait.then(resolve, reject).finally(() => signal.removeEventListener('abort', onAbort))
  })
}

/** Drain, leave and remove the node entry; the last manager of a swarm with workers needs force. */
export async function leaveSwarm(ctx: Ctx, record: MachineRecord, opts: {force?: boolean} = {}): Promise<void> {
  if (!record.swarm) throw new ConflictError(`machine "${record.name}" is not in a swarm`)
  const name = record.swarm.name
  const say = (m: string) => ctx.progress?.(record.name, m)
  // Workers leave side by side (no Raft membership changes); managers one at a time.
  const lock = record.swarm.manager ? await swarmLock(ctx, name) : undefined
  if (record.swarm.manager) {
    const others = (await members(ctx, name)).filter(r => r.name !== record.name)
    if (!others.some(r => r.swarm!.manager) && others.length && !opts.force) {
      await lock?.release()
      throw new ConflictError(`"${record.name}" is the last manager of swarm ${name}, which still has workers (${others.map(o => o.name).join(', ')}): without it they cannot be managed; pass -f to remove it anyway, or promote a worker first`)
    }
  }
  let engine: Engine | undefined
  let manager: {record: MachineRecord; engine: Engine} | undefined
  try {
    manager = await reachableManager(ctx, name, {exclude: record.name, timeoutMs: 10_000})
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
    await lock?.release()
  }
  await afterLeave(ctx, name, record)
}

/**
 * Undo a join a killed create left on record as an intent (swarmJoin, no swarm): the node may be
 * in the swarm although berth never wrote it down, and the manager would list it Down forever.
 * Best effort: the node ID comes from the machine's engine when it answers, else from the
 * manager's node list by address; a manager demotes and removes the entry, the engine leaves.
 */
export async function abandonJoin(ctx: Ctx, record: MachineRecord): Promise<void> {
  const intent = record.swarmJoin
  if (!intent) return
  ctx.progress?.(record.name, `removing the unfinished join of swarm ${intent.name}`)
  let engine: Engine | undefined
  let manager: {record: MachineRecord; engine: Engine} | undefined
  try {
    engine = await engineFor(ctx, record).catch(() => undefined)
    const info = engine && await swarmInfo(engine, 10_000).catch(() => undefined)
    let nodeId = info && info.LocalNodeState !== 'inactive' ? info.NodeID : undefined
    manager = await reachableManager(ctx, intent.name, {exclude: record.name, timeoutMs: 10_000})
    if (manager && !nodeId) {
      const addr = await swarmIp(ctx, record).catch(() => undefined)
      const nodes = await manager.engine.request<Array<{ID: string; Status?: {Addr?: string; State?: string}}>>('GET', '/nodes').catch(() => [])
      nodeId = nodes.find(n => addr && n.Status?.Addr === addr)?.ID
    }
    if (manager && nodeId) {
      await updateNode(manager.engine, nodeId, spec => {
        spec.Availability = 'drain'
        spec.Role = 'worker'
      }).catch(() => {})
      await waitRole(manager.engine, nodeId, 'worker').catch(() => {})
    }
    if (info && info.LocalNodeState !== 'inactive') await engine!.request('POST', '/swarm/leave?force=true', undefined, {timeoutMs: 30_000}).catch(() => {})
    if (manager && nodeId) await manager.engine.request('DELETE', `/nodes/${nodeId}?force=true`).catch(() => {})
  } finally {
    engine?.close()
    manager?.engine.close()
  }
  delete record.swarmJoin
  await ctx.store.save(record)
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
