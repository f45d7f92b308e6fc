/**
 * What an engine says about itself, as a placement node: capacity, labels (engine, swarm node,
 * classic Swarm's pseudo-labels), containers and what they reserve, images. Pure: unit-tested.
 */
import type {ContainerInfo, ImageInfo, NodeInput, PlacementNode, PortInUse} from '../placement/index.js'
import type {ContainerInspect, ContainerSummary, EngineInfo, ImageSummary, Reservation} from './shapes.js'

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
