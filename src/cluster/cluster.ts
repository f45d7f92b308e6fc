/**
 * Cluster inventory for placement: what each machine's engine says about itself, read over
 * mutual TLS in parallel. An engine that does not answer is reported and enters placement as an
 * unhealthy node, so it is never chosen and the no-fit message names it.
 */
import {errorMessage, parallel} from '../core/index.js'
import {Engine, engineError, engineMessage, type HttpResult} from '../engine/index.js'
import {type Ctx, engineFor} from '../machine/index.js'
import {makeNode, type ContainerConfig} from '../placement/index.js'
import type {MachineRecord} from '../store/index.js'
import {createPlaced, type CreateOptions, type CreateResult} from './create.js'
import {downNode, isActive, reservationOf, toNodeInput} from './inventory.js'
import {ClusterError, FALLBACK_API_VERSION, selectRecords, type Selection} from './selection.js'
import type {Conn, ContainerInspect, ContainerSummary, DownMachine, EngineInfo, ImageSummary, MachineInventory, Reservation, Snapshot} from './shapes.js'

export interface ClusterOptions {
  /** Per machine, for one whole read. Default 5 s. */
  timeoutMs?: number
  /** How long /info, /version and swarm node labels are reused. Default 0 (always read). */
  infoTtlMs?: number
}

interface InfoEntry {
  at: number
  info: EngineInfo
  apiVersion: string
}

async function ok<T>(conn: Conn, method: string, urlPath: string, timeoutMs: number): Promise<T> {
  const r = await conn.engine.call<T>(method, urlPath, undefined, {timeoutMs})
  if (r.status >= 400) throw engineError(`${method} ${urlPath}: ${engineMessage(r)}`, r.status)
  return r.body
}

function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined
  const t = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} did not answer within ${ms / 1000} s`)), ms)
  })
  return Promise.race([p, t]).finally(() => clearTimeout(timer))
}

/**
 * The engines of a set of machines, with connections kept open and the reads that rarely change
 * (/info, /version, node labels, container reservations) cached, so a long-lived endpoint pays
 * only for the container and image lists on each decision.
 */
export class Cluster {
  private readonly conns = new Map<string, Promise<Conn>>()
  private readonly infos = new Map<string, InfoEntry>()
  /** Reservations by container id: fixed at create (berth does not `docker update`). */
  private readonly reservations = new Map<string, Reservation>()
  private swarmLabels: {at: number; labels: Map<string, Record<string, string>>} | undefined
  private readonly timeoutMs: number
  private readonly infoTtlMs: number
  private createChain: Promise<unknown> = Promise.resolve()

  constructor(readonly ctx: Ctx, readonly selection: Selection, opts: ClusterOptions = {}) {
    this.timeoutMs = opts.timeoutMs ?? 5000
    this.infoTtlMs = opts.infoTtlMs ?? 0
  }

  records(): Promise<MachineRecord[]> {
    return selectRecords(this.ctx, this.selection)
  }

  /** A kept-alive mutual-TLS connection to the machine's engine. */
  conn(record: MachineRecord): Promise<Conn> {
    let c = this.conns.get(record.name)
    if (!c) {
      c = (async () => {
        if (record.status !== 'ready') throw new Error(`machine is ${record.status === 'error' ? 'in error' : `not ready (${record.status})`}`)
        const e = await engineFor(this.ctx, record)
        // The endpoint proxies streams (logs -f, stats): more of them may be open to one machine.
        return {machine: record.name, host: e.host, port: e.port, engine: new Engine(e.host, e.port, e.tls, undefined, {maxSockets: 16})}
      })()
      this.conns.set(record.name, c)
      // A failed lookup is retried next time (the machine may be starting).
      c.catch(() => this.conns.delete(record.name))
    }
    return c
  }

  /** Drops a machine's connection and caches after an error, so the next read starts afresh. */
  forget(machine: string): void {
    const c = this.conns.get(machine)
    this.conns.delete(machine)
    this.infos.delete(machine)
    c?.then(x => x.engine.close(), () => {})
  }

  private async info(conn: Conn): Promise<InfoEntry> {
    const hit = this.infos.get(conn.machine)
    if (hit && Date.now() - hit.at < this.infoTtlMs) return hit
    const [info, version] = await Promise.all([
      ok<EngineInfo>(conn, 'GET', '/info', this.timeoutMs),
      ok<{ApiVersion?: string}>(conn, 'GET', '/version', this.timeoutMs),
    ])
    const entry = {at: Date.now(), info, apiVersion: version.ApiVersion ?? FALLBACK_API_VERSION}
    this.infos.set(conn.machine, entry)
    return entry
  }

  /** Swarm node labels by machine name, read from a reachable manager; empty when none answers. */
  private async nodeLabels(records: readonly MachineRecord[]): Promise<Map<string, Record<string, string>>> {
    // A classic group's labels are on its records: no swarm node carries them, no manager is asked.
    const classic = new Map(records.filter(r => r.swarm?.mode === 'classic').map(r => [r.name, {...r.swarm!.labels}]))
    const swarms = [...new Set(records.filter(r => r.swarm?.mode !== 'classic').map(r => r.swarm?.name).filter((s): s is string => Boolean(s)))]
    if (!swarms.length) return classic
    if (this.swarmLabels && Date.now() - this.swarmLabels.at < this.infoTtlMs) return this.swarmLabels.labels
    const {reachableManager} = await import('../swarm/index.js')
    const out = new Map<string, Record<string, string>>(classic)
    await Promise.all(swarms.map(async s => {
      const m = await reachableManager(this.ctx, s, {timeoutMs: Math.min(3000, this.timeoutMs)}).catch(() => undefined)
      if (!m) return
      try {
        const nodes = await m.engine.request<Array<{ID: string; Spec?: {Labels?: Record<string, string>}; Description?: {Hostname?: string}}>>('GET', '/nodes', undefined, {timeoutMs: this.timeoutMs})
        const byId = new Map(records.filter(r => r.swarm?.nodeId).map(r => [r.swarm!.nodeId!, r.name]))
        for (const n of nodes) {
          const name = byId.get(n.ID) ?? n.Spec?.Labels?.['berth.machine']
          if (name) out.set(name, {...n.Spec?.Labels})
        }
      } catch { /* node labels are a refinement: engine labels still apply */ } finally {
        m.engine.close()
      }
    }))
    this.swarmLabels = {at: Date.now(), labels: out}
    return out
  }

  private async readMachine(record: MachineRecord, nodeLabels: Record<string, string>): Promise<MachineInventory> {
    const conn = await this.conn(record)
    const [entry, containers, images] = await Promise.all([
      this.info(conn),
      ok<ContainerSummary[]>(conn, 'GET', '/containers/json?all=1', this.timeoutMs),
      ok<ImageSummary[]>(conn, 'GET', '/images/json', this.timeoutMs),
    ])
    const missing = containers.filter(c => isActive(c.State) && !this.reservations.has(c.Id))
    await parallel(missing, 8, async c => {
      const r = await conn.engine.call<ContainerInspect>('GET', `/containers/${c.Id}/json`, undefined, {timeoutMs: this.timeoutMs})
      // Removed between the list and the inspect: it holds nothing any more.
      if (r.status === 404) return
      if (r.status >= 400) throw engineError(`inspect ${c.Id.slice(0, 12)}: ${engineMessage(r)}`, r.status)
      this.reservations.set(c.Id, reservationOf(r.body))
    })
    const reservations = new Map<string, Reservation>()
    for (const c of containers) {
      const r = this.reservations.get(c.Id)
      if (r) reservations.set(c.Id, r)
    }
    const node = makeNode(toNodeInput({machine: record.name, info: entry.info, containers, images, reservations, nodeLabels}))
    return {
      machine: record.name, addr: `${conn.host}:${conn.port}`, info: entry.info, apiVersion: entry.apiVersion,
      containers, images, reservations, nodeLabels, node, updatedAt: new Date(),
    }
  }

  /** Reads every selected machine in parallel; each is bounded by the timeout. */
  async snapshot(): Promise<Snapshot> {
    const records = await this.records()
    const labels = await this.nodeLabels(records)
    const results = await Promise.all(records.map(async r => {
      try {
        return await withTimeout(this.readMachine(r, labels.get(r.name) ?? {}), this.timeoutMs, `the engine of ${r.name}`)
      } catch (err) {
        const conn = await this.conns.get(r.name)?.catch(() => undefined)
        this.forget(r.name)
        return {machine: r.name, addr: conn ? `${conn.host}:${conn.port}` : undefined, error: errorMessage(err)} as DownMachine
      }
    }))
    const machines = results.filter((x): x is MachineInventory => 'node' in x)
    const down = results.filter((x): x is DownMachine => !('node' in x))
    // Forget reservations of containers that are gone, so the cache does not grow forever.
    const live = new Set(machines.flatMap(m => m.containers.map(c => c.Id)))
    if (!down.length) for (const id of this.reservations.keys()) if (!live.has(id)) this.reservations.delete(id)
    const nodes = results.map(x => ('node' in x ? x.node : makeNode(downNode(x.machine))))
    return {machines, down, nodes}
  }

  /** The API version the machine's engine speaks (known after a snapshot). */
  apiVersionOf(machine: string): string {
    return this.infos.get(machine)?.apiVersion ?? FALLBACK_API_VERSION
  }

  /** What a container just created holds: known from its config, so no inspect is needed later. */
  noteReservation(id: string, r: Reservation): void {
    this.reservations.set(id, r)
  }

  /**
   * One GET on every machine in parallel. Machines that cannot be reached or time out are
   * reported apart; an engine's own error answer (4xx/5xx) is a result, for the caller to judge.
   */
  async each<T>(urlPath: string): Promise<{results: Array<{machine: string; conn: Conn; res: HttpResult<T>}>; down: DownMachine[]}> {
    const records = await this.records()
    const results: Array<{machine: string; conn: Conn; res: HttpResult<T>}> = []
    const down: DownMachine[] = []
    await Promise.all(records.map(async r => {
      let conn: Conn | undefined
      try {
        conn = await this.conn(r)
        const res = await withTimeout(conn.engine.call<T>('GET', urlPath, undefined, {timeoutMs: this.timeoutMs}), this.timeoutMs, `the engine of ${r.name}`)
        results.push({machine: r.name, conn, res})
      } catch (err) {
        this.forget(r.name)
        down.push({machine: r.name, addr: conn ? `${conn.host}:${conn.port}` : undefined, error: errorMessage(err)})
      }
    }))
    const order = (a: {machine: string}, b: {machine: string}) => a.machine.localeCompare(b.machine)
    return {results: results.sort(order), down: down.sort(order)}
  }

  /** Connection of a machine of the selection, by name. */
  async connFor(machine: string): Promise<Conn> {
    const rec = (await this.records()).find(r => r.name === machine)
    if (!rec) throw new ClusterError(`machine "${machine}" is not part of this cluster`, 404)
    return this.conn(rec)
  }

  /**
   * Places a container and creates it on the chosen engine. Decisions are serialised, so two
   * concurrent requests never both take the last room on a machine.
   */
  create(config: ContainerConfig & Record<string, unknown>, opts: CreateOptions): Promise<CreateResult> {
    const run = this.createChain.then(() => createPlaced(this, config, opts))
    this.createChain = run.catch(() => {})
    return run
  }

  close(): void {
    for (const c of this.conns.values()) c.then(x => x.engine.close(), () => {})
    this.conns.clear()
  }
}
