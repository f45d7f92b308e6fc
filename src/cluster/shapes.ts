/** The Engine API answers placement and the endpoint read (only the fields they use), and a cluster's read of them. */
import type {Engine} from '../engine/index.js'
import type {PlacementNode, PortInUse} from '../placement/index.js'

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
  /** registry-mirrors from daemon.json: Docker Hub pulls go through them. */
  RegistryConfig?: {Mirrors?: string[] | null}
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

/** A machine's engine, kept alive for the cluster's life. */
export interface Conn {
  machine: string
  host: string
  port: number
  engine: Engine
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
