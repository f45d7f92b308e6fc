// Data model of the placement engine. Everything here is plain data so that
// callers (engine sync, CLI, tests) can build nodes without touching the
// scheduler, and so the engine stays free of I/O.

/** A host port bound on a node. hostIp '' (or 0.0.0.0 / ::) means all interfaces. */
export interface PortInUse {
  readonly port: number
  readonly protocol: string
  readonly hostIp?: string
}

/** An image present on a node: its id and its repo:tag names. */
export interface ImageInfo {
  readonly id: string
  readonly names: readonly string[]
}

export interface ContainerInfo {
  readonly id: string
  readonly names: readonly string[]
  readonly image: string
  readonly labels: Readonly<Record<string, string>>
}

export interface NodeHealth {
  /** false when the engine is unreachable; the health filter excludes such nodes. */
  readonly healthy: boolean
  /** Recent failures; a node with failures is ranked after every node with fewer. */
  readonly failures: number
}

export interface PlacementNode {
  readonly id: string
  /** Machine name. */
  readonly name: string
  readonly cpus: number
  /** Bytes. */
  readonly memory: number
  readonly reservedCpus: number
  readonly reservedMemory: number
  readonly containerCount: number
  /** Engine and node labels merged, plus pseudo-labels (node, storagedriver, kernelversion, operatingsystem, ostype). */
  readonly labels: Readonly<Record<string, string>>
  readonly health: NodeHealth
  readonly ports: readonly PortInUse[]
  readonly images: readonly ImageInfo[]
  readonly containers: readonly ContainerInfo[]
}

/** What callers provide; makeNode fills the defaults. */
export interface NodeInput {
  readonly id: string
  readonly name?: string
  readonly cpus: number
  readonly memory: number
  readonly reservedCpus?: number
  readonly reservedMemory?: number
  /** Defaults to containers.length. */
  readonly containerCount?: number
  readonly labels?: Readonly<Record<string, string>>
  readonly health?: Partial<NodeHealth>
  readonly ports?: readonly PortInUse[]
  readonly images?: readonly ImageInfo[]
  readonly containers?: readonly ContainerInfo[]
}

export type RuleKind = 'constraint' | 'affinity'
export type RuleOp = '==' | '!='

/** One `key==value` / `key!=value` expression, as classic Swarm wrote them. */
export interface Rule {
  readonly kind: RuleKind
  readonly key: string
  readonly op: RuleOp
  /** Without the soft marker. */
  readonly value: string
  /** `~` rules are dropped in a second pass when nothing fits. */
  readonly soft: boolean
  /** Canonical text, e.g. `region==~tyo1`; used in messages. */
  readonly text: string
  /** Compiled glob or /regex/; never global, so test() is stateless. */
  readonly matcher: RegExp
}

export type DependencyKind = 'link' | 'volumes-from' | 'net' | 'ipc' | 'pid'

/** The request must land on the node that hosts `container` (name or id). */
export interface Dependency {
  readonly kind: DependencyKind
  readonly container: string
}

/** A host port the container wants bound. */
export interface PortRequest {
  readonly port: number
  readonly protocol: string
  /** '' means all interfaces. */
  readonly hostIp: string
}

export interface PlacementRequest {
  /** Container name, recorded on the node when placed so later rules can refer to it. */
  readonly name?: string
  readonly image?: string
  readonly cpus: number
  /** Bytes. */
  readonly memory: number
  readonly labels: Readonly<Record<string, string>>
  readonly constraints: readonly Rule[]
  readonly affinities: readonly Rule[]
  readonly dependencies: readonly Dependency[]
  readonly ports: readonly PortRequest[]
}

/** The one list of strategies: flags, parsers and the scheduler all read it. */
export const STRATEGY_NAMES = ['spread', 'binpack', 'random'] as const
export type StrategyName = typeof STRATEGY_NAMES[number]
export type FilterName = 'health' | 'constraint' | 'affinity' | 'dependency' | 'port'

export interface SchedulerOptions {
  /** Default 'spread', as in classic Swarm. */
  readonly strategy?: StrategyName
  /** Fraction of extra capacity; default 0.05. */
  readonly overcommit?: number
  /** Enabled filters; default all. A disabled filter ignores the request's rules of that kind. */
  readonly filters?: readonly FilterName[]
  /** Uniform [0, 1) source for the random strategy; default Math.random. */
  readonly rng?: () => number
}

export interface Placement {
  /** The chosen node. For Scheduler.place this is the live node, so it already shows the new reservation. */
  readonly node: PlacementNode
  /** cpuScore + memoryScore, both computed with the request included. */
  readonly score: number
  readonly cpuScore: number
  readonly memoryScore: number
  /** True when soft rules had to be dropped to find a node. */
  readonly softDropped: boolean
}

export const DEFAULT_OVERCOMMIT = 0.05
export const DEFAULT_FILTERS: readonly FilterName[] = ['health', 'constraint', 'affinity', 'dependency', 'port']

export interface ResolvedOptions {
  readonly strategy: StrategyName
  readonly overcommit: number
  readonly filters: ReadonlySet<FilterName>
  readonly rng: () => number
}

export function resolveOptions(options: SchedulerOptions = {}): ResolvedOptions {
  const overcommit = options.overcommit ?? DEFAULT_OVERCOMMIT
  // -1 would make every capacity zero; classic rejected it too.
  if (!Number.isFinite(overcommit) || overcommit <= -1) throw new RangeError(`invalid overcommit ${overcommit}`)
  const strategy = options.strategy ?? 'spread'
  if (strategy !== 'spread' && strategy !== 'binpack' && strategy !== 'random') throw new RangeError(`unknown strategy ${String(strategy)}`)
  return {strategy, overcommit, filters: new Set(options.filters ?? DEFAULT_FILTERS), rng: options.rng ?? Math.random}
}

function nonNegative(what: string, v: number): number {
  // NaN or negative values would poison every comparison in the index.
  if (!Number.isFinite(v) || v < 0) throw new RangeError(`${what} must be a finite number >= 0, got ${v}`)
  return v
}

/** Normalizes input into a fresh node (arrays copied: the scheduler mutates its own copy). */
export function makeNode(input: NodeInput): PlacementNode {
  if (!input.id) throw new RangeError('node id is required')
  const name = input.name ?? input.id
  const containers = [...(input.containers ?? [])]
  const failures = nonNegative(`node ${name} failures`, input.health?.failures ?? 0)
  return {
    id: input.id,
    name,
    cpus: nonNegative(`node ${name} cpus`, input.cpus),
    memory: nonNegative(`node ${name} memory`, input.memory),
    reservedCpus: nonNegative(`node ${name} reservedCpus`, input.reservedCpus ?? 0),
    reservedMemory: nonNegative(`node ${name} reservedMemory`, input.reservedMemory ?? 0),
    containerCount: nonNegative(`node ${name} containerCount`, input.containerCount ?? containers.length),
    // `node` is a pseudo-label for the machine name; the name wins over a stale label.
    labels: {...input.labels, node: name},
    health: {healthy: input.health?.healthy ?? true, failures},
    ports: [...(input.ports ?? [])],
    images: [...(input.images ?? [])],
    containers,
  }
}

/** The container record a placement leaves on its node. */
export function placedContainer(request: PlacementRequest): ContainerInfo {
  // The engine assigns the id later; an empty id never matches a rule value.
  return {id: '', names: request.name ? [request.name] : [], image: request.image ?? '', labels: request.labels}
}

/** Pure: the node as it looks after `request` lands on it. */
export function applyPlacement(node: PlacementNode, request: PlacementRequest): PlacementNode {
  const hasImage = !request.image || node.images.some(i => i.names.includes(request.image!))
  return {
    ...node,
    reservedCpus: node.reservedCpus + request.cpus,
    reservedMemory: node.reservedMemory + request.memory,
    containerCount: node.containerCount + 1,
    containers: [...node.containers, placedContainer(request)],
    ports: [...node.ports, ...request.ports.map(p => ({port: p.port, protocol: p.protocol, hostIp: p.hostIp}))],
    // The engine pulls the image to run it, so image affinity should see it afterwards.
    images: hasImage ? node.images : [...node.images, {id: '', names: [request.image!]}],
  }
}
