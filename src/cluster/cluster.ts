/**
 * Cluster inventory for placement: what each machine's engine says about itself (capacity,
 * labels, containers and their reservations, images), read over mutual TLS in parallel and
 * mapped into placement nodes; plus the one placement path that `berth run` and
 * `berth swarm manage` share (place, then create on the chosen engine). An engine that does not
 * answer is reported and enters placement as an unhealthy node, so it is never chosen and the
 * no-fit message names it.
 */
import https from 'node:https'
import {type EngineTLS, tlsFromDir} from '../engine/index.js'
import {errorMessage, UserError} from '../core/index.js'
import {type Ctx, engineFor} from '../machine/index.js'
import {parallel} from '../core/index.js'
import {
  DEFAULT_FILTERS, PlacementError, PlacementSyntaxError, Scheduler, makeNode, parseContainerConfig, parseRule,
  type ContainerConfig, type ContainerInfo, type ImageInfo, type NodeInput, type PlacementNode, type PortInUse, type StrategyName,
} from '../placement/index.js'
import type {MachineRecord} from '../store/index.js'
import {CorruptRecord} from '../store/index.js'

export const STRATEGY_NAMES: readonly StrategyName[] = ['spread', 'binpack', 'random']
/** Classic Swarm listed its filters in this order in `docker info`. */
export const FILTERS_TEXT = ['health', 'port', 'dependency', 'affinity', 'constraint'].filter(f => (DEFAULT_FILTERS as readonly string[]).includes(f)).join(', ')
/** What the engines berth installs (20.10) speak; the answer when no engine does. */
export const FALLBACK_API_VERSION = '1.41'

/** An error with the HTTP status the manage endpoint answers it with; the CLI prints its message. */
export class ClusterError extends UserError {
  constructor(message: string, readonly status: number) {
    super(message)
    this.name = 'ClusterError'
  }
}

// ---- Engine API shapes (the fields placement and the endpoint read) ----

export interface EngineInfo {
  ID?: string
  Name?: string
  NCPU: number
  MemTotal: number
  Labels?: string[] | null
  KernelVersion?: string
  OperatingSystem?: string
  OSType?: string
  Architecture?: string
  Driver?: string
  ServerVersion?: string
  Containers?: number
  ContainersRunning?: number
  ContainersPaused?: number
  ContainersStopped?: number
  Images?: number
}

export interface PortSummary {
  IP?: string
  PrivatePort: number
  PublicPort?: number
  Type: string
}

export interface ContainerSummary {
  Id: string
  Names: string[]
  Image: string
  ImageID?: string
  Command?: string
  Created: number
  Ports?: PortSummary[] | null
  Labels?: Record<string, string> | null
  State: string
  Status: string
  [more: string]: unknown
}

export interface ImageSummary {
  Id: string
  RepoTags?: string[] | null
  RepoDigests?: string[] | null
  Created: number
  Size: number
  [more: string]: unknown
}

export interface ContainerInspect {
  Id: string
  HostConfig?: {
    NanoCpus?: number
    CpuQuota?: number
    CpuPeriod?: number
    Memory?: number
    PortBindings?: Record<string, Array<{HostIp?: string; HostPort?: string}> | null> | null
  } | null
}

/** What a container holds on its machine while it is not exited. */
export interface Reservation {
  cpus: number
  memory: number
  ports: PortInUse[]
}

// ---- Pure mapping (unit-tested) ----

/** Exited and dead containers hold no CPU, memory or port; created ones are about to. */
export function isActive(state: string): boolean {
  return state !== 'exited' && state !== 'dead'
}

/** `docker run --cpus` sets NanoCpus; `--cpu-quota/--cpu-period` is the older spelling of the same. */
export function reservationOf(inspect: ContainerInspect): Reservation {
  const hc = inspect.HostConfig ?? {}
  let cpus = (hc.NanoCpus ?? 0) / 1e9
  if (!cpus && (hc.CpuQuota ?? 0) > 0) cpus = hc.CpuQuota! / (hc.CpuPeriod || 100_000)
  const ports: PortInUse[] = []
  for (const [key, bindings] of Object.entries(hc.PortBindings ?? {})) {
    const slash = key.indexOf('/')
    const protocol = slash < 0 ? 'tcp' : key.slice(slash + 1).toLowerCase()
    for (const b of bindings ?? []) {
      const port = Number(b.HostPort)
      // An empty HostPort lets the engine pick one: the list's Ports shows it once running.
      if (b.HostPort && Number.isInteger(port) && port > 0) ports.push({port, protocol, hostIp: b.HostIp ?? ''})
    }
  }
  return {cpus: Math.max(0, cpus), memory: Math.max(0, hc.Memory ?? 0), ports}
}

/** Engine labels come as `key=value` strings. */
export function parseEngineLabels(list: readonly string[] | null | undefined): Record<string, string> {
  const out: Record<string, string> = {}
  for (const l of list ?? []) {
    const eq = l.indexOf('=')
    if (eq > 0) out[l.slice(0, eq)] = l.slice(eq + 1)
  }
  return out
}

/** Names without the leading slash; link aliases (`/other/alias`) are not the container's names. */
export function ownNames(names: readonly string[] | null | undefined): string[] {
  return (names ?? []).map(n => n.replace(/^\//, '')).filter(n => n && !n.includes('/'))
}

export interface InventoryInput {
  machine: string
  info: EngineInfo
  containers: readonly ContainerSummary[]
  images: readonly ImageSummary[]
  /** By container id, for active containers. */
  reservations: ReadonlyMap<string, Reservation>
  /** Swarm node labels; they win over engine labels of the same key. */
  nodeLabels?: Readonly<Record<string, string>>
  failures?: number
}

/**
 * One machine as a placement node: engine labels, swarm node labels, and classic Swarm's
 * pseudo-labels (storagedriver, kernelversion, operatingsystem, ostype); reserved CPU and memory
 * summed over the containers that are not exited.
 */
export function toNodeInput(m: InventoryInput): NodeInput {
  const labels: Record<string, string> = {...parseEngineLabels(m.info.Labels), ...m.nodeLabels}
  const pseudo: Array<[string, string | undefined]> = [
    ['storagedriver', m.info.Driver], ['kernelversion', m.info.KernelVersion], ['operatingsystem', m.info.OperatingSystem], ['ostype', m.info.OSType],
  ]
  for (const [k, v] of pseudo) if (v) labels[k] = v
  let reservedCpus = 0
  let reservedMemory = 0
  let active = 0
  const ports: PortInUse[] = []
  const seenPorts = new Set<string>()
  const addPort = (p: PortInUse) => {
    const key = `${p.hostIp ?? ''}|${p.port}/${p.protocol}`
    if (!seenPorts.has(key)) {
      seenPorts.add(key)
      ports.push(p)
    }
  }
  const containers: ContainerInfo[] = []
  for (const c of m.containers) {
    containers.push({id: c.Id, names: ownNames(c.Names), image: c.Image, labels: {...c.Labels}})
    if (!isActive(c.State)) continue
    active++
    const r = m.reservations.get(c.Id)
    if (r) {
      reservedCpus += r.cpus
      reservedMemory += r.memory
      for (const p of r.ports) addPort(p)
    }
    for (const p of c.Ports ?? []) if (p.PublicPort) addPort({port: p.PublicPort, protocol: p.Type || 'tcp', hostIp: p.IP ?? ''})
  }
  const images: ImageInfo[] = m.images.map(i => ({
    id: i.Id,
    names: [...(i.RepoTags ?? []), ...(i.RepoDigests ?? [])].filter(t => t !== '<none>:<none>' && t !== '<none>@<none>'),
  }))
  return {
    id: m.machine, name: m.machine, cpus: m.info.NCPU || 0, memory: m.info.MemTotal || 0,
    reservedCpus, reservedMemory, containerCount: active, labels,
    health: {healthy: true, failures: m.failures ?? 0}, ports, images, containers,
  }
}

/** A machine whose engine did not answer: in the cluster, never chosen, named in no-fit errors. */
export function downNode(machine: string): NodeInput {
  return {id: machine, name: machine, cpus: 0, memory: 0, health: {healthy: false, failures: 1}}
}

/** `busybox` means `busybox:latest`, and Docker Hub's prefixes are not part of local tags. */
export function normalizeImage(ref: string): string {
  let r = ref.trim()
  r = r.replace(/^docker\.io\/library\//, '').replace(/^index\.docker\.io\/library\//, '').replace(/^docker\.io\//, '')
  if (r.includes('@') || /^(sha256:)?[0-9a-f]{12,64}$/.test(r)) return r
  const slash = r.lastIndexOf('/')
  return r.lastIndexOf(':') > slash ? r : `${r}:latest`
}

/** Whether the node holds the image, by tag, digest or (short) id. */
export function nodeHasImage(node: Pick<PlacementNode, 'images'>, ref: string): boolean {
  const want = normalizeImage(ref)
  const hex = want.replace(/^sha256:/, '')
  for (const img of node.images) {
    if (img.names.includes(want)) return true
    const id = img.id.replace(/^sha256:/, '')
    if (/^[0-9a-f]{12,64}$/.test(hex) && id.startsWith(hex)) return true
  }
  return false
}

function globEscape(s: string): string {
  // Image references hold no glob characters, but a literal `*` or `?` must not widen the rule.
  return s.replace(/[*?]/g, '')
}

/** 1.41 < 1.5 is false as strings; compare as numbers part by part. */
export function compareVersions(a: string, b: string): number {
  const pa = a.split('.').map(Number)
  const pb = b.split('.').map(Number)
  for (let i = 0; i < Math.max(pa.length, pb.length); i++) {
    const d = (pa[i] ?? 0) - (pb[i] ?? 0)
    if (d) return d < 0 ? -1 : 1
  }
  return 0
}

/** Go's units.BytesSize, which classic Swarm's `docker info` used: `1.021 GiB`. */
export function bytesSize(n: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB']
  let v = n
  let u = 0
  while (v >= 1024 && u < units.length - 1) {
    v /= 1024
    u++
  }
  return `${Number(v.toPrecision(4))} ${units[u]}`
}

/** `512m`, `1g`, `1.5GiB`, `2048` (bytes), as `docker run -m` reads them. */
export function parseMemory(text: string): number {
  const m = /^(\d+(?:\.\d+)?)\s*([bkmgt]?)(?:i?b)?$/i.exec(text.trim())
  if (!m) throw new UserError(`bad memory "${text}": use a number with an optional unit b, k, m, g (e.g. 512m)`)
  const mult = {'': 1, b: 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3, t: 1024 ** 4}[m[2].toLowerCase() as '' | 'b' | 'k' | 'm' | 'g' | 't']
  return Math.round(Number(m[1]) * mult)
}

// ---- Reading the engines ----

export interface Conn {
  machine: string
  host: string
  port: number
  tls: EngineTLS
  agent: https.Agent
}

export interface HttpResult<T = unknown> {
  status: number
  body: T
  text: string
}

/** One Engine API call that resolves with any status (the endpoint passes engine errors through). */
export function call<T = unknown>(conn: Conn, method: string, urlPath: string, body?: unknown, timeoutMs = 10_000): Promise<HttpResult<T>> {
  const data = body === undefined ? undefined : Buffer.from(JSON.stringify(body))
  return new Promise((resolve, reject) => {
    const req = https.request({
      host: conn.host, port: conn.port, method, path: urlPath, agent: conn.agent, timeout: timeoutMs,
      headers: data ? {'Content-Type': 'application/json', 'Content-Length': String(data.length)} : {},
    }, res => {
      const chunks: Buffer[] = []
      res.on('data', c => chunks.push(c))
      res.on('error', reject)
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString()
        let parsed: unknown = text
        try {
          parsed = text ? JSON.parse(text) : undefined
        } catch { /* plain text */ }
        resolve({status: res.statusCode ?? 0, body: parsed as T, text})
      })
    })
    req.on('timeout', () => req.destroy(new Error(`${method} ${urlPath.replace(/^\/v[\d.]+/, '')} timed out after ${timeoutMs / 1000} s`)))
    req.on('error', reject)
    req.end(data)
  })
}

/** The engine's own error text (`{"message": ...}`), else the HTTP status. */
export function engineMessage(r: HttpResult): string {
  const b = r.body as {message?: string} | undefined
  return (typeof b === 'object' && b?.message) || r.text.trim() || `HTTP ${r.status}`
}

async function ok<T>(conn: Conn, method: string, urlPath: string, timeoutMs: number): Promise<T> {
  const r = await call<T>(conn, method, urlPath, undefined, timeoutMs)
  if (r.status >= 400) throw new Error(`${method} ${urlPath}: ${engineMessage(r)}`)
  return r.body
}

function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined
  const t = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} did not answer within ${ms / 1000} s`)), ms)
  })
  return Promise.race([p, t]).finally(() => clearTimeout(timer))
}

export interface MachineInventory {
  machine: string
  /** host:port of the engine. */
  addr: string
  info: EngineInfo
  apiVersion: string
  containers: ContainerSummary[]
  images: ImageSummary[]
  reservations: Map<string, Reservation>
  nodeLabels: Record<string, string>
  node: PlacementNode
  updatedAt: Date
}

export interface DownMachine {
  machine: string
  addr?: string
  error: string
}

export interface Snapshot {
  machines: MachineInventory[]
  down: DownMachine[]
  /** Every machine as a placement node, the unreachable ones unhealthy. */
  nodes: PlacementNode[]
}

export interface Selection {
  swarm?: string
  machines?: string[]
}

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

/** The records a selection names: a swarm's members, a list of machines, or (neither) the whole store. */
export async function selectRecords(ctx: Ctx, sel: Selection): Promise<MachineRecord[]> {
  if (sel.swarm && sel.machines?.length) throw new UserError('give either --swarm or --machines, not both')
  if (sel.swarm) {
    const {members} = await import('../swarm/index.js')
    const recs = await members(ctx, sel.swarm)
    if (!recs.length) throw new UserError(`swarm "${sel.swarm}" does not exist`)
    return recs.sort((a, b) => a.name.localeCompare(b.name))
  }
  if (sel.machines?.length) {
    const names = [...new Set(sel.machines)]
    return Promise.all(names.map(n => ctx.store.load(n)))
  }
  const all = (await ctx.store.loadAll()).filter((r): r is MachineRecord => !(r instanceof CorruptRecord))
  if (!all.length) throw new UserError('there are no machines: create some with "berth create"')
  return all.sort((a, b) => a.name.localeCompare(b.name))
}

/** The strategy given at `create --swarm-strategy` (a manager's first), else spread. */
export function defaultStrategy(records: readonly MachineRecord[]): StrategyName {
  const ordered = [...records.filter(r => r.swarm?.manager), ...records.filter(r => !r.swarm?.manager)]
  const s = ordered.map(r => r.swarm?.strategy).find(x => x && (STRATEGY_NAMES as readonly string[]).includes(x))
  return (s as StrategyName | undefined) ?? 'spread'
}

export function parseStrategy(s: string | undefined): StrategyName | undefined {
  if (s === undefined) return undefined
  if (!(STRATEGY_NAMES as readonly string[]).includes(s)) throw new UserError(`unknown strategy "${s}": use ${STRATEGY_NAMES.join(', ')}`)
  return s as StrategyName
}

export interface CreateResult {
  machine: string
  id: string
  name?: string
  warnings: string[]
  /** Soft rules had to be dropped to find a machine. */
  softDropped: boolean
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
        const engine = await engineFor(this.ctx, record)
        engine.close()
        const tls = tlsFromDir(this.ctx.store.machineDir(record.name))
        return {machine: record.name, host: engine.host, port: engine.port, tls, agent: new https.Agent({...tls, keepAlive: true, maxSockets: 16})}
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
    c?.then(x => x.agent.destroy(), () => {})
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
    const swarms = [...new Set(records.map(r => r.swarm?.name).filter((s): s is string => Boolean(s)))]
    if (!swarms.length) return new Map()
    if (this.swarmLabels && Date.now() - this.swarmLabels.at < this.infoTtlMs) return this.swarmLabels.labels
    const {reachableManager} = await import('../swarm/index.js')
    const out = new Map<string, Record<string, string>>()
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
      const r = await call<ContainerInspect>(conn, 'GET', `/containers/${c.Id}/json`, undefined, this.timeoutMs)
      // Removed between the list and the inspect: it holds nothing any more.
      if (r.status === 404) return
      if (r.status >= 400) throw new Error(`inspect ${c.Id.slice(0, 12)}: ${engineMessage(r)}`)
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
        const res = await withTimeout(call<T>(conn, 'GET', urlPath, undefined, this.timeoutMs), this.timeoutMs, `the engine of ${r.name}`)
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
  create(config: ContainerConfig & Record<string, unknown>, opts: {name?: string; strategy: StrategyName; apiVersion?: string; query?: string}): Promise<CreateResult> {
    const run = this.createChain.then(() => this.createNow(config, opts))
    this.createChain = run.catch(() => {})
    return run
  }

  private async createNow(config: ContainerConfig & Record<string, unknown>, opts: {name?: string; strategy: StrategyName; apiVersion?: string; query?: string}): Promise<CreateResult> {
    let parsed
    try {
      parsed = parseContainerConfig(config, {name: opts.name})
    } catch (err) {
      if (err instanceof PlacementSyntaxError || err instanceof RangeError) throw new ClusterError(err.message, 400)
      throw err
    }
    if (!config.Image) throw new ClusterError('no image given', 400)
    const snap = await this.snapshot()
    if (!snap.machines.length) {
      throw new ClusterError(`no engine answers: ${snap.down.map(d => `${d.machine}: ${d.error}`).join('; ') || 'the cluster has no machines'}`, 503)
    }
    const name = opts.name?.replace(/^\//, '')
    if (name) {
      for (const m of snap.machines) {
        const c = m.containers.find(x => ownNames(x.Names).includes(name))
        if (c) throw new ClusterError(`Conflict. The container name "/${name}" is already in use by container "${c.Id}" on machine ${m.machine}. You have to remove (or rename) that container to be able to reuse that name.`, 409)
      }
    }
    // No registry here: the image must already be on the machine, so holding it is a hard rule.
    const image = config.Image
    const holders = snap.machines.filter(m => nodeHasImage(m.node, image))
    if (!holders.length) {
      throw new ClusterError(`No such image: ${normalizeImage(image)} (none of the machines ${snap.machines.map(m => m.machine).join(', ')} has it, and berth does not pull: load it there first)`, 404)
    }
    const request = {...parsed.request, affinities: [...parsed.request.affinities, imageAffinity(snap, image)]}
    const scheduler = new Scheduler(snap.nodes, {strategy: opts.strategy})
    let placement
    try {
      placement = scheduler.select(request)
    } catch (err) {
      if (err instanceof PlacementError) throw new ClusterError(err.message, 409)
      throw err
    }
    const machine = snap.machines.find(m => m.machine === placement.node.id)!
    const conn = await this.connFor(machine.machine)
    const version = clampVersion(opts.apiVersion, machine.apiVersion)
    const query = opts.query ?? (name ? `name=${encodeURIComponent(name)}` : '')
    const r = await call<{Id: string; Warnings?: string[] | null}>(conn, 'POST', `${version ? `/v${version}` : ''}/containers/create${query ? `?${query}` : ''}`, parsed.config, 60_000)
    if (r.status >= 400) throw new ClusterError(`${machine.machine}: ${engineMessage(r)}`, r.status)
    // The reservation is known now; a later snapshot needs no inspect for it.
    this.reservations.set(r.body.Id, reservationOf({Id: r.body.Id, HostConfig: parsed.config.HostConfig as ContainerInspect['HostConfig']}))
    return {machine: machine.machine, id: r.body.Id, name, warnings: r.body.Warnings ?? [], softDropped: placement.softDropped}
  }

  close(): void {
    for (const c of this.conns.values()) c.then(x => x.agent.destroy(), () => {})
    this.conns.clear()
  }
}

/**
 * The hard rule "holds the image". Built from the names the holders actually have, so a tag,
 * a digest or a short id all work, and the no-fit message reads `affinity image==bb:v1`.
 */
function imageAffinity(snap: Snapshot, image: string) {
  const want = normalizeImage(image)
  const byName = snap.machines.some(m => m.node.images.some(i => i.names.includes(want)))
  if (byName) return parseRule('affinity', `image==${globEscape(want)}`)
  return parseRule('affinity', `image==${globEscape(want.replace(/^sha256:/, '').slice(0, 12))}`)
}

/** The version to speak to an engine: what the client asked, but no newer than the engine knows. */
export function clampVersion(requested: string | undefined, engineMax: string): string | undefined {
  if (!requested) return undefined
  return compareVersions(requested, engineMax) > 0 ? engineMax : requested
}
