// Turns a Docker container-create body into a PlacementRequest, reading
// rules the way classic Swarm did: `-e constraint:k==v`, `-e affinity:k!=v`
// and the com.docker.swarm.* labels.
import type {Dependency, DependencyKind, PlacementRequest, PortRequest, Rule, RuleKind, RuleOp} from './model.js'

export const CONSTRAINTS_LABEL = 'com.docker.swarm.constraints'
export const AFFINITIES_LABEL = 'com.docker.swarm.affinities'

/** Bad rule, label or port syntax in a container config. */
export class PlacementSyntaxError extends Error {
  override readonly name = 'PlacementSyntaxError'
}

/** The subset of the Docker Engine API create body that placement reads. */
export interface ContainerConfig {
  Image?: string
  Env?: string[]
  Labels?: Record<string, string>
  ExposedPorts?: Record<string, unknown>
  HostConfig?: {
    Links?: string[] | null
    VolumesFrom?: string[] | null
    NetworkMode?: string
    IpcMode?: string
    PidMode?: string
    PortBindings?: Record<string, Array<{HostIp?: string; HostPort?: string}> | null> | null
    /** CPU request in 1e-9 CPUs (docker run --cpus). */
    NanoCpus?: number
    /** Memory request in bytes (docker run -m). */
    Memory?: number
  }
}

export interface ParsedContainer<T extends ContainerConfig> {
  readonly request: PlacementRequest
  /** A copy of the config without constraint:/affinity: env entries, to pass to the engine. */
  readonly config: T
}

// Classic's key rule, relaxed to allow one-character keys.
const KEY_RE = /^[a-z_][a-z0-9\-_.]*$/i

function compileValue(value: string, source: string): RegExp {
  const re = /^\/(.*)\/(i?)$/s.exec(value)
  if (re) {
    // Unanchored, as classic's regexp.MatchString was; /i because JS has no inline (?i).
    try {
      return new RegExp(re[1], re[2])
    } catch (err) {
      throw new PlacementSyntaxError(`invalid regular expression in '${source}': ${(err as Error).message}`)
    }
  }
  // Globs are whole-value matches; everything but * and ? is literal.
  const body = value.replace(/[.+^${}()|[\]\\*?]/g, ch => (ch === '*' ? '.*' : ch === '?' ? '.' : `\\${ch}`))
  return new RegExp(`^${body}$`, 's')
}

/** Parses `key==value`, `key!=value`, with `~` after the operator for soft rules. */
export function parseRule(kind: RuleKind, text: string): Rule {
  // Classic looked for == before !=, so `a==b!=c` is key a, value `b!=c`.
  let op: RuleOp = '=='
  let at = text.indexOf('==')
  if (at < 0) {
    op = '!='
    at = text.indexOf('!=')
  }
  if (at < 0) throw new PlacementSyntaxError(`${kind} '${text}': one of the operators ==, != is expected`)
  const key = text.slice(0, at).trim()
  let value = text.slice(at + 2).trim()
  if (!KEY_RE.test(key)) throw new PlacementSyntaxError(`${kind} '${text}': key '${key}' is invalid`)
  const soft = value.startsWith('~')
  if (soft) value = value.slice(1)
  if (!value) throw new PlacementSyntaxError(`${kind} '${text}': value is empty`)
  return {kind, key, op, value, soft, text: `${key}${op}${soft ? '~' : ''}${value}`, matcher: compileValue(value, text)}
}

function parseRuleLabel(kind: RuleKind, labels: Record<string, string> | undefined, label: string): Rule[] {
  const raw = labels?.[label]
  if (raw === undefined || raw === '') return []
  let parsed: unknown
  try {
    parsed = JSON.parse(raw)
  } catch {
    throw new PlacementSyntaxError(`label ${label} must be a JSON array of strings, got ${raw}`)
  }
  if (!Array.isArray(parsed) || !parsed.every(x => typeof x === 'string')) {
    throw new PlacementSyntaxError(`label ${label} must be a JSON array of strings, got ${raw}`)
  }
  return parsed.map(s => parseRule(kind, s))
}

function parsePort(text: string, what: string): number {
  const n = Number(text)
  if (!/^\d+$/.test(text) || n < 1 || n > 65535) throw new PlacementSyntaxError(`invalid ${what} '${text}'`)
  return n
}

/** "8080" or "8000-8002" (the CLI sends ranges unexpanded in some versions). */
function hostPorts(text: string): number[] {
  const dash = text.indexOf('-')
  if (dash < 0) return [parsePort(text, 'host port')]
  const from = parsePort(text.slice(0, dash), 'host port')
  const to = parsePort(text.slice(dash + 1), 'host port')
  if (to < from) throw new PlacementSyntaxError(`invalid host port range '${text}'`)
  const out: number[] = []
  for (let p = from; p <= to; p++) out.push(p)
  return out
}

function splitPortKey(key: string): {port: string; protocol: string} {
  const slash = key.indexOf('/')
  return slash < 0 ? {port: key, protocol: 'tcp'} : {port: key.slice(0, slash), protocol: key.slice(slash + 1).toLowerCase() || 'tcp'}
}

function requestedPorts(config: ContainerConfig): PortRequest[] {
  const hc = config.HostConfig
  const out: PortRequest[] = []
  const seen = new Set<string>()
  const add = (p: PortRequest) => {
    const k = `${p.hostIp}|${p.port}/${p.protocol}`
    if (!seen.has(k)) {
      seen.add(k)
      out.push(p)
    }
  }
  if (hc?.NetworkMode === 'host') {
    // With host networking every exposed port is a host port (classic's port filter did the same).
    for (const key of Object.keys(config.ExposedPorts ?? {})) {
      const {port, protocol} = splitPortKey(key)
      for (const p of hostPorts(port)) add({port: p, protocol, hostIp: ''})
    }
  }
  for (const [key, bindings] of Object.entries(hc?.PortBindings ?? {})) {
    const {protocol} = splitPortKey(key)
    for (const b of bindings ?? []) {
      // An empty HostPort asks the engine for a free port, which can't conflict.
      if (!b.HostPort) continue
      for (const p of hostPorts(b.HostPort)) add({port: p, protocol, hostIp: b.HostIp ?? ''})
    }
  }
  return out
}

function containerRef(mode: string | undefined): string | undefined {
  return mode?.startsWith('container:') ? mode.slice('container:'.length) : undefined
}

function dependencies(config: ContainerConfig): Dependency[] {
  const hc = config.HostConfig
  const out: Dependency[] = []
  // Links are `name:alias` on the CLI and `/name:/child/alias` in inspect output.
  for (const link of hc?.Links ?? []) out.push({kind: 'link', container: link.split(':')[0].replace(/^\//, '')})
  // `name:ro` / `name:rw`.
  for (const v of hc?.VolumesFrom ?? []) out.push({kind: 'volumes-from', container: v.replace(/:(ro|rw)$/, '')})
  const modes: Array<[DependencyKind, string | undefined]> = [['net', hc?.NetworkMode], ['ipc', hc?.IpcMode], ['pid', hc?.PidMode]]
  for (const [kind, mode] of modes) {
    const ref = containerRef(mode)
    if (ref) out.push({kind, container: ref})
  }
  return out.filter(d => d.container !== '')
}

function dedupe(rules: Rule[]): Rule[] {
  const seen = new Set<string>()
  return rules.filter(r => (seen.has(r.text) ? false : (seen.add(r.text), true)))
}

export interface RequestInput {
  readonly name?: string
  readonly image?: string
  readonly cpus?: number
  readonly memory?: number
  readonly labels?: Readonly<Record<string, string>>
  /** Rule objects or classic text such as `region==~tyo1`. */
  readonly constraints?: readonly (Rule | string)[]
  readonly affinities?: readonly (Rule | string)[]
  readonly dependencies?: readonly Dependency[]
  readonly ports?: readonly PortRequest[]
}

/** Builds a request programmatically (tests, benchmarks, callers without a Docker body). */
export function makeRequest(input: RequestInput = {}): PlacementRequest {
  const cpus = input.cpus ?? 0
  const memory = input.memory ?? 0
  if (!Number.isFinite(cpus) || cpus < 0) throw new RangeError(`requested cpus must be >= 0, got ${cpus}`)
  if (!Number.isFinite(memory) || memory < 0) throw new RangeError(`requested memory must be >= 0, got ${memory}`)
  const rules = (kind: RuleKind, list: readonly (Rule | string)[] | undefined) =>
    (list ?? []).map(r => (typeof r === 'string' ? parseRule(kind, r) : r))
  return {
    name: input.name,
    image: input.image,
    cpus,
    memory,
    labels: {...input.labels},
    constraints: rules('constraint', input.constraints),
    affinities: rules('affinity', input.affinities),
    dependencies: [...(input.dependencies ?? [])],
    ports: [...(input.ports ?? [])],
  }
}

/**
 * Reads the placement request out of a create body and returns the body to
 * send to the engine, minus the rule env entries (the engine would otherwise
 * export them into the container's environment).
 */
export function parseContainerConfig<T extends ContainerConfig>(config: T, options: {readonly name?: string} = {}): ParsedContainer<T> {
  const constraints = parseRuleLabel('constraint', config.Labels, CONSTRAINTS_LABEL)
  const affinities = parseRuleLabel('affinity', config.Labels, AFFINITIES_LABEL)
  let env = config.Env
  if (env) {
    const kept: string[] = []
    for (const e of env) {
      if (e.startsWith('constraint:')) constraints.push(parseRule('constraint', e.slice('constraint:'.length)))
      else if (e.startsWith('affinity:')) affinities.push(parseRule('affinity', e.slice('affinity:'.length)))
      else kept.push(e)
    }
    env = kept
  }
  const hc = config.HostConfig
  const request = makeRequest({
    name: options.name?.replace(/^\//, ''),
    image: config.Image,
    cpus: (hc?.NanoCpus ?? 0) / 1e9,
    memory: hc?.Memory ?? 0,
    labels: config.Labels,
    // A rescheduled container carries its rules both as labels and env; count each once.
    constraints: dedupe(constraints),
    affinities: dedupe(affinities),
    dependencies: dependencies(config),
    ports: requestedPorts(config),
  })
  return {request, config: env === config.Env ? config : {...config, Env: env}}
}
