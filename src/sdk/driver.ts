/**
 * The one small interface every driver implements (after libmachine's drivers.Driver).
 * A driver makes and controls hosts; it never touches the store or SSH itself:
 * berth persists whatever the driver hands to `ctx.save`, and provisions over SSH.
 */

export type MachineState = 'Running' | 'Stopped' | 'Starting' | 'Stopping' | 'Paused' | 'Saved' | 'Error' | 'Timeout' | 'Unknown' | 'NotFound'

export interface DriverFlag {
  /** Flag name without dashes, prefixed by the driver name (e.g. `lab-subnet`). */
  name: string
  description: string
  type: 'string' | 'boolean' | 'integer' | 'strings'
  env?: string
  default?: string | number | boolean
  /** Passwords and tokens: berth warns when they come from the command line. */
  secret?: boolean
  /** Optional single-letter alias or extra names (docker-machine compatibility). */
  aliases?: string[]
}

/** Driver-owned JSON, persisted in the machine record. */
export type DriverData = Record<string, unknown>

export interface SSHEndpoint {
  host: string
  port: number
  user: string
  /** The driver supplies its own key (e.g. generic with the user's key) instead of berth's. */
  privateKeyPath?: string
  /** Use the running ssh-agent (SSH_AUTH_SOCK). */
  agent?: boolean
}

export interface SwarmHints {
  /** The swarm this machine will join; drivers open the swarm ports between its members. */
  name: string
  manager: boolean
}

export interface DriverContext {
  machineName: string
  /** Stable random id of this machine (hex), unique across stores: use it to name cloud resources. */
  machineId: string
  /** The machine's folder in the store, for driver-owned files. */
  machineDir: string
  /** OpenSSH public key line of the key berth made for this machine. */
  sshPublicKey: string
  swarm?: SwarmHints
  signal: AbortSignal
  /** Persist driver data at once: call it as soon as a resource exists so a crash can clean it up. */
  save(data: DriverData): Promise<void>
  log(message: string): void
  debug(message: string): void
  /** One-line warning to the user (e.g. a secret given as a flag). */
  warn(message: string): void
}

/** What a driver needs to act on an existing machine. */
export interface MachineHandle {
  machineName: string
  machineId: string
  machineDir: string
  data: DriverData
  signal?: AbortSignal
  log(message: string): void
  debug(message: string): void
  save(data: DriverData): Promise<void>
}

export interface Driver {
  readonly name: string
  /**
   * Validate options and return the initial driver data. Runs before anything is created:
   * throw UserError for bad input so that nothing is left half-made.
   */
  preCreate(options: Record<string, unknown>, ctx: {machineName: string; machineId: string; warn(msg: string): void}): Promise<DriverData>
  /** Make the host; on failure, throw after having saved what exists (berth then calls remove). */
  create(ctx: DriverContext, data: DriverData): Promise<DriverData>
  /** Delete whatever create made; return what could not be deleted (empty when all is gone). */
  remove(m: MachineHandle, opts?: {force?: boolean}): Promise<string[]>
  start(m: MachineHandle): Promise<void>
  stop(m: MachineHandle): Promise<void>
  restart(m: MachineHandle): Promise<void>
  kill(m: MachineHandle): Promise<void>
  state(m: MachineHandle): Promise<MachineState>
  /** Address clients use to reach the engine. */
  ip(m: MachineHandle): Promise<string>
  sshEndpoint(m: MachineHandle): Promise<SSHEndpoint>
  /** Every address of the host (public and private) for the server certificate's SANs. */
  addresses?(m: MachineHandle): Promise<string[]>
  /** Engine port, when not 2376. */
  enginePort?(m: MachineHandle): number
  /**
   * Address other swarm members reach this host at, when it is not ip() (e.g. local VMs whose
   * engine is forwarded to 127.0.0.1 but which share a segment of their own).
   */
  swarmAddress?(m: MachineHandle): Promise<string>
  /** daemon.json keys the host needs (e.g. a cgroup parent of its own). */
  engineDefaults?(m: MachineHandle): Record<string, unknown>
  /** Labels describing where the host lives (provider, region...), set as engine and swarm node labels. */
  labels?(m: MachineHandle): Record<string, string>
  /** Seconds to wait for SSH by default (cloud VMs need longer than lab hosts). */
  readonly sshTimeout?: number
}

export interface DriverModule {
  /** Flag definitions, cheap to load: `create --help` lists them without loading the driver. */
  flags: DriverFlag[]
  description: string
  load(): Promise<Driver>
}

/** Every driver by name; the composition root (commands/) supplies it, unit tests a fake one. */
export type DriverRegistry = Record<string, DriverModule>
