// Scoring and ranking, after classic Swarm's scheduler/strategy/weighted_node.go.
import {DEFAULT_OVERCOMMIT, type PlacementNode} from './model.js'

export interface Score {
  readonly cpuScore: number
  readonly memoryScore: number
  /** Ranking score: load + the request's share; equals cpuScore + memoryScore up to rounding. */
  readonly score: number
  /** The node's score without the request. */
  readonly load: number
  /** Neither cpuScore nor memoryScore is over 100. */
  readonly fits: boolean
}

/** Anything that can be ranked: a node, its health rank, its score, and its load as a tie-breaker. */
export interface Ranked {
  readonly node: PlacementNode
  readonly rank: number
  readonly score: number
  readonly load: number
}

export interface Candidate extends Ranked {
  readonly cpuScore: number
  readonly memoryScore: number
}

/** Percentage of `capacity` that `used` takes. A zero-capacity resource is only "not full" while nothing uses it. */
export function percent(used: number, capacity: number): number {
  if (capacity > 0) return (used * 100) / capacity
  return used > 0 ? Number.POSITIVE_INFINITY : 0
}

/** The request-independent part of the score; the scheduler's index is keyed on it. */
export function loadScore(node: PlacementNode, overcommit = DEFAULT_OVERCOMMIT): number {
  return percent(node.reservedCpus, node.cpus * (1 + overcommit)) + percent(node.reservedMemory, node.memory * (1 + overcommit))
}

/**
 * Classic's weighing: (reserved + requested) × 100 / capacity per resource,
 * except that a zero request still counts what is reserved (classic scored
 * it a flat 100, which made 0-cpu requests ignore CPU load entirely).
 *
 * The reserved and requested shares are computed separately and then added:
 * mathematically the same, but it makes the ranking score a monotone
 * function of loadScore for nodes of one capacity, which is what lets the
 * scheduler's index agree with naiveSelect bit for bit.
 */
export function scoreNode(node: PlacementNode, request: {readonly cpus: number; readonly memory: number}, overcommit = DEFAULT_OVERCOMMIT): Score {
  const cpuCap = node.cpus * (1 + overcommit)
  const memCap = node.memory * (1 + overcommit)
  const loadC = percent(node.reservedCpus, cpuCap)
  const loadM = percent(node.reservedMemory, memCap)
  const reqC = percent(request.cpus, cpuCap)
  const reqM = percent(request.memory, memCap)
  const cpuScore = loadC + reqC
  const memoryScore = loadM + reqM
  const load = loadC + loadM
  return {cpuScore, memoryScore, score: load + (reqC + reqM), load, fits: cpuScore <= 100 && memoryScore <= 100}
}

/** Same arithmetic as scoreNode.fits (so both agree bit for bit), without allocating. */
export function fitsNode(node: PlacementNode, request: {readonly cpus: number; readonly memory: number}, overcommit: number): boolean {
  const cpuCap = node.cpus * (1 + overcommit)
  const memCap = node.memory * (1 + overcommit)
  return percent(node.reservedCpus, cpuCap) + percent(request.cpus, cpuCap) <= 100 &&
    percent(node.reservedMemory, memCap) + percent(request.memory, memCap) <= 100
}

/**
 * Lower is better. Classic added ±10×healthIndicator to the weight, which
 * in practice sorted by health first; a rank makes that explicit and keeps
 * the score a pure load measure.
 */
export function healthRank(node: PlacementNode): number {
  return node.health.healthy ? node.health.failures : Number.POSITIVE_INFINITY
}

export function candidate(node: PlacementNode, request: {readonly cpus: number; readonly memory: number}, overcommit: number): Candidate & {readonly fits: boolean} {
  const s = scoreNode(node, request, overcommit)
  return {node, rank: healthRank(node), score: s.score, load: s.load, cpuScore: s.cpuScore, memoryScore: s.memoryScore, fits: s.fits}
}

/**
 * Total order used by every selection path: health rank, then score
 * (spread: lowest, binpack: highest), then load in the same direction
 * (float rounding can make scores equal whose loads differ; deciding by
 * load keeps this order identical to the index's load order), then
 * container count (spread: fewer, binpack: more), then id so that ties
 * never depend on iteration order.
 */
export function compareRanked(binpack: boolean, a: Ranked, b: Ranked): number {
  if (a.rank !== b.rank) return a.rank < b.rank ? -1 : 1
  if (a.score !== b.score) return (a.score < b.score) !== binpack ? -1 : 1
  if (a.load !== b.load) return (a.load < b.load) !== binpack ? -1 : 1
  const ca = a.node.containerCount
  const cb = b.node.containerCount
  if (ca !== cb) return (ca < cb) !== binpack ? -1 : 1
  const ia = a.node.id
  const ib = b.node.id
  return ia < ib ? -1 : ia > ib ? 1 : 0
}

