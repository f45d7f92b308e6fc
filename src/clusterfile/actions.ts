/**
 * Every call the cluster file makes into machine/, swarm/ and host/, in one place: those layers
 * are being reworked, and converge.ts only speaks this small vocabulary.
 */
import {UserError} from '../core/index.js'
import {type Ctx, createBerth, createMachine, removeMachine, withLock} from '../machine/index.js'
import {meshMembers} from '../mesh/index.js'
import {joinSwarm, reachableManager, setRole, updateNode} from '../swarm/index.js'
import type {MachineRecord} from '../store/index.js'
import {CorruptRecord} from '../store/index.js'
import type {ClusterSpec, DesiredMachine} from './load.js'
import {resolveOptions} from './options.js'

export type {Ctx}

export async function listRecords(ctx: Ctx): Promise<{records: MachineRecord[]; corrupt: string[]}> {
  const all = await ctx.store.loadAll()
  return {
    records: all.filter((r): r is MachineRecord => !(r instanceof CorruptRecord)),
    corrupt: all.filter(r => r instanceof CorruptRecord).map(r => r.name),
  }
}

/** A classic group's labels on record include berth's own (berth.machine, ...): the file owns only the others. */
export const isBerthLabel = (k: string) => k.startsWith('berth.')

/** A swarm manager answers: workers may join (else the first of them would initialise the swarm). */
export async function hasManager(ctx: Ctx, swarm: string): Promise<boolean> {
  const m = await reachableManager(ctx, swarm, {pingOnly: true})
  m?.engine.close()
  return Boolean(m)
}

function joinOptions(spec: ClusterSpec, m: DesiredMachine) {
  if (!spec.swarm) return undefined
  return {name: spec.swarm.name, manager: m.role === 'manager', labels: m.labels, strategy: spec.swarm.strategy, mode: spec.swarm.mode}
}

/** The create path of `berth create` (rollback of this one machine included), remembering its origin. */
export async function create(ctx: Ctx, spec: ClusterSpec, m: DesiredMachine): Promise<void> {
  await createMachine(ctx, m.name, {
    driver: m.driver,
    driverOptions: await resolveOptions(m, spec.file),
    engine: m.engine,
    sshTimeoutSec: m.sshTimeoutSec,
    swarm: joinOptions(spec, m),
    ...(spec.swarm?.mesh ? {mesh: spec.swarm.mesh} : {}),
    origin: {file: spec.file, group: m.group},
  })
}

/** rm as `berth rm` does it: drain and leave the swarm, then the host and its cloud resources. */
export async function remove(ctx: Ctx, name: string, force: boolean): Promise<string[]> {
  return removeMachine(ctx, name, {force})
}

/** As `berth swarm join`: a classic group's membership, or the swarm (over its mesh first when it has one). */
export async function join(ctx: Ctx, spec: ClusterSpec, m: DesiredMachine): Promise<void> {
  const opts = joinOptions(spec, m)!
  if (spec.swarm!.mode === 'swarm' && !spec.swarm!.mesh) return withLock(ctx, m.name, record => joinSwarm(ctx, record, opts))
  // An existing machine enters the mesh a swarm has; it cannot start one (its keys and addresses come with a create).
  if (spec.swarm!.mesh && !(await meshMembers(ctx, spec.swarm!.name)).length) {
    throw new UserError(`swarm ${spec.swarm!.name} has no mesh member yet: an existing machine joins a mesh swarm once up has created its first manager; give the file a manager group of new machines, or remove ${m.name}`)
  }
  await createBerth({store: ctx.store, drivers: ctx.drivers, io: ctx}).swarm.join(m.name, opts)
}

export async function changeRole(ctx: Ctx, name: string, manager: boolean): Promise<void> {
  const record = await ctx.store.load(name)
  if (record.swarm?.mode !== 'classic') return setRole(ctx, record, manager)
  // A classic group's head is only a mark on record (who `swarm ls` names, beside whom manage runs).
  await withLock(ctx, name, async r => {
    r.swarm!.manager = manager
    await ctx.store.save(r)
  })
}

export async function setGroup(ctx: Ctx, spec: ClusterSpec, name: string, group: string): Promise<void> {
  await withLock(ctx, name, async record => {
    record.origin = {file: spec.file, group}
    await ctx.store.save(record)
  })
}

/** The default strategy of `berth run` lives in each member's record. */
export async function setStrategy(ctx: Ctx, name: string, strategy: string): Promise<void> {
  await withLock(ctx, name, async record => {
    if (!record.swarm) return
    record.swarm.strategy = strategy
    await ctx.store.save(record)
  })
}

/** The node's user labels become exactly `labels` (berth.* labels stay), through a manager. */
export async function setLabels(ctx: Ctx, name: string, labels: Record<string, string>): Promise<void> {
  await withLock(ctx, name, async record => {
    const sw = record.swarm
    if (sw?.mode === 'classic') {
      // No node carries them: placement reads them from the record.
      sw.labels = {...Object.fromEntries(Object.entries(sw.labels ?? {}).filter(([k]) => isBerthLabel(k))), ...labels}
      await ctx.store.save(record)
      return
    }
    if (!sw?.nodeId) return
    const m = await reachableManager(ctx, sw.name)
    if (!m) throw new Error(`swarm ${sw.name} has no reachable manager`)
    try {
      await updateNode(m.engine, sw.nodeId, spec => {
        const next: Record<string, string> = {...spec.Labels}
        for (const k of Object.keys(sw.labels ?? {})) if (!(k in labels)) delete next[k]
        spec.Labels = Object.assign(next, labels)
      })
    } finally {
      m.engine.close()
    }
    sw.labels = {...labels}
    await ctx.store.save(record)
  })
}
