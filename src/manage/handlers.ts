/**
 * The calls the endpoint answers itself: ps, images and image inspect merged across the engines,
 * create placed by strategy, container inspect with its machine; and where a container or an
 * exec instance lives, so later calls reach its engine.
 */
import {
  Cluster, ClusterError, FALLBACK_API_VERSION, clampVersion, ownNames, type Conn, type Prepare, type ContainerSummary, type ImageSummary,
} from '../cluster/index.js'
import {engineMessage} from '../engine/index.js'
import type {ContainerConfig, StrategyName} from '../placement/index.js'
import {readBody, sendJson, type Req, type Res} from './http.js'
import {Images} from './images.js'
import {Resources} from './resources.js'

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

const listPath = (version: string | undefined, what: string) => `/v${clampVersion(version, FALLBACK_API_VERSION) ?? FALLBACK_API_VERSION}${what}`

export class Handlers {
  /** Full container id → machine: ids never move, so this is safe to keep. */
  private readonly ids = new Map<string, string>()
  private readonly execs = new Map<string, string>()

  readonly imageOps: Images
  readonly resources: Resources
  private readonly prepare: Prepare

  constructor(readonly cluster: Cluster, private readonly strategy: () => StrategyName, private readonly log: (line: string) => void) {
    this.imageOps = new Images(cluster, log)
    this.resources = new Resources(cluster, log)
    // Placement first, then the image and the volumes onto the chosen machine, as classic Swarm.
    this.prepare = {
      rules: config => this.resources.rules(config),
      ready: async (machine, config, snap) => {
        await this.imageOps.ensure(machine, config.Image!, snap)
        await this.resources.ready(machine, config, snap)
      },
    }
  }

  /** The version prefix to speak to a machine: the client's, no newer than the engine knows. */
  prefix(version: string | undefined, machine: string): string {
    const v = clampVersion(version, this.cluster.apiVersionOf(machine))
    return v ? `/v${v}` : ''
  }

  execMachine(id: string): string {
    const m = this.execs.get(id)
    if (!m) throw new ClusterError(`No such exec instance: ${id}`, 404)
    return m
  }

  /** The exec id is how later /exec/{id} calls find their machine. */
  noteExec(id: string, machine: string): void {
    if (this.execs.size > 100_000) this.execs.clear()
    this.execs.set(id, machine)
  }

  /** Every engine's list, names as `machine/name`, published ports on the machine's address. */
  async ps(res: Res, version: string | undefined, search: string): Promise<void> {
    const {results, down} = await this.cluster.each<ContainerSummary[]>(listPath(version, `/containers/json${search}`))
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

  async images(res: Res, version: string | undefined, search: string): Promise<void> {
    const {results} = await this.cluster.each<ImageSummary[]>(listPath(version, `/images/json${search}`))
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

  async inspectImage(res: Res, version: string | undefined, ref: string): Promise<void> {
    const {results} = await this.cluster.each<unknown>(listPath(version, `/images/${encodeURIComponent(ref)}/json`))
    const hit = results.find(r => r.res.status === 200)
    if (hit) return sendJson(res, 200, hit.res.body)
    throw new ClusterError(`No such image: ${ref}`, 404)
  }

  async create(req: Req, res: Res, version: string | undefined, query: URLSearchParams): Promise<void> {
    let config: ContainerConfig & Record<string, unknown>
    try {
      config = JSON.parse((await readBody(req)).toString() || '{}')
    } catch {
      throw new ClusterError('the create body is not JSON', 400)
    }
    const name = query.get('name') ?? undefined
    const t0 = Date.now()
    const strategy = this.strategy()
    const r = await this.cluster.create(config, {name, strategy, apiVersion: version, query: query.toString(), prepare: this.prepare})
    this.ids.set(r.id, r.machine)
    this.log(`placed ${r.name ?? r.id.slice(0, 12)} (${config.Image}) on ${r.machine} by ${strategy}${r.softDropped ? ', soft rules dropped' : ''} in ${Date.now() - t0} ms`)
    sendJson(res, 201, {Id: r.id, Warnings: r.warnings})
  }

  async inspectContainer(res: Res, version: string | undefined, machine: string, id: string, search: string): Promise<void> {
    const conn: Conn = await this.cluster.connFor(machine)
    const r = await conn.engine.call<Record<string, unknown>>('GET', `${this.prefix(version, machine)}/containers/${id}/json${search}`)
    if (r.status >= 400) throw new ClusterError(engineMessage(r), r.status)
    // Classic Swarm added the node the container runs on.
    sendJson(res, 200, {...r.body, Node: {ID: machine, Name: machine, Addr: `${conn.host}:${conn.port}`, IP: conn.host}})
  }

  /**
   * A container by full id, `machine/name`, name or id prefix, as the engine resolves them:
   * exact id first, then exact name, then a unique prefix.
   */
  async locate(ref: string): Promise<{machine: string; id: string}> {
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
}
