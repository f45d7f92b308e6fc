// Linear selection paths (the reference implementation, the filtered scan)
// and the no-fit explanation shared by every path.
import {scaleBytes} from '../core/index.js'
import {checksFor, type Check} from './filters.js'
import {resolveOptions, type FilterName, type Placement, type PlacementNode, type PlacementRequest, type ResolvedOptions, type SchedulerOptions} from './model.js'
import {candidate, compareRanked, fitsNode, type Candidate} from './strategies.js'

export interface Elimination {
  /** The filter, or 'resources' for nodes that passed every filter but are full. */
  readonly filter: FilterName | 'resources'
  /** e.g. `constraint region==tyo1`. */
  readonly rule: string
  /** Names of the nodes this rule eliminated (each node is blamed on the first rule it failed). */
  readonly nodes: readonly string[]
}

export class PlacementError extends Error {
  override readonly name = 'PlacementError'
  constructor(
    message: string,
    readonly eliminations: readonly Elimination[],
    /** Soft rules that were dropped before giving up. */
    readonly droppedSoftRules: readonly string[],
  ) {
    super(message)
  }
}

const MAX_NAMES = 10

function listNames(names: readonly string[]): string {
  if (names.length <= MAX_NAMES) return names.join(', ')
  // Keep the message one short line even for thousands of nodes.
  return `${names.slice(0, MAX_NAMES).join(', ')} and ${names.length - MAX_NAMES} more`
}

/** Short, for one-line messages: `1.5GiB` (docker info's long form is cluster's bytesSize). */
export function formatBytes(bytes: number): string {
  const [v, unit] = scaleBytes(bytes)
  return `${Number.isInteger(v) ? v : Number(v.toFixed(1))}${unit}`
}

/** Replays the hard rules one at a time to say which rule eliminated which nodes. */
export function explainNoFit(nodes: Iterable<PlacementNode>, request: PlacementRequest, options: SchedulerOptions | ResolvedOptions = {}): PlacementError {
  const o = isResolved(options) ? options : resolveOptions(options)
  const checks = checksFor(request, o.filters)
  const soft = checks.filter(c => c.soft).map(c => c.label)
  let remaining = [...nodes]
  const eliminations: Elimination[] = []
  if (remaining.length > 0) {
    for (const c of checks) {
      if (c.soft) continue
      const kept: PlacementNode[] = []
      const out: string[] = []
      for (const n of remaining) {
        if (c.test(n)) kept.push(n)
        else out.push(n.name)
      }
      if (out.length > 0) eliminations.push({filter: c.filter, rule: c.label, nodes: out})
      remaining = kept
    }
    const full = remaining.filter(n => !candidate(n, request, o.overcommit).fits).map(n => n.name)
    if (full.length > 0) eliminations.push({filter: 'resources', rule: `resources (cpus ${request.cpus}, memory ${formatBytes(request.memory)})`, nodes: full})
  }
  const why = remaining.length === 0 && eliminations.length === 0
    ? 'the cluster has no nodes'
    : eliminations.map(e => `${e.rule} eliminated ${listNames(e.nodes)}`).join('; ') || 'no candidate'
  const dropped = soft.length > 0 ? ` (after dropping soft rules: ${soft.join(', ')})` : ''
  return new PlacementError(`no node fits: ${why}${dropped}`, eliminations, soft)
}

function isResolved(o: SchedulerOptions | ResolvedOptions): o is ResolvedOptions {
  return o.filters instanceof Set
}

function toPlacement(c: Candidate, softDropped: boolean): Placement {
  return {node: c.node, score: c.score, cpuScore: c.cpuScore, memoryScore: c.memoryScore, softDropped}
}

function pickRandom<T>(list: readonly T[], rng: () => number): T {
  // Clamp: a sloppy rng returning 1 must not index past the end.
  return list[Math.min(list.length - 1, Math.floor(rng() * list.length))]
}

/**
 * Reference implementation, shaped like classic's scheduler: run the filter
 * chain, weigh the survivors, sort them all, take the first; if nothing is
 * left and there were soft rules, try again without them. O(n log n) per
 * decision by design: it is the yardstick for Scheduler.
 */
export function naiveSelect(nodes: readonly PlacementNode[], request: PlacementRequest, options: SchedulerOptions = {}): Placement {
  const o = resolveOptions(options)
  const checks = checksFor(request, o.filters)
  const binpack = o.strategy === 'binpack'
  const pass = (withSoft: boolean): Candidate | undefined => {
    let list = nodes
    for (const c of checks) if (withSoft || !c.soft) list = list.filter(c.test)
    const weighed = list.map(n => candidate(n, request, o.overcommit)).filter(c => c.fits)
    if (weighed.length === 0) return undefined
    if (o.strategy === 'random') return pickRandom(weighed, o.rng)
    weighed.sort((a, b) => compareRanked(binpack, a, b))
    return weighed[0]
  }
  const best = pass(true)
  if (best) return toPlacement(best, false)
  if (checks.some(c => c.soft)) {
    const relaxed = pass(false)
    if (relaxed) return toPlacement(relaxed, true)
  }
  throw explainNoFit(nodes, request, o)
}

/**
 * One pass, no sort: tracks the best node that passes everything and the
 * best that passes the hard rules only, so dropping soft rules costs no
 * second scan. Used by Scheduler for requests that carry rules.
 */
export function scanSelect(nodes: Iterable<PlacementNode>, request: PlacementRequest, o: ResolvedOptions, checks: readonly Check[] = checksFor(request, o.filters)): Placement | undefined {
  const binpack = o.strategy === 'binpack'
  const random = o.strategy === 'random'
  const hasSoft = checks.some(c => c.soft)
  let bestAll: Candidate | undefined
  let bestHard: Candidate | undefined
  const allList: Candidate[] = []
  const hardList: Candidate[] = []
  for (const node of nodes) {
    // The numeric fit test is far cheaper than label and regex checks, so it goes first.
    if (!fitsNode(node, request, o.overcommit)) continue
    let hardOk = true
    let softOk = true
    for (const c of checks) {
      if (c.soft) {
        if (softOk && !c.test(node)) softOk = false
      } else if (!c.test(node)) {
        hardOk = false
        break
      }
    }
    if (!hardOk) continue
    const cand = candidate(node, request, o.overcommit)
    if (random) {
      // Keep input order so the pick matches naiveSelect for the same rng.
      if (softOk) allList.push(cand)
      if (hasSoft) hardList.push(cand)
      continue
    }
    if (softOk && (!bestAll || compareRanked(binpack, cand, bestAll) < 0)) bestAll = cand
    if (hasSoft && (!bestHard || compareRanked(binpack, cand, bestHard) < 0)) bestHard = cand
  }
  if (random) {
    if (allList.length > 0) return toPlacement(pickRandom(allList, o.rng), false)
    if (hardList.length > 0) return toPlacement(pickRandom(hardList, o.rng), true)
    return undefined
  }
  if (bestAll) return toPlacement(bestAll, false)
  if (bestHard) return toPlacement(bestHard, true)
  return undefined
}
