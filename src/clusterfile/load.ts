/**
 * Reading a cluster file into the machines it wants. Every refusal is one line naming
 * file:line:column and the key, so an editor jumps straight to it.
 */
import {promises as fs} from 'node:fs'
import path from 'node:path'
import {isMap, isSeq, LineCounter, parseDocument, type Document, type Node} from 'yaml'
import {UserError} from '../core/index.js'
import type {DriverFlag, DriverRegistry} from '../sdk/index.js'
import type {EngineOptions} from '../store/index.js'
import {NAME_RE} from '../store/index.js'
import {checkMeshSubnet} from '../mesh/index.js'
import {ClusterFile, type Group} from './schema.js'

type OptionRef = {env: string} | {file: string}
export type OptionValue = string | number | boolean | string[] | OptionRef

export interface DesiredMachine {
  name: string
  group: string
  driver: string
  role: 'manager' | 'worker'
  labels: Record<string, string>
  /** By the driver's full flag names; references are resolved only by `up` (options.ts). */
  options: Record<string, OptionValue>
  engine: EngineOptions
  sshTimeoutSec?: number
  /** The driver's flag definitions, from the registry the file was read against (env names, defaults). */
  flags: DriverFlag[]
}

export type SwarmMode = 'swarm' | 'classic'

/** The file's mesh: subnet and port only when it names them (else the swarm's own, or the defaults for a new one). */
export interface MeshSpec {
  kind: 'wireguard'
  subnet?: string
  port?: number
}

export interface ClusterSpec {
  /** Absolute path: what machines remember as their origin. */
  file: string
  /** mode absent in the file is swarm mode; mesh absent is none. */
  swarm?: {name: string; strategy?: string; mode: SwarmMode; mesh?: MeshSpec}
  groups: Array<{name: string; driver: string; role: 'manager' | 'worker'}>
  machines: DesiredMachine[]
}

class ClusterFileError extends UserError {
  constructor(message: string) {
    super(message, 'failed')
    this.name = 'ClusterFileError'
  }
}

type Path = Array<string | number>

/** Keys that name a secret; their values must be references. `...-file`, `...-id` and `...-name` are not secrets. */
const SECRET_KEY = /(^|[-_])(password|passwd|secret|token|api-?key|private-?key)$/i

class Located {
  constructor(private readonly doc: Document, private readonly lc: LineCounter, private readonly shown: string) {}

  /** The node at path (the key's node when `key`), or the deepest one that exists. */
  private offset(p: Path, key = false): number {
    let node: Node | null | undefined = this.doc.contents as Node | null
    let at = node?.range?.[0] ?? 0
    for (let i = 0; i < p.length && node; i++) {
      if (isMap(node)) {
        const pair = node.items.find(it => String((it.key as {value?: unknown})?.value ?? it.key) === String(p[i]))
        if (!pair) break
        const k = pair.key as Node | null
        if (key && i === p.length - 1) return k?.range?.[0] ?? at
        node = pair.value as Node | null
        at = node?.range?.[0] ?? k?.range?.[0] ?? at
      } else if (isSeq(node)) {
        node = node.items[Number(p[i])] as Node | null
        at = node?.range?.[0] ?? at
      } else break
    }
    return at
  }

  error(p: Path, message: string, key = false): ClusterFileError {
    const {line, col} = this.lc.linePos(this.offset(p, key))
    return new ClusterFileError(`${this.shown}:${line}:${col}: ${p.length ? p.join('.') + ': ' : ''}${message}`)
  }
}

function zodMessage(issue: {code: string; message: string; keys?: string[]}): string {
  if (issue.code === 'unrecognized_keys') return `unknown key "${issue.keys![0]}"`
  return issue.message.replace(/^Invalid input: /, '').replace(/^Invalid option: /, '')
}

/** Parse and check a cluster file; `shown` is how errors name it (the path as the user typed it). */
export function parseClusterFile(text: string, file: string, drivers: DriverRegistry, shown = file): ClusterSpec {
  const lc = new LineCounter()
  const doc = parseDocument(text, {lineCounter: lc, uniqueKeys: true, prettyErrors: false})
  const at = new Located(doc, lc, shown)
  if (doc.errors.length) {
    const e = doc.errors[0]
    const {line, col} = lc.linePos(e.pos[0])
    if (e.code === 'DUPLICATE_KEY') {
      const key = text.slice(e.pos[0], e.pos[1]).split(/[:\n]/)[0].trim()
      throw new ClusterFileError(`${shown}:${line}:${col}: ${key}: duplicate key "${key}"`)
    }
    throw new ClusterFileError(`${shown}:${line}:${col}: ${e.message.split('\n')[0]}`)
  }
  const raw = doc.toJS()
  const parsed = ClusterFile.safeParse(raw ?? {})
  if (!parsed.success) {
    const issue = parsed.error.issues[0] as {code: string; message: string; keys?: string[]; path: Path}
    const p = issue.code === 'unrecognized_keys' ? [...issue.path, issue.keys![0]] : issue.path
    throw at.error(p, zodMessage(issue), issue.code === 'unrecognized_keys')
  }
  const cf = parsed.data
  const spec: ClusterSpec = {file, swarm: cf.swarm ? swarmSpec(at, cf.swarm) : undefined, groups: [], machines: []}
  const owner = new Map<string, string>()
  for (const [gname, g] of Object.entries(cf.groups)) {
    const gp = ['groups', gname]
    const mod = drivers[g.driver]
    if (!mod) throw at.error([...gp, 'driver'], `unknown driver "${g.driver}" (available: ${Object.keys(drivers).join(', ')})`)
    const role = g.role ?? 'worker'
    if (!cf.swarm && g.role) throw at.error([...gp, 'role'], 'a role needs a swarm section')
    if (!cf.swarm && g.labels) throw at.error([...gp, 'labels'], 'labels are swarm node labels: they need a swarm section')
    const options = driverOptions(at, gp, g.driver, mod.flags, g.options ?? {})
    const engine = engineOptions(at, gp, g.engine)
    const labels = Object.fromEntries(Object.entries(g.labels ?? {}).map(([k, v]) => [k, String(v)]))
    spec.groups.push({name: gname, driver: g.driver, role})
    for (const name of machineNames(at, gp, gname, g)) {
      const other = owner.get(name)
      if (other !== undefined) throw at.error(g.name !== undefined ? [...gp, 'name'] : gp, `duplicate machine name "${name}" (also in group ${other})`, g.name === undefined)
      owner.set(name, gname)
      spec.machines.push({name, group: gname, driver: g.driver, role, labels, options, engine, sshTimeoutSec: g['ssh-timeout'], flags: mod.flags})
    }
  }
  if (spec.swarm && spec.machines.length && !spec.machines.some(m => m.role === 'manager')) {
    // A classic group's manager is its head: the machine `berth swarm manage` is run beside, as docker-machine's --swarm-master.
    throw at.error(['swarm'], spec.swarm.mode === 'classic' ? 'the classic group needs a head: give a group role: manager' : 'the swarm needs a manager: give a group role: manager', true)
  }
  return spec
}

function swarmSpec(at: Located, s: NonNullable<ClusterFile['swarm']>): NonNullable<ClusterSpec['swarm']> {
  const mode = s.mode ?? 'swarm'
  const wireguard = s.mesh === 'wireguard'
  for (const k of ['mesh-subnet', 'mesh-port'] as const) if (s[k] !== undefined && !wireguard) throw at.error(['swarm', k], `${k} needs mesh: wireguard`, true)
  // A classic group's engines are in no swarm: there are no swarm addresses to put on a mesh.
  if (wireguard && mode === 'classic') throw at.error(['swarm', 'mesh'], 'a classic group has no swarm to form over a mesh (berth swarm manage dials each engine): use mode: swarm, or mesh: none')
  let subnet: string | undefined
  if (s['mesh-subnet'] !== undefined) {
    try {
      subnet = checkMeshSubnet(s['mesh-subnet'])
    } catch {
      throw at.error(['swarm', 'mesh-subnet'], `bad subnet "${s['mesh-subnet']}": use an IPv4 network from /8 to /28, e.g. 10.209.0.0/16`)
    }
  }
  return {
    name: s.name, mode, ...(s.strategy ? {strategy: s.strategy} : {}),
    ...(wireguard ? {mesh: {kind: 'wireguard' as const, ...(subnet ? {subnet} : {}), ...(s['mesh-port'] !== undefined ? {port: s['mesh-port']} : {})}} : {}),
  }
}

function machineNames(at: Located, gp: Path, gname: string, g: Group): string[] {
  const template = g.name ?? (g.count === undefined ? gname : `${gname}-{n}`)
  const count = g.count ?? 1
  if (count > 1 && !template.includes('{n}')) throw at.error([...gp, 'name'], `with count ${count}, the name needs {n} (e.g. ${template}-{n})`)
  const names = Array.from({length: count}, (_, i) => template.replaceAll('{n}', String(i + 1)))
  for (const n of names) {
    if (!NAME_RE.test(n) || n.length > 63) {
      throw at.error(g.name !== undefined ? [...gp, 'name'] : gp, `invalid machine name "${n}": use letters, digits, '.' and '-', starting with a letter or digit`, g.name === undefined)
    }
  }
  return names
}

function isRef(v: unknown): v is OptionRef {
  return typeof v === 'object' && v !== null && !Array.isArray(v)
}

function driverOptions(at: Located, gp: Path, driver: string, flags: DriverFlag[], given: Record<string, OptionValue>): Record<string, OptionValue> {
  const out: Record<string, OptionValue> = {}
  for (const [key, value] of Object.entries(given)) {
    const p = [...gp, 'options', key]
    const flag = flags.find(f => f.name === key || f.name === `${driver}-${key}`)
    if (!flag) throw at.error(p, `unknown option "${key}" for driver ${driver}`, true)
    if (flag.name in out) throw at.error(p, `option ${flag.name} given twice`, true)
    const literal = !isRef(value)
    if (literal && (flag.secret || SECRET_KEY.test(key))) {
      throw at.error(p, `a literal secret is refused: use {env: ${flag.env ?? 'NAME'}} or {file: PATH}${flag.env ? `, or leave it out and set ${flag.env}` : ''}`)
    }
    if (literal && !typeFits(flag.type, value)) throw at.error(p, `expected ${flag.type === 'strings' ? 'a string or a list of strings' : `a ${flag.type}`}`)
    out[flag.name] = value
  }
  return out
}

function typeFits(type: DriverFlag['type'], v: unknown): boolean {
  switch (type) {
    case 'boolean': return typeof v === 'boolean'
    case 'integer': return Number.isInteger(v)
    case 'strings': return typeof v === 'string' || Array.isArray(v)
    default: return typeof v === 'string' || typeof v === 'number'
  }
}

function engineOptions(at: Located, gp: Path, e: Group['engine']): EngineOptions {
  const kv = (m: Record<string, string | number | boolean> | undefined) => Object.entries(m ?? {}).map(([k, v]) => `${k}=${v}`)
  for (const k of Object.keys(e?.env ?? {})) {
    if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(k)) throw at.error([...gp, 'engine', 'env', k], 'expected an environment variable name', true)
    if (SECRET_KEY.test(k)) throw at.error([...gp, 'engine', 'env', k], 'a literal secret is refused: the engine environment is stored in the file and the record')
  }
  const url = e?.['install-url'] ?? 'auto'
  if (!['auto', 'none'].includes(url) && !/^https?:\/\/\S+$/.test(url)) throw at.error([...gp, 'engine', 'install-url'], 'use an http(s) URL, "auto" or "none"')
  const labels = Array.isArray(e?.labels) ? e.labels : kv(e?.labels)
  for (const [i, l] of labels.entries()) if (!/^[^=]+=/.test(l)) throw at.error([...gp, 'engine', 'labels', i], `bad label "${l}": use key=value`)
  return {
    port: 2376,
    installUrl: url,
    labels,
    insecureRegistries: e?.['insecure-registries'] ?? [],
    registryMirrors: e?.['registry-mirrors'] ?? [],
    ...(e?.['storage-driver'] ? {storageDriver: e['storage-driver']} : {}),
    opts: kv(e?.opts),
    env: kv(e?.env),
    tlsSans: e?.['tls-san'] ?? [],
  }
}

export async function loadClusterFile(file: string, drivers: DriverRegistry): Promise<ClusterSpec> {
  const abs = path.resolve(file)
  let text: string
  try {
    text = await fs.readFile(abs, 'utf8')
  } catch (err) {
    throw new ClusterFileError(`${file}: cannot read the cluster file: ${(err as NodeJS.ErrnoException).code ?? String(err)}`)
  }
  return parseClusterFile(text, abs, drivers, file)
}
