import {createHash} from 'node:crypto'
import * as Flags from '@oclif/core/flags'
import {UserError} from '../core/index.js'
import type {GroupOptions} from '../machine/index.js'
import type {MeshOptions} from '../mesh/index.js'
import {STRATEGY_NAMES} from '../placement/index.js'

export const STRATEGIES = STRATEGY_NAMES

/** docker-machine's classic Swarm flags that swarm mode has no use for: accepted, ignored, noted. */
const IGNORED_SWARM: Record<string, {multiple?: boolean; boolean?: boolean; env?: string}> = {
  'swarm-image': {env: 'MACHINE_SWARM_IMAGE'}, 'swarm-opt': {multiple: true}, 'swarm-join-opt': {multiple: true},
  'swarm-host': {}, 'swarm-addr': {}, 'swarm-experimental': {boolean: true},
}

function ignoredFlags() {
  const summary = 'Accepted for docker-machine scripts and ignored: classic Swarm\'s, swarm mode has no use for it'
  const out: Record<string, ReturnType<typeof Flags.string> | ReturnType<typeof Flags.boolean>> = {}
  for (const [name, f] of Object.entries(IGNORED_SWARM)) {
    out[name] = f.boolean ? Flags.boolean({summary, helpGroup: 'SWARM'}) : Flags.string({summary, helpGroup: 'SWARM', multiple: f.multiple ? true : undefined, multipleNonGreedy: f.multiple ? true : undefined} as Parameters<typeof Flags.string>[0])
  }
  return out
}

export const swarmCreateFlags = {
  swarm: Flags.string({summary: 'Join the machine(s) to this swarm; the first machine of a new swarm initialises it', helpGroup: 'SWARM'}),
  'swarm-manager': Flags.boolean({summary: 'Join as a manager (the first machine of a swarm always is)', aliases: ['swarm-master'], helpGroup: 'SWARM'}),
  'swarm-advertise-addr': Flags.string({summary: 'Address other members reach this one at (default: the machine\'s IP; the public one in hybrid clouds)', helpGroup: 'SWARM'}),
  'swarm-data-path-addr': Flags.string({summary: 'Address for overlay (data path) traffic', helpGroup: 'SWARM'}),
  'swarm-label': Flags.string({summary: 'Node label key=value (repeatable)', multiple: true, multipleNonGreedy: true, helpGroup: 'SWARM'}),
  'swarm-strategy': Flags.string({summary: 'Default placement strategy for `berth run` on this swarm', options: [...STRATEGIES], helpGroup: 'SWARM'}),
  'swarm-mode': Flags.string({summary: 'swarm: a swarm-mode cluster (default for a new group); classic: classic Swarm\'s model, engines NOT in swarm mode placed by "berth swarm manage", which dials out to each (no inbound port on any member). Default: the group\'s own mode', options: ['swarm', 'classic'], helpGroup: 'SWARM'}),
  'swarm-mesh': Flags.string({summary: 'Form a new swarm over an encrypted mesh among its members (keys made on each host; a member behind NAT is reached through its own tunnels); joiners of a mesh swarm are in it without the flag', options: ['wireguard'], helpGroup: 'SWARM'}),
  'swarm-mesh-subnet': Flags.string({summary: 'IPv4 network the mesh addresses come from, one per machine [default: 10.209.0.0/16]', helpGroup: 'SWARM'}),
  'swarm-mesh-port': Flags.integer({summary: 'WireGuard UDP port on every member [default: 51820]', min: 1, max: 65535, helpGroup: 'SWARM'}),
  'swarm-discovery': Flags.string({summary: 'Accepted for docker-machine compatibility (classic Swarm discovery); not needed in swarm mode', helpGroup: 'SWARM'}),
  ...ignoredFlags(),
}

/** One note naming the ignored flags given (and MACHINE_SWARM_IMAGE when a swarm is asked for). */
export function ignoredSwarmNote(argv: string[], env: NodeJS.ProcessEnv): string | undefined {
  const given = Object.keys(IGNORED_SWARM).filter(n => argv.some(a => a === `--${n}` || a.startsWith(`--${n}=`)))
  if (env.MACHINE_SWARM_IMAGE && argv.some(a => a === '--swarm' || a.startsWith('--swarm=')) && !given.includes('swarm-image')) given.push('swarm-image (MACHINE_SWARM_IMAGE)')
  if (!given.length) return undefined
  const why = isClassic(argv) ? 'berth swarm manage is the classic group\'s manager, which needs no swarm image, agent or discovery' : 'berth forms a swarm-mode cluster, which needs no swarm image, agent or discovery'
  return `${given.map(g => `--${g}`).join(', ')} ignored: classic Swarm's; ${why}`
}

const isClassic = (argv: string[]) => argv.some((a, j) => a === '--swarm-mode=classic' || (a === 'classic' && argv[j - 1] === '--swarm-mode'))

/** A stable swarm name for docker-machine's token discovery, without showing the token. */
function nameFromDiscovery(discovery: string | undefined): string | undefined {
  if (!discovery) return undefined
  return 'swarm-' + createHash('sha256').update(discovery).digest('hex').slice(0, 8)
}

/**
 * `--swarm` used as docker-machine's switch (followed by a flag, last, or beside --swarm-discovery,
 * where docker-machine never gave it a value) gets a name: from the discovery token, else "default".
 */
export function rewriteLegacySwarmArgv(argv: string[]): {argv: string[]; note?: string} {
  const i = argv.indexOf('--swarm')
  const discoveryArg = argv.find((a, j) => a.startsWith('--swarm-discovery=') || argv[j - 1] === '--swarm-discovery')
  const discovery = discoveryArg?.replace(/^--swarm-discovery=/, '')
  const next = argv[i + 1]
  let note: string | undefined
  const out = [...argv]
  if (i >= 0 && (next === undefined || next.startsWith('-') || discovery !== undefined)) {
    const name = nameFromDiscovery(discovery) ?? 'default'
    out.splice(i, 1, `--swarm=${name}`)
    note = isClassic(argv)
      ? `--swarm as a switch is docker-machine's classic Swarm: berth makes the classic group "${name}"${discovery ? ' (no discovery service is needed)' : ''}`
      : `--swarm as a switch is docker-machine's classic Swarm; berth forms a swarm-mode cluster named "${name}" instead${discovery ? ' (no discovery service is needed)' : ''} (add --swarm-mode classic for classic Swarm's own model)`
  } else if (discovery !== undefined) {
    note = '--swarm-discovery is classic Swarm\'s; swarm mode needs no discovery service, so it is ignored'
  }
  if (out.includes('--swarm-master') && !note && !isClassic(argv)) note = '--swarm-master means --swarm-manager in swarm mode'
  return {argv: out, note}
}

export function parseLabels(list: string[] | undefined, flag: string): Record<string, string> {
  const out: Record<string, string> = {}
  for (const l of list ?? []) {
    const m = /^([^=]+)=(.*)$/.exec(l)
    if (!m) throw new UserError(`bad --${flag} "${l}": use key=value`)
    out[m[1]] = m[2]
  }
  return out
}

/** --swarm-mesh and its settings; the swarm's own mesh (if it has one) is checked against them at create. */
export function meshOptions(flags: Record<string, unknown>): MeshOptions | undefined {
  const kind = flags['swarm-mesh'] as string | undefined
  for (const k of ['swarm-mesh-subnet', 'swarm-mesh-port'] as const) if (flags[k] !== undefined && !kind) throw new UserError(`--${k} needs --swarm-mesh wireguard`)
  if (!kind) return undefined
  if (!flags.swarm) throw new UserError('--swarm-mesh needs --swarm NAME')
  if (flags['swarm-advertise-addr'] || flags['swarm-data-path-addr']) throw new UserError('--swarm-mesh puts the swarm\'s addresses on the mesh: leave out --swarm-advertise-addr and --swarm-data-path-addr')
  return {kind: 'wireguard', subnet: flags['swarm-mesh-subnet'] as string | undefined, port: flags['swarm-mesh-port'] as number | undefined}
}

export function swarmJoinOptions(flags: Record<string, unknown>): GroupOptions | undefined {
  const name = flags.swarm as string | undefined
  for (const k of ['swarm-manager', 'swarm-advertise-addr', 'swarm-data-path-addr', 'swarm-label', 'swarm-strategy', 'swarm-mode'] as const) {
    const v = flags[k]
    if (!name && v !== undefined && v !== false && !(Array.isArray(v) && !v.length)) throw new UserError(`--${k} needs --swarm NAME`)
  }
  if (!name) return undefined
  if (!/^[a-zA-Z0-9][a-zA-Z0-9_.-]*$/.test(name)) throw new UserError(`invalid swarm name "${name}": use letters, digits, '.', '_' and '-'`)
  return {
    name,
    manager: Boolean(flags['swarm-manager']),
    advertiseAddr: flags['swarm-advertise-addr'] as string | undefined,
    dataPathAddr: flags['swarm-data-path-addr'] as string | undefined,
    labels: parseLabels(flags['swarm-label'] as string[] | undefined, 'swarm-label'),
    strategy: flags['swarm-strategy'] as string | undefined,
    ...(flags['swarm-mode'] ? {mode: flags['swarm-mode'] as 'swarm' | 'classic'} : {}),
  }
}
