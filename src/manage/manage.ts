/**
 * `berth swarm manage`: a Docker Engine API endpoint in front of a swarm's machines, as classic
 * Swarm's manager was. Mutual TLS with the store's CA (only holders of a client certificate from
 * that CA get in). `docker run` is placed by strategy and filters and created on the chosen
 * engine; container operations are routed by id or name to the engine that holds the container
 * and streamed through unchanged (logs -f, attach, exec); ps, images and info are merged across
 * the engines. Anything else answers 501 with a JSON message, so the docker CLI never hangs.
 */
import {promises as fs} from 'node:fs'
import http from 'node:http'
import https from 'node:https'
import net from 'node:net'
import os from 'node:os'
import path from 'node:path'
import type {Duplex} from 'node:stream'
import {
  Cluster, ClusterError, FALLBACK_API_VERSION, FILTERS_TEXT, bytesSize, clampVersion, compareVersions, engineMessage, call, normalizeImage, ownNames,
  type ContainerSummary, type ImageSummary, type Snapshot,
} from '../cluster/index.js'
import {errorMessage, UserError} from '../core/index.js'
import {mkdirPrivate, pidAlive, writeFileAtomic} from '../core/index.js'
import type {Ctx} from '../machine/index.js'
import type {ContainerConfig, StrategyName} from '../placement/index.js'
import type {Store} from '../store/index.js'

const VERSION = '0.1.0'
const MAX_BODY = 16 << 20

export interface ManageState {
  swarm: string
  pid: number
  host: string
  port: number
  url: string
  strategy: StrategyName
  startedAt: string
}

export function manageFile(store: Store, swarm: string): string {
  return path.join(store.root, 'swarms', `${swarm}.manage.json`)
}

/** The running endpoint of a swarm, or undefined (none, or its process is gone). */
export async function readManageState(store: Store, swarm: string): Promise<ManageState | undefined> {
  let state: ManageState
  try {
    state = JSON.parse(await fs.readFile(manageFile(store, swarm), 'utf8'))
  } catch {
    return undefined
  }
  return pidAlive(state.pid) ? state : undefined
}

/** `host:port`, `:port`, `port`, `[::1]:port`. */
export function parseListen(text: string): {host: string; port: number} {
  const m = /^(?:\[([^\]]+)\]|([^:]*))?:?(\d+)$/.exec(text.trim())
  const port = m ? Number(m[3]) : NaN
  if (!m || !Number.isInteger(port) || port > 65535) throw new UserError(`bad --listen "${text}": use host:port, e.g. 127.0.0.1:3376`)
  const host = m[1] ?? (m[2] || '127.0.0.1')
  if (!net.isIP(host) && host !== 'localhost') throw new UserError(`bad --listen "${text}": the host must be an IP address or localhost`)
  return {host, port}
}

/** Certificate names for the endpoint: the listen address, loopback, and every local address when it listens on all. */
export function serverSans(host: string): string[] {
  const out = [host, '127.0.0.1', 'localhost', '::1']
  if (host === '0.0.0.0' || host === '::') {
    for (const list of Object.values(os.networkInterfaces())) for (const a of list ?? []) out.push(a.address.replace(/%.*$/, ''))
  }
  return [...new Set(out.filter(h => h !== '0.0.0.0' && h !== '::'))]
}

export interface ManageOptions {
  swarm: string
  strategy: StrategyName
  host: string
  port: number
  timeoutMs?: number
  log?: (line: string) => void
  /** Log every request with its status and duration (berth --debug). */
  trace?: boolean
}

type Req = http.IncomingMessage
type Res = http.ServerResponse

const HOP = new Set(['connection', 'keep-alive', 'transfer-encoding', 'upgrade', 'proxy-connection', 'proxy-authenticate', 'proxy-authorization', 'te', 'trailer', 'host'])

function sendJson(res: Res, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const data = Buffer.from(JSON.stringify(body))
  res.writeHead(status, {'Content-Type': 'application/json', 'Content-Length': String(data.length), ...headers})
  res.end(data)
}

function sendError(res: Res, status: number, message: string): void {
  if (res.headersSent) {
    res.destroy()
    return
  }
  sendJson(res, status, {message})
}

function readBody(req: Req): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = []
    let size = 0
    req.on('data', (c: Buffer) => {
      size += c.length
      if (size > MAX_BODY) req.destroy(new ClusterError('request body too large', 413))
      else chunks.push(c)
    })
    req.on('end', () => resolve(Buffer.concat(chunks)))
    req.on('error', reject)
  })
}

/** Container operations that go to the engine holding the container, unchanged. */
const CONTAINER_OPS = new Set(['json', 'logs', 'start', 'stop', 'restart', 'kill', 'wait', 'attach', 'top', 'stats', 'pause', 'unpause', 'rename', 'resize', 'update', 'exec', 'changes', 'export', 'archive'])

export class ManageEndpoint {
  readonly cluster: Cluster
  private server!: https.Server
  /** Full container id → machine: ids never move, so this is safe to keep. */
  private readonly ids = new Map<string, string>()
  private readonly execs = new Map<string, string>()
  private readonly sockets = new Set<Duplex>()
  private apiVersion = FALLBACK_API_VERSION
  host = ''
  port = 0

  private constructor(readonly ctx: Ctx, readonly opts: ManageOptions) {
    // /info and /version change rarely; container and image lists are read for every decision.
    this.cluster = new Cluster(ctx, {swarm: opts.swarm}, {timeoutMs: opts.timeoutMs ?? 5000, infoTtlMs: 10_000})
  }

  get url(): string {
    return `tcp://${this.host.includes(':') ? `[${this.host}]` : this.host}:${this.port}`
  }

  get strategy(): StrategyName {
    return this.opts.strategy
  }

  static async start(ctx: Ctx, opts: ManageOptions): Promise<ManageEndpoint> {
    const ep = new ManageEndpoint(ctx, opts)
    await ep.listen()
    return ep
  }

  private log(line: string): void {
    this.opts.log?.(line)
  }

  private async listen(): Promise<void> {
    const {loadCA, issue} = await import('../certs/index.js')
    let ca
    try {
      ca = await loadCA(this.ctx.store.certsDir)
    } catch {
      throw new UserError(`the store has no CA in ${this.ctx.store.certsDir}: create a machine first`)
    }
    // Issued per run and kept in memory only: no endpoint key lies on disk.
    const server = await issue(ca, {cn: `berth-manage-${this.opts.swarm}`, usage: 'server', sans: serverSans(this.opts.host)})
    // The API version the backends speak decides what the CLI negotiates down to.
    const snap = await this.cluster.snapshot().catch(() => undefined)
    if (snap) this.noteVersions(snap)
    this.server = https.createServer({
      key: server.keyPem, cert: server.certPem, ca: ca.certPem, requestCert: true, rejectUnauthorized: true, minVersion: 'TLSv1.2',
      // The docker CLI half-closes a hijacked attach when it has no more input; the output must still flow back.
      allowHalfOpen: true,
    }, (req, res) => {
      this.handle(req, res).catch(err => sendError(res, 500, errorMessage(err)))
    })
    this.server.on('upgrade', (req: Req, socket: Duplex, head: Buffer) => {
      this.handleUpgrade(req, socket, head).catch(err => rawError(socket, err instanceof ClusterError ? err.status : 500, errorMessage(err)))
    })
    this.server.on('connection', (s: Duplex) => {
      this.sockets.add(s)
      s.on('close', () => this.sockets.delete(s))
    })
    this.server.on('tlsClientError', () => { /* a client without our CA's certificate: refused by TLS itself */ })
    await new Promise<void>((resolve, reject) => {
      this.server.once('error', err => reject((err as NodeJS.ErrnoException).code === 'EADDRINUSE' ? new UserError(`${this.opts.host}:${this.opts.port} is in use: choose another with --listen`) : err))
      this.server.listen(this.opts.port, this.opts.host, () => resolve())
    })
    const addr = this.server.address() as net.AddressInfo
    this.host = this.opts.host
    this.port = addr.port
  }

  private noteVersions(snap: Snapshot): void {
    const versions = snap.machines.map(m => m.apiVersion)
    if (versions.length) this.apiVersion = versions.reduce((a, b) => (compareVersions(a, b) <= 0 ? a : b))
  }

  async close(): Promise<void> {
    await new Promise<void>(resolve => {
      this.server.close(() => resolve())
      this.server.closeAllConnections()
      // Upgraded (attach/exec) and streaming sockets are no longer the server's to close.
      for (const s of this.sockets) s.destroy()
    })
    this.cluster.close()
  }

  /** `/v1.41/containers/json` → version 1.41, path `/containers/json`. */
  private static split(url: string): {version?: string; path: string; query: URLSearchParams; search: string} {
    const u = new URL(url, 'http://endpoint')
    const m = /^\/v(\d+(?:\.\d+)*)(\/.*)$/.exec(u.pathname)
    return {version: m?.[1], path: decodeURIComponent(m ? m[2] : u.pathname), query: u.searchParams, search: u.search}
  }

  private async handle(req: Req, res: Res): Promise<void> {
    const method = req.method ?? 'GET'
    const {version, path: p, query, search} = ManageEndpoint.split(req.url ?? '/')
    if (this.opts.trace) {
      const t0 = process.hrtime.bigint()
      res.on('finish', () => this.log(`${method} ${req.url} ${res.statusCode} ${(Number(process.hrtime.bigint() - t0) / 1e6).toFixed(1)} ms`))
    }
    try {
      if (version && compareVersions(version, '1.24') < 0) throw new ClusterError(`client version ${version} is too old. Minimum supported API version is 1.24`, 400)
      if ((method === 'GET' || method === 'HEAD') && p === '/_ping') return this.ping(method, res)
      if (method === 'GET' && p === '/version') return sendJson(res, 200, await this.version())
      if (method === 'GET' && p === '/info') return sendJson(res, 200, await this.info())
      if (method === 'GET' && p === '/containers/json') return await this.ps(res, version, search)
      if (method === 'POST' && p === '/containers/create') return await this.create(req, res, version, query)
      if (method === 'GET' && p === '/images/json') return await this.images(res, version, search)
      if (method === 'POST' && p === '/images/create') {
        const ref = normalizeImage(`${query.get('fromImage') ?? ''}${query.get('tag') ? `:${query.get('tag')}` : ''}`)
        throw new ClusterError(`berth swarm manage does not pull images: load "${ref}" on the machines first (docker load or docker import through "berth env MACHINE")`, 501)
      }
      const img = /^\/images\/(.+)\/json$/.exec(p)
      if (method === 'GET' && img) return await this.inspectImage(res, version, img[1])
      const op = /^\/containers\/(.+)\/([a-z]+)$/.exec(p)
      if (op && CONTAINER_OPS.has(op[2]) && method !== 'DELETE') {
        const {machine, id} = await this.locate(op[1])
        if (op[2] === 'json' && method === 'GET') return await this.inspectContainer(res, version, machine, id, search)
        return await this.proxy(req, res, machine, `${this.prefix(version, machine)}/containers/${id}/${op[2]}${search}`, op[2] === 'exec')
      }
      const del = /^\/containers\/(.+)$/.exec(p)
      if (del && method === 'DELETE') {
        const {machine, id} = await this.locate(del[1])
        return await this.proxy(req, res, machine, `${this.prefix(version, machine)}/containers/${id}${search}`)
      }
      const ex = /^\/exec\/([^/]+)\/(json|start|resize)$/.exec(p)
      if (ex) return await this.proxy(req, res, this.execMachine(ex[1]), `${this.prefix(version, this.execMachine(ex[1]))}/exec/${ex[1]}/${ex[2]}${search}`)
      const other = /^\/(networks|volumes|plugins|services|tasks|nodes|secrets|configs)\/([^/]+)(?:\/json)?$/.exec(p)
      if (other && method === 'GET') {
        // `docker inspect NAME` tries each kind in turn and stops at the first error that is not "not found".
        throw new ClusterError(`No such ${other[1].replace(/s$/, '')}: ${other[2]} (berth swarm manage serves containers and images only; use "berth env MACHINE" for ${other[1]})`, 404)
      }
      this.log(`unsupported: ${method} ${p}`)
      throw new ClusterError(`berth swarm manage does not support ${method} ${p}: point docker at one machine with "berth env MACHINE" for that`, 501)
    } catch (err) {
      if (err instanceof ClusterError) return sendError(res, err.status, err.message)
      this.log(`error: ${method} ${p}: ${errorMessage(err)}`)
      return sendError(res, 500, errorMessage(err))
    }
  }

  private prefix(version: string | undefined, machine: string): string {
    const v = clampVersion(version, this.cluster.apiVersionOf(machine))
    return v ? `/v${v}` : ''
  }

  private execMachine(id: string): string {
    const m = this.execs.get(id)
    if (!m) throw new ClusterError(`No such exec instance: ${id}`, 404)
    return m
  }

  private ping(method: string, res: Res): void {
    const headers = {
      'API-Version': this.apiVersion, 'OSType': 'linux', 'Docker-Experimental': 'false', 'Cache-Control': 'no-cache, no-store, must-revalidate', 'Pragma': 'no-cache',
      'Content-Type': 'text/plain; charset=utf-8', 'Content-Length': '2',
    }
    res.writeHead(200, headers)
    res.end(method === 'HEAD' ? undefined : 'OK')
  }

  private async version(): Promise<unknown> {
    const snap = await this.cluster.snapshot()
    this.noteVersions(snap)
    const details = {ApiVersion: this.apiVersion, MinAPIVersion: '1.24', Os: 'linux', Arch: goArch(), KernelVersion: os.release(), GitCommit: '', GoVersion: `node ${process.version}`, BuildTime: ''}
    return {
      Platform: {Name: `berth swarm manage (${this.opts.swarm}, ${this.strategy})`},
      Components: [
        {Name: 'Engine', Version: `berth/${VERSION}`, Details: details},
        ...snap.machines.map(m => ({Name: m.machine, Version: m.info.ServerVersion ?? '', Details: {ApiVersion: m.apiVersion, Address: m.addr}})),
        ...snap.down.map(d => ({Name: d.machine, Version: 'unreachable', Details: {Error: d.error}})),
      ],
      Version: `berth/${VERSION}`,
      ...details,
    }
  }

  private async info(): Promise<unknown> {
    const snap = await this.cluster.snapshot()
    this.noteVersions(snap)
    const status: Array<[string, string]> = [['Role', 'primary'], ['Strategy', this.strategy], ['Filters', FILTERS_TEXT], ['Nodes', String(snap.machines.length + snap.down.length)]]
    let containers = 0
    let running = 0
    let paused = 0
    const imageIds = new Set<string>()
    const rows = [...snap.machines.map(m => ({m, d: undefined})), ...snap.down.map(d => ({m: undefined, d}))]
      .sort((a, b) => (a.m?.machine ?? a.d!.machine).localeCompare(b.m?.machine ?? b.d!.machine))
    for (const {m, d} of rows) {
      if (d) {
        status.push([` ${d.machine}`, d.addr ?? ''], ['  └ Status', 'Unhealthy'], ['  └ Error', d.error])
        continue
      }
      const mm = m!
      const run = mm.containers.filter(c => c.State === 'running').length
      const pau = mm.containers.filter(c => c.State === 'paused').length
      containers += mm.containers.length
      running += run
      paused += pau
      for (const i of mm.images) imageIds.add(i.Id)
      const n = mm.node
      status.push(
        [` ${mm.machine}`, mm.addr],
        ['  └ ID', mm.info.ID ?? ''],
        ['  └ Status', 'Healthy'],
        ['  └ Containers', `${mm.containers.length} (${run} Running, ${pau} Paused, ${mm.containers.length - run - pau} Stopped)`],
        ['  └ Reserved CPUs', `${Number(n.reservedCpus.toFixed(3))} / ${n.cpus}`],
        ['  └ Reserved Memory', `${bytesSize(n.reservedMemory)} / ${bytesSize(n.memory)}`],
        ['  └ Labels', Object.entries(n.labels).filter(([k]) => k !== 'node').sort(([a], [b]) => a.localeCompare(b)).map(([k, v]) => `${k}=${v}`).join(', ')],
        ['  └ UpdatedAt', mm.updatedAt.toISOString().replace(/\.\d+Z$/, 'Z')],
        ['  └ ServerVersion', mm.info.ServerVersion ?? ''],
      )
    }
    const sum = (f: (m: Snapshot['machines'][number]) => number) => snap.machines.reduce((a, m) => a + f(m), 0)
    return {
      ID: `berth-${this.opts.swarm}`,
      Name: os.hostname(),
      Containers: containers,
      ContainersRunning: running,
      ContainersPaused: paused,
      ContainersStopped: containers - running - paused,
      Images: imageIds.size,
      Driver: '',
      DriverStatus: null,
      SystemStatus: status,
      Plugins: {Volume: null, Network: null, Authorization: null, Log: null},
      MemoryLimit: true,
      SwapLimit: true,
      CpuCfsPeriod: true,
      CpuCfsQuota: true,
      IPv4Forwarding: true,
      Debug: false,
      NFd: 0,
      NGoroutines: 0,
      SystemTime: new Date().toISOString(),
      LoggingDriver: '',
      CgroupDriver: '',
      NEventsListener: 0,
      KernelVersion: os.release(),
      OperatingSystem: `berth swarm manage (${this.opts.swarm})`,
      OSType: 'linux',
      Architecture: os.arch() === 'x64' ? 'x86_64' : os.arch(),
      NCPU: sum(m => m.info.NCPU || 0),
      MemTotal: sum(m => m.info.MemTotal || 0),
      IndexServerAddress: '',
      RegistryConfig: null,
      HttpProxy: '',
      HttpsProxy: '',
      NoProxy: '',
      Labels: [],
      ExperimentalBuild: false,
      ServerVersion: `berth/${VERSION}`,
      Runtimes: {},
      DefaultRuntime: '',
      Swarm: {NodeID: '', NodeAddr: '', LocalNodeState: 'inactive', ControlAvailable: false, Error: '', RemoteManagers: null},
      LiveRestoreEnabled: false,
      Isolation: '',
      InitBinary: '',
      SecurityOptions: [],
      Warnings: snap.down.map(d => `WARNING: machine ${d.machine} does not answer: ${d.error}`),
    }
  }

  /** Every engine's list, names as `machine/name`, published ports on the machine's address. */
  private async ps(res: Res, version: string | undefined, search: string): Promise<void> {
    const {results, down} = await this.cluster.each<ContainerSummary[]>(`/v${clampVersion(version, FALLBACK_API_VERSION) ?? FALLBACK_API_VERSION}/containers/json${search}`)
    const failed = results.find(r => r.res.status >= 400)
    if (failed) throw new ClusterError(`${failed.machine}: ${engineMessage(failed.res)}`, failed.res.status)
    for (const d of down) this.log(`ps: ${d.machine} does not answer: ${d.error}`)
    const all: ContainerSummary[] = []
    // Ids are remembered to route later calls; a very long-lived endpoint starts the map afresh.
    if (this.ids.size > 100_000) this.ids.clear()
    for (const r of results) {
      for (const c of r.res.body) {
        this.ids.set(c.Id, r.machine)
        all.push(withMachine(c, r.machine, r.conn.host))
      }
    }
    all.sort((a, b) => b.Created - a.Created)
    const limit = Number(new URLSearchParams(search).get('limit') ?? -1)
    sendJson(res, 200, limit > 0 ? all.slice(0, limit) : all)
  }

  private async images(res: Res, version: string | undefined, search: string): Promise<void> {
    const {results} = await this.cluster.each<ImageSummary[]>(`/v${clampVersion(version, FALLBACK_API_VERSION) ?? FALLBACK_API_VERSION}/images/json${search}`)
    const failed = results.find(r => r.res.status >= 400)
    if (failed) throw new ClusterError(`${failed.machine}: ${engineMessage(failed.res)}`, failed.res.status)
    // One row per image: the same image on three machines is one image to the user.
    const byId = new Map<string, ImageSummary>()
    for (const r of results) {
      for (const img of r.res.body) {
        const had = byId.get(img.Id)
        if (!had) {
          byId.set(img.Id, {...img, RepoTags: [...(img.RepoTags ?? [])], RepoDigests: [...(img.RepoDigests ?? [])]})
          continue
        }
        had.RepoTags = [...new Set([...(had.RepoTags ?? []), ...(img.RepoTags ?? [])])]
        had.RepoDigests = [...new Set([...(had.RepoDigests ?? []), ...(img.RepoDigests ?? [])])]
      }
    }
    sendJson(res, 200, [...byId.values()].sort((a, b) => b.Created - a.Created))
  }

  private async inspectImage(res: Res, version: string | undefined, ref: string): Promise<void> {
    const {results} = await this.cluster.each<unknown>(`/v${clampVersion(version, FALLBACK_API_VERSION) ?? FALLBACK_API_VERSION}/images/${encodeURIComponent(ref)}/json`)
    const hit = results.find(r => r.res.status === 200)
    if (hit) return sendJson(res, 200, hit.res.body)
    throw new ClusterError(`No such image: ${ref}`, 404)
  }

  private async create(req: Req, res: Res, version: string | undefined, query: URLSearchParams): Promise<void> {
    let config: ContainerConfig & Record<string, unknown>
    try {
      config = JSON.parse((await readBody(req)).toString() || '{}')
    } catch {
      throw new ClusterError('the create body is not JSON', 400)
    }
    const name = query.get('name') ?? undefined
    const t0 = Date.now()
    const r = await this.cluster.create(config, {name, strategy: this.strategy, apiVersion: version, query: query.toString()})
    this.ids.set(r.id, r.machine)
    this.log(`placed ${r.name ?? r.id.slice(0, 12)} (${config.Image}) on ${r.machine} by ${this.strategy}${r.softDropped ? ', soft rules dropped' : ''} in ${Date.now() - t0} ms`)
    sendJson(res, 201, {Id: r.id, Warnings: r.warnings})
  }

  private async inspectContainer(res: Res, version: string | undefined, machine: string, id: string, search: string): Promise<void> {
    const conn = await this.cluster.connFor(machine)
    const r = await call<Record<string, unknown>>(conn, 'GET', `${this.prefix(version, machine)}/containers/${id}/json${search}`)
    if (r.status >= 400) throw new ClusterError(engineMessage(r), r.status)
    // Classic Swarm added the node the container runs on.
    sendJson(res, 200, {...r.body, Node: {ID: machine, Name: machine, Addr: `${conn.host}:${conn.port}`, IP: conn.host}})
  }

  /**
   * A container by full id, `machine/name`, name or id prefix, as the engine resolves them:
   * exact id first, then exact name, then a unique prefix.
   */
  private async locate(ref: string): Promise<{machine: string; id: string}> {
    const known = this.ids.get(ref)
    if (known) return {machine: known, id: ref}
    let want = ref.replace(/^\//, '')
    let only: string | undefined
    const slash = want.indexOf('/')
    if (slash > 0) {
      only = want.slice(0, slash)
      want = want.slice(slash + 1)
    }
    const {results, down} = await this.cluster.each<ContainerSummary[]>('/containers/json?all=1')
    const scope = results.filter(r => r.res.status === 200 && (!only || r.machine === only))
    const exact: Array<{machine: string; c: ContainerSummary}> = []
    const named: typeof exact = []
    const prefixed: typeof exact = []
    for (const r of scope) {
      for (const c of r.res.body) {
        this.ids.set(c.Id, r.machine)
        if (c.Id === want) exact.push({machine: r.machine, c})
        else if (ownNames(c.Names).includes(want)) named.push({machine: r.machine, c})
        else if (want && c.Id.startsWith(want)) prefixed.push({machine: r.machine, c})
      }
    }
    const pick = exact.length ? exact : named.length ? named : prefixed
    if (pick.length === 1) return {machine: pick[0].machine, id: pick[0].c.Id}
    if (pick.length > 1) {
      throw new ClusterError(`"${ref}" matches several containers: ${pick.map(p => `${p.machine}/${ownNames(p.c.Names)[0] ?? p.c.Id.slice(0, 12)}`).join(', ')}; use MACHINE/NAME or a longer id`, 409)
    }
    const missing = down.filter(d => !only || d.machine === only).map(d => d.machine)
    throw new ClusterError(`No such container: ${ref}${missing.length ? ` (${missing.join(', ')} did not answer)` : ''}`, 404)
  }

  /** Streams a request to the machine's engine and its answer back, as it comes (logs -f, wait, stats). */
  private async proxy(req: Req, res: Res, machine: string, upstreamPath: string, captureExec = false): Promise<void> {
    const conn = await this.cluster.connFor(machine)
    const headers: Record<string, string | string[]> = {}
    for (const [k, v] of Object.entries(req.headers)) if (v !== undefined && !HOP.has(k)) headers[k] = v
    if (captureExec) {
      // The exec id is how later /exec/{id} calls find their machine, so this answer is read whole.
      const body = await readBody(req)
      const r = await call<{Id?: string}>(conn, req.method ?? 'POST', upstreamPath, body.length ? JSON.parse(body.toString()) : undefined)
      if (this.execs.size > 100_000) this.execs.clear()
      if (r.status < 300 && r.body?.Id) this.execs.set(r.body.Id, machine)
      if (r.status >= 400) throw new ClusterError(engineMessage(r), r.status)
      return sendJson(res, r.status, r.body)
    }
    await new Promise<void>(resolve => {
      const up = https.request({host: conn.host, port: conn.port, method: req.method, path: upstreamPath, headers, agent: conn.agent}, ures => {
        const out: Record<string, string | string[]> = {}
        for (const [k, v] of Object.entries(ures.headers)) if (v !== undefined && !HOP.has(k)) out[k] = v
        res.writeHead(ures.statusCode ?? 502, out)
        // Streams (logs -f) are flushed chunk by chunk.
        res.flushHeaders()
        ures.pipe(res)
        ures.on('end', resolve)
        ures.on('error', () => {
          res.destroy()
          resolve()
        })
      })
      up.on('error', err => {
        sendError(res, 502, `${machine}: ${errorMessage(err)}`)
        resolve()
      })
      // The client went away (Ctrl-C on logs -f): stop the engine's stream too.
      res.on('close', () => {
        if (!res.writableFinished) up.destroy()
        resolve()
      })
      req.pipe(up)
    })
  }

  /** attach and exec start: the connection is hijacked, then bytes flow both ways unchanged. */
  private async handleUpgrade(req: Req, socket: Duplex, head: Buffer): Promise<void> {
    this.sockets.add(socket)
    socket.on('close', () => this.sockets.delete(socket))
    socket.on('error', () => socket.destroy())
    const method = req.method ?? 'POST'
    const {version, path: p, search} = ManageEndpoint.split(req.url ?? '/')
    let machine: string
    let upstreamPath: string
    const att = /^\/containers\/(.+)\/attach$/.exec(p)
    const ex = /^\/exec\/([^/]+)\/start$/.exec(p)
    if (att) {
      const loc = await this.locate(att[1])
      machine = loc.machine
      upstreamPath = `${this.prefix(version, machine)}/containers/${loc.id}/attach${search}`
    } else if (ex) {
      machine = this.execMachine(ex[1])
      upstreamPath = `${this.prefix(version, machine)}/exec/${ex[1]}/start${search}`
    } else {
      throw new ClusterError(`berth swarm manage does not support upgrading ${method} ${p}`, 501)
    }
    const conn = await this.cluster.connFor(machine)
    const headers: Record<string, string | string[]> = {}
    for (const [k, v] of Object.entries(req.headers)) if (v !== undefined && k !== 'host') headers[k] = v
    // A hijacked connection leaves the pool, so it gets its own.
    const up = https.request({host: conn.host, port: conn.port, method, path: upstreamPath, headers, ...conn.tls, agent: false})
    up.on('upgrade', (ures, usock, uhead) => {
      this.sockets.add(usock)
      usock.on('close', () => this.sockets.delete(usock))
      socket.write(`HTTP/1.1 ${ures.statusCode} ${ures.statusMessage ?? ''}\r\n${rawHeaders(ures.rawHeaders)}\r\n`)
      if (uhead.length) socket.write(uhead)
      if (head.length) usock.write(head)
      usock.pipe(socket)
      socket.pipe(usock)
      usock.on('error', () => socket.destroy())
      socket.on('error', () => usock.destroy())
      usock.on('close', () => socket.end())
      socket.on('close', () => usock.destroy())
    })
    up.on('response', ures => {
      // The engine refused to upgrade (no such container, already stopped...): relay its answer.
      const chunks: Buffer[] = []
      ures.on('data', c => chunks.push(c))
      ures.on('end', () => {
        const body = Buffer.concat(chunks)
        socket.end(`HTTP/1.1 ${ures.statusCode} ${ures.statusMessage ?? ''}\r\nContent-Type: ${ures.headers['content-type'] ?? 'application/json'}\r\nContent-Length: ${body.length}\r\nConnection: close\r\n\r\n${body}`)
      })
    })
    up.on('error', err => rawError(socket, 502, `${machine}: ${errorMessage(err)}`))
    // On an upgrade the request body (exec start's {"Detach":false}) arrives in `head` and on the
    // socket, not through req: read exactly Content-Length bytes, and keep the rest for the stream.
    const {body, rest} = await readUpgradeBody(socket, head, Number(req.headers['content-length'] ?? 0))
    head = rest
    up.end(body)
  }
}

function readUpgradeBody(socket: Duplex, head: Buffer, length: number): Promise<{body: Buffer; rest: Buffer}> {
  if (!(length > 0)) return Promise.resolve({body: Buffer.alloc(0), rest: head})
  return new Promise((resolve, reject) => {
    let buf = head
    const done = () => {
      socket.off('data', onData)
      socket.off('error', reject)
      socket.pause()
      resolve({body: buf.subarray(0, length), rest: buf.subarray(length)})
    }
    const onData = (c: Buffer) => {
      buf = Buffer.concat([buf, c])
      if (buf.length >= length) done()
    }
    if (buf.length >= length) return done()
    socket.on('data', onData)
    socket.on('error', reject)
  })
}

function rawHeaders(raw: string[]): string {
  let out = ''
  for (let i = 0; i < raw.length; i += 2) out += `${raw[i]}: ${raw[i + 1]}\r\n`
  return out
}

function rawError(socket: Duplex, status: number, message: string): void {
  const body = JSON.stringify({message})
  if (!socket.writable) return
  socket.end(`HTTP/1.1 ${status} ${http.STATUS_CODES[status] ?? ''}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`)
}

function goArch(): string {
  return ({x64: 'amd64', arm64: 'arm64', arm: 'arm', ia32: '386'} as Record<string, string>)[os.arch()] ?? os.arch()
}

/** Classic Swarm's view of a container: `/machine/name`, and ports on the machine's address. */
export function withMachine(c: ContainerSummary, machine: string, ip: string): ContainerSummary {
  const ports = c.Ports ?? []
  const v4 = new Set(ports.filter(p => p.IP === '0.0.0.0').map(p => `${p.PublicPort}/${p.PrivatePort}/${p.Type}`))
  const shown = ports
    // The engine lists a port bound on every interface twice (0.0.0.0 and ::): show it once.
    .filter(p => !(p.IP === '::' && v4.has(`${p.PublicPort}/${p.PrivatePort}/${p.Type}`)))
    .map(p => (p.PublicPort && (p.IP === '0.0.0.0' || p.IP === '::' || !p.IP) ? {...p, IP: ip} : p))
  return {...c, Names: (c.Names ?? []).map(n => `/${machine}${n.startsWith('/') ? n : `/${n}`}`), Ports: shown}
}

/** Writes the state file that `berth env --swarm S --manage` reads. */
export async function writeManageState(store: Store, state: ManageState): Promise<void> {
  await mkdirPrivate(path.join(store.root, 'swarms'))
  await writeFileAtomic(manageFile(store, state.swarm), JSON.stringify(state, null, 2) + '\n')
}

/** Removes the state file if it is still ours (a newer endpoint may have replaced it). */
export async function clearManageState(store: Store, swarm: string, pid = process.pid): Promise<void> {
  try {
    const state = JSON.parse(await fs.readFile(manageFile(store, swarm), 'utf8')) as ManageState
    if (state.pid === pid) await fs.rm(manageFile(store, swarm), {force: true})
  } catch { /* already gone */ }
}
