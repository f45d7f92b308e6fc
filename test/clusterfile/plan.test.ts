import {describe, test} from 'node:test'
import assert from 'node:assert/strict'
import {registry as drivers} from '../../drivers/flags.js'
import {parseClusterFile, planCluster, planHeader, summarise} from '../../src/clusterfile/index.js'
import type {MachineRecord} from '../../src/store/index.js'

const FILE = '/srv/cluster.yml'
const TEXT = `
swarm: {name: hy}
groups:
  head: {driver: lab, role: manager, labels: {site: home}}
  w: {driver: lab, count: 2, labels: {tier: back}}
`
const spec = (text = TEXT) => parseClusterFile(text, FILE, drivers)

type Rec = Pick<MachineRecord, 'name' | 'driver' | 'status' | 'swarm' | 'origin' | 'mesh'>
function rec(name: string, group: string, opts: {manager?: boolean; labels?: Record<string, string>; file?: string | null; driver?: string; status?: MachineRecord['status']} = {}): Rec {
  return {
    name, driver: opts.driver ?? 'lab', status: opts.status ?? 'ready',
    swarm: {name: 'hy', manager: Boolean(opts.manager), labels: opts.labels ?? {}, nodeId: `n-${name}`},
    ...(opts.file === null ? {} : {origin: {file: opts.file ?? FILE, group}}),
  }
}
const actions = (p: ReturnType<typeof planCluster>) => p.items.map(i => `${i.action} ${i.name}${i.changes.length ? ` (${i.changes.join('; ')})` : ''}`)
const UPTODATE = [rec('head', 'head', {manager: true, labels: {site: 'home'}}), rec('w-1', 'w', {labels: {tier: 'back'}}), rec('w-2', 'w', {labels: {tier: 'back'}})]

describe('cluster file: planning', () => {
  test('from nothing: everything is created, managers listed first as in the file', () => {
    const p = planCluster(spec(), [])
    assert.deepEqual(actions(p), ['create head', 'create w-1', 'create w-2'])
    assert.equal(p.changed, true)
    assert.equal(summarise(p), '3 to create, 0 to change, 0 to remove, 0 unchanged')
  })

  test('up to date: no changes', () => {
    const p = planCluster(spec(), UPTODATE)
    assert.deepEqual(actions(p), ['keep head', 'keep w-1', 'keep w-2'])
    assert.equal(p.changed, false)
    assert.match(summarise(p), /^no changes/)
  })

  test('count 2 -> 3 creates exactly one; 2 -> 1 removes the one the file dropped', () => {
    assert.deepEqual(actions(planCluster(spec(TEXT.replace('count: 2', 'count: 3')), UPTODATE)).filter(a => !a.startsWith('keep')), ['create w-3'])
    assert.deepEqual(actions(planCluster(spec(TEXT.replace('count: 2', 'count: 1')), UPTODATE)).filter(a => !a.startsWith('keep')), ['remove w-2'])
  })

  test('labels and roles that differ are changes', () => {
    const recs = [rec('head', 'head', {manager: true, labels: {site: 'office', old: 'x'}}), rec('w-1', 'w', {manager: true, labels: {tier: 'back'}}), rec('w-2', 'w', {labels: {tier: 'back'}})]
    const p = planCluster(spec(), recs)
    assert.deepEqual(actions(p), ['change head (labels: site: office -> home, -old)', 'change w-1 (role: manager -> worker)', 'keep w-2'])
  })

  test('a new default strategy is a change of every member', () => {
    const p = planCluster(spec(TEXT.replace('{name: hy}', '{name: hy, strategy: binpack}')), UPTODATE)
    assert.deepEqual(actions(p), ['change head (strategy: none -> binpack)', 'change w-1 (strategy: none -> binpack)', 'change w-2 (strategy: none -> binpack)'])
  })

  test('machines not from this file are never removed; one in the way is a conflict', () => {
    const other = rec('db', 'db', {file: '/elsewhere/cluster.yml'})
    const byHand = rec('hand', 'x', {file: null})
    const p = planCluster(spec(), [...UPTODATE, other, byHand])
    assert.equal(p.changed, false)
    assert.deepEqual(p.conflicts, [])
    const clash = planCluster(spec(), [rec('head', 'head', {manager: true, file: null}), UPTODATE[1], UPTODATE[2]])
    assert.match(clash.conflicts[0], /^machine "head" exists and was not made from \/srv\/cluster\.yml/)
  })

  test('a group dropped from the file is removed; another driver or a broken record is a conflict', () => {
    const p = planCluster(spec('swarm: {name: hy}\ngroups:\n  head: {driver: lab, role: manager, labels: {site: home}}\n'), UPTODATE)
    assert.deepEqual(actions(p), ['keep head', 'remove w-1', 'remove w-2'])
    const q = planCluster(spec(), [UPTODATE[0], rec('w-1', 'w', {driver: 'azure', labels: {tier: 'back'}}), rec('w-2', 'w', {status: 'error', labels: {tier: 'back'}})])
    assert.equal(q.conflicts.length, 2)
    assert.match(q.conflicts[0], /driver azure, the file says lab/)
    assert.match(q.conflicts[1], /"w-2" is error/)
    assert.match(planCluster(spec(), [], ['w-1']).conflicts[0], /unreadable record/)
  })

  test('losing the managers\' quorum is a risk (up needs --force)', () => {
    const three = `swarm: {name: hy}\ngroups:\n  m: {driver: lab, role: manager, count: 3}\n  w: {driver: lab}\n`
    const recs = [rec('m-1', 'm', {manager: true}), rec('m-2', 'm', {manager: true}), rec('m-3', 'm', {manager: true}), rec('w', 'w')]
    assert.deepEqual(planCluster(spec(three), recs).risks, [])
    assert.deepEqual(planCluster(spec(three.replace('count: 3', 'count: 2')), recs).risks, [])
    assert.deepEqual(planCluster(spec(three.replace('count: 3', 'count: 1')), recs).risks, ['swarm hy would go from 3 managers to 1, below the quorum of 2'])
  })

  describe('mode and mesh', () => {
    const MESH = TEXT.replace('swarm: {name: hy}', 'swarm: {name: hy, mesh: wireguard}')
    const CLASSIC = TEXT.replace('swarm: {name: hy}', 'swarm: {name: hy, mode: classic}')
    const meshed = (r: Rec, address: string, subnet = '10.209.0.0/16', port = 51820): Rec => ({...r, mesh: {kind: 'wireguard', swarm: 'hy', subnet, address, port, mtu: 1420}})
    const classic = (r: Rec): Rec => ({...r, swarm: {...r.swarm!, mode: 'classic', labels: {'berth.machine': r.name, 'berth.driver': 'lab', ...r.swarm!.labels}}})
    const MESHED = UPTODATE.map((r, i) => meshed(r, `10.209.0.${i + 1}`))

    test('plan shows the mode and the mesh (defaults for a new swarm, the swarm\'s own once formed)', () => {
      const fresh = planCluster(spec(MESH), [])
      assert.deepEqual([fresh.mode, fresh.mesh], ['swarm', {kind: 'wireguard', subnet: '10.209.0.0/16', port: 51820}])
      assert.equal(planHeader(fresh), 'swarm hy: swarm mode, WireGuard mesh on 10.209.0.0/16, 51820/udp')
      const own = planCluster(spec(MESH), MESHED.map(r => meshed(r, r.mesh!.address, '10.77.0.0/24', 51900)))
      assert.deepEqual(own.mesh, {kind: 'wireguard', subnet: '10.77.0.0/24', port: 51900})
      assert.deepEqual(own.conflicts, [])
      const set = planCluster(spec(MESH.replace('mesh: wireguard', 'mesh: wireguard, mesh-subnet: 10.8.0.0/24, mesh-port: 4000')), [])
      assert.deepEqual(set.mesh, {kind: 'wireguard', subnet: '10.8.0.0/24', port: 4000})
      assert.equal(planHeader(planCluster(spec(), [])), 'swarm hy: swarm mode, no mesh')
      assert.equal(planCluster(spec(), []).mesh, undefined)
      const c = planCluster(spec(CLASSIC), [])
      assert.equal(c.mode, 'classic')
      assert.match(planHeader(c)!, /^swarm hy: classic group \(engines not in swarm mode, placed by berth swarm manage\)$/)
    })

    test('an up-to-date mesh swarm or classic group plans no change (berth\'s own labels of a classic member are not the file\'s)', () => {
      assert.equal(planCluster(spec(MESH), MESHED).changed, false)
      const p = planCluster(spec(CLASSIC), UPTODATE.map(classic))
      assert.deepEqual(actions(p), ['keep head', 'keep w-1', 'keep w-2'])
      const relabel = planCluster(spec(CLASSIC.replace('tier: back', 'tier: front')), UPTODATE.map(classic))
      assert.deepEqual(actions(relabel).slice(1), ['change w-1 (labels: tier: back -> front)', 'change w-2 (labels: tier: back -> front)'])
    })

    test('a file that changes the mode or the mesh of an existing swarm: one conflict line each, nothing planned past it', () => {
      const one = (text: string, recs: Rec[]) => {
        const p = planCluster(spec(text), recs)
        assert.equal(p.conflicts.length, 1, p.conflicts.join('\n'))
        assert.doesNotMatch(p.conflicts[0], /\n/)
        return p.conflicts[0]
      }
      assert.match(one(CLASSIC, UPTODATE), /^swarm hy is a swarm-mode swarm \(head, w-1, w-2\), the file says mode: classic: a swarm keeps its mode; berth down -f \/srv\/cluster\.yml \(or rm its machines\) first, or name another swarm$/)
      assert.match(one(TEXT, UPTODATE.map(classic)), /^swarm hy is a classic group \(head, w-1, w-2\), the file says mode: swarm/)
      assert.match(one(MESH, UPTODATE), /^swarm hy was formed without a mesh \(head, w-1, w-2\): mesh: wireguard applies to a new swarm/)
      assert.match(one(TEXT, MESHED), /^swarm hy is on a WireGuard mesh \(head, w-1, w-2\), the file says mesh: none/)
      assert.match(one(MESH.replace('mesh: wireguard', 'mesh: wireguard, mesh-subnet: 10.9.0.0/16'), MESHED), /^swarm hy's mesh is on 10\.209\.0\.0\/16, the file says mesh-subnet: 10\.9\.0\.0\/16/)
      assert.match(one(MESH.replace('mesh: wireguard', 'mesh: wireguard, mesh-port: 4000'), MESHED), /^swarm hy's mesh listens on 51820\/udp, the file says mesh-port: 4000/)
      // Members the file does not own count too: the swarm is the store's, not the file's.
      assert.match(one(MESH, [rec('other', 'x', {file: '/elsewhere.yml'})]), /formed without a mesh \(other\)/)
    })

    test('a classic group has no quorum: removing its head is no risk', () => {
      const p = planCluster(spec(CLASSIC.replace('role: manager', 'role: worker').replace('w: {driver: lab, count: 2', 'w: {driver: lab, role: manager, count: 2')), UPTODATE.map(classic))
      assert.deepEqual(p.risks, [])
    })
  })
})
