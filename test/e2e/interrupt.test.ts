/** Creates cut short (SIGKILL, Ctrl-C) leave nothing behind once rm has run, and parallel processes keep the store intact. */
import {describe, test} from 'node:test'
import assert from 'node:assert/strict'
import {spawn} from 'node:child_process'
import {readdirSync, readFileSync} from 'node:fs'
import path from 'node:path'
import {BIN, berth, isRoot, labLeftovers, processesMentioning, tmpDir} from '../helpers.js'

/** Start a create and signal it once its progress shows `when`. */
function createAndSignal(name: string, env: Record<string, string>, when: RegExp, signal: NodeJS.Signals): Promise<{code: number | null; signal: NodeJS.Signals | null; stderr: string; id: string}> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, 'create', name], {env: {...process.env, ...env}, stdio: ['ignore', 'pipe', 'pipe']})
    let stderr = ''
    let sent = false
    let id = ''
    child.stderr.on('data', d => {
      stderr += d
      if (!sent && when.test(stderr)) {
        sent = true
        id = JSON.parse(readFileSync(path.join(env.BERTH_STORAGE_PATH, 'machines', name, 'config.json'), 'utf8')).id
        child.kill(signal)
      }
    })
    child.on('error', reject)
    child.on('close', (code, sig) => resolve({code, signal: sig, stderr, id}))
  })
}

describe('interrupted creates', {skip: !isRoot() && 'needs root', concurrency: false}, () => {
  const labDir = tmpDir('ilab')
  const env = {BERTH_STORAGE_PATH: tmpDir('istore'), BERTH_LAB_DIR: labDir, BERTH_LAB_SUBNET: '172.30.82.0/24'}
  const idOf = (n: string) => JSON.parse(readFileSync(path.join(env.BERTH_STORAGE_PATH, 'machines', n, 'config.json'), 'utf8')).id

  for (const when of [/creating host/, /waiting for SSH/, /installing certificates/, /starting engine/]) {
    test(`SIGKILL at "${when.source}" shows Error in ls, and rm then leaves nothing`, async () => {
      const name = `k-${when.source.split(' ')[0]}`
      const r = await createAndSignal(name, env, when, 'SIGKILL')
      assert.equal(r.signal, 'SIGKILL')
      const id = r.id
      assert.equal(idOf(name), id)
      const ls = JSON.parse((await berth(['ls', '--json'], {env})).stdout)
      const row = ls.find((x: {name: string}) => x.name === name)
      assert.equal(row.state, 'Error')
      assert.match(row.error, /interrupted/)
      const rm = await berth(['rm', '-y', name], {env})
      assert.equal(rm.code, 0, rm.stderr)
      assert.deepEqual(labLeftovers([id]), [])
      assert.deepEqual(processesMentioning(path.join(labDir, id)), [])
      assert.deepEqual(readdirSync(labDir), [])
    })
  }

  test('Ctrl-C (SIGINT) during provisioning rolls back by itself, exit 130', async () => {
    const name = 'ctrl-c'
    const r = await createAndSignal(name, {...env}, /installing certificates/, 'SIGINT')
    assert.equal(r.code, 130, r.stderr)
    assert.match(r.stderr, /rolling back/)
    assert.deepEqual(readdirSync(path.join(env.BERTH_STORAGE_PATH, 'machines')), [])
    assert.deepEqual(readdirSync(labDir), [])
    assert.deepEqual(processesMentioning(labDir), [])
    assert.match(r.id, /^[0-9a-f]+$/)
    assert.deepEqual(labLeftovers([r.id]), [])
  })
})

describe('parallel berth processes', {skip: !isRoot() && 'needs root'}, () => {
  test('20 parallel `berth create` processes leave 20 intact records', async () => {
    const labDir = tmpDir('plab')
    const env = {BERTH_STORAGE_PATH: tmpDir('pstore'), BERTH_LAB_DIR: labDir, BERTH_LAB_SUBNET: '172.30.83.0/24'}
    const names = Array.from({length: 20}, (_, i) => `p${i}`)
    try {
      const results = await Promise.all(names.map(n => berth(['create', n], {env, timeoutMs: 300_000})))
      results.forEach((r, i) => assert.equal(r.code, 0, `${names[i]}: ${r.stderr}`))
      const rows = JSON.parse((await berth(['ls', '--json', '--timeout', '30'], {env})).stdout)
      assert.equal(rows.length, 20)
      for (const row of rows) {
        assert.equal(row.state, 'Running', JSON.stringify(row))
        assert.equal(row.error, '')
        assert.match(row.docker, /^v/)
      }
      assert.equal(new Set(rows.map((r: {url: string}) => r.url)).size, 20)
    } finally {
      const rm = await berth(['rm', '-f', ...names], {env, timeoutMs: 300_000})
      assert.equal(rm.code, 0, rm.stderr)
      assert.deepEqual(readdirSync(labDir), [])
    }
  })
})
