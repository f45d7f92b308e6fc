import {describe, test} from 'node:test'
import assert from 'node:assert/strict'
import {registry as drivers} from '../../drivers/flags.js'
import {parseClusterFile, planCluster, summarise} from '../../src/clusterfile/index.js'
import type {MachineRecord} from '../../src/store/index.js'

const FILE = '/srv/cluster.yml'
const TEXT = `
swarm: {name: hy}
groups:
  head: {driver: lab, role: manager, labels: {site: home}}
  w: {driver: lab, count: 2, labels: {tier: back}}
`
const spec = (text = TEXT) => parseClusterFile(text, FILE, drivers)

type Rec = Pick<MachineRecord, 'name' | 'driver' | 'status' | 'swarm' | 'origin'>
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
})
