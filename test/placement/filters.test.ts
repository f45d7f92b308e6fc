import {test} from 'node:test'
import assert from 'node:assert/strict'
import {
  PlacementError,
  Scheduler,
  hostsContainer,
  makeNode,
  makeRequest,
  matchesAffinity,
  matchesConstraint,
  naiveSelect,
  parseRule,
  portInUse,
  type NodeInput,
  type PlacementRequest,
  type SchedulerOptions,
} from '../../src/placement/index.js'

const GiB = 1024 ** 3

function node(id: string, extra: Partial<NodeInput> = {}): NodeInput {
  return {id, name: id, cpus: 4, memory: 4 * GiB, ...extra}
}

/** Names of the nodes a request may land on, by both paths (which must agree). */
function eligible(nodes: NodeInput[], req: PlacementRequest, opts: SchedulerOptions = {}): string[] {
  const out: string[] = []
  for (const n of nodes) {
    // Placing on a one-node cluster tells whether that node passes.
    let ok = true
    try {
      naiveSelect([makeNode(n)], req, opts)
    } catch (err) {
      assert.ok(err instanceof PlacementError, String(err))
      ok = false
    }
    let fastOk = true
    try {
      new Scheduler([n], opts).select(req)
    } catch (err) {
      assert.ok(err instanceof PlacementError, String(err))
      fastOk = false
    }
    assert.equal(fastOk, ok, `Scheduler and naiveSelect disagree on ${n.id}`)
    if (ok) out.push(n.id)
  }
  return out
}

const web = {id: 'c0ffee0123456789abcdef', names: ['/web'], image: 'nginx:1.27', labels: {'com.example.tier': 'front'}}
const db = {id: 'deadbeef00112233445566', names: ['/db'], image: 'postgres:16', labels: {'com.example.tier': 'data'}}

test('health: unhealthy nodes are excluded by default, kept when the filter is off', () => {
  const nodes = [node('up'), node('down', {health: {healthy: false, failures: 3}})]
  assert.deepEqual(eligible(nodes, makeRequest()), ['up'])
  assert.deepEqual(eligible(nodes, makeRequest(), {filters: ['port']}), ['up', 'down'])
})

test('port: a bound host port excludes the node, per protocol and overlapping address', () => {
  const nodes = [
    node('tcp80', {ports: [{port: 80, protocol: 'tcp'}]}),
    node('udp80', {ports: [{port: 80, protocol: 'udp'}]}),
    node('lo80', {ports: [{port: 80, protocol: 'tcp', hostIp: '127.0.0.1'}]}),
    node('free'),
  ]
  assert.deepEqual(eligible(nodes, makeRequest({ports: [{port: 80, protocol: 'tcp', hostIp: ''}]})), ['udp80', 'free'])
  assert.deepEqual(eligible(nodes, makeRequest({ports: [{port: 80, protocol: 'udp', hostIp: ''}]})), ['tcp80', 'lo80', 'free'])
  // A different specific address doesn't collide; the same one or a wildcard does.
  assert.deepEqual(eligible(nodes, makeRequest({ports: [{port: 80, protocol: 'tcp', hostIp: '10.0.0.5'}]})), ['udp80', 'lo80', 'free'])
  assert.equal(portInUse(makeNode(nodes[2]), {port: 80, protocol: 'tcp', hostIp: '127.0.0.1'}), true)
  assert.equal(portInUse(makeNode(nodes[0]), {port: 81, protocol: 'tcp', hostIp: ''}), false)
  // Disabled filter ignores ports.
  assert.deepEqual(eligible(nodes, makeRequest({ports: [{port: 80, protocol: 'tcp', hostIp: ''}]}), {filters: ['health']}), ['tcp80', 'udp80', 'lo80', 'free'])
})

test('dependency: links, volumes-from and --net container: must be on the same node', () => {
  const nodes = [node('has-web', {containers: [web]}), node('has-db', {containers: [db]}), node('both', {containers: [web, db]})]
  assert.deepEqual(eligible(nodes, makeRequest({dependencies: [{kind: 'link', container: 'db'}]})), ['has-db', 'both'])
  assert.deepEqual(eligible(nodes, makeRequest({dependencies: [{kind: 'volumes-from', container: 'web'}, {kind: 'net', container: 'db'}]})), ['both'])
  // By id and by short id.
  assert.deepEqual(eligible(nodes, makeRequest({dependencies: [{kind: 'net', container: web.id}]})), ['has-web', 'both'])
  assert.equal(hostsContainer(makeNode(nodes[0]), web.id.slice(0, 12)), true)
  assert.equal(hostsContainer(makeNode(nodes[0]), 'c0ffee'), false, 'prefixes shorter than a short id are not ids')
  assert.equal(hostsContainer(makeNode(nodes[0]), '/web'), true)
})

test('affinity: container, image and container-label affinities with == and !=', () => {
  const nodes = [
    node('n-web', {containers: [web], images: [{id: 'sha256:aaaaaaaaaaaaaaaaaaaa', names: ['nginx:1.27']}]}),
    node('n-db', {containers: [db], images: [{id: 'sha256:bbbbbbbbbbbbbbbbbbbb', names: ['postgres:16', 'redis:7']}]}),
    node('empty'),
  ]
  const aff = (...rules: string[]) => makeRequest({affinities: rules})
  assert.deepEqual(eligible(nodes, aff('container==web')), ['n-web'])
  assert.deepEqual(eligible(nodes, aff('container!=web')), ['n-db', 'empty'])
  assert.deepEqual(eligible(nodes, aff('container==' + db.id.slice(0, 12))), ['n-db'])
  // A repo name matches every tag; an image id matches in full or short form.
  assert.deepEqual(eligible(nodes, aff('image==redis')), ['n-db'])
  assert.deepEqual(eligible(nodes, aff('image==redis:7')), ['n-db'])
  assert.deepEqual(eligible(nodes, aff('image==redis:6')), [])
  assert.deepEqual(eligible(nodes, aff('image==aaaaaaaaaaaa')), ['n-web'])
  assert.deepEqual(eligible(nodes, aff('image==sha256:aaaaaaaaaaaaaaaaaaaa')), ['n-web'])
  // Images of running containers count even if the image list omits them.
  assert.equal(matchesAffinity(makeNode({...nodes[1], images: []}), parseRule('affinity', 'image==postgres')), true)
  assert.deepEqual(eligible(nodes, aff('com.example.tier==front')), ['n-web'])
  assert.deepEqual(eligible(nodes, aff('com.example.tier!=front')), ['n-db', 'empty'])
  assert.deepEqual(eligible(nodes, aff('container==w*', 'image==nginx')), ['n-web'])
})

test('constraint: node, labels, pseudo-labels, globs, regexes, missing labels', () => {
  const nodes = [
    node('id-1', {name: 'tokyo-a', labels: {region: 'tyo1', storagedriver: 'overlay2', ostype: 'linux', kernelversion: '6.8.0-45-generic'}}),
    node('id-2', {name: 'tokyo-b', labels: {region: 'tyo2', storagedriver: 'btrfs', ostype: 'linux'}}),
    node('id-3', {name: 'frankfurt', labels: {Region: 'fra1'}}),
    node('id-4', {name: 'bare'}),
  ]
  const con = (...rules: string[]) => makeRequest({constraints: rules})
  assert.deepEqual(eligible(nodes, con('node==tokyo-b')), ['id-2'])
  assert.deepEqual(eligible(nodes, con('node==id-3')), ['id-3'], 'node matches the id too')
  assert.deepEqual(eligible(nodes, con('node!=tokyo-*')), ['id-3', 'id-4'])
  assert.deepEqual(eligible(nodes, con('region==tyo1')), ['id-1'])
  assert.deepEqual(eligible(nodes, con('region==tyo?')), ['id-1', 'id-2'])
  assert.deepEqual(eligible(nodes, con('region==/^(tyo2|fra)/')), ['id-2', 'id-3'], 'label keys match case-insensitively')
  assert.deepEqual(eligible(nodes, con('region==/TYO/i')), ['id-1', 'id-2'])
  assert.deepEqual(eligible(nodes, con('region!=tyo1')), ['id-2', 'id-3', 'id-4'], 'a missing label satisfies !=')
  assert.deepEqual(eligible(nodes, con('region==*')), ['id-1', 'id-2', 'id-3'], 'a missing label never satisfies ==')
  assert.deepEqual(eligible(nodes, con('storagedriver==overlay2')), ['id-1'])
  assert.deepEqual(eligible(nodes, con('kernelversion==6.*')), ['id-1'])
  assert.deepEqual(eligible(nodes, con('ostype==linux', 'region!=tyo1')), ['id-2'])
  // Glob dots are literal.
  assert.equal(matchesConstraint(makeNode(node('x', {labels: {v: '1x2'}})), parseRule('constraint', 'v==1.2')), false)
  assert.equal(matchesConstraint(makeNode(node('x', {labels: {v: '1.2'}})), parseRule('constraint', 'v==1.2')), true)
})

test('soft rules are dropped only when nothing fits them', () => {
  const nodes = [node('a', {labels: {region: 'tyo1'}, reservedCpus: 3}), node('b', {labels: {region: 'fra1'}})]
  for (const opts of [{}, {strategy: 'binpack'}] as SchedulerOptions[]) {
    const soft = makeRequest({cpus: 1, constraints: ['region==~tyo1']})
    const fast = new Scheduler(nodes, opts).select(soft)
    const naive = naiveSelect(nodes.map(makeNode), soft, opts)
    for (const p of [fast, naive]) {
      assert.equal(p.node.name, 'a', 'a soft rule is honoured while some node satisfies it, even a loaded one')
      assert.equal(p.softDropped, false)
    }
    const tooBig = makeRequest({cpus: 2, constraints: ['region==~tyo1']})
    for (const p of [new Scheduler(nodes, opts).select(tooBig), naiveSelect(nodes.map(makeNode), tooBig, opts)]) {
      assert.equal(p.node.name, 'b')
      assert.equal(p.softDropped, true)
    }
    // A hard rule is never dropped.
    const hard = makeRequest({cpus: 2, constraints: ['region==tyo1']})
    assert.throws(() => new Scheduler(nodes, opts).select(hard), PlacementError)
    assert.throws(() => naiveSelect(nodes.map(makeNode), hard, opts), PlacementError)
  }
  // Soft affinities too.
  const withRedis = [node('r', {containers: [{...db, image: 'redis:7'}], reservedCpus: 4}), node('plain')]
  const p = new Scheduler(withRedis).select(makeRequest({cpus: 1, affinities: ['image==~redis']}))
  assert.deepEqual([p.node.name, p.softDropped], ['plain', true])
})
