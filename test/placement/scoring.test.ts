import {test} from 'node:test'
import assert from 'node:assert/strict'
import {Scheduler, makeNode, makeRequest, naiveSelect, scoreNode, type NodeInput, type SchedulerOptions} from '../../src/placement/index.js'

const GiB = 1024 ** 3

function node(id: string, extra: Partial<NodeInput> = {}): NodeInput {
  return {id, name: id, cpus: 4, memory: 4 * GiB, ...extra}
}

/** Both selection paths must agree on these small cases. */
function pickBoth(nodes: NodeInput[], req = makeRequest({cpus: 1, memory: GiB}), opts: SchedulerOptions = {}): string {
  const naive = naiveSelect(nodes.map(makeNode), req, opts).node.name
  const fast = new Scheduler(nodes, opts).select(req).node.name
  assert.equal(fast, naive, 'Scheduler and naiveSelect disagree')
  return fast
}

test('score counts reserved plus requested against capacity with 5% overcommit', () => {
  const s = scoreNode(makeNode(node('a', {reservedCpus: 2, reservedMemory: GiB})), {cpus: 1, memory: GiB})
  assert.ok(Math.abs(s.cpuScore - (3 * 100) / 4.2) < 1e-9, `cpuScore ${s.cpuScore}`)
  assert.ok(Math.abs(s.memoryScore - (2 * 100) / 4.2) < 1e-9, `memoryScore ${s.memoryScore}`)
  assert.ok(Math.abs(s.score - (s.cpuScore + s.memoryScore)) < 1e-9)
  assert.ok(Math.abs(s.load - (200 / 4.2 + 100 / 4.2)) < 1e-9, 'load leaves the request out')
  assert.equal(s.fits, true)
})

test('overcommit is configurable and a node over 100 on either resource is full', () => {
  const n = makeNode(node('a', {reservedCpus: 4}))
  // 4.2 cpus of capacity with the default overcommit: 0.2 more fits, 0.3 does not.
  assert.equal(scoreNode(n, {cpus: 0.2, memory: 0}).fits, true)
  assert.equal(scoreNode(n, {cpus: 0.3, memory: 0}).fits, false)
  assert.equal(scoreNode(n, {cpus: 0, memory: 0}, 0).fits, true)
  assert.equal(scoreNode(n, {cpus: 0.01, memory: 0}, 0).fits, false)
  // Memory alone can make a node full too.
  assert.equal(scoreNode(makeNode(node('b')), {cpus: 0, memory: 4.3 * GiB}).fits, false)
})

test('a request that exactly fills a node fits, on both paths', () => {
  // 3 + 1 of 4 cpus is exactly 100 without overcommit.
  const nodes = [node('a', {reservedCpus: 3})]
  const req = makeRequest({cpus: 1})
  assert.equal(naiveSelect(nodes.map(makeNode), req, {overcommit: 0}).cpuScore, 100)
  assert.equal(new Scheduler(nodes, {overcommit: 0}).select(req).node.id, 'a')
  assert.equal(new Scheduler(nodes, {overcommit: 0, strategy: 'random'}).select(req).node.id, 'a')
  assert.throws(() => new Scheduler(nodes, {overcommit: 0}).select(makeRequest({cpus: 1.001})), /resources/)
})

test('makeNode fills defaults and the node pseudo-label', () => {
  const n = makeNode({id: 'i-1', name: 'm1', cpus: 2, memory: GiB, labels: {node: 'stale', region: 'tyo1'}, containers: [{id: 'c', names: ['/x'], image: 'i', labels: {}}]})
  assert.deepEqual(n.labels, {node: 'm1', region: 'tyo1'})
  assert.deepEqual([n.reservedCpus, n.reservedMemory, n.containerCount, n.health], [0, 0, 1, {healthy: true, failures: 0}])
  assert.equal(makeNode({id: 'i-2', cpus: 1, memory: 1}).name, 'i-2')
})

test('a zero request still counts what is reserved', () => {
  const s = scoreNode(makeNode(node('a', {reservedCpus: 2, reservedMemory: 2 * GiB})), {cpus: 0, memory: 0})
  assert.ok(Math.abs(s.cpuScore - 200 / 4.2) < 1e-9, `classic would have said 100, got ${s.cpuScore}`)
  assert.ok(Math.abs(s.memoryScore - 200 / 4.2) < 1e-9)
  // So spread still prefers the idle node for a request without resources.
  assert.equal(pickBoth([node('busy', {reservedCpus: 2}), node('idle')], makeRequest()), 'idle')
})

test('zero-capacity resources are only usable while nothing uses them', () => {
  const n = makeNode({id: 'z', cpus: 0, memory: 0})
  assert.equal(scoreNode(n, {cpus: 0, memory: 0}).fits, true)
  assert.equal(scoreNode(n, {cpus: 0.1, memory: 0}).fits, false)
})

test('spread picks the lowest score, ties go to fewer containers', () => {
  assert.equal(pickBoth([node('a', {reservedCpus: 2}), node('b', {reservedCpus: 1}), node('c', {reservedCpus: 3})]), 'b')
  assert.equal(pickBoth([node('a', {containerCount: 3}), node('b', {containerCount: 1}), node('c', {containerCount: 2})]), 'b')
})

test('binpack picks the highest score that still fits, ties go to more containers', () => {
  const opts: SchedulerOptions = {strategy: 'binpack'}
  // c is fuller but cannot take 1 more cpu (3.5 + 1 > 4.2).
  assert.equal(pickBoth([node('a', {reservedCpus: 2}), node('b', {reservedCpus: 3}), node('c', {reservedCpus: 3.5})], undefined, opts), 'b')
  assert.equal(pickBoth([node('a', {containerCount: 1}), node('b', {containerCount: 3}), node('c', {containerCount: 2})], undefined, opts), 'b')
})

test('nodes with recent failures are pushed to the end, not excluded', () => {
  const flaky = node('flaky', {health: {healthy: true, failures: 2}})
  const loaded = node('loaded', {reservedCpus: 3})
  assert.equal(pickBoth([flaky, loaded]), 'loaded')
  assert.equal(pickBoth([flaky, node('empty')], undefined, {strategy: 'binpack'}), 'empty')
  // Fewer failures rank first.
  assert.equal(pickBoth([flaky, node('once', {reservedCpus: 3, health: {healthy: true, failures: 1}})]), 'once')
  // Still chosen when it is the only node that fits.
  assert.equal(pickBoth([flaky, node('full', {reservedCpus: 4})]), 'flaky')
})

test('unhealthy nodes rank last when the health filter is disabled', () => {
  const opts: SchedulerOptions = {filters: ['constraint', 'affinity', 'dependency', 'port']}
  const down = node('down', {health: {healthy: false, failures: 0}})
  assert.equal(pickBoth([down, node('flaky', {reservedCpus: 3, health: {healthy: true, failures: 5}})], undefined, opts), 'flaky')
  assert.equal(pickBoth([down], undefined, opts), 'down')
})

test('capacity classes: a request weighs less on a bigger machine', () => {
  // Both at 50% cpu; 2 more cpus is +24 points on the 8-cpu node, +48 on the 4-cpu node.
  const nodes = [node('small', {reservedCpus: 2}), node('big', {cpus: 8, memory: 4 * GiB, reservedCpus: 4})]
  const req = makeRequest({cpus: 2})
  assert.equal(pickBoth(nodes, req), 'big')
  assert.equal(pickBoth(nodes, req, {strategy: 'binpack'}), 'small')
})

test('random picks only among nodes that fit, using the injected rng', () => {
  const nodes = [node('a'), node('full', {reservedCpus: 4.2}), node('b'), node('c')]
  const req = makeRequest({cpus: 1})
  const naive = (r: number) => naiveSelect(nodes.map(makeNode), req, {strategy: 'random', rng: () => r}).node.name
  assert.equal(naive(0), 'a')
  assert.equal(naive(0.5), 'b')
  assert.equal(naive(0.999), 'c')
  assert.equal(naive(1), 'c', 'an rng returning 1 must not index past the end')
  // Requests with rules take the scheduler's scan, which picks exactly like naiveSelect.
  const ruled = makeRequest({cpus: 1, constraints: ['node!=zzz']})
  for (const r of [0, 0.4, 0.8]) {
    const opts: SchedulerOptions = {strategy: 'random', rng: () => r}
    assert.equal(new Scheduler(nodes, opts).select(ruled).node.name, naiveSelect(nodes.map(makeNode), ruled, opts).node.name)
  }
  // The scheduler samples differently but must never pick the full node.
  let seed = 7
  const rng = () => ((seed = (seed * 16807) % 2147483647) - 1) / 2147483646
  const s = new Scheduler(nodes, {strategy: 'random', rng})
  const counts = new Map<string, number>()
  for (let i = 0; i < 3000; i++) {
    const name = s.select(req).node.name
    counts.set(name, (counts.get(name) ?? 0) + 1)
  }
  assert.equal(counts.get('full'), undefined)
  for (const name of ['a', 'b', 'c']) {
    const c = counts.get(name) ?? 0
    assert.ok(c > 850 && c < 1150, `${name} chosen ${c}/3000 times, expected about 1000`)
  }
})

test('random falls back to a scan when sampling keeps missing', () => {
  const nodes = Array.from({length: 200}, (_, i) => node(`n${i}`, {reservedCpus: i === 137 ? 0 : 4.2}))
  const s = new Scheduler(nodes, {strategy: 'random', rng: () => 0})
  assert.equal(s.select(makeRequest({cpus: 1})).node.name, 'n137')
})
