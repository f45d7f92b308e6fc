/**
 * Networks and volumes across the machines, for `docker network`/`docker volume` and compose.
 * A network with no driver, bridge (the CLI's default) or overlay is an attachable overlay made on
 * a swarm manager, so containers on any machine join it and reach each other by name; without
 * swarm mode it is a bridge of that name on every machine; `MACHINE/NAME` is that machine's own. A volume is made on the machine where the first
 * container that mounts it is placed (until then it is only announced), and it keeps later
 * containers that mount it on that machine.
 */
import {Cluster, ClusterError, FALLBACK_API_VERSION, clampVersion, type Conn, type Snapshot} from '../cluster/index.js'
import {engineMessage} from '../engine/index.js'
import type {ContainerConfig} from '../placement/index.js'
import {readBody, sendJson, type Req, type Res} from './http.js'
import {combinedError} from './stream.js'
import {overlayOptions} from './overlay.js'

interface NetworkBody {Id: string; Name: string; Scope?: string; Driver?: string; Containers?: Record<string, unknown>}
interface VolumeBody {Name: string; Driver?: string; Labels?: Record<string, string> | null; Options?: Record<string, string> | null; Mountpoint?: string; Scope?: string; CreatedAt?: string}
interface VolumeCreate {Name?: string; Driver?: string; DriverOpts?: Record<string, string>; Labels?: Record<string, string>}

const enc = encodeURIComponent

/** `machine/name` picks a machine, as classic Swarm's names did. */
function splitNode(ref: string, machines: string[]): {machine?: string; name: string} {
  const slash = ref.indexOf('/')
  if (slash > 0 && machines.includes(ref.slice(0, slash))) return {machine: ref.slice(0, slash), name: ref.slice(slash + 1)}
  return {name: ref}
}

/** Named volumes a create body mounts (`name:/path` binds and `type: volume` mounts). */
export function namedVolumes(config: ContainerConfig & Record<string, unknown>): string[] {
  const hc = (config.HostConfig ?? {}) as {Binds?: string[] | null; Mounts?: Array<{Type?: string; Source?: string}> | null}
  const out = new Set<string>()
  for (const b of hc.Binds ?? []) {
    const src = b.split(':')[0]
    if (src && !src.startsWith('/') && !src.startsWith('.') && !src.startsWith('~')) out.add(src)
  }
  for (const m of hc.Mounts ?? []) if (m.Type === 'volume' && m.Source) out.add(m.Source)
  return [...out]
}

export class Resources {
  /** Volumes created through the endpoint that no container mounts yet: made where the first one lands. */
  private readonly announced = new Map<string, VolumeCreate & {CreatedAt: string}>()

  constructor(private readonly cluster: Cluster, private readonly log: (line: string) => void) {}

  private v(version: string | undefined, machine: string): string {
    const v = clampVersion(version, this.cluster.apiVersionOf(machine))
    return v ? `/v${v}` : ''
  }

  private async machines(): Promise<string[]> {
    return (await this.cluster.records()).map(r => r.name)
  }

  /** A reachable swarm manager of the machines, or undefined when they are not in swarm mode. */
  private async manager(): Promise<Conn | undefined> {
    const {results} = await this.cluster.each<{Swarm?: {LocalNodeState?: string; ControlAvailable?: boolean}}>(`/v${FALLBACK_API_VERSION}/info`)
    return results.find(r => r.res.status === 200 && r.res.body.Swarm?.LocalNodeState === 'active' && r.res.body.Swarm.ControlAvailable)?.conn
  }

  private async each<T>(urlPath: string) {
    const {results} = await this.cluster.each<T>(`/v${FALLBACK_API_VERSION}${urlPath}`)
    return results
  }

  // ---- networks

  async listNetworks(res: Res, search: string): Promise<void> {
    const out = new Map<string, NetworkBody>()
    for (const r of await this.each<NetworkBody[]>(`/networks${search}`)) {
      if (r.res.status >= 400) throw new ClusterError(`${r.machine}: ${engineMessage(r.res)}`, r.res.status)
      for (const n of r.res.body) {
        // A swarm network is one network everywhere; a local one is that machine's.
        if (n.Scope === 'swarm' || n.Scope === 'global') out.set(n.Id, out.get(n.Id) ?? n)
        else out.set(`${r.machine}/${n.Id}`, {...n, Name: `${r.machine}/${n.Name}`})
      }
    }
    sendJson(res, 200, [...out.values()])
  }

  /** Where a network lives: the swarm one (from a manager) first, else each machine's of that name. */
  private async findNetwork(ref: string, search = ''): Promise<Array<{machine: string; conn: Conn; body: NetworkBody}>> {
    const {machine, name} = splitNode(ref, await this.machines())
    const found = (await this.each<NetworkBody>(`/networks/${enc(name)}${search}`)).filter(r => r.res.status === 200 && (!machine || r.machine === machine))
    const swarm = found.filter(r => r.res.body.Scope === 'swarm')
    return (swarm.length ? swarm : found).map(r => ({machine: r.machine, conn: r.conn, body: r.res.body}))
  }

  async inspectNetwork(res: Res, ref: string, search: string): Promise<void> {
    const found = await this.findNetwork(ref, search)
    if (!found.length) throw new ClusterError(`network ${ref} not found`, 404)
    // Containers of a swarm network are each machine's to tell: the manager sees only its own.
    const body = {...found[0].body, Containers: Object.assign({}, ...found.map(f => f.body.Containers ?? {}))}
    sendJson(res, 200, body)
  }

  async createNetwork(req: Req, res: Res, version: string | undefined): Promise<void> {
    const body = JSON.parse((await readBody(req)).toString() || '{}') as {Name?: string; Driver?: string; Attachable?: boolean; Options?: Record<string, string> | null}
    if (!body.Name) throw new ClusterError('no network name given', 400)
    const {machine, name} = splitNode(body.Name, await this.machines())
    if ((await this.findNetwork(body.Name)).length) throw new ClusterError(`network with name ${name} already exists`, 409)
    const manager = machine ? undefined : await this.manager()
    // The docker CLI always sends its default `bridge`: across machines in swarm mode that means the overlay.
    const driver = manager && (!body.Driver || body.Driver === 'bridge') ? 'overlay' : body.Driver || 'bridge'
    if (driver === 'overlay') {
      if (!manager) throw new ClusterError(`an overlay network needs the machines in swarm mode (create them with --swarm), or create "${name}" with -d bridge on each machine`, 400)
      const {options, note} = overlayOptions(body.Options, await this.cluster.records())
      const r = await manager.engine.call<{Id: string; Warning?: string}>('POST', `${this.v(version, manager.machine)}/networks/create`, {...body, Options: options, Name: name, Driver: 'overlay', Attachable: true, CheckDuplicate: true})
      if (r.status >= 300) throw new ClusterError(`${manager.machine}: ${engineMessage(r)}`, r.status)
      this.log(`network ${name}: attachable overlay, made on ${manager.machine}${note ? `; ${note}` : ''}`)
      // The docker CLI prints the answer's Warning: the user sees why the network is encrypted.
      return sendJson(res, 201, {...r.body, Warning: [r.body.Warning, note && `berth: ${name}: ${note}`].filter(Boolean).join('\n')})
    }
    // A local driver: that machine's, or one of that name on each machine (reachable by name only on the same one).
    const targets = machine ? [await this.cluster.connFor(machine)] : await Promise.all((await this.cluster.records()).map(r => this.cluster.conn(r)))
    const made: Array<{conn: Conn; id: string}> = []
    for (const c of targets) {
      const r = await c.engine.call<{Id: string; Warning?: string}>('POST', `${this.v(version, c.machine)}/networks/create`, {...body, Name: name, Driver: driver})
      if (r.status >= 300) {
        // Nothing half-made: the ones already created go again.
        for (const m of made) await m.conn.engine.call('DELETE', `/networks/${m.id}`).catch(() => undefined)
        throw new ClusterError(`${c.machine}: ${engineMessage(r)}`, r.status)
      }
      made.push({conn: c, id: r.body.Id})
    }
    this.log(`network ${name}: ${driver} on ${targets.map(t => t.machine).join(', ')}`)
    sendJson(res, 201, {Id: made[0].id, Warning: ''})
  }

  async removeNetwork(res: Res, version: string | undefined, ref: string): Promise<void> {
    const found = await this.findNetwork(ref)
    if (!found.length) throw new ClusterError(`network ${ref} not found`, 404)
    const targets = found[0].body.Scope === 'swarm' ? [(await this.manager()) ?? found[0].conn] : found.map(f => f.conn)
    const out = await Promise.all(targets.map(async c => ({machine: c.machine, r: await c.engine.call('DELETE', `${this.v(version, c.machine)}/networks/${found[0].body.Id}`, undefined, {timeoutMs: 60_000})})))
    const failed = out.filter(o => o.r.status >= 300 && o.r.status !== 404)
    if (failed.length) throw combinedError(failed.map(f => ({machine: f.machine, status: f.r.status, error: engineMessage(f.r)})))
    res.writeHead(204)
    res.end()
  }

  // ---- volumes

  private announcedBody(name: string): VolumeBody | undefined {
    const a = this.announced.get(name)
    return a && {Name: name, Driver: a.Driver || 'local', Labels: a.Labels ?? null, Options: a.DriverOpts ?? null, Mountpoint: '', Scope: 'local', CreatedAt: a.CreatedAt}
  }

  async listVolumes(res: Res, search: string): Promise<void> {
    const vols: VolumeBody[] = []
    const warnings: string[] = []
    for (const r of await this.each<{Volumes?: VolumeBody[] | null; Warnings?: string[] | null}>(`/volumes${search}`)) {
      if (r.res.status >= 400) throw new ClusterError(`${r.machine}: ${engineMessage(r.res)}`, r.res.status)
      vols.push(...(r.res.body.Volumes ?? []))
      warnings.push(...(r.res.body.Warnings ?? []))
    }
    if (!search) for (const n of this.announced.keys()) if (!vols.some(v => v.Name === n)) vols.push(this.announcedBody(n)!)
    sendJson(res, 200, {Volumes: vols, Warnings: warnings.length ? warnings : null})
  }

  private async volumeHolders(name: string) {
    return (await this.each<VolumeBody>(`/volumes/${enc(name)}`)).filter(r => r.res.status === 200)
  }

  async inspectVolume(res: Res, ref: string): Promise<void> {
    const {machine, name} = splitNode(ref, await this.machines())
    const hit = (await this.volumeHolders(name)).find(r => !machine || r.machine === machine)
    const body = hit?.res.body ?? (machine ? undefined : this.announcedBody(name))
    if (!body) throw new ClusterError(`get ${ref}: no such volume`, 404)
    sendJson(res, 200, body)
  }

  async createVolume(req: Req, res: Res, version: string | undefined): Promise<void> {
    const body = JSON.parse((await readBody(req)).toString() || '{}') as VolumeCreate
    const {machine, name} = splitNode(body.Name ?? '', await this.machines())
    if (machine) {
      const c = await this.cluster.connFor(machine)
      const r = await c.engine.call('POST', `${this.v(version, machine)}/volumes/create`, {...body, Name: name})
      if (r.status >= 300) throw new ClusterError(`${machine}: ${engineMessage(r)}`, r.status)
      return sendJson(res, 201, r.body)
    }
    if (!name) throw new ClusterError('a volume made through berth swarm manage needs a name (or MACHINE/NAME)', 400)
    const have = (await this.volumeHolders(name))[0]
    if (have) return sendJson(res, 201, have.res.body)
    this.announced.set(name, {...body, Name: name, CreatedAt: new Date().toISOString()})
    this.log(`volume ${name}: made where the first container that mounts it is placed`)
    sendJson(res, 201, this.announcedBody(name))
  }

  async removeVolume(res: Res, version: string | undefined, ref: string, search: string): Promise<void> {
    const {machine, name} = splitNode(ref, await this.machines())
    const holders = (await this.volumeHolders(name)).filter(r => !machine || r.machine === machine)
    const wasAnnounced = !machine && this.announced.delete(name)
    if (!holders.length && !wasAnnounced) throw new ClusterError(`get ${ref}: no such volume`, 404)
    const out = await Promise.all(holders.map(async h => ({machine: h.machine, r: await h.conn.engine.call('DELETE', `${this.v(version, h.machine)}/volumes/${enc(name)}${search}`)})))
    const failed = out.filter(o => o.r.status >= 300)
    if (failed.length) throw combinedError(failed.map(f => ({machine: f.machine, status: f.r.status, error: engineMessage(f.r)})))
    res.writeHead(204)
    res.end()
  }

  /** A container that mounts a volume which lives on some machine goes there: its data is there. */
  async rules(config: ContainerConfig & Record<string, unknown>): Promise<string[]> {
    const names = namedVolumes(config)
    if (!names.length) return []
    const lists = await this.each<{Volumes?: VolumeBody[] | null}>('/volumes')
    const out: string[] = []
    for (const n of names) {
      const where = lists.filter(r => r.res.status === 200 && (r.res.body.Volumes ?? []).some(v => v.Name === n)).map(r => r.machine)
      if (where.length) out.push(`node==/^(${where.join('|')})$/`)
    }
    return out
  }

  /** Announced volumes the container mounts are made on its machine now, as they were asked for. */
  async ready(machine: string, config: ContainerConfig & Record<string, unknown>, _snap: Snapshot): Promise<void> {
    for (const n of namedVolumes(config)) {
      const a = this.announced.get(n)
      if (!a) continue
      const c = await this.cluster.connFor(machine)
      const r = await c.engine.call('POST', '/volumes/create', {Name: n, Driver: a.Driver, DriverOpts: a.DriverOpts, Labels: a.Labels})
      if (r.status >= 300) throw new ClusterError(`${machine}: volume ${n}: ${engineMessage(r)}`, r.status)
      this.announced.delete(n)
      this.log(`volume ${n} made on ${machine}`)
    }
  }

  /** connect/disconnect go to the machine of the container named in the body. */
  async connect(req: Req, res: Res, version: string | undefined, ref: string, op: string, locate: (ref: string) => Promise<{machine: string; id: string}>): Promise<void> {
    const body = JSON.parse((await readBody(req)).toString() || '{}') as {Container?: string}
    if (!body.Container) throw new ClusterError('no container given', 400)
    const {machine, id} = await locate(body.Container)
    const c = await this.cluster.connFor(machine)
    const {name} = splitNode(ref, await this.machines())
    const r = await c.engine.call('POST', `${this.v(version, machine)}/networks/${enc(name)}/${op}`, {...body, Container: id}, {timeoutMs: 60_000})
    if (r.status >= 300) throw new ClusterError(`${machine}: ${engineMessage(r)}`, r.status)
    res.writeHead(200, {'Content-Length': '0'})
    res.end()
  }
}
