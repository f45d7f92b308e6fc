/** Oclif flags built from driver flag definitions, and the engine flags every create takes. */
import * as Flags from '@oclif/core/flags'
import type {DriverFlag, DriverRegistry} from '../sdk/index.js'
import {ENGINE_DEFAULTS, type EngineOptions} from '../store/index.js'
import {NotFoundError, UserError} from '../core/index.js'
import {mapEngineOpts} from './engine-opts.js'

function toOclif(f: DriverFlag, group: string) {
  const common = {summary: f.description, env: f.env, helpGroup: group, aliases: f.aliases}
  switch (f.type) {
    case 'boolean':
      return Flags.boolean({...common, default: f.default as boolean | undefined})
    case 'integer':
      return Flags.integer({...common, default: f.default as number | undefined})
    case 'strings':
      return Flags.string({...common, multiple: true, multipleNonGreedy: true})
    default:
      return Flags.string({...common, default: f.default as string | undefined})
  }
}

export function driverFlags(drivers: DriverRegistry) {
  const out: Record<string, ReturnType<typeof toOclif>> = {}
  for (const [name, mod] of Object.entries(drivers)) {
    for (const f of mod.flags) out[f.name] = toOclif(f, `${name.toUpperCase()} DRIVER`)
  }
  return out
}

/** The flags of one driver, read from parsed flags; secrets given on the command line draw a warning. */
export function driverOptions(drivers: DriverRegistry, driver: string, flags: Record<string, unknown>, argv: string[], warn: (m: string) => void): Record<string, unknown> {
  const mod = drivers[driver]
  if (!mod) throw new NotFoundError(`unknown driver "${driver}" (available: ${Object.keys(drivers).join(', ')})`)
  const out: Record<string, unknown> = {}
  for (const f of mod.flags) {
    out[f.name] = flags[f.name]
    if (f.secret && argv.some(a => a === `--${f.name}` || a.startsWith(`--${f.name}=`))) {
      warn(`--${f.name} on the command line is visible to other users in ps and shell history; prefer ${f.env ?? 'the environment'}`)
    }
  }
  // Flags of other drivers are a mistake worth naming (e.g. --generic-ip-address with -d lab).
  const own = new Set(mod.flags.map(f => f.name))
  for (const [other, m] of Object.entries(drivers)) {
    if (other === driver) continue
    for (const f of m.flags) {
      if (own.has(f.name)) continue // a flag two drivers share (a preset reusing its base's flags)
      if (argv.some(a => a === `--${f.name}` || a.startsWith(`--${f.name}=`))) throw new UserError(`--${f.name} belongs to the ${other} driver, not ${driver}`)
    }
  }
  return out
}

export const engineFlags = {
  'engine-install-url': Flags.string({summary: 'Docker install script URL, "auto" (distro packages when absent) or "none"', default: 'auto', env: 'BERTH_ENGINE_INSTALL_URL', helpGroup: 'ENGINE'}),
  'engine-install-proxy': Flags.string({summary: 'HTTP proxy for installing or upgrading Docker only (apt\'s proxy, the install script\'s http(s)_proxy); never the engine\'s', env: 'BERTH_ENGINE_INSTALL_PROXY', helpGroup: 'ENGINE'}),
  'engine-label': Flags.string({summary: 'Engine label key=value (repeatable)', multiple: true, multipleNonGreedy: true, helpGroup: 'ENGINE'}),
  'engine-insecure-registry': Flags.string({summary: 'Insecure registry host:port (repeatable)', multiple: true, multipleNonGreedy: true, helpGroup: 'ENGINE'}),
  'engine-registry-mirror': Flags.string({summary: 'Registry mirror URL (repeatable)', multiple: true, multipleNonGreedy: true, env: 'BERTH_ENGINE_REGISTRY_MIRROR', helpGroup: 'ENGINE'}),
  'engine-storage-driver': Flags.string({summary: 'Storage driver for the engine', helpGroup: 'ENGINE'}),
  'engine-opt': Flags.string({summary: 'dockerd option key=value as docker-machine took it (log-opt=max-size=10m, dns=8.8.8.8 ...), written to daemon.json in its form (repeatable)', multiple: true, multipleNonGreedy: true, helpGroup: 'ENGINE'}),
  'engine-env': Flags.string({summary: 'Environment variable KEY=value for the engine (repeatable)', multiple: true, multipleNonGreedy: true, helpGroup: 'ENGINE'}),
  'tls-san': Flags.string({summary: 'Extra name or IP for the server certificate (repeatable)', multiple: true, multipleNonGreedy: true, helpGroup: 'ENGINE'}),
}

export function engineOptions(flags: Record<string, unknown>): EngineOptions {
  // A repeatable flag read from its variable (ENGINE_REGISTRY_MIRROR) comes as one string: a comma list, as docker-machine read it.
  const list = (k: string): string[] => {
    const v = flags[k] as string[] | string | undefined
    return typeof v === 'string' ? v.split(',').map(s => s.trim()).filter(Boolean) : v ?? []
  }
  for (const l of list('engine-label')) if (!/^[^=]+=/.test(l)) throw new UserError(`bad --engine-label "${l}": use key=value`)
  for (const e of list('engine-env')) if (!/^[A-Za-z_][A-Za-z0-9_]*=/.test(e)) throw new UserError(`bad --engine-env "${e}": use KEY=value`)
  const url = String(flags['engine-install-url'] ?? 'auto')
  if (!['auto', 'none'].includes(url) && !/^https?:\/\/\S+$/.test(url)) throw new UserError(`bad --engine-install-url "${url}": use an http(s) URL, "auto" or "none"`)
  const proxy = flags['engine-install-proxy'] as string | undefined
  if (proxy !== undefined && !/^https?:\/\/[^\s/]+\/?$/.test(proxy)) throw new UserError('bad --engine-install-proxy: use an http(s) URL such as http://10.0.0.1:3142')
  // Built by hand, not by the schema: create --help and ls load this module, and must not load zod.
  const mapped = mapEngineOpts(list('engine-opt'))
  const storageDriver = (flags['engine-storage-driver'] as string | undefined) ?? mapped.storageDriver
  return {
    port: ENGINE_DEFAULTS.port,
    installUrl: url,
    ...(proxy === undefined ? {} : {installProxy: proxy}),
    labels: [...list('engine-label'), ...mapped.labels],
    insecureRegistries: [...list('engine-insecure-registry'), ...mapped.insecureRegistries],
    registryMirrors: [...list('engine-registry-mirror'), ...mapped.registryMirrors],
    ...(storageDriver === undefined ? {} : {storageDriver}),
    opts: mapped.opts,
    env: list('engine-env'),
    tlsSans: list('tls-san'),
  }
}
