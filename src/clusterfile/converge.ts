/**
 * `up` and `down`: carry out a plan in an order that keeps the swarm whole. Managers are made
 * one at a time (the first initialises, each later one joins a quorum that already agrees),
 * workers in parallel once a manager answers; removal goes workers first, managers last.
 * Each machine fails on its own (createMachine rolls it back), so `up` again resumes.
 */
import {errorMessage, parallel, UserError} from '../core/index.js'
import * as act from './actions.js'
import type {Ctx} from './actions.js'
import type {ClusterSpec} from './load.js'
import {type Plan, type PlanItem, planCluster} from './plan.js'

export interface Outcome {
  plan: Plan
  done: PlanItem[]
  failed: Array<{item: PlanItem; error: string}>
}

export async function planFor(ctx: Ctx, spec: ClusterSpec): Promise<Plan> {
  const {records, corrupt} = await act.listRecords(ctx)
  return planCluster(spec, records, corrupt)
}

async function settle(items: PlanItem[], limit: number, fn: (i: PlanItem) => Promise<unknown>, out: Outcome): Promise<void> {
  const res = await parallel(items, limit, fn)
  res.forEach((r, k) => {
    if (r.status === 'fulfilled') {
      const left = r.value
      if (Array.isArray(left) && left.length) out.failed.push({item: items[k], error: `could not remove: ${left.join('; ')}`})
      else out.done.push(items[k])
    } else {
      out.failed.push({item: items[k], error: errorMessage(r.reason)})
    }
  })
}

export async function up(ctx: Ctx, spec: ClusterSpec, opts: {parallel: number; force: boolean}): Promise<Outcome> {
  const plan = await planFor(ctx, spec)
  if (plan.conflicts.length) throw new UserError(plan.conflicts.join('; '), 'conflict')
  if (plan.risks.length && !opts.force) throw new UserError(`${plan.risks.join('; ')}: pass --force to do it anyway`, 'conflict')
  const out: Outcome = {plan, done: [], failed: []}
  if (!plan.changed) return out
  const byName = new Map(spec.machines.map(m => [m.name, m]))
  const of = (a: PlanItem['action'], role?: string) => plan.items.filter(i => i.action === a && (!role || i.role === role))

  for (const item of of('create', 'manager')) {
    if (ctx.signal?.aborted) break
    await settle([item], 1, i => act.create(ctx, spec, byName.get(i.name)!), out)
  }
  const workers = of('create', 'worker')
  if (workers.length) {
    // A classic group has no manager to join: its members are only grouped, each on its own.
    if (spec.swarm?.mode === 'swarm' && !ctx.signal?.aborted && !(await act.hasManager(ctx, spec.swarm.name))) {
      // A worker joining a swarm without a manager would initialise it and become one.
      for (const item of workers) out.failed.push({item, error: `swarm ${spec.swarm.name} has no reachable manager to join`})
    } else {
      await settle(workers, opts.parallel, i => act.create(ctx, spec, byName.get(i.name)!), out)
    }
  }

  // Promotions before demotions, one at a time, so the manager count never dips on the way.
  const changes = of('change').sort((a, b) => rank(a) - rank(b))
  for (const item of changes) {
    await settle([item], 1, i => applyChanges(ctx, spec, i), out)
  }

  await settle(of('remove').filter(i => i.role === 'worker'), opts.parallel, i => act.remove(ctx, i.name, opts.force), out)
  for (const item of of('remove', 'manager')) await settle([item], 1, i => act.remove(ctx, i.name, opts.force), out)
  return out
}

function rank(i: PlanItem): number {
  if (i.changes.includes('role: worker -> manager')) return 0
  if (i.changes.includes('role: manager -> worker')) return 2
  return 1
}

async function applyChanges(ctx: Ctx, spec: ClusterSpec, item: PlanItem): Promise<void> {
  const m = spec.machines.find(x => x.name === item.name)!
  for (const c of item.changes) {
    if (c.startsWith('group:')) await act.setGroup(ctx, spec, m.name, m.group)
    else if (c.startsWith('join swarm')) await act.join(ctx, spec, m)
    else if (c.startsWith('role:')) await act.changeRole(ctx, m.name, m.role === 'manager')
    else if (c.startsWith('labels:')) await act.setLabels(ctx, m.name, m.labels)
    else if (c.startsWith('strategy:')) await act.setStrategy(ctx, m.name, spec.swarm!.strategy!)
  }
}

/** What `down` removes: every machine made from this file, whatever group it was in. */
export async function downPlan(ctx: Ctx, spec: ClusterSpec): Promise<{remove: PlanItem[]; untouched: string[]}> {
  const {records} = await act.listRecords(ctx)
  const mine = records.filter(r => r.origin?.file === spec.file)
  const names = new Set(mine.map(r => r.name))
  return {
    remove: mine.map(r => ({action: 'remove' as const, name: r.name, group: r.origin!.group, driver: r.driver, role: r.swarm?.manager ? 'manager' as const : 'worker' as const, changes: []})),
    untouched: spec.machines.filter(m => !names.has(m.name) && records.some(r => r.name === m.name)).map(m => m.name),
  }
}

export async function down(ctx: Ctx, spec: ClusterSpec, opts: {parallel: number; force: boolean}): Promise<Outcome & {untouched: string[]}> {
  const {remove, untouched} = await downPlan(ctx, spec)
  const plan: Plan = {file: spec.file, swarm: spec.swarm?.name, ...(spec.swarm ? {mode: spec.swarm.mode} : {}), items: remove, conflicts: [], risks: [], changed: remove.length > 0}
  const out = {plan, done: [] as PlanItem[], failed: [] as Outcome['failed'], untouched}
  await settle(remove.filter(i => i.role === 'worker'), opts.parallel, i => act.remove(ctx, i.name, opts.force), out)
  // The managers one by one, the file's first manager (the initialiser) last.
  for (const item of remove.filter(i => i.role === 'manager').reverse()) await settle([item], 1, i => act.remove(ctx, i.name, opts.force), out)
  return out
}
