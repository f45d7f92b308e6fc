// Filters with classic Swarm's names and semantics (scheduler/filter/*.go).
import type {Dependency, FilterName, PlacementNode, PlacementRequest, PortRequest, Rule} from './model.js'

/** A request-specific node predicate; the unit the error message reports on. */
export interface Check {
  readonly filter: FilterName
  /** e.g. `constraint region==tyo1`, `port 80/tcp`. */
  readonly label: string
  readonly soft: boolean
  readonly test: (node: PlacementNode) => boolean
}

/** `==` matches when any value matches; `!=` when none does (so a missing label satisfies `!=`). */
export function ruleMatches(rule: Rule, values: Iterable<string>): boolean {
  let any = false
  for (const v of values) {
    if (rule.matcher.test(v)) {
      any = true
      break
    }
  }
  return rule.op === '==' ? any : !any
}

/** Label lookup: exact key first; classic lower-cased rule keys, so fall back to a case-insensitive match. */
export function lookupLabel(labels: Readonly<Record<string, string>>, key: string): string | undefined {
  if (Object.hasOwn(labels, key)) return labels[key]
  const lower = key.toLowerCase()
  for (const k of Object.keys(labels)) if (k.toLowerCase() === lower) return labels[k]
  return undefined
}

export function isHealthy(node: PlacementNode): boolean {
  return node.health.healthy
}

/** `node` pins to id or name (classic); any other key is a label, pseudo-labels included. */
export function matchesConstraint(node: PlacementNode, rule: Rule): boolean {
  return constraintTest(rule)(node)
}

/** Specialised per rule once, since the scan path calls it for every node. */
function constraintTest(rule: Rule): (node: PlacementNode) => boolean {
  const eq = rule.op === '=='
  const re = rule.matcher
  if (rule.key.toLowerCase() === 'node') return node => (re.test(node.id) || re.test(node.name)) === eq
  const key = rule.key
  return node => {
    const v = lookupLabel(node.labels, key)
    return (v !== undefined && re.test(v)) === eq
  }
}

function shortId(id: string): string {
  const hex = id.startsWith('sha256:') ? id.slice(7) : id
  return hex.slice(0, 12)
}

/** `redis:7` → `redis`, `reg:5000/a/b@sha256:..` → `reg:5000/a/b`, so `image==redis` matches any tag. */
export function repoOf(name: string): string {
  const at = name.indexOf('@')
  const noDigest = at >= 0 ? name.slice(0, at) : name
  const colon = noDigest.lastIndexOf(':')
  return colon > noDigest.lastIndexOf('/') ? noDigest.slice(0, colon) : noDigest
}

function containerIdentities(node: PlacementNode): string[] {
  const out: string[] = []
  for (const c of node.containers) {
    for (const n of c.names) out.push(n.startsWith('/') ? n.slice(1) : n)
    if (c.id) out.push(c.id, shortId(c.id))
  }
  return out
}

function imageIdentities(node: PlacementNode): string[] {
  const out: string[] = []
  const addName = (n: string) => {
    if (!n) return
    out.push(n)
    const repo = repoOf(n)
    if (repo !== n) out.push(repo)
  }
  for (const img of node.images) {
    if (img.id) out.push(img.id, shortId(img.id))
    if (img.id.startsWith('sha256:')) out.push(img.id.slice(7))
    for (const n of img.names) addName(n)
  }
  // A running container proves its image is present even if the caller did not list images.
  for (const c of node.containers) addName(c.image)
  return out
}

/** affinity:container==x, affinity:image==x, or a label on any container of the node. */
export function matchesAffinity(node: PlacementNode, rule: Rule): boolean {
  const key = rule.key.toLowerCase()
  if (key === 'container') return ruleMatches(rule, containerIdentities(node))
  if (key === 'image') return ruleMatches(rule, imageIdentities(node))
  const values: string[] = []
  for (const c of node.containers) {
    const v = lookupLabel(c.labels, rule.key)
    if (v !== undefined) values.push(v)
  }
  return ruleMatches(rule, values)
}

/** Name, full id, or a short-id prefix (>= 12 chars, Docker's short form). */
export function hostsContainer(node: PlacementNode, ref: string): boolean {
  const name = ref.startsWith('/') ? ref.slice(1) : ref
  for (const c of node.containers) {
    for (const n of c.names) if (n === name || n === `/${name}`) return true
    if (c.id && (c.id === ref || (ref.length >= 12 && c.id.startsWith(ref)))) return true
  }
  return false
}

function allInterfaces(ip: string | undefined): boolean {
  return !ip || ip === '0.0.0.0' || ip === '::'
}

/** Same port and protocol, and the addresses overlap (equal, or either side binds every interface). */
export function portInUse(node: PlacementNode, port: PortRequest): boolean {
  for (const p of node.ports) {
    if (p.port !== port.port || p.protocol !== port.protocol) continue
    if (allInterfaces(p.hostIp) || allInterfaces(port.hostIp) || p.hostIp === port.hostIp) return true
  }
  return false
}

export function portLabel(p: PortRequest): string {
  return `port ${allInterfaces(p.hostIp) ? '' : `${p.hostIp}:`}${p.port}/${p.protocol}`
}

function dependencyLabel(d: Dependency): string {
  return `dependency ${d.kind} ${d.container}`
}

const healthCheck: Check = {filter: 'health', label: 'health', soft: false, test: isHealthy}

/**
 * The request's rules as node predicates, in reporting order: node
 * properties first (health, constraint), then container state (affinity,
 * dependency, port), so the error names the user's intent before incidental
 * conflicts. Order never changes which nodes pass, only who gets blamed.
 */
export function checksFor(request: PlacementRequest, filters: ReadonlySet<FilterName>): Check[] {
  const checks: Check[] = []
  if (filters.has('health')) checks.push(healthCheck)
  if (filters.has('constraint')) {
    for (const r of request.constraints) checks.push({filter: 'constraint', label: `constraint ${r.text}`, soft: r.soft, test: constraintTest(r)})
  }
  if (filters.has('affinity')) {
    for (const r of request.affinities) checks.push({filter: 'affinity', label: `affinity ${r.text}`, soft: r.soft, test: n => matchesAffinity(n, r)})
  }
  if (filters.has('dependency')) {
    for (const d of request.dependencies) checks.push({filter: 'dependency', label: dependencyLabel(d), soft: false, test: n => hostsContainer(n, d.container)})
  }
  if (filters.has('port')) {
    for (const p of request.ports) checks.push({filter: 'port', label: portLabel(p), soft: false, test: n => !portInUse(n, p)})
  }
  return checks
}
