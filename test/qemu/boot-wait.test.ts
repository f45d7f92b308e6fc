/** The provisioner's wait for a systemd host to finish booting (src/provision.ts), on a scripted session. */
import {test} from 'node:test'
import assert from 'node:assert/strict'
import {waitBootFinished} from '../../src/provision/provision.js'
import type {SSHSession} from '../../src/ssh/ssh.js'

function session(stdout: string) {
  const cmds: string[] = []
  const s = {exec: async (cmd: string) => {
    cmds.push(cmd)
    return {code: 0, stdout, stderr: ''}
  }} as unknown as SSHSession
  return {s, cmds}
}

test('one exec, bounded by timeout, of systemctl is-system-running --wait', async () => {
  const {s, cmds} = session('running\nrc=0\n')
  await waitBootFinished(s, 120)
  assert.equal(cmds.length, 1)
  assert.match(cmds[0], /^timeout 120 systemctl is-system-running --wait/)
})

test('degraded (a unit failed) and an old systemd without --wait do not stop provisioning', async () => {
  await waitBootFinished(session('degraded\nrc=1\n').s)
  await waitBootFinished(session('rc=1\n').s)
})

test('a boot still starting at the timeout, or a host going down, is an error the user can read', async () => {
  await assert.rejects(waitBootFinished(session('starting\nrc=124\n').s, 5), /boot did not finish within 5 s \(systemd: starting\)/)
  await assert.rejects(waitBootFinished(session('stopping\nrc=1\n').s), /shutting down/)
})
