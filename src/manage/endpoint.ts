/**
 * `berth swarm manage`: a Docker Engine API endpoint in front of a swarm's machines, as classic
 * Swarm's manager was. Mutual TLS with the store's CA (only holders of a client certificate from
 * that CA get in). `docker run` is placed by strategy and filters and created on the chosen
 * engine (the image pulled or copied there first); container operations are routed by id or name
 * to the engine that holds the container and streamed through unchanged (logs -f, attach, exec);
 * ps, images, networks, volumes, events and info are merged across the engines; pull, tag, rmi
 * reach every machine with the image, build one the strategy picks (images.ts, resources.ts).
 * Anything else answers 501 with a JSON message, so the docker CLI never hangs.
 */
import type https from 'node:https'
import {createRequire} from 'node:module'
import type net from 'node:net'
import type {Duplex} from 'node:stream'
import {Cluster, ClusterError, FALLBACK_API_VERSION, compareVersions, type Snapshot} from '../cluster/index.js'
import {errorMessage, UserError} from '../core/index.js'
import {engineMessage} from '../engine/index.js'
import type {Ctx} from '../machine/index.js'
import type {StrategyName} from '../placement/index.js'
import {events} from './events.js'
import {Handlers} from './handlers.js'
import {rawError, readBody, sendError, sendJson, type Req, type Res} from './http.js'
import {infoBody, versionBody} from './info.js'
import {endpointSans} from './listen.js'
import {proxy, relayHijack} from './proxy.js'
import {MIN_API_VERSION, route, splitUrl, upgradeRoute} from './router.js'

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

export class ManageEndpoint {
  readonly cluster: Cluster
  private readonly handlers: Handlers
  private server!: https.Server
  private readonly sockets = new Set<Duplex>()
  private apiVersion = FALLBACK_API_VERSION
  host = ''
  port = 0

  private constructor(readonly ctx: Ctx, readonly opts: ManageOptions) {
    // /info and /version change rarely; container and image lists are read for every decision.
    this.cluster = new Cluster(ctx, {swarm: opts.swarm}, {timeoutMs: opts.timeoutMs ?? 5000, infoTtlMs: 10_000})
    this.handlers = new Handlers(this.cluster, () => this.strategy, line => this.log(line))
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

  private track(s: Duplex): void {
    this.sockets.add(s)
    s.on('close', () => this.sockets.delete(s))
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
    const server = await issue(ca, {cn: `berth-manage-${this.opts.swarm}`, usage: 'server', sans: endpointSans(this.opts.host)})
    // The API version the backends speak decides what the CLI negotiates down to.
    const snap = await this.cluster.snapshot().catch(() => undefined)
    if (snap) this.noteVersions(snap)
    const {createServer} = createRequire(import.meta.url)('node:https') as typeof https
    this.server = createServer({
      key: server.keyPem, cert: server.certPem, ca: ca.certPem, requestCert: true, rejectUnauthorized: true, minVersion: 'TLSv1.2',
      // The docker CLI half-closes a hijacked attach when it has no more input; the output must still flow back.
      allowHalfOpen: true,
    }, (req, res) => {
      this.handle(req, res).catch(err => sendError(res, 500, errorMessage(err)))
    })
    this.server.on('upgrade', (req: Req, socket: Duplex, head: Buffer) => {
      this.handleUpgrade(req, socket, head).catch(err => rawError(socket, err instanceof ClusterError ? err.status : 500, errorMessage(err)))
    })
    this.server.on('connection', (s: Duplex) => this.track(s))
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

  private async handle(req: Req, res: Res): Promise<void> {
    const method = req.method ?? 'GET'
    const {version, path: p, query, search} = splitUrl(req.url ?? '/')
    if (this.opts.trace) {
      const t0 = process.hrtime.bigint()
      res.on('finish', () => this.log(`${method} ${req.url} ${res.statusCode} ${(Number(process.hrtime.bigint() - t0) / 1e6).toFixed(1)} ms`))
    }
    const h = this.handlers
    try {
      if (version && compareVersions(version, MIN_API_VERSION) < 0) throw new ClusterError(`client version ${version} is too old. Minimum supported API version is ${MIN_API_VERSION}`, 400)
      const r = route(method, p)
      switch (r.kind) {
        case 'ping': return this.ping(method, res)
        case 'version': return sendJson(res, 200, versionBody(await this.snapshot(), this.about()))
        case 'info': return sendJson(res, 200, infoBody(await this.snapshot(), this.about()))
        case 'ps': return await h.ps(res, version, search)
        case 'create': return await h.create(req, res, version, query)
        case 'images': return await h.images(res, version, search)
        case 'pull': return await h.imageOps.pull(req, res, version, query)
        case 'load': return await h.imageOps.load(req, res, version, search)
        case 'save': return await h.imageOps.save(req, res, version, query.getAll('names'), `/images/get${search}`)
        case 'image-get': return await h.imageOps.save(req, res, version, [r.ref], `/images/${encodeURIComponent(r.ref)}/get${search}`)
        case 'image-tag': return await h.imageOps.tag(res, version, r.ref, search)
        case 'image-push': return await h.imageOps.push(req, res, version, r.ref, search)
        case 'image-remove': return await h.imageOps.remove(res, version, r.ref, search)
        case 'build': return await h.imageOps.build(req, res, version, search, this.strategy)
        case 'events': return await events(res, this.cluster, version, search, line => this.log(line))
        case 'networks': return await h.resources.listNetworks(res, search)
        case 'network': return await h.resources.inspectNetwork(res, r.ref, search)
        case 'network-create': return await h.resources.createNetwork(req, res, version)
        case 'network-remove': return await h.resources.removeNetwork(res, version, r.ref)
        case 'network-connect': return await h.resources.connect(req, res, version, r.ref, r.op, ref => h.locate(ref))
        case 'volumes': return await h.resources.listVolumes(res, search)
        case 'volume': return await h.resources.inspectVolume(res, r.ref)
        case 'volume-create': return await h.resources.createVolume(req, res, version)
        case 'volume-remove': return await h.resources.removeVolume(res, version, r.ref, search)
        case 'image': return await h.inspectImage(res, version, r.ref)
        case 'container': {
          const {machine, id} = await h.locate(r.ref)
          if (r.op === 'json' && method === 'GET') return await h.inspectContainer(res, version, machine, id, search)
          const upstream = `${h.prefix(version, machine)}/containers/${id}/${r.op}${search}`
          if (r.op === 'exec') return await this.execCreate(req, res, machine, upstream)
          return await proxy(req, res, await this.cluster.connFor(machine), upstream)
        }
        case 'remove': {
          const {machine, id} = await h.locate(r.ref)
          return await proxy(req, res, await this.cluster.connFor(machine), `${h.prefix(version, machine)}/containers/${id}${search}`)
        }
        case 'exec': {
          const machine = h.execMachine(r.id)
          return await proxy(req, res, await this.cluster.connFor(machine), `${h.prefix(version, machine)}/exec/${r.id}/${r.op}${search}`)
        }
        case 'other':
          throw new ClusterError(`No such ${r.what.replace(/s$/, '')}: ${r.name} (berth swarm manage serves containers, images, networks and volumes; use "berth env --swarm ${this.opts.swarm}" for ${r.what})`, 404)
        case 'unsupported':
          this.log(`unsupported: ${method} ${p}`)
          throw new ClusterError(`berth swarm manage does not support ${method} ${p}: point docker at one machine with "berth env MACHINE" for that`, 501)
      }
    } catch (err) {
      if (err instanceof ClusterError) return sendError(res, err.status, err.message)
      this.log(`error: ${method} ${p}: ${errorMessage(err)}`)
      return sendError(res, 500, errorMessage(err))
    }
  }

  private async snapshot(): Promise<Snapshot> {
    const snap = await this.cluster.snapshot()
    this.noteVersions(snap)
    return snap
  }

  private about() {
    return {swarm: this.opts.swarm, strategy: this.strategy, apiVersion: this.apiVersion}
  }

  private ping(method: string, res: Res): void {
    const headers = {
      'API-Version': this.apiVersion, 'OSType': 'linux', 'Docker-Experimental': 'false', 'Cache-Control': 'no-cache, no-store, must-revalidate', 'Pragma': 'no-cache',
      'Content-Type': 'text/plain; charset=utf-8', 'Content-Length': '2',
    }
    res.writeHead(200, headers)
    res.end(method === 'HEAD' ? undefined : 'OK')
  }

  /** exec create: its answer is read whole, for the exec id that routes the later /exec/{id} calls. */
  private async execCreate(req: Req, res: Res, machine: string, upstream: string): Promise<void> {
    const conn = await this.cluster.connFor(machine)
    const body = await readBody(req)
    const r = await conn.engine.call<{Id?: string}>(req.method ?? 'POST', upstream, body.length ? JSON.parse(body.toString()) : undefined)
    if (r.status < 300 && r.body?.Id) this.handlers.noteExec(r.body.Id, machine)
    if (r.status >= 400) throw new ClusterError(engineMessage(r), r.status)
    return sendJson(res, r.status, r.body)
  }

  /** attach and exec start: the connection is hijacked, then bytes flow both ways unchanged. */
  private async handleUpgrade(req: Req, socket: Duplex, head: Buffer): Promise<void> {
    this.track(socket)
    socket.on('error', () => socket.destroy())
    const method = req.method ?? 'POST'
    const {version, path: p, search} = splitUrl(req.url ?? '/')
    const r = upgradeRoute(p)
    if (!r) throw new ClusterError(`berth swarm manage does not support upgrading ${method} ${p}`, 501)
    let machine: string
    let upstream: string
    if (r.kind === 'attach') {
      const loc = await this.handlers.locate(r.ref)
      machine = loc.machine
      upstream = `${this.handlers.prefix(version, machine)}/containers/${loc.id}/attach${search}`
    } else {
      machine = this.handlers.execMachine(r.id)
      upstream = `${this.handlers.prefix(version, machine)}/exec/${r.id}/start${search}`
    }
    await relayHijack(req, socket, head, await this.cluster.connFor(machine), upstream, s => this.track(s))
  }
}
