import {test} from 'node:test'
import assert from 'node:assert/strict'
import {errorLine} from '../src/cli/dm-lines.js'

test('as berth, every error line is "berth: MESSAGE"', () => {
  assert.equal(errorLine('Docker machine "x" does not exist', 'not_found', false), 'berth: Docker machine "x" does not exist')
  assert.equal(errorLine('flavor "m1.nope" not found', 'precreate', false), 'berth: flavor "m1.nope" not found')
})

test('as docker-machine, docker-machine 0.16\'s lines where its tests compare them whole', () => {
  const dm = (m: string, code?: Parameters<typeof errorLine>[1]) => errorLine(m, code, true)
  assert.equal(dm('Docker machine "x" does not exist', 'not_found'), 'Docker machine "x" does not exist. Use "docker-machine ls" to list machines. Use "docker-machine create" to add a new one.')
  assert.equal(dm('Docker machine "x" already exists', 'exists'), 'Docker machine "x" already exists')
  assert.equal(dm('Machine "x" is already stopped.', 'conflict'), 'Machine "x" is already stopped.')
  assert.equal(dm('invalid machine name "..": use letters, digits', 'usage'), 'Error creating machine: Invalid hostname specified. Allowed hostname chars are: 0-9a-zA-Z . -')
  assert.equal(dm('unknown driver "bogus" (available: lab, generic)', 'not_found'), 'Driver "bogus" not found. Do you have the plugin binary "docker-machine-driver-bogus" accessible in your PATH?')
  assert.equal(dm('flavor "m1.nope" not found', 'precreate'), 'Error with pre-create check: "flavor \\"m1.nope\\" not found"')
  assert.equal(dm('Missing 1 required arg: name Machine name. See more help with --help'), 'Error: No machine name(s) specified and no "default" machine exists.')
  // Anything else: the message alone, as libmachine's log.Fatal prints it.
  assert.equal(dm('Host is not running. Please start it', 'not_running'), 'Host is not running. Please start it')
})
