/**
 * Classic cluster mode (classic Swarm's own model, seed 004): a named group of machines whose
 * engines are NOT in swarm mode. Nothing is initialised or joined and no swarm port is opened:
 * `berth swarm manage` dials out to each engine over mutual TLS and places containers itself, so
 * a head behind NAT takes no inbound connection from the workers. The group lives in the store as
 * a group record (its mode, from its first member to its last) and its members' records
 * (`swarm.mode: 'classic'`), as a swarm-mode swarm lives in its members' records.
 */
import {ConflictError, parallel, UserError} from '../core/index.js'
import {type Ctx, engineFor, handleFor, loadDriver} from '../host/index.js'
import {CorruptRecord, ensureGroup, loadGroup, type MachineRecord, removeGroup} from '../store/index.js'
import type {JoinOptions, SwarmNodeRow, SwarmSummary} from '../swarm/index.js'

export type GroupMode = 'swarm' | 'classic'
/** What `create --swarm` asks for: a swarm-mode join, or (mode classic) a classic group's membership. */
export type GroupOptions = JoinOptions & {mode?: GroupMode}
/** A swarm's or a classic group's summary, with its mode (swarm ls, swarm inspect). */
export type GroupSummary = SwarmSummary & {mode: GroupMode}

export const isClassic = (r: MachineRecord | undefined): boolean => r?.swarm?.mode === 'classic'

/**
 * A group's mode: its group record's, else what its members record (a pending swarm join counts
 * as swarm mode); undefined: no such group.
 */
export async function groupMode(ctx: Ctx, name: string, exclude?: string): Promise<GroupMode | undefined> {
  const group = await loadGroup(ctx.store.root, name)
  if (group) return group.mode
  for (const r of await ctx.store.loadAll()) {
    if (r instanceof CorruptRecord || r.name === exclude) continue
    if (r.swarm?.name === name) return r.swarm.mode ?? 'swarm'
    if (r.swarmJoin?.name === name) return 'swarm'
  }
  return undefined
}

/**
 * The mode a machine joins `opts.name` in: the group's own when it exists, else the one asked
 * for, else swarm mode. Asking for the other mode of an existing group, or for a swarm-mode
 * address in a classic one, is refused in one line before anything is made.
 */
export async function resolveMode(ctx: Ctx, opts: GroupOptions, exclude?: string): Promise<GroupMode> {
  const existing = await groupMode(ctx, opts.name, exclude)
  if (existing && opts.mode && opts.mode !== existing) {
    throw new UserError(`"${opts.name}" is a ${describeMode(existing)}, and a group has one mode: drop --swarm-mode ${opts.mode}, or choose another --swarm name`)
  }
  const mode = opts.mode ?? existing ?? 'swarm'
  if (mode === 'classic') {
    for (const [flag, v] of [['swarm-advertise-addr', opts.advertiseAddr], ['swarm-data-path-addr', opts.dataPathAddr]] as const) {
      if (v) throw new UserError(`--${flag} is for swarm mode: the classic group "${opts.name}" advertises nothing (berth swarm manage dials each engine)`)
    }
  }
  return mode
}

const describeMode = (m: GroupMode) => (m === 'classic' ? 'classic group' : 'swarm-mode swarm')

/** The engine's swarm state ("inactive" when it is in no swarm), read over mutual TLS. */
async function swarmState(ctx: Ctx, record: MachineRecord, timeoutMs: number): Promise<{state: string; version: string; addr: string}> {
  const engine = await engineFor(ctx, record)
  try {
    const info = await engine.info(timeoutMs) as {Swarm?: {LocalNodeState?: string}; ServerVersion?: string}
    return {state: info.Swarm?.LocalNodeState || 'inactive', version: info.ServerVersion ?? '', addr: `${engine.host}:${engine.port}`}
  } finally {
    engine.close()
  }
}

/**
 * Make a provisioned machine a member of a classic group: its engine must not be in swarm mode.
 * The labels placement filters on (berth.machine, berth.driver, where it lives, --swarm-label)
 * are recorded with the membership, since no swarm node carries them.
 */
export async function joinClassic(ctx: Ctx, record: MachineRecord, opts: GroupOptions): Promise<void> {
  if (record.swarm) throw new ConflictError(`machine "${record.name}" is already in ${record.swarm.mode === 'classic' ? 'the classic group' : 'swarm'} ${record.swarm.name}: run "berth swarm leave ${record.name}" first`)
  const {state} = await swarmState(ctx, record, 30_000)
  if (state !== 'inactive') throw new ConflictError(`machine "${record.name}" is in swarm mode (${state}), which a classic group's engines are not: run "berth swarm leave ${record.name}" first`)
  const driver = await loadDriver(ctx, record.driver)
  const {nodeLabels} = await import('../swarm/index.js')
  const labels = nodeLabels(record, driver.labels?.(handleFor(ctx, record)) ?? {}, opts.labels)
  // The head (docker-machine's --swarm-master): asked for, the first name of the create that made
  // the group, or (joined later) whoever comes while the group has none.
  const {members} = await import('../swarm/index.js')
  const head = opts.manager || (opts.initialiser ? opts.initialiser === record.name : !(await members(ctx, opts.name)).some(r => r.name !== record.name && r.swarm!.manager))
  await ensureGroup(ctx.store.root, {name: opts.name, mode: 'classic', createdAt: new Date().toISOString(), ...(opts.strategy ? {strategy: opts.strategy} : {})})
  record.swarm = {name: opts.name, manager: head, mode: 'classic', labels, ...(opts.strategy ? {strategy: opts.strategy} : {})}
  await ctx.store.save(record)
  ctx.progress?.(record.name, `in the classic group ${opts.name}${head ? ' (head)' : ''}: no swarm mode, no swarm port`)
}

/** Leaving a classic group only forgets the membership: there is no swarm to leave. */
export async function leaveClassic(ctx: Ctx, record: MachineRecord): Promise<void> {
  const name = record.swarm!.name
  delete record.swarm
  await ctx.store.save(record)
  await dropGroupIfEmpty(ctx, name)
}

/** The group record goes with the group's last member (an rm, a leave, swarm rm). */
export async function dropGroupIfEmpty(ctx: Ctx, name: string): Promise<void> {
  const {members} = await import('../swarm/index.js')
  if (!(await members(ctx, name)).length) await removeGroup(ctx.store.root, name)
}

/** A classic group as its engines say: each answers (ready) or not (down); none is in swarm mode. */
export async function describeClassic(ctx: Ctx, name: string, timeoutMs = 5000): Promise<GroupSummary> {
  const {members} = await import('../swarm/index.js')
  const recs = (await members(ctx, name)).sort((a, b) => a.name.localeCompare(b.name))
  const nodes = await parallel(recs, 16, async (r): Promise<SwarmNodeRow> => {
    const row: SwarmNodeRow = {
      machine: r.name, nodeId: '', role: r.swarm!.manager ? 'manager' : 'worker', state: 'down', availability: 'active',
      leader: false, reachability: '', engine: '', addr: '', labels: r.swarm!.labels,
    }
    if (r.status !== 'ready') return {...row, state: r.status}
    try {
      const s = await swarmState(ctx, r, timeoutMs)
      // An engine put into swarm mode behind berth's back is named: the group's placement ignores it.
      return {...row, state: s.state === 'inactive' ? 'ready' : `swarm mode (${s.state})`, engine: s.version, addr: s.addr}
    } catch {
      return row
    }
  })
  const rows = nodes.map((n, i) => (n.status === 'fulfilled' ? n.value : {machine: recs[i].name, nodeId: '', role: 'worker' as const, state: 'down', availability: 'active', leader: false, reachability: '', engine: '', addr: '', labels: {}}))
  const up = rows.filter(n => n.state === 'ready').length
  return {
    name, mode: 'classic', nodes: rows, leader: '',
    managers: rows.filter(n => n.role === 'manager').map(n => n.machine), workers: rows.filter(n => n.role === 'worker').map(n => n.machine),
    reachable: up > 0, ...(up ? {via: `${up}/${rows.length} engines`} : {}),
  }
}
