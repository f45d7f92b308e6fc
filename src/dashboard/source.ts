/**
 * The dashboard's one window on the cluster: swarm members from the store, the swarm's nodes,
 * services and tasks from a manager, and each engine's containers, all over mutual TLS. Kept to
 * this module so the rest of the dashboard depends on plain data (model.ts's Raw* shapes) only.
 */
import {Cluster, defaultStrategy, type MachineInventory} from '../cluster/index.js'
import {errorMessage, UserError} from '../core/index.js'
import type {Engine} from '../engine/index.js'
import type {Ctx} from '../host/index.js'
import {members, reachableManager, swarmNames} from '../swarm/index.js'
import type {RawContainer, RawEngine, RawMember, RawSwarm} from './model.js'

/** The swarms to show: the one asked for (it must exist), else every swarm of the store. */
export async function listSwarms(ctx: Ctx, only?: string): Promise<string[]> {
  if (only) {
    if (!(await members(ctx, only)).length) throw new UserError(`swarm "${only}" does not exist`)
    return [only]
  }
  return swarmNames(ctx)
}

function rawEngine(m: MachineInventory): RawEngine {
  const containers: RawContainer[] = m.containers.map(c => {
    const r = m.reservations.get(c.Id)
    return {
      id: c.Id,
      name: (c.Names?.[0] ?? c.Id.slice(0, 12)).replace(/^\//, ''),
      image: c.Image,
      state: c.State,
      status: c.Status,
      taskId: c.Labels?.['com.docker.swarm.task.id'] || undefined,
      cpus: r?.cpus ?? 0,
      memory: r?.memory ?? 0,
    }
  })
  return {machine: m.machine, addr: m.addr, version: m.info.ServerVersion ?? '', cpus: m.info.NCPU, memory: m.info.MemTotal, containers}
}

export class SwarmSource {
  private readonly cluster: Cluster
  private manager?: {name: string; engine: Engine}

  constructor(private readonly ctx: Ctx, readonly swarm: string, private readonly timeoutMs: number) {
    // Engine facts (/info) change rarely: re-read them every 30 s, containers on every poll.
    this.cluster = new Cluster(ctx, {swarm}, {timeoutMs, infoTtlMs: 30_000})
  }

  async read(): Promise<RawSwarm> {
    const records = await members(this.ctx, this.swarm)
    const raw: RawSwarm = {
      name: this.swarm,
      strategy: defaultStrategy(records),
      members: records.map((r): RawMember => ({name: r.name, driver: r.driver, manager: Boolean(r.swarm?.manager), nodeId: r.swarm?.nodeId})),
      engines: [],
    }
    if (!records.length) return {...raw, error: 'the swarm has no members any more'}
    const [snap] = await Promise.all([
      this.cluster.snapshot().catch(err => ({machines: [], down: records.map(r => ({machine: r.name, addr: undefined, error: errorMessage(err)}))})),
      this.readManager(raw),
    ])
    raw.engines = [...snap.machines.map(rawEngine), ...snap.down.map(d => ({machine: d.machine, addr: d.addr, error: d.error}))]
    return raw
  }

  /** Keeps the manager that answered last; looks for another only when it stops answering. */
  private async readManager(raw: RawSwarm): Promise<void> {
    try {
      if (!this.manager) {
        const m = await reachableManager(this.ctx, this.swarm, {timeoutMs: this.timeoutMs})
        if (!m) {
          raw.error = 'no manager answers'
          return
        }
        this.manager = {name: m.record.name, engine: m.engine}
      }
      const e = this.manager.engine
      const get = (p: string) => e.request<any[]>('GET', p, undefined, {timeoutMs: this.timeoutMs})
      ;[raw.nodes, raw.services, raw.tasks] = await Promise.all([get('/nodes'), get('/services'), get('/tasks')])
      raw.via = this.manager.name
    } catch (err) {
      raw.error = `manager ${this.manager?.name ?? ''}: ${errorMessage(err)}`.replace(/^manager : /, '')
      raw.nodes = raw.services = raw.tasks = undefined
      this.manager?.engine.close()
      this.manager = undefined
    }
  }

  close(): void {
    this.manager?.engine.close()
    this.manager = undefined
    this.cluster.close()
  }
}
