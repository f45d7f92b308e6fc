/**
 * The shape of a cluster file. schemas/cluster.schema.json is generated from this (npm run
 * schema:cluster) and a unit test keeps them equal, so editors and berth agree on what is valid.
 * Driver options are checked against the chosen driver's flags after this (load.ts): the file
 * schema cannot know them without importing the drivers.
 */
import {z} from 'zod'

const STRATEGIES = ['spread', 'binpack', 'random'] as const

const Scalar = z.union([z.string(), z.number(), z.boolean()], {error: 'expected a string, number or boolean'})
const EnvRef = z.strictObject({env: z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'expected an environment variable name')})
  .describe('Read the value from this environment variable when `up` runs')
const FileRef = z.strictObject({file: z.string().min(1)})
  .describe('Read the value from this file (first line, trimmed) when `up` runs; relative to the cluster file')

const OptionValue = z.union([z.string(), z.number(), z.boolean(), z.array(z.string()), EnvRef, FileRef], {
  error: 'expected a string, number, boolean, list of strings, {env: NAME} or {file: PATH}',
})

const Engine = z.strictObject({
  'install-url': z.string().optional().describe('Docker install script URL, "auto" or "none"'),
  labels: z.union([z.array(z.string()), z.record(z.string(), Scalar)], {error: 'expected a list of key=value or a map'}).optional().describe('Engine labels'),
  'insecure-registries': z.array(z.string()).optional(),
  'registry-mirrors': z.array(z.string()).optional(),
  'storage-driver': z.string().optional(),
  opts: z.record(z.string(), Scalar).optional().describe('daemon.json options'),
  env: z.record(z.string(), Scalar).optional().describe('Environment of the engine (no secrets: they would be stored in the file)'),
  'tls-san': z.array(z.string()).optional().describe('Extra names or IPs for the server certificate'),
}).describe('Engine options, as the --engine-* flags of `berth create`')

export const Group = z.strictObject({
  driver: z.string().describe('Driver of the group\'s machines (lab, azure, conoha, openstack, generic, qemu, virtualbox)'),
  count: z.number().int().min(0).max(999).optional().describe('Number of machines; without it the group is one machine named after the group'),
  name: z.string().optional().describe('Name template, {n} is the machine\'s number (default: <group>-{n} with count, else <group>)'),
  role: z.enum(['manager', 'worker']).optional().describe('Swarm role (default worker)'),
  labels: z.record(z.string(), Scalar).optional().describe('Swarm node labels'),
  engine: Engine.optional(),
  options: z.record(z.string(), OptionValue).optional()
    .describe('Driver flags by their long names, with or without the driver prefix (subnet or lab-subnet); secrets only as {env: NAME} or {file: PATH}'),
  'ssh-timeout': z.number().int().positive().optional().describe('Seconds to wait for SSH'),
})
export type Group = z.infer<typeof Group>

const Swarm = z.strictObject({
  name: z.string().regex(/^[a-zA-Z0-9][a-zA-Z0-9_.-]*$/, 'use letters, digits, \'.\', \'_\' and \'-\'').describe('Swarm name'),
  mode: z.enum(['swarm', 'classic']).optional()
    .describe('swarm: a swarm-mode cluster (the default); classic: engines NOT in swarm mode, placed by `berth swarm manage`, which dials out to each (no swarm port on any member; a head behind NAT works). A swarm keeps the mode it was formed with'),
  strategy: z.enum(STRATEGIES).optional().describe('Default placement strategy for `berth run`'),
  mesh: z.enum(['none', 'wireguard']).optional()
    .describe('wireguard: form the swarm over an encrypted WireGuard mesh among its members (a member behind NAT is reached through its own tunnels); none (the default): the members\' own addresses. Swarm mode only; a swarm keeps the mesh it was formed with'),
  'mesh-subnet': z.string().optional().describe('IPv4 network the mesh addresses come from, one per machine (default 10.209.0.0/16); with mesh: wireguard'),
  'mesh-port': z.number().int().min(1).max(65535).optional().describe('WireGuard UDP port on every member (default 51820); with mesh: wireguard'),
})

export const ClusterFile = z.strictObject({
  version: z.literal(1).optional().describe('File format version'),
  swarm: Swarm.optional(),
  groups: z.record(z.string(), Group).describe('Machine groups, in the order they are made'),
}).describe('A berth cluster file: `berth plan|up|down -f FILE`')
export type ClusterFile = z.infer<typeof ClusterFile>

/** The JSON Schema editors use (yaml-language-server, VS Code). */
export function clusterJsonSchema(): Record<string, unknown> {
  return {
    ...z.toJSONSchema(ClusterFile, {io: 'input'}),
    title: 'berth cluster file',
  }
}
