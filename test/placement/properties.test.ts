import {test} from 'node:test'
import assert from 'node:assert/strict'
import fc from 'fast-check'
import {
  PlacementError,
  Scheduler,
  applyPlacement,
  healthRank,
  makeNode,
  makeRequest,
  matchesConstraint,
  naiveSelect,
  scoreNode,
  type NodeInput,
  type Placement,
  type PlacementNode,
  type PlacementRequest,
  type SchedulerOptions,
  type StrategyName,
} from '../../src/placement/index.js'
import {mulberry32} from '../../src/placement/rng.js'

const GiB = 1024 ** 3
const MiB = 1024 ** 2

const cpusArb = fc.constantFrom(0, 0.25, 0.5, 1, 1.5, 2)
const memArb = fc.constantFrom(0, 128 * MiB, 512 * MiB, GiB, 2 * GiB)
const requestArb = fc.record({cpus: cpusArb, memory: memArb}).map(r => makeRequest(r))

/** Place, or undefined when nothing fits (any other error fails the property). */
function tryPlace(run: () => Placement): Placement | undefined {
  try {
    return run()
  } catch (err) {
    if (err instanceof PlacementError) return undefined
    throw err
  }
}

/** Load score without a request: what spread balances. */
function load(n: PlacementNode): number {
  return scoreNode(n, {cpus: 0, memory: 0}).score
}

/** Runs a request sequence with the fast scheduler or with naiveSelect over the same state. */
type Runner = (nodes: NodeInput[], opts: SchedulerOptions) => {place(req: PlacementRequest): Placement | undefined; nodes(): PlacementNode[]}
const runners: Record<'fast' | 'naive', Runner> = {
  fast: (nodes, opts) => {
    const s = new Scheduler(nodes, opts)
    return {place: req => tryPlace(() => s.place(req)), nodes: () => s.nodes()}
  },
  naive: (nodes, opts) => {
    // Replays placements through a Scheduler used only as storage, so both runners mutate state identically.
    const s = new Scheduler(nodes, opts)
    return {
      place: req => {
        const p = tryPlace(() => naiveSelect(s.nodes(), req, opts))
        if (p) {
          s.update(applyPlacement(s.get(p.node.id)!, req))
        }
        return p
      },
      nodes: () => s.nodes(),
    }
  },
}

const identicalCluster = fc.record({
  count: fc.integer({min: 1, max: 12}),
  cpus: fc.constantFrom(1, 2, 4, 8),
  memory: fc.constantFrom(GiB, 4 * GiB, 16 * GiB),
})

function identical(c: {count: number; cpus: number; memory: number}): NodeInput[] {
  return Array.from({length: c.count}, (_, i) => ({id: `n${i}`, cpus: c.cpus, memory: c.memory}))
}

for (const kind of ['fast', 'naive'] as const) {
  test(`property (${kind}): binpack never opens an empty node while a used node fits`, () => {
    fc.assert(
      fc.property(identicalCluster, fc.array(requestArb, {minLength: 1, maxLength: 60}), (c, reqs) => {
        const r = runners[kind](identical(c), {strategy: 'binpack'})
        for (const req of reqs) {
          const usedThatFit = r.nodes().filter(n => n.containerCount > 0 && scoreNode(n, req).fits).map(n => n.id)
          const before = new Map(r.nodes().map(n => [n.id, n.containerCount]))
          const p = r.place(req)
          if (usedThatFit.length > 0) {
            assert.ok(p, 'a used node fits, so placement must succeed')
            assert.ok(before.get(p.node.id)! > 0, `opened ${p.node.id} while ${usedThatFit.join(',')} fit`)
          }
        }
      }),
    )
  })

  test(`property (${kind}): spread keeps max-min load within one container when everything is identical`, () => {
    fc.assert(
      fc.property(identicalCluster, requestArb, fc.integer({min: 1, max: 80}), (c, req, k) => {
        const r = runners[kind](identical(c), {strategy: 'spread'})
        const one = scoreNode(makeNode({id: 'x', cpus: c.cpus, memory: c.memory}), req).score
        for (let i = 0; i < k; i++) {
          if (!r.place(req)) break
          const loads = r.nodes().map(load)
          const spreadOf = Math.max(...loads) - Math.min(...loads)
          assert.ok(spreadOf <= one + 1e-9, `max-min ${spreadOf} exceeds one container's score ${one}`)
        }
      }),
    )
  })
}

const heteroNode = fc.record({
  cpus: fc.constantFrom(0, 1, 2, 4),
  memory: fc.constantFrom(0, GiB, 2 * GiB, 4 * GiB),
  reservedCpus: fc.constantFrom(0, 0.5, 1, 3, 5),
  reservedMemory: fc.constantFrom(0, 512 * MiB, GiB, 3 * GiB, 5 * GiB),
  containerCount: fc.integer({min: 0, max: 3}),
  healthy: fc.boolean(),
  failures: fc.integer({min: 0, max: 2}),
  region: fc.constantFrom('tyo1', 'tyo2', 'fra1', undefined),
  disk: fc.constantFrom('ssd', 'hdd', undefined),
  port80: fc.boolean(),
})
type HeteroNode = typeof heteroNode extends fc.Arbitrary<infer T> ? T : never

function toInput(h: HeteroNode, i: number): NodeInput {
  const labels: Record<string, string> = {}
  if (h.region) labels.region = h.region
  if (h.disk) labels.disk = h.disk
  return {
    id: `n${i}`,
    cpus: h.cpus,
    memory: h.memory,
    reservedCpus: h.reservedCpus,
    reservedMemory: h.reservedMemory,
    containerCount: h.containerCount,
    labels,
    health: {healthy: h.healthy, failures: h.failures},
    ports: h.port80 ? [{port: 80, protocol: 'tcp'}] : [],
  }
}

const clusterArb = fc.array(heteroNode, {minLength: 0, maxLength: 25}).map(hs => hs.map(toInput))
// Deep enough trees that pruning and regrowth are exercised.
const bigClusterArb = fc.array(heteroNode, {minLength: 100, maxLength: 300}).map(hs => hs.map(toInput))
const ruleArb = fc.tuple(fc.constantFrom('region', 'disk', 'node'), fc.constantFrom('==', '!='), fc.boolean(), fc.constantFrom('tyo1', 'tyo*', 'fra1', 'ssd', 'n1', 'n?')).map(
  ([key, op, soft, value]) => `${key}${op}${soft ? '~' : ''}${value}`,
)
const ruleRequestArb = fc
  .record({cpus: cpusArb, memory: memArb, constraints: fc.array(ruleArb, {maxLength: 3}), port80: fc.boolean()})
  .map(r => makeRequest({cpus: r.cpus, memory: r.memory, constraints: r.constraints, ports: r.port80 ? [{port: 80, protocol: 'tcp', hostIp: ''}] : []}))
const anyRequestArb = fc.oneof(requestArb, ruleRequestArb)
const strategyArb = fc.constantFrom<StrategyName>('spread', 'binpack', 'random')

test('property: nothing ever lands on a full node (every strategy, both paths)', () => {
  fc.assert(
    fc.property(clusterArb, fc.array(anyRequestArb, {maxLength: 30}), strategyArb, fc.integer(), (nodes, reqs, strategy, seed) => {
      for (const kind of ['fast', 'naive'] as const) {
        const r = runners[kind](nodes, {strategy, rng: mulberry32(seed)})
        for (const req of reqs) {
          // Snapshot: the fast path's nodes are live and place() updates them.
          const before = new Map(r.nodes().map(n => [n.id, {...n}]))
          const p = r.place(req)
          if (!p) continue
          const chosen = before.get(p.node.id)!
          const s = scoreNode(chosen, req)
          assert.ok(s.fits, `${kind}/${strategy} placed on ${chosen.id} at cpu ${s.cpuScore} mem ${s.memoryScore}`)
          assert.ok(p.cpuScore <= 100 && p.memoryScore <= 100)
          assert.ok(chosen.health.healthy, 'the health filter is on by default')
        }
      }
    }),
  )
})

test('property: soft rules are dropped only when nothing fits, hard rules never', () => {
  fc.assert(
    fc.property(clusterArb, ruleRequestArb, strategyArb, (nodes, req, strategy) => {
      const built = nodes.map(makeNode)
      const hard = req.constraints.filter(r => !r.soft)
      const soft = req.constraints.filter(r => r.soft)
      const portFree = (n: PlacementNode) => req.ports.length === 0 || !n.ports.some(p => p.port === 80)
      const admissible = (n: PlacementNode) => n.health.healthy && portFree(n) && scoreNode(n, req).fits && hard.every(r => matchesConstraint(n, r))
      const perfect = built.filter(n => admissible(n) && soft.every(r => matchesConstraint(n, r)))
      const anyAdmissible = built.some(admissible)
      for (const select of [() => new Scheduler(nodes, {strategy}).select(req), () => naiveSelect(built, req, {strategy})]) {
        const p = tryPlace(select)
        assert.equal(p !== undefined, anyAdmissible, 'placement succeeds exactly when some node satisfies the hard rules and fits')
        if (!p) continue
        for (const r of hard) assert.ok(matchesConstraint(p.node, r), `hard rule ${r.text} violated on ${p.node.id}`)
        assert.ok(admissible(p.node))
        if (perfect.length > 0) {
          assert.equal(p.softDropped, false, 'soft rules dropped although a node satisfied them')
          for (const r of soft) assert.ok(matchesConstraint(p.node, r), `soft rule ${r.text} violated although ${perfect.map(n => n.id)} satisfy it`)
        } else {
          assert.equal(p.softDropped, soft.length > 0)
        }
      }
    }),
  )
})

/** One step of the equivalence property: a request, or a node changing or leaving. */
const opArb = fc.oneof(
  {weight: 6, arbitrary: anyRequestArb.map(req => ({op: 'place' as const, req}))},
  {weight: 1, arbitrary: fc.tuple(fc.nat(320), heteroNode).map(([i, h]) => ({op: 'update' as const, node: toInput(h, i)}))},
  {weight: 1, arbitrary: fc.nat(320).map(i => ({op: 'remove' as const, id: `n${i}`}))},
)

for (const [label, cluster, runs] of [['small', clusterArb, 100], ['large', bigClusterArb, 25]] as const) {
test(`property: the fast scheduler picks the node naiveSelect picks (${label} clusters)`, () => {
  fc.assert(
    fc.property(cluster, fc.array(opArb, {maxLength: label === 'small' ? 40 : 150}), fc.constantFrom<StrategyName>('spread', 'binpack'), fc.boolean(), (nodes, ops, strategy, healthFilter) => {
      const opts: SchedulerOptions = {strategy, filters: healthFilter ? undefined : ['constraint', 'port']}
      const s = new Scheduler(nodes, opts)
      for (const o of ops) {
        if (o.op === 'update') {
          s.update(o.node)
          continue
        }
        if (o.op === 'remove') {
          s.remove(o.id)
          continue
        }
        let expected: Placement | undefined
        let expectedErr = ''
        try {
          expected = naiveSelect(s.nodes(), o.req, opts)
        } catch (err) {
          assert.ok(err instanceof PlacementError)
          expectedErr = err.message
        }
        let got: Placement | undefined
        try {
          got = s.place(o.req)
        } catch (err) {
          assert.ok(err instanceof PlacementError)
          assert.equal(err.message, expectedErr)
        }
        assert.equal(got === undefined, expected === undefined)
        if (!got || !expected) continue
        assert.equal(healthRank(got.node), healthRank(expected.node))
        assert.equal(got.score, expected.score, `fast ${got.node.id}@${got.score} vs naive ${expected.node.id}@${expected.score}`)
        // The order is total and both paths use it, so even the node is the same.
        assert.equal(got.node.id, expected.node.id)
        assert.equal(got.softDropped, expected.softDropped)
      }
    }),
    {numRuns: runs},
  )
})
}

test('property: the fast scheduler matches naiveSelect on large homogeneous clusters', () => {
  fc.assert(
    fc.property(fc.integer({min: 20, max: 400}), fc.array(requestArb, {minLength: 50, maxLength: 200}), fc.constantFrom<StrategyName>('spread', 'binpack'), (count, reqs, strategy) => {
      // Bigger clusters exercise deeper trees; two machine types give two classes.
      const nodes = Array.from({length: count}, (_, i) => ({id: `n${i}`, cpus: i % 2 ? 4 : 8, memory: i % 2 ? 8 * GiB : 16 * GiB}))
      const s = new Scheduler(nodes, {strategy})
      for (const req of reqs) {
        const expected = tryPlace(() => naiveSelect(s.nodes(), req, {strategy}))
        const got = tryPlace(() => s.place(req))
        assert.equal(got?.node.id, expected?.node.id)
      }
    }),
    {numRuns: 40},
  )
})

