import {test} from 'node:test'
import assert from 'node:assert/strict'
import {quorumAdvice, nodeLabels} from '../src/swarm/swarm.js'
import {rewriteLegacySwarmArgv, swarmJoinOptions} from '../src/options/index.js'
import type {MachineRecord} from '../src/store/record.js'

test('quorum advice: odd counts up to 7 are fine, even ones explain the fault tolerance', () => {
  for (const n of [1, 3, 5, 7]) assert.equal(quorumAdvice(n), undefined)
  assert.match(quorumAdvice(2)!, /^2 managers tolerate 0 failures.*3 tolerate 1 failure, 5 tolerate 2, 7 tolerate 3/)
  assert.match(quorumAdvice(4)!, /^4 managers tolerate 1 failure,/)
  assert.match(quorumAdvice(9)!, /more than 7/)
})

test('docker-machine\'s --swarm switch with token discovery maps onto a named swarm, without showing the token', () => {
  const argv = ['--swarm', '--swarm-master', '--swarm-discovery', 'token://0123456789abcdef', 'head']
  const {argv: out, note} = rewriteLegacySwarmArgv(argv)
  const name = out.find(a => a.startsWith('--swarm='))!.slice('--swarm='.length)
  assert.match(name, /^swarm-[0-9a-f]{8}$/)
  assert.equal(rewriteLegacySwarmArgv(argv).argv.join(' '), out.join(' '), 'stable name for the same token')
  assert.match(note!, /classic Swarm.*swarm-mode cluster named "swarm-/)
  assert.ok(!note!.includes('0123456789abcdef'))
  assert.deepEqual(out.slice(1), ['--swarm-master', '--swarm-discovery', 'token://0123456789abcdef', 'head'])
})

test('--swarm NAME is left alone; a trailing switch gets the default name', () => {
  assert.deepEqual(rewriteLegacySwarmArgv(['--swarm', 'lab3', 'm1']).argv, ['--swarm', 'lab3', 'm1'])
  assert.deepEqual(rewriteLegacySwarmArgv(['m1', '--swarm']).argv, ['m1', '--swarm=default'])
})

test('swarm flags need --swarm and valid labels', () => {
  assert.throws(() => swarmJoinOptions({'swarm-manager': true}), /--swarm-manager needs --swarm NAME/)
  assert.throws(() => swarmJoinOptions({swarm: 's', 'swarm-label': ['nolabel']}), /bad --swarm-label/)
  assert.throws(() => swarmJoinOptions({swarm: 'bad name'}), /invalid swarm name/)
  assert.deepEqual(swarmJoinOptions({swarm: 's', 'swarm-label': ['a=b'], 'swarm-manager': true})?.labels, {a: 'b'})
  assert.equal(swarmJoinOptions({}), undefined)
})

test('node labels name the machine, its driver and where it lives; user labels win', () => {
  const rec = {name: 'n1', driver: 'lab'} as MachineRecord
  assert.deepEqual(nodeLabels(rec, {region: 'tyo1'}, {tier: 'web'}), {'berth.machine': 'n1', 'berth.driver': 'lab', 'berth.region': 'tyo1', tier: 'web'})
})

test('--swarm-mode classic: docker-machine\'s switch names a classic group, the note says so; the mode needs --swarm', () => {
  const {argv, note} = rewriteLegacySwarmArgv(['--swarm', '--swarm-master', '--swarm-mode', 'classic', '--swarm-discovery', 'token://0123456789abcdef', 'head'])
  assert.match(argv[0], /^--swarm=swarm-[0-9a-f]{8}$/)
  assert.match(note!, /berth makes the classic group "swarm-[0-9a-f]{8}"/)
  assert.match(rewriteLegacySwarmArgv(['--swarm', 'head']).note ?? '', /^$/)
  assert.match(rewriteLegacySwarmArgv(['--swarm', '--swarm-master', 'head']).note!, /add --swarm-mode classic/)
  assert.equal(swarmJoinOptions({swarm: 's', 'swarm-mode': 'classic'})?.mode, 'classic')
  assert.equal(swarmJoinOptions({swarm: 's'})?.mode, undefined)
  assert.throws(() => swarmJoinOptions({'swarm-mode': 'classic'}), /--swarm-mode needs --swarm NAME/)
})
