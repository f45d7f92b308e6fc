/**
 * The one small interface every driver implements (after libmachine's drivers.Driver).
 * A driver makes and controls hosts. It sees its machine only through the handle and context
 * berth gives it: berth owns the record (the driver hands its typed data to `save`, berth
 * persists it at once), the folders (the machine's own, and one per driver in the store for
 * what its machines share, such as leases), the machine's SSH key and every SSH session.
 * Secrets come back from `preCreate` beside the data, never inside it: berth hands them to
 * `create` in memory, and the driver keeps them (or not) where later commands can find them.
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

/** Driver-owned JSON, as the machine record stores it. */
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

/** A port the swarm's members must reach on one another, or ESP (IPsec: encrypted overlays), which has none. */
export type FirewallPort = {port: number; proto: 'tcp' | 'udp'} | {proto: 'esp'}

/**
 * What a machine's cloud firewall is to admit of its swarm (Driver.firewall): exactly these
 * peers' addresses on exactly these ports, nothing more of the swarm's, replacing what berth
 * admitted before.
 */
export interface FirewallRequest {
  swarm: string
  /** False once the machine left: it then admits none of the swarm (a firewall shared with members still admits them). */
  member: boolean
  /** This machine's own addresses as the lifecycle counts a member's (a firewall it shares with members admits them too). */
  addresses: string[]
  /** Every other member (one about to join included), with every address its packets may come from. */
  peers: Array<{name: string; addresses: string[]}>
  /** The swarm's ports (2377/tcp, 7946/tcp+udp, 4789/udp and ESP; or a mesh's one UDP port). */
  ports: FirewallPort[]
}

/** The store's folders a driver may write in. */
export interface DriverPlace {
  /** The machine's folder, for its own files (disks, logs, a secrets file). */
  machineDir: string
  /**
   * The folder this driver's machines share (leases, locks): `<store>/<driver name>`, a child
   * of the store's own folder. It may not exist yet: the driver makes it when it needs it.
   */
  driverDir: string
}

/** What preCreate hands back: the data to record, and secrets that must never be recorded. */
export interface Prepared<Data, Secrets> {
  data: Data
  secrets?: Secrets
}

export interface PreCreateContext {
  machineName: string
  machineId: string
  /** One-line warning to the user (e.g. a secret given as a flag). */
  warn(message: string): void
}

export interface DriverContext<Data extends object = object, Secrets = unknown> extends DriverPlace {
  machineName: string
  /** Stable random id of this machine (hex), unique across stores: use it to name cloud resources. */
  machineId: string
  /** OpenSSH public key line of the key berth made for this machine. */
  sshPublicKey: string
  swarm?: SwarmHints
  signal: AbortSignal
  /** What preCreate returned as secrets, in memory only. */
  secrets?: Secrets
  /** Persist driver data at once: call it as soon as a resource exists so a crash can clean it up. */
  save(data: Data): Promise<void>
  log(message: string): void
  debug(message: string): void
  /** One-line warning to the user (e.g. a secret given as a flag). */
  warn(message: string): void
}

/** What a driver needs to act on an existing machine. */
export interface MachineHandle<Data extends object = object> extends DriverPlace {
  machineName: string
  machineId: string
  data: Data
  signal?: AbortSignal
  log(message: string): void
  debug(message: string): void
  save(data: Data): Promise<void>
}

/**
 * A driver over its own data type. The methods are declared as methods on purpose: berth holds
 * every driver as `Driver` (data seen as an opaque object) and hands each one back only the
 * data it recorded itself.
 */
export interface Driver<Data extends object = object, Secrets = unknown> {
  readonly name: string
  /**
   * Validate options and return the initial data (and any secrets). Runs before anything is
   * created: throw UserError for bad input so that nothing is left half-made.
   */
  preCreate(options: Record<string, unknown>, ctx: PreCreateContext): Promise<Prepared<Data, Secrets>>
  /** Make the host; on failure, throw after having saved what exists (berth then calls remove). */
  create(ctx: DriverContext<Data, Secrets>, data: Data): Promise<Data>
  /** Delete whatever create made; return what could not be deleted (empty when all is gone). */
  remove(m: MachineHandle<Data>, opts?: {force?: boolean}): Promise<string[]>
  start(m: MachineHandle<Data>): Promise<void>
  stop(m: MachineHandle<Data>): Promise<void>
  restart(m: MachineHandle<Data>): Promise<void>
  kill(m: MachineHandle<Data>): Promise<void>
  state(m: MachineHandle<Data>): Promise<MachineState>
  /** Address clients use to reach the engine. */
  ip(m: MachineHandle<Data>): Promise<string>
  sshEndpoint(m: MachineHandle<Data>): Promise<SSHEndpoint>
  /** Every address of the host (public and private) for the server certificate's SANs. */
  addresses?(m: MachineHandle<Data>): Promise<string[]>
  /** Engine port, when not 2376. */
  enginePort?(m: MachineHandle<Data>): number
  /**
   * Address other swarm members reach this host at, when it is not ip() (e.g. local VMs whose
   * engine is forwarded to 127.0.0.1 but which share a segment of their own).
   */
  swarmAddress?(m: MachineHandle<Data>): Promise<string>
  /** daemon.json keys the host needs (e.g. a cgroup parent of its own). */
  engineDefaults?(m: MachineHandle<Data>): Record<string, unknown>
  /**
   * Where the host sits, from its record: its public and private address and the network the
   * private one is on. Swarm members on one network advertise their private addresses to each
   * other, members spanning networks the public ones. Absent: ip() is the one address.
   */
  addressing?(m: MachineHandle<Data>): HostAddressing | undefined
  /** Labels describing where the host lives (provider, region...), set as engine and swarm node labels. */
  labels?(m: MachineHandle<Data>): Record<string, string>
  /**
   * Make the machine's cloud firewall (security group, NSG) admit exactly `req`: called for every
   * member after each join, leave and rm in its swarm. Idempotent (called again with the same
   * request it changes nothing); what it added goes with the machine's own resources on remove.
   */
  firewall?(m: MachineHandle<Data>, req: FirewallRequest): Promise<void>
  /** Seconds to wait for SSH by default (cloud VMs need longer than lab hosts). */
  readonly sshTimeout?: number
  /**
   * Take over a host docker-machine made (`berth import --docker-machine`) from the "Driver"
   * object of its config.json, touching neither the host nor its cloud. Drivers without it have
   * their docker-machine hosts adopted by the generic driver's.
   */
  adoptDockerMachine?(host: DockerMachineHost): Promise<AdoptedHost<Data>>
}

/** A host's addresses as its driver recorded them (`Driver.addressing`). */
export interface HostAddressing {
  /** What the user and other networks reach (what ip() answers). */
  public?: string
  /** Its address on its cloud network, when that is not the public one. */
  private?: string
  /** Names the cloud network the private address is on: same name, private addresses reach each other. */
  network?: string
}

/** One docker-machine host as `berth import --docker-machine` hands it to a driver. */
export interface DockerMachineHost extends DriverPlace {
  machineName: string
  /** docker-machine's DriverName (e.g. "amazonec2"), which may not be this driver's name. */
  driverName: string
  /** config.json's "Driver" object, as docker-machine wrote it (IPAddress, SSHUser, SSHPort...). */
  driver: Record<string, unknown>
  /** The machine's SSH key, copied into machineDir by the import (docker-machine's id_rsa), if it had one. */
  sshKeyPath?: string
}

export interface AdoptedHost<Data> {
  data: Data
  /** docker-machine settings this driver could not carry over, one short phrase each. */
  unmapped: string[]
}

/** A driver's code, loaded on first use: a command pays only for the driver it touches. */
export interface DriverLoader {
  load(): Promise<Driver>
}

/** Every driver by name, as the core needs them; the composition root (commands/) supplies it, unit tests a fake one. */
export type DriverLoaders = Record<string, DriverLoader>

export interface DriverModule extends DriverLoader {
  /** Flag definitions, cheap to load: `create --help` lists them without loading the driver. */
  flags: DriverFlag[]
  description: string
}

/** The drivers with their flags: for the commands that read driver options (create, plan, up, down). */
export type DriverRegistry = Record<string, DriverModule>
