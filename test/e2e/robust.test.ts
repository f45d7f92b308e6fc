/** A create whose reader goes away (a pipe closed early, a terminal closed) ends ready or rolled back, never half made. */
import {describe, test} from 'node:test'
import assert from 'node:assert/strict'
import {spawn} from 'node:child_process'
import {readdirSync, readFileSync} from 'node:fs'
import path from 'node:path'
import {BIN, berth, isRoot, labLeftovers, processesMentioning, tmpDir} from '../helpers.js'

interface Ended {code: number | null; signal: NodeJS.Signals | null; stderr: string; id: string}

/**
 * `berth create name 2>&1 | head -2`: both pipes closed by the reader after its first lines, or, with
 * `hangup`, SIGHUP sent once `when` shows, as a closing terminal does (its pipes closed too).
 */
function createWithReaderGone(name: string, env: Record<string, string>, when: RegExp, hangup: boolean): Promise<Ended> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, 'create', name], {env: {...process.env, ...env}, stdio: ['ignore', 'pipe', 'pipe']})
    let stderr = ''
    let gone = false
    let id = ''
    child.stderr.on('data', d => {
      stderr += d
      if (gone || !when.test(stderr)) return
      gone = true
      id = JSON.parse(readFileSync(path.join(env.BERTH_STORAGE_PATH, 'machines', name, 'config.json'), 'utf8')).id
      child.stdout.destroy()
      child.stderr.destroy()
      if (hangup) child.kill('SIGHUP')
    })
    child.on('error', reject)
    child.on('exit', (code, signal) => resolve({code, signal, stderr, id}))
  })
}

describe('a create outliving its reader', {skip: !isRoot() && 'needs root', concurrency: false}, () => {
  const labDir = tmpDir('rlab')
  const env = {BERTH_STORAGE_PATH: tmpDir('rstore'), BERTH_LAB_DIR: labDir, BERTH_LAB_SUBNET: '172.30.111.0/24'}

  // Before the fix the first write after the reader left raised EPIPE with no listener: the
  // process died (exit 1) mid-create and ls showed "create was interrupted".
  test('closed stdout and stderr pipes: the create finishes and the machine is ready', async () => {
    const r = await createWithReaderGone('pipe', env, /creating host/, false)
    assert.equal(r.signal, null)
    assert.equal(r.code, 0, r.stderr)
    const ls = JSON.parse((await berth(['ls', '--json'], {env})).stdout)
    const row = ls.find((x: {name: string}) => x.name === 'pipe')
    assert.equal(row.state, 'Running', JSON.stringify(row))
    assert.equal(row.error, '')
    const rm = await berth(['rm', '-y', 'pipe'], {env})
    assert.equal(rm.code, 0, rm.stderr)
    assert.deepEqual(readdirSync(labDir), [])
  })

  // Before the fix SIGHUP had no handler: the create died where it stood, its host left running.
  test('SIGHUP (terminal closed) during provisioning rolls back like Ctrl-C', async () => {
    const r = await createWithReaderGone('hup', env, /installing certificates/, true)
    assert.equal(r.signal, null, 'handled, not killed by the signal')
    assert.equal(r.code, 129, r.stderr)
    assert.deepEqual(readdirSync(path.join(env.BERTH_STORAGE_PATH, 'machines')), [])
    assert.deepEqual(readdirSync(labDir), [])
    assert.deepEqual(processesMentioning(labDir), [])
    assert.match(r.id, /^[0-9a-f]+$/)
    assert.deepEqual(labLeftovers([r.id]), [])
  })
})
