/**
 * The composition root's product (libmachine's API object): one berth, built from a store, a
 * driver registry and the output, whose methods are what commands do. Commands parse flags,
 * call one method and print; unit tests build the same object with a fake driver registry.
 *
 * Why an object over the free functions rather than instead of them: the free functions taking
 * a Ctx stay the units (cluster/ and manage/ are written against Ctx, and each step is tested on
 * its own), while the object binds the context once, so no command threads `ctx` through its
 * calls or picks which layer (host, machine, swarm) a verb lives in. It adds no state of its own:
 * two berths on the same store see the same machines, as two berth processes do.
 */
import type {DriverLoaders} from '../sdk/index.js'
import type {MachineRecord, Store} from '../store/index.js'
import type {DoctorReport} from '../swarm/index.js'
import {ConflictError, errorMessage, UserError} from '../core/index.js'
import {type Ctx, engineFor, handleFor, ipDrift, loadDriver, machineState, type MachineStatus, openSSH, withLock} from '../host/index.js'
import type {Engine} from '../engine/index.js'
import type {SSHSession} from '../ssh/index.js'
import {type CreateOptions, createMachine, power, type PowerAction, regenerateCerts, type RemoveOptions, removeMachine, reprovision} from './lifecycle.js'
import {type UpgradeReport, upgradeMachine} from './upgrade.js'
import {listRows, type MachineRow} from './inventory.js'
import {removeMachines} from './removal.js'
import {describeClassic, dropGroupIfEmpty, type GroupMode, type GroupOptions, type GroupSummary, groupMode, isClassic, joinClassic, leaveClassic, resolveMode} from './classic.js'

// Swarm formation loads only for swarm verbs: ls and env stay fast.
const swarmMod = () => import('../swarm/index.js')
const meshMod = () => import('../mesh/index.js')

/** What a berth prints through: per-machine progress, debug lines, warnings; Ctrl-C's signal. */
export interface BerthIO {
  progress?: Ctx['progress']
  debug?: Ctx['debug']
  warn?: Ctx['warn']
  signal?: AbortSignal
}

export interface Berth {
  readonly store: Store
  /** The context below the object, for the layers written against it (cluster, manage). */
  readonly ctx: Ctx
  create(name: string, opts: CreateOptions): Promise<MachineRecord>
  /** Returns what could not be removed (the record then stays, unless forced). */
  rm(name: string, opts?: RemoveOptions): Promise<string[]>
  /** Many rms at once, ordered per swarm so none loses its quorum; results in the order of `names`. */
  rmAll(names: string[], opts?: RemoveOptions): Promise<PromiseSettledResult<string[]>[]>
  power(name: string, action: PowerAction): Promise<void>
  regenerateCerts(name: string, opts?: {clientCerts?: boolean}): Promise<void>
  reprovision(name: string): Promise<void>
  upgrade(name: string): Promise<UpgradeReport>
  load(name: string): Promise<MachineRecord>
  state(record: MachineRecord): Promise<MachineStatus>
  ip(record: MachineRecord): Promise<string>
  /** A note when the machine's IP left its server certificate (regenerate-certs fixes it). */
  drift(record: MachineRecord): Promise<string | undefined>
  list(opts: {timeoutMs: number; names?: string[]}): Promise<MachineRow[]>
  engine(record: MachineRecord): Promise<Engine>
  ssh(record: MachineRecord): Promise<SSHSession>
  /** Run fn on the machine's record with its lock held (other berth processes wait). */
  withLock<T>(name: string, fn: (record: MachineRecord) => Promise<T>): Promise<T>
  swarm: {
    names(): Promise<string[]>
    members(swarm: string): Promise<MachineRecord[]>
    /** swarm mode or a classic group (undefined: no such group). */
    mode(swarm: string): Promise<GroupMode | undefined>
    /** The first manager whose engine answers (a ping: /info blocks during an election). */
    manager(swarm: string): Promise<MachineRecord | undefined>
    /** Join (or initialise) a swarm, or enter a classic group; with `ssh`, the joiner probes the manager's ports itself. */
    join(machine: string, opts: GroupOptions, o?: {ssh?: boolean}): Promise<void>
    leave(machine: string, opts?: {force?: boolean}): Promise<void>
    setRole(machine: string, manager: boolean): Promise<void>
    describe(swarm: string, timeoutMs?: number): Promise<GroupSummary>
    dissolve(swarm: string): Promise<void>
    /** Every swarm port between every pair of members, probed over their SSH sessions. */
    doctor(swarm: string): Promise<DoctorReport>
  }
}

export function createBerth(opts: {store: Store; drivers: DriverLoaders; io?: BerthIO}): Berth {
  const ctx: Ctx = {store: opts.store, drivers: opts.drivers, ...opts.io}
  return {
    store: opts.store,
    ctx,
    create: (name, o) => createMachine(ctx, name, o),
    rm: (name, o) => removeMachine(ctx, name, o),
    rmAll: (names, o) => removeMachines(ctx, names, o),
    power: (name, action) => power(ctx, name, action),
    regenerateCerts: (name, o) => regenerateCerts(ctx, name, o),
    reprovision: name => reprovision(ctx, name),
    upgrade: name => upgradeMachine(ctx, name),
    load: name => ctx.store.load(name),
    state: record => machineState(ctx, record),
    ip: async record => (await loadDriver(ctx, record.driver)).ip(handleFor(ctx, record)),
    drift: record => ipDrift(ctx, record),
    list: o => listRows(ctx, o),
    engine: record => engineFor(ctx, record),
    ssh: record => openSSH(ctx, record),
    withLock: (name, fn) => withLock(ctx, name, fn),
    swarm: {
      names: async () => (await swarmMod()).swarmNames(ctx),
      members: async swarm => (await swarmMod()).members(ctx, swarm),
      mode: swarm => groupMode(ctx, swarm),
      manager: async swarm => {
        // A classic group has no manager node: its endpoint is `berth swarm manage`.
        if (await groupMode(ctx, swarm) === 'classic') return undefined
        const m = await (await swarmMod()).reachableManager(ctx, swarm, {pingOnly: true})
        m?.engine.close()
        return m?.record
      },
      join: async (machine, o, j) => {
        const {joinSwarm} = await swarmMod()
        const mesh = await (await meshMod()).meshFor(ctx, o.name)
        await withLock(ctx, machine, async record => {
          if (await resolveMode(ctx, o, record.name) === 'classic') return joinClassic(ctx, record, o)
          if (isClassic(record)) throw new ConflictError(`machine "${machine}" is in the classic group ${record.swarm!.name}: run "berth swarm leave ${machine}" first`)
          if (!j?.ssh && !mesh) return joinSwarm(ctx, record, o)
          const session = await openSSH(ctx, record)
          try {
            // A swarm on a mesh is joined over it: the machine enters the mesh first, and leaves it if the join fails.
            const addr = mesh && await (await meshMod()).joinMesh(ctx, record, session, mesh, o.name)
            await joinSwarm(ctx, record, {...o, ...(addr ? {advertiseAddr: addr, dataPathAddr: addr} : {})}, session).catch(async err => {
              if (addr) await (await meshMod()).leaveMesh(ctx, record).catch(() => {})
              throw err
            })
            await (await import('../registry/index.js')).trustOnJoin(ctx, record, o.name, session, {reload: true})
          } finally {
            session.close()
          }
        })
      },
      leave: async (machine, o) => {
        const {leaveSwarm} = await swarmMod()
        await withLock(ctx, machine, async record => {
          if (isClassic(record)) return leaveClassic(ctx, record)
          await leaveSwarm(ctx, record, o)
          if (record.mesh) await (await meshMod()).leaveMesh(ctx, record)
        })
      },
      setRole: async (machine, manager) => {
        const {setRole} = await swarmMod()
        await withLock(ctx, machine, record => {
          if (isClassic(record)) throw new UserError(`machine "${machine}" is in the classic group ${record.swarm!.name}, which has no swarm roles to change`)
          return setRole(ctx, record, manager)
        })
      },
      describe: async (swarm, timeoutMs) => {
        if (await groupMode(ctx, swarm) === 'classic') return describeClassic(ctx, swarm, timeoutMs)
        return {...await (await swarmMod()).describeSwarm(ctx, swarm, timeoutMs), mode: 'swarm'}
      },
      dissolve: async swarm => {
        if (await groupMode(ctx, swarm) !== 'classic') {
          await (await swarmMod()).dissolve(ctx, swarm)
          // The mesh was the swarm's: it goes with it, member by member.
          const {leaveMesh, meshMembers} = await meshMod()
          for (const r of await meshMembers(ctx, swarm)) await leaveMesh(ctx, r).catch(err => ctx.warn?.(`mesh on ${r.name}: ${errorMessage(err)}`))
          return
        }
        for (const r of await (await swarmMod()).members(ctx, swarm)) await withLock(ctx, r.name, record => leaveClassic(ctx, record))
        await dropGroupIfEmpty(ctx, swarm)
      },
      doctor: async swarm => {
        if (await groupMode(ctx, swarm) === 'classic') throw new UserError(`"${swarm}" is a classic group: it needs no swarm port (berth swarm manage dials each engine on its TLS port)`)
        return (await swarmMod()).swarmDoctor(ctx, swarm)
      },
    },
  }
}
