// Placement benchmark: 100,000 decisions over 10,000 nodes with the
// incremental Scheduler, against naiveSelect (which sorts every node per
// decision, so it runs fewer decisions and is compared per decision).
import {performance} from 'node:perf_hooks'
import {Scheduler, applyPlacement, makeNode, makeRequest, naiveSelect, type NodeInput, type PlacementNode, type SchedulerOptions, type StrategyName} from '../src/placement/index.js'
import {mulberry32} from '../src/placement/rng.js'

const NODES = 10_000
const DECISIONS = 100_000
const NAIVE_DECISIONS = 1_000
const GiB = 1024 ** 3

// Three machine types, as a real fleet would have; each is one index class.
const TYPES = [
  {cpus: 8, memory: 32 * GiB},
  {cpus: 16, memory: 64 * GiB},
  {cpus: 32, memory: 128 * GiB},
]

function fleet(): NodeInput[] {
  const out: NodeInput[] = []
  for (let i = 0; i < NODES; i++) {
    const t = TYPES[i % TYPES.length]
    out.push({
      id: `node-${i}`,
      name: `m${i}`,
      ...t,
      labels: {region: i % 2 === 0 ? 'tyo1' : 'fra1', provider: 'lab'},
      // A few flaky nodes so health ranking is part of the work.
      health: {healthy: true, failures: i % 997 === 0 ? 1 : 0},
    })
  }
  return out
}

const request = makeRequest({cpus: 0.25, memory: 256 * 1024 ** 2, image: 'nginx:1.27'})

function timeFast(strategy: StrategyName, decisions: number): number {
  const s = new Scheduler(fleet(), {strategy, rng: mulberry32(1)})
  const t0 = performance.now()
  for (let i = 0; i < decisions; i++) s.place(request)
  return performance.now() - t0
}

function timeNaive(strategy: StrategyName, decisions: number): number {
  const opts: SchedulerOptions = {strategy, rng: mulberry32(1)}
  const nodes: PlacementNode[] = fleet().map(makeNode)
  const index = new Map(nodes.map((n, i) => [n.id, i]))
  const t0 = performance.now()
  for (let i = 0; i < decisions; i++) {
    const p = naiveSelect(nodes, request, opts)
    nodes[index.get(p.node.id)!] = applyPlacement(p.node, request)
  }
  return performance.now() - t0
}

function timeScan(decisions: number): number {
  // Requests with rules take the linear scan path; measured for reference.
  const s = new Scheduler(fleet(), {strategy: 'spread'})
  const constrained = makeRequest({cpus: 0.25, memory: 256 * 1024 ** 2, constraints: ['region==tyo1']})
  const t0 = performance.now()
  for (let i = 0; i < decisions; i++) s.place(constrained)
  return performance.now() - t0
}


const round = (v: number, digits = 3) => Number(v.toFixed(digits))

export async function benchPlacement(): Promise<Record<string, number | string>> {
  const out: Record<string, number | string> = {nodes: NODES, decisions: DECISIONS, naive_decisions: NAIVE_DECISIONS}
  // Warm the JIT on both paths so the first measured strategy isn't penalised.
  timeFast('spread', 5_000)
  timeNaive('spread', 20)
  let worstFastMs = 0
  let worstSpeedup = Number.POSITIVE_INFINITY
  for (const strategy of ['spread', 'binpack', 'random'] as const) {
    const t0 = performance.now()
    new Scheduler(fleet(), {strategy})
    out[`${strategy}.build_ms`] = round(performance.now() - t0, 1)
    const fastMs = timeFast(strategy, DECISIONS)
    const naiveMs = timeNaive(strategy, NAIVE_DECISIONS)
    const fastUs = (fastMs * 1000) / DECISIONS
    const naiveUs = (naiveMs * 1000) / NAIVE_DECISIONS
    out[`${strategy}.fast_total_ms`] = round(fastMs, 1)
    out[`${strategy}.fast_us_per_decision`] = round(fastUs)
    out[`${strategy}.naive_us_per_decision`] = round(naiveUs)
    out[`${strategy}.naive_extrapolated_total_ms`] = round((naiveUs * DECISIONS) / 1000, 0)
    out[`${strategy}.speedup`] = round(naiveUs / fastUs, 1)
    worstFastMs = Math.max(worstFastMs, fastMs)
    worstSpeedup = Math.min(worstSpeedup, naiveUs / fastUs)
  }
  out['constraint_scan_us_per_decision'] = round((timeScan(NAIVE_DECISIONS) * 1000) / NAIVE_DECISIONS)
  out['goal_fast_under_1s'] = worstFastMs < 1000 ? 'pass' : 'fail'
  out['goal_speedup_at_least_50x'] = worstSpeedup >= 50 ? 'pass' : 'fail'
  return out
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const results = await benchPlacement()
  for (const [k, v] of Object.entries(results)) console.log(`${k.padEnd(40)} ${v}`)
}
