/**
 * docker-machine passed `--engine-opt K=V` to dockerd as `--K V`; berth writes daemon.json, whose
 * keys and types differ (`log-opt=max-size=10m` is `"log-opts": {"max-size": "10m"}`, `dns` a
 * list). Each option is turned into its daemon.json form here, or refused, before anything is made.
 */
import {UserError} from '../core/index.js'

type Kind = 'bool' | 'int' | 'string' | 'list' | 'map' | 'json'

const KINDS: Record<string, Kind> = {}
const kinds = (k: Kind, keys: string) => keys.split(' ').forEach(key => (KINDS[key] = k))
kinds('bool', 'debug experimental icc ip-forward ip-masq iptables ip6tables ipv6 live-restore no-new-privileges selinux-enabled userland-proxy init raw-logs')
kinds('int', 'mtu max-concurrent-downloads max-concurrent-uploads max-download-attempts shutdown-timeout oom-score-adjust network-diagnostic-port')
kinds('string', 'log-driver log-level data-root bip ip fixed-cidr fixed-cidr-v6 default-gateway default-gateway-v6 userns-remap cgroup-parent default-runtime exec-root pidfile init-path seccomp-profile default-cgroupns-mode default-ipc-mode containerd bridge group default-shm-size userland-proxy-path')
kinds('list', 'dns dns-opts dns-search exec-opts storage-opts authorization-plugins allow-nondistributable-artifacts')
kinds('map', 'log-opts')
kinds('json', 'default-ulimits runtimes features default-address-pools builder')

/** dockerd's flag names (as docker-machine users write them) -> daemon.json keys. */
const RENAMES: Record<string, string> = {
  'log-opt': 'log-opts', 'dns-opt': 'dns-opts', 'exec-opt': 'exec-opts', 'storage-opt': 'storage-opts',
  'authorization-plugin': 'authorization-plugins', graph: 'data-root', g: 'data-root', b: 'bridge', D: 'debug', l: 'log-level',
  'default-ulimit': 'default-ulimits', 'insecure-registry': 'insecure-registries', 'registry-mirror': 'registry-mirrors', label: 'labels',
  's': 'storage-driver',
}

/** What berth sets itself: TLS, the listening sockets, the config file. */
const OWN = new Set(['host', 'hosts', 'H', 'tls', 'tlsverify', 'tlscacert', 'tlscert', 'tlskey', 'config-file'])

export interface EngineOptResult {
  /** daemon.json entries as `key=<JSON>` (what the record stores and the provisioner reads). */
  opts: string[]
  labels: string[]
  insecureRegistries: string[]
  registryMirrors: string[]
  storageDriver?: string
}

function ulimit(v: string, opt: string): [string, unknown] {
  const m = /^([a-z]+)=(-?\d+)(?::(-?\d+))?$/.exec(v)
  if (!m) throw new UserError(`bad --engine-opt "${opt}": use default-ulimit=NAME=SOFT[:HARD]`, 'usage')
  return [m[1]!, {Name: m[1], Soft: Number(m[2]), Hard: Number(m[3] ?? m[2])}]
}

export function mapEngineOpts(list: string[]): EngineOptResult {
  const cfg = new Map<string, unknown>()
  const out: EngineOptResult = {opts: [], labels: [], insecureRegistries: [], registryMirrors: []}
  for (const opt of list) {
    const m = /^-{0,2}([A-Za-z][\w.-]*)(?:=([\s\S]*))?$/.exec(opt)
    if (!m) throw new UserError(`bad --engine-opt "${opt}": use key=value (a dockerd flag without its dashes, or a daemon.json key)`, 'usage')
    const key = RENAMES[m[1]!] ?? m[1]!
    const value = m[2]
    if (OWN.has(key)) throw new UserError(`--engine-opt ${m[1]}: berth sets this itself (the engine listens on 2376 with mutual TLS)`, 'usage')
    if (key === 'labels') out.labels.push(need(value, opt))
    else if (key === 'insecure-registries') out.insecureRegistries.push(need(value, opt))
    else if (key === 'registry-mirrors') out.registryMirrors.push(need(value, opt))
    else if (key === 'storage-driver') out.storageDriver = need(value, opt)
    else {
      const kind = KINDS[key]
      if (!kind) throw new UserError(`--engine-opt ${m[1]}: not a dockerd option berth knows how to put in daemon.json (known: ${Object.keys(KINDS).sort().join(', ')})`, 'usage')
      cfg.set(key, typed(kind, key, value, opt, cfg.get(key)))
    }
  }
  for (const [k, v] of cfg) out.opts.push(`${k}=${JSON.stringify(v)}`)
  return out
}

function need(value: string | undefined, opt: string): string {
  if (value === undefined || value === '') throw new UserError(`bad --engine-opt "${opt}": needs a value`, 'usage')
  return value
}

function typed(kind: Kind, key: string, value: string | undefined, opt: string, prev: unknown): unknown {
  switch (kind) {
    case 'bool':
      if (value === undefined || value === 'true' || value === '1') return true
      if (value === 'false' || value === '0') return false
      throw new UserError(`bad --engine-opt "${opt}": ${key} is true or false`, 'usage')
    case 'int':
      if (!/^-?\d+$/.test(value ?? '')) throw new UserError(`bad --engine-opt "${opt}": ${key} is a whole number`, 'usage')
      return Number(value)
    case 'string':
      return need(value, opt)
    case 'list': {
      const v = need(value, opt)
      const items = v.startsWith('[') ? parseJson(v, opt) as unknown[] : [v]
      return [...((prev as unknown[] | undefined) ?? []), ...items]
    }
    case 'map': {
      const v = need(value, opt)
      const add = v.startsWith('{') ? parseJson(v, opt) as Record<string, unknown> : Object.fromEntries([kv(v, key, opt)])
      return {...(prev as object | undefined), ...add}
    }
    default: {
      const v = need(value, opt)
      if (key === 'default-ulimits' && !v.startsWith('{')) return {...(prev as object | undefined), ...Object.fromEntries([ulimit(v, opt)])}
      return parseJson(v, opt)
    }
  }
}

function kv(v: string, key: string, opt: string): [string, string] {
  const eq = v.indexOf('=')
  if (eq <= 0) throw new UserError(`bad --engine-opt "${opt}": use ${key.replace(/s$/, '')}=NAME=VALUE`, 'usage')
  return [v.slice(0, eq), v.slice(eq + 1)]
}

function parseJson(v: string, opt: string): unknown {
  try {
    return JSON.parse(v)
  } catch {
    throw new UserError(`bad --engine-opt "${opt}": the value is not valid JSON`, 'usage')
  }
}
