/** Who is in a swarm (berth's records) and which manager answers: what joins, leaves and views start from. */
import path from 'node:path'
import type {Engine} from '../engine/index.js'
import {acquireLock, mkdirPrivate} from '../core/index.js'
import {type Ctx, engineFor, handleFor, loadDriver} from '../host/index.js'
import type {MachineRecord} from '../store/index.js'
import {CorruptRecord} from '../store/index.js'
import type {SwarmMember} from './address.js'

export async function members(ctx: Ctx, swarm: string): Promise<MachineRecord[]> {
  const all = await ctx.store.loadAll()
  return all.filter((r): r is MachineRecord => !(r instanceof CorruptRecord) && r.swarm?.name === swarm)
}

export async function swarmNames(ctx: Ctx): Promise<string[]> {
  const all = await ctx.store.loadAll()
  return [...new Set(all.flatMap(r => (r instanceof CorruptRecord || !r.swarm ? [] : [r.swarm.name])))].sort()
}

/** Serialises formation of one swarm across berth processes: exactly one machine initialises it. */
export async function swarmLock(ctx: Ctx, swarm: string) {
  const dir = path.join(ctx.store.root, 'swarms')
  await mkdirPrivate(dir)
  return acquireLock(path.join(dir, `${swarm}.lock`), {timeoutMs: 300_000, what: `swarm "${swarm}"`})
}

export interface SwarmInfo {
  NodeID: string
  LocalNodeState: string
  ControlAvailable: boolean
  RemoteManagers?: Array<{NodeID: string; Addr: string}>
}

export async function swarmInfo(engine: Engine, timeoutMs = 5000): Promise<SwarmInfo> {
  return (await engine.info(timeoutMs)).Swarm as SwarmInfo
}

/** The first manager of the swarm that answers as an active manager, with its engine. */
export async function reachableManager(ctx: Ctx, swarm: string, opts: {exclude?: string; timeoutMs?: number; pingOnly?: boolean} = {}): Promise<{record: MachineRecord; engine: Engine} | undefined> {
  const managers = (await members(ctx, swarm)).filter(r => r.swarm!.manager && r.swarm!.nodeId && r.name !== opts.exclude)
  for (const record of managers) {
    let engine: Engine | undefined
    try {
      engine = await engineFor(ctx, record)
      if (opts.pingOnly) {
        // While a new leader is being elected, /info on a manager blocks; its engine still answers.
        await engine.ping(opts.timeoutMs ?? 3000)
        return {record, engine}
      }
      const info = await swarmInfo(engine, opts.timeoutMs ?? 3000)
      if (info.LocalNodeState === 'active' && info.ControlAvailable) return {record, engine}
      engine.close()
    } catch {
      engine?.close()
    }
  }
  return undefined
}

/** Where swarm members reach a machine: the driver's swarm address (local VMs' own segment) or its IP. */
export async function swarmIp(ctx: Ctx, record: MachineRecord): Promise<string> {
  const driver = await loadDriver(ctx, record.driver)
  const h = handleFor(ctx, record)
  return (await driver.swarmAddress?.(h)) ?? driver.ip(h)
}

/** A machine as the address choice sees it: what its driver recorded, and (withAddress) its public swarm address. */
export async function swarmMember(ctx: Ctx, record: MachineRecord, withAddress = true): Promise<SwarmMember> {
  const driver = await loadDriver(ctx, record.driver)
  const addressing = driver.addressing?.(handleFor(ctx, record))
  return {name: record.name, address: withAddress ? await swarmIp(ctx, record) : '', ...(addressing ? {addressing} : {})}
}
