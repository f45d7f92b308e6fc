/** Which machines a cluster is (a swarm, a list, the store) and which strategy it places by. */
import {UserError} from '../core/index.js'
import type {Ctx} from '../machine/index.js'
import {DEFAULT_FILTERS, STRATEGY_NAMES, type StrategyName} from '../placement/index.js'
import {CorruptRecord, type MachineRecord} from '../store/index.js'

/** Classic Swarm listed its filters in this order in `docker info`. */
export const FILTERS_TEXT = ['health', 'port', 'dependency', 'affinity', 'constraint'].filter(f => (DEFAULT_FILTERS as readonly string[]).includes(f)).join(', ')
/** What the engines berth installs (20.10) speak; the answer when no engine does. */
export const FALLBACK_API_VERSION = '1.41'

/**
 * An error with the HTTP status the manage endpoint answers it with; the CLI prints its message.
 * 404 and 409 carry the core's not-found and conflict codes, so callers need not read the text.
 */
export class ClusterError extends UserError {
  constructor(message: string, readonly status: number) {
    super(message, status === 404 ? 'not_found' : status === 409 ? 'conflict' : 'failed')
    this.name = 'ClusterError'
  }
}

export interface Selection {
  swarm?: string
  machines?: string[]
}

/** The records a selection names: a swarm's members, a list of machines, or (neither) the whole store. */
export async function selectRecords(ctx: Ctx, sel: Selection): Promise<MachineRecord[]> {
  if (sel.swarm && sel.machines?.length) throw new UserError('give either --swarm or --machines, not both')
  if (sel.swarm) {
    const {members} = await import('../swarm/index.js')
    const recs = await members(ctx, sel.swarm)
    if (!recs.length) throw new UserError(`swarm "${sel.swarm}" does not exist`)
    return recs.sort((a, b) => a.name.localeCompare(b.name))
  }
  if (sel.machines?.length) {
    const names = [...new Set(sel.machines)]
    return Promise.all(names.map(n => ctx.store.load(n)))
  }
  const all = (await ctx.store.loadAll()).filter((r): r is MachineRecord => !(r instanceof CorruptRecord))
  if (!all.length) throw new UserError('there are no machines: create some with "berth create"')
  return all.sort((a, b) => a.name.localeCompare(b.name))
}

const isStrategy = (s: string | undefined): s is StrategyName => (STRATEGY_NAMES as readonly (string | undefined)[]).includes(s)

/** The strategy given at `create --swarm-strategy` (a manager's first), else spread. */
export function defaultStrategy(records: readonly MachineRecord[]): StrategyName {
  const ordered = [...records.filter(r => r.swarm?.manager), ...records.filter(r => !r.swarm?.manager)]
  return ordered.map(r => r.swarm?.strategy).find(isStrategy) ?? 'spread'
}

export function parseStrategy(s: string | undefined): StrategyName | undefined {
  if (s === undefined) return undefined
  if (!isStrategy(s)) throw new UserError(`unknown strategy "${s}": use ${STRATEGY_NAMES.join(', ')}`)
  return s
}
