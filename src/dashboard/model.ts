/**
 * What the page shows, built from what the engines said (pure, unit-tested). Every field is
 * picked by name: nothing of an engine answer passes through whole, so TLS material, join
 * tokens, environment variables and secrets in service specs never reach the page.
 */

// ---- Raw input: the fields source.ts reads from a manager and from each engine ----

export interface RawMember {
  name: string
  driver: string
  manager: boolean
  nodeId?: string
}

export interface RawContainer {
  id: string
  name: string
  image: string
  state: string
  status: string
  /** Set on containers that are swarm tasks: the page shows those as tasks. */
  taskId?: string
  cpus: number
  memory: number
}

export type RawEngine =
  | {machine: string; addr: string; version: string; cpus: number; memory: number; containers: RawContainer[]}
  | {machine: string; addr?: string; error: string}

export interface RawSwarm {
  name: string
  strategy: string
  members: RawMember[]
  /** The manager that answered; absent when none did (then `error` says why). */
  via?: string
  error?: string
  nodes?: any[]
  services?: any[]
  tasks?: any[]
  engines: RawEngine[]
}

// ---- The view (objects keyed by id, so diffs stay small) ----

export interface TaskView {
  id: string
  service: string
  serviceId: string
  slot: number
  image: string
  state: string
  desired: string
  error: string
  since: string
}

export interface ContainerView {
  id: string
  name: string
  image: string
  state: string
  status: string
}

export interface NodeView {
  key: string
  machine: string
  hostname: string
  driver: string
  region: string
  role: string
  leader: boolean
  /** ready, down, unknown, ...: down when the swarm says so or the engine does not answer. */
  state: string
  swarmState: string
  availability: string
  engineUp: boolean | null
  engineError: string
  version: string
  addr: string
  labels: Array<[string, string]>
  cpus: number
  memory: number
  reservedCpus: number
  reservedMemory: number
  tasks: Record<string, TaskView>
  containers: Record<string, ContainerView>
}

export interface ServiceView {
  id: string
  name: string
  image: string
  mode: string
  replicas: number
  running: number
}

export interface SwarmView {
  name: string
  strategy: string
  via: string
  error: string
  nodes: Record<string, NodeView>
  services: Record<string, ServiceView>
}

export interface View {
  at: number
  swarms: Record<string, SwarmView>
}

// ---- Mapping ----

const GONE = new Set(['shutdown', 'remove', 'orphaned'])
const HOLDS_NOTHING = new Set(['complete', 'failed', 'shutdown', 'rejected', 'orphaned', 'remove'])

const str = (x: unknown): string => (typeof x === 'string' ? x : '')
const num = (x: unknown): number => (typeof x === 'number' && Number.isFinite(x) ? x : 0)
/** Digests make image names unreadable and say nothing the tag does not. */
export const shortImage = (ref: string): string => ref.replace(/@sha256:[0-9a-f]+$/, '')

function taskView(t: any, services: Map<string, any>): TaskView {
  const svc = services.get(str(t.ServiceID))
  return {
    id: str(t.ID),
    service: str(svc?.Spec?.Name) || str(t.ServiceID).slice(0, 12),
    serviceId: str(t.ServiceID),
    slot: num(t.Slot),
    image: shortImage(str(t.Spec?.ContainerSpec?.Image)),
    state: str(t.Status?.State),
    desired: str(t.DesiredState),
    error: str(t.Status?.Err),
    since: str(t.Status?.Timestamp),
  }
}

function serviceView(s: any, tasks: readonly any[]): ServiceView {
  const mine = tasks.filter(t => t.ServiceID === s.ID && !GONE.has(str(t.DesiredState)))
  const replicated = s.Spec?.Mode?.Replicated
  return {
    id: str(s.ID),
    name: str(s.Spec?.Name),
    image: shortImage(str(s.Spec?.TaskTemplate?.ContainerSpec?.Image)),
    mode: replicated ? 'replicated' : s.Spec?.Mode?.Global ? 'global' : 'job',
    replicas: replicated ? num(replicated.Replicas) : mine.length,
    running: mine.filter(t => t.Status?.State === 'running').length,
  }
}

function combinedState(swarmState: string, engineUp: boolean | null): string {
  if (swarmState === 'down' || engineUp === false) return 'down'
  return swarmState || 'unknown'
}

export function buildSwarmView(raw: RawSwarm): SwarmView {
  const services = new Map((raw.services ?? []).map(s => [str(s.ID), s]))
  const tasks = raw.tasks ?? []
  const engines = new Map(raw.engines.map(e => [e.machine, e]))
  const memberByNode = new Map(raw.members.filter(m => m.nodeId).map(m => [m.nodeId!, m]))
  const nodes: Record<string, NodeView> = {}

  const add = (key: string, machine: string, n: any | undefined, member: RawMember | undefined) => {
    const labels: Record<string, string> = {...n?.Spec?.Labels}
    const e = engines.get(machine)
    const engineUp = e ? !('error' in e) : null
    const swarmState = str(n?.Status?.State)
    const view: NodeView = {
      key, machine,
      hostname: str(n?.Description?.Hostname) || machine,
      driver: labels['berth.driver'] || member?.driver || 'other',
      region: labels['berth.region'] || '',
      role: str(n?.Spec?.Role) || (member ? (member.manager ? 'manager' : 'worker') : ''),
      leader: Boolean(n?.ManagerStatus?.Leader),
      state: combinedState(swarmState, engineUp),
      swarmState,
      availability: str(n?.Spec?.Availability),
      engineUp,
      engineError: e && 'error' in e ? e.error : '',
      version: str(n?.Description?.Engine?.EngineVersion) || (e && !('error' in e) ? e.version : ''),
      addr: str(n?.Status?.Addr) || e?.addr?.replace(/:\d+$/, '') || '',
      labels: Object.entries(labels).filter(([k]) => !k.startsWith('berth.')).sort(([a], [b]) => a.localeCompare(b)),
      cpus: num(n?.Description?.Resources?.NanoCPUs) / 1e9 || (e && !('error' in e) ? e.cpus : 0),
      memory: num(n?.Description?.Resources?.MemoryBytes) || (e && !('error' in e) ? e.memory : 0),
      reservedCpus: 0,
      reservedMemory: 0,
      tasks: {},
      containers: {},
    }
    for (const t of tasks) {
      if (!n || t.NodeID !== n.ID || GONE.has(str(t.DesiredState))) continue
      view.tasks[str(t.ID)] = taskView(t, services)
      if (HOLDS_NOTHING.has(str(t.Status?.State))) continue
      view.reservedCpus += num(t.Spec?.Resources?.Reservations?.NanoCPUs) / 1e9
      view.reservedMemory += num(t.Spec?.Resources?.Reservations?.MemoryBytes)
    }
    if (e && !('error' in e)) {
      for (const c of e.containers) {
        if (c.taskId) continue
        view.containers[c.id] = {id: c.id, name: c.name, image: shortImage(c.image), state: c.state, status: c.status}
        if (c.state === 'exited' || c.state === 'dead') continue
        view.reservedCpus += c.cpus
        view.reservedMemory += c.memory
      }
    }
    view.reservedCpus = Math.round(view.reservedCpus * 1000) / 1000
    nodes[key] = view
  }

  const seen = new Set<string>()
  for (const n of raw.nodes ?? []) {
    const member = memberByNode.get(str(n.ID))
    const machine = member?.name || str(n.Spec?.Labels?.['berth.machine']) || str(n.Description?.Hostname) || str(n.ID).slice(0, 12)
    seen.add(machine)
    add(str(n.ID), machine, n, member)
  }
  // Members the manager did not list (or no manager answered): shown from berth's records.
  for (const m of raw.members) {
    if (!seen.has(m.name)) add(m.nodeId || `machine:${m.name}`, m.name, undefined, m)
  }
  return {
    name: raw.name,
    strategy: raw.strategy,
    via: raw.via ?? '',
    error: raw.error ?? '',
    nodes,
    services: Object.fromEntries((raw.services ?? []).map(s => [str(s.ID), serviceView(s, tasks)])),
  }
}

export function buildView(raws: readonly RawSwarm[], at = Date.now()): View {
  return {at, swarms: Object.fromEntries(raws.map(r => [r.name, buildSwarmView(r)]))}
}
