import {z} from 'zod'
import {NAME_RE} from './names.js'
import {ENGINE_DEFAULTS} from './defaults.js'
import {SCHEMA_VERSION} from './migrate.js'

const HostKey = z.object({type: z.string(), fingerprint: z.string(), key: z.string()})

export const EngineOptions = z.object({
  port: z.number().int().positive().default(ENGINE_DEFAULTS.port),
  installUrl: z.string().default(ENGINE_DEFAULTS.installUrl),
  /** apt's (or dnf's) proxy and the install script's http(s)_proxy, for installs and upgrades only. */
  installProxy: z.string().optional(),
  labels: z.array(z.string()).default([]),
  insecureRegistries: z.array(z.string()).default([]),
  registryMirrors: z.array(z.string()).default([]),
  storageDriver: z.string().optional(),
  opts: z.array(z.string()).default([]),
  env: z.array(z.string()).default([]),
  tlsSans: z.array(z.string()).default([]),
})
export type EngineOptions = z.infer<typeof EngineOptions>

export const SwarmMembership = z.object({
  name: z.string(),
  manager: z.boolean(),
  advertiseAddr: z.string().optional(),
  dataPathAddr: z.string().optional(),
  labels: z.record(z.string(), z.string()).default({}),
  strategy: z.string().optional(),
  nodeId: z.string().optional(),
  /**
   * 'classic': a group of engines NOT in swarm mode (classic Swarm's model), placed by `berth swarm
   * manage` dialling out to each engine; `manager` then marks the head (docker-machine's
   * --swarm-master). Absent: swarm mode. Additive: older records have none.
   */
  mode: z.literal('classic').optional(),
})
export type SwarmMembership = z.infer<typeof SwarmMembership>

/**
 * The machine's place in its swarm's WireGuard mesh (--swarm-mesh wireguard): its mesh address,
 * public key and underlay endpoint, what every peer is configured from. The private key stays on
 * the host. Optional and additive: no schema bump.
 */
export const MeshMembership = z.object({
  kind: z.literal('wireguard'),
  swarm: z.string(),
  subnet: z.string(),
  address: z.string(),
  port: z.number().int(),
  mtu: z.number().int(),
  publicKey: z.string().optional(),
  endpoint: z.string().optional(),
  impl: z.enum(['kernel', 'wireguard-go']).optional(),
})
export type MeshMembership = z.infer<typeof MeshMembership>

/** The record as this berth writes it; older schemas are migrated (migrate.ts) before this check. */
export const MachineRecord = z.object({
  schemaVersion: z.literal(SCHEMA_VERSION),
  name: z.string().regex(NAME_RE),
  id: z.string().regex(/^[0-9a-f]{8,32}$/),
  driver: z.string(),
  createdAt: z.string(),
  /** creating: a create is (or was, if its pid is gone) in flight; ready: provisioned. */
  status: z.enum(['creating', 'ready', 'removing', 'error']),
  pid: z.number().int().optional(),
  error: z.string().optional(),
  driverData: z.record(z.string(), z.unknown()).default({}),
  ssh: z.object({
    /** Host key pinned at first contact; a different one later is refused. */
    hostKey: HostKey.optional(),
    /** Path of the key berth uses; absent when the driver supplies one (or the agent). */
    keyPath: z.string().optional(),
  }).default({}),
  engine: EngineOptions.default(EngineOptions.parse({})),
  tls: z.object({
    /** Address the server certificate was issued for; a different IP later means re-issue. */
    ip: z.string(),
    sans: z.array(z.string()),
  }).optional(),
  swarm: SwarmMembership.optional(),
  mesh: MeshMembership.optional(),
  /** The cluster file (absolute path) and group this machine came from: `up`/`down` touch only these. */
  origin: z.object({file: z.string(), group: z.string()}).optional(),
  /**
   * The swarm being joined, saved before the engine is asked to init or join and cleared with the
   * membership's save: present without `swarm`, the node may be in that swarm (schema 2).
   */
  swarmJoin: z.object({name: z.string(), manager: z.boolean(), at: z.string()}).optional(),
  /**
   * A machine this store did not create (`berth import`): where it came from, and what of its old
   * record could not be carried over. rm only forgets it unless asked to remove the host too.
   * Optional and additive: no schema bump, older records simply have none.
   */
  adopted: z.object({
    from: z.enum(['docker-machine', 'export']),
    source: z.string(),
    at: z.string(),
    unmapped: z.array(z.string()).default([]),
  }).optional(),
  /**
   * 'machine': the CA behind this machine's certificates is its own (ca.pem and, when known,
   * ca-key.pem in its folder), as imported, not the store's certs/. Absent: the store's CA.
   */
  ca: z.literal('machine').optional(),
})
export type MachineRecord = z.infer<typeof MachineRecord>
