/**
 * rm of many machines: in parallel, in an order that keeps every swarm's quorum. Machines in no
 * swarm and workers go first, side by side (a worker leaving changes no Raft membership); then
 * each swarm's managers one at a time, the leader last, while different swarms go in parallel.
 */
import {parallel} from '../core/index.js'
import type {Ctx} from '../host/index.js'
import {CorruptRecord, type MachineRecord} from '../store/index.js'
import {removeMachine, type RemoveOptions} from './lifecycle.js'

const settle = <T>(p: Promise<T>): Promise<PromiseSettledResult<T>> => p.then(value => ({status: 'fulfilled', value}), reason => ({status: 'rejected', reason}))

/** Results in the order of `names`; each is what removeMachine returned or threw. */
export async function removeMachines(ctx: Ctx, names: string[], opts: RemoveOptions = {}, limit = 16): Promise<PromiseSettledResult<string[]>[]> {
  const all: Array<MachineRecord | CorruptRecord> = await ctx.store.loadAll().catch(() => [])
  const records = new Map<string, MachineRecord>()
  for (const r of all) if (!(r instanceof CorruptRecord)) records.set(r.name, r)
  // A manager's swarm, or the swarm a killed create was joining as one.
  const managerOf = (n: string) => {
    const r = records.get(n)
    // A classic group's head has no Raft to keep: it goes with the workers, side by side.
    return r?.swarm?.manager && r.swarm.mode !== 'classic' ? r.swarm.name : r?.swarmJoin?.manager ? r.swarmJoin.name : undefined
  }
  // Swarms every member of which is being removed: their workers need not leave first.
  const wanted = new Set(names)
  const going = new Set([...records.values()].flatMap(r => r.swarm ? [r.swarm.name] : []))
  for (const r of records.values()) if (r.swarm && !wanted.has(r.name)) going.delete(r.swarm.name)
  const results = new Map<string, PromiseSettledResult<string[]>>()
  const first = names.filter(n => !managerOf(n))
  const done = await parallel(first, limit, n => removeMachine(ctx, n, {...opts, swarmGoes: going.has(records.get(n)?.swarm?.name ?? '')}))
  first.forEach((n, i) => results.set(n, done[i]))
  const chains = new Map<string, string[]>()
  for (const n of names.filter(managerOf)) chains.set(managerOf(n)!, [...chains.get(managerOf(n)!) ?? [], n])
  await parallel([...chains.entries()], limit, async ([swarm, chain]) => {
    const leader = await leaderOf(ctx, swarm)
    // The leader last: each earlier removal then costs no election.
    chain.sort((a, b) => Number(a === leader) - Number(b === leader))
    for (const n of chain) results.set(n, await settle(removeMachine(ctx, n, {...opts, swarmGoes: going.has(swarm)})))
  })
  return names.map(n => results.get(n)!)
}

async function leaderOf(ctx: Ctx, swarm: string): Promise<string | undefined> {
  const {reachableManager} = await import('../swarm/index.js')
  const m = await reachableManager(ctx, swarm, {timeoutMs: 5000}).catch(() => undefined)
  if (!m) return undefined
  try {
    const nodes = await m.engine.request<Array<{Spec?: {Labels?: Record<string, string>}; ManagerStatus?: {Leader?: boolean}}>>('GET', '/nodes?filters=' + encodeURIComponent(JSON.stringify({role: ['manager']})), undefined, {timeoutMs: 10_000})
    return nodes.find(n => n.ManagerStatus?.Leader)?.Spec?.Labels?.['berth.machine']
  } catch {
    return undefined
  } finally {
    m.engine.close()
  }
}
