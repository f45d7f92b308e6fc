import {test} from 'node:test'
import assert from 'node:assert/strict'
import {PlacementError, Scheduler, explainNoFit, makeNode, makeRequest, naiveSelect, type NodeInput, type PlacementRequest} from '../../src/placement/index.js'

const GiB = 1024 ** 3

function node(id: string, extra: Partial<NodeInput> = {}): NodeInput {
  return {id, name: id, cpus: 4, memory: 4 * GiB, ...extra}
}

/** The PlacementError both paths throw; they must agree on the message. */
function noFit(nodes: NodeInput[], req: PlacementRequest): PlacementError {
  const errors: PlacementError[] = []
  for (const run of [() => new Scheduler(nodes).select(req), () => naiveSelect(nodes.map(makeNode), req)]) {
    try {
      run()
      assert.fail('expected a PlacementError')
    } catch (err) {
      assert.ok(err instanceof PlacementError, String(err))
      errors.push(err)
    }
  }
  assert.equal(errors[0].message, errors[1].message)
  return errors[0]
}

test('no fit: the message says which rule eliminated which nodes, on one line', () => {
  const nodes = [
    node('id1', {name: 'n1', labels: {region: 'fra1'}}),
    node('id2', {name: 'n2'}),
    node('id3', {name: 'n3', labels: {region: 'tyo1'}, ports: [{port: 80, protocol: 'tcp'}]}),
  ]
  const err = noFit(nodes, makeRequest({constraints: ['region==tyo1'], ports: [{port: 80, protocol: 'tcp', hostIp: ''}]}))
  assert.equal(err.message, 'no node fits: constraint region==tyo1 eliminated n1, n2; port 80/tcp eliminated n3')
  assert.equal(err.name, 'PlacementError')
  assert.deepEqual(err.eliminations, [
    {filter: 'constraint', rule: 'constraint region==tyo1', nodes: ['n1', 'n2']},
    {filter: 'port', rule: 'port 80/tcp', nodes: ['n3']},
  ])
})

test('no fit: health, affinity, dependency and resources are reported too', () => {
  const nodes = [
    node('down', {health: {healthy: false, failures: 3}}),
    node('busy', {reservedCpus: 4}),
    node('other', {containers: [{id: 'x', names: ['/db'], image: 'pg', labels: {}}]}),
    node('plain'),
  ]
  const err = noFit(nodes, makeRequest({cpus: 1, memory: 512 * 1024 ** 2, affinities: ['container!=db'], dependencies: [{kind: 'link', container: 'cache'}]}))
  assert.equal(err.message, 'no node fits: health eliminated down; affinity container!=db eliminated other; dependency link cache eliminated busy, plain')
  const full = noFit(nodes.slice(1, 2), makeRequest({cpus: 1, memory: 512 * 1024 ** 2}))
  assert.equal(full.message, 'no node fits: resources (cpus 1, memory 512MiB) eliminated busy')
  assert.doesNotMatch(full.message, /\n/)
})

test('no fit: soft rules are named as dropped, long node lists are cut short, empty cluster', () => {
  const nodes = Array.from({length: 25}, (_, i) => node(`n${i}`, {reservedMemory: 4.2 * GiB}))
  const err = noFit(nodes, makeRequest({memory: 1, constraints: ['region==~tyo1']}))
  assert.equal(err.message, 'no node fits: resources (cpus 0, memory 1B) eliminated n0, n1, n2, n3, n4, n5, n6, n7, n8, n9 and 15 more (after dropping soft rules: constraint region==~tyo1)')
  assert.deepEqual(err.droppedSoftRules, ['constraint region==~tyo1'])
  assert.equal(err.eliminations[0].nodes.length, 25, 'the structured form keeps every node')
  assert.equal(noFit([], makeRequest()).message, 'no node fits: the cluster has no nodes')
  assert.equal(explainNoFit([], makeRequest()).message, 'no node fits: the cluster has no nodes')
})

test('place reserves resources and records the container, its ports and its image', () => {
  const s = new Scheduler([node('a'), node('b')])
  const req = makeRequest({name: 'web', image: 'nginx:1.27', cpus: 1, memory: GiB, ports: [{port: 80, protocol: 'tcp', hostIp: ''}], labels: {tier: 'front'}})
  const first = s.place(req)
  const n = s.get(first.node.id)!
  assert.deepEqual([n.reservedCpus, n.reservedMemory, n.containerCount], [1, GiB, 1])
  assert.deepEqual(n.containers.map(c => c.names), [['web']])
  assert.deepEqual(n.ports, [{port: 80, protocol: 'tcp', hostIp: ''}])
  assert.deepEqual(n.images.flatMap(i => i.names), ['nginx:1.27'])
  // Port 80 is taken there now, so the next one goes to the other node, then nowhere.
  const second = s.place(req)
  assert.notEqual(second.node.id, first.node.id)
  assert.throws(() => s.place(req), /port 80\/tcp eliminated a, b/)
  // Later rules see placed containers.
  assert.equal(s.select(makeRequest({affinities: ['tier==front'], dependencies: [{kind: 'link', container: 'web'}]})).node.id, 'a')
  assert.equal(s.select(makeRequest({affinities: ['image==nginx']})).node.id, 'a')
})

test('select does not change anything; naiveSelect does not mutate its input', () => {
  const s = new Scheduler([node('a')])
  s.select(makeRequest({cpus: 1}))
  assert.equal(s.get('a')!.reservedCpus, 0)
  const nodes = [makeNode(node('a'))]
  const before = JSON.stringify(nodes)
  naiveSelect(nodes, makeRequest({cpus: 1}))
  assert.equal(JSON.stringify(nodes), before)
})

test('update replaces a node (even across capacity classes) and remove forgets it', () => {
  const s = new Scheduler([node('a'), node('b', {reservedCpus: 1})])
  const req = makeRequest({cpus: 1})
  assert.equal(s.select(req).node.id, 'a')
  s.update(node('a', {reservedCpus: 2}))
  assert.equal(s.select(req).node.id, 'b')
  // New machine type: a moves to another class.
  s.update(node('a', {cpus: 64, memory: 64 * GiB, reservedCpus: 2}))
  assert.equal(s.select(req).node.id, 'a')
  assert.equal(s.size, 2)
  assert.equal(s.remove('a'), true)
  assert.equal(s.remove('a'), false)
  assert.equal(s.size, 1)
  assert.equal(s.get('a'), undefined)
  assert.equal(s.select(req).node.id, 'b')
  s.remove('b')
  assert.throws(() => s.select(req), /the cluster has no nodes/)
  // Health changes take effect through update.
  s.update(node('c', {health: {healthy: false, failures: 1}}))
  assert.throws(() => s.select(req), /health eliminated c/)
  s.update(node('c'))
  assert.equal(s.select(req).node.id, 'c')
})

test('update copies its input, so the caller keeps ownership of its objects', () => {
  const input = node('a', {containers: []})
  const s = new Scheduler([input])
  s.place(makeRequest({name: 'x', cpus: 1}))
  assert.deepEqual(input.containers, [])
  assert.equal(input.reservedCpus, undefined)
})

test('a cluster grows past the initial index size and keeps answering correctly', () => {
  const s = new Scheduler([], {strategy: 'binpack'})
  for (let i = 0; i < 100; i++) s.update(node(`n${String(i).padStart(3, '0')}`, {reservedCpus: (i % 7) * 0.5}))
  for (let i = 0; i < 100; i += 3) s.remove(`n${String(i).padStart(3, '0')}`)
  const req = makeRequest({cpus: 1})
  for (let k = 0; k < 150; k++) {
    const expected = naiveSelect(s.nodes(), req, {strategy: 'binpack'})
    const got = s.place(req)
    assert.equal(got.node.id, expected.node.id, `decision ${k}`)
  }
})

test('rejects invalid input', () => {
  assert.throws(() => new Scheduler([node('a', {cpus: -1})]), RangeError)
  assert.throws(() => new Scheduler([node('a', {memory: Number.NaN})]), RangeError)
  assert.throws(() => new Scheduler([], {overcommit: -1}), RangeError)
  assert.throws(() => makeRequest({cpus: -0.5}), RangeError)
})
