import {test} from 'node:test'
import assert from 'node:assert/strict'
import {execFileSync} from 'node:child_process'
import {parseShell, shellLines} from '../src/machine/dockerenv.js'

const vars: Array<[string, string | null]> = [['DOCKER_HOST', 'tcp://10.0.0.2:2376'], ['DOCKER_CERT_PATH', '/root/.berth/machines/a b'], ['DOCKER_MACHINE_NAME', null]]

test('bash output sets variables when evaluated by a real shell', () => {
  const script = shellLines('bash', vars, 'berth env n1')
  const out = execFileSync('bash', ['-c', `DOCKER_MACHINE_NAME=old\n${script}\necho "$DOCKER_HOST|$DOCKER_CERT_PATH|\${DOCKER_MACHINE_NAME-unset}"`]).toString().trim()
  assert.equal(out, 'tcp://10.0.0.2:2376|/root/.berth/machines/a b|unset')
})

test('each shell gets its own syntax', () => {
  assert.match(shellLines('fish', vars, 'x'), /^set -gx DOCKER_HOST "tcp:\/\/10.0.0.2:2376";$/m)
  assert.match(shellLines('fish', vars, 'x'), /^set -e DOCKER_MACHINE_NAME;$/m)
  assert.match(shellLines('powershell', vars, 'x'), /^\$Env:DOCKER_HOST = "tcp:\/\/10.0.0.2:2376"$/m)
  assert.match(shellLines('cmd', vars, 'x'), /^SET DOCKER_HOST=tcp:\/\/10.0.0.2:2376$/m)
  assert.match(shellLines('tcsh', vars, 'x'), /^setenv DOCKER_HOST "tcp:\/\/10.0.0.2:2376";$/m)
  assert.match(shellLines('emacs', vars, 'x'), /^\(setenv "DOCKER_HOST" "tcp:\/\/10.0.0.2:2376"\)$/m)
  assert.match(shellLines('bash', vars, 'berth env n1'), /^# eval \$\(berth env n1\)$/m)
  // Unquoted `eval $(...)` joins the lines into one: each must still stand alone.
  const joined = shellLines('bash', vars, 'x')
  const out = execFileSync('bash', ['-c', 'DOCKER_MACHINE_NAME=old; eval $S; echo "$DOCKER_HOST|${DOCKER_MACHINE_NAME-unset}"'], {env: {...process.env, S: joined}}).toString().trim()
  assert.equal(out, 'tcp://10.0.0.2:2376|unset')
  assert.throws(() => parseShell('ksh93'), /unknown shell/)
})
