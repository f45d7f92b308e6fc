import {test} from 'node:test'
import assert from 'node:assert/strict'
import {promises as fs} from 'node:fs'
import path from 'node:path'
import {acquireLock, lockOwner} from '../src/core/fs.js'
import {tmpDir} from './helpers.js'

async function backdate(file: string, seconds: number): Promise<void> {
  const t = new Date(Date.now() - seconds * 1000)
  await fs.utimes(file, t, t)
}

// Before the fix lockOwner read no PID from these, so they were never stale: every command waited
// out its timeout and failed.
test('an empty or garbage lock left by a crash is taken over', async () => {
  for (const junk of ['', 'garbage', '\0\0\0\0', '-1', '12abc']) {
    const file = path.join(tmpDir('lock'), '.lock')
    await fs.writeFile(file, junk)
    await backdate(file, 10)
    const started = Date.now()
    const lock = await acquireLock(file, {timeoutMs: 1000})
    assert.ok(Date.now() - started < 1000, JSON.stringify(junk))
    assert.equal(await fs.readFile(file, 'utf8'), String(process.pid))
    await lock.release()
    assert.deepEqual(await fs.readdir(path.dirname(file)), [], 'no temporary or stale file left')
  }
})

// The naive fix (an empty lock is stale) fails this: it would steal a lock from a writer of the
// create-then-write kind between its two steps.
test('an empty lock made just now (its writer may be between create and write) is not taken', async () => {
  const file = path.join(tmpDir('lock'), '.lock')
  await fs.writeFile(file, '')
  await assert.rejects(acquireLock(file, {timeoutMs: 300}), /timed out waiting for the lock/)
  assert.equal(await fs.readFile(file, 'utf8'), '', 'left to its writer')
  // Its writer finishing in time keeps it.
  await fs.writeFile(file, String(process.pid))
  await backdate(file, 10)
  await assert.rejects(acquireLock(file, {timeoutMs: 200}), /held by PID/)
})

test('a lock is never seen without its owner, and holders never overlap', async () => {
  const file = path.join(tmpDir('lock'), '.lock')
  let holders = 0
  let max = 0
  let emptySeen = 0
  let stop = false
  const watcher = (async () => {
    while (!stop) {
      const text = await fs.readFile(file, 'utf8').catch(() => undefined)
      if (text === '') emptySeen++
      await new Promise(r => setImmediate(r))
    }
  })()
  await Promise.all(Array.from({length: 8}, async () => {
    for (let i = 0; i < 15; i++) {
      const lock = await acquireLock(file, {timeoutMs: 20_000})
      holders++
      max = Math.max(max, holders)
      assert.equal(await lockOwner(file), process.pid)
      await new Promise(r => setTimeout(r, 1))
      holders--
      await lock.release()
    }
  }))
  stop = true
  await watcher
  assert.equal(max, 1)
  assert.equal(emptySeen, 0)
  assert.deepEqual(await fs.readdir(path.dirname(file)), [])
})

test('a link where a lock should be is not followed and is taken over', async () => {
  const dir = tmpDir('lock')
  const target = path.join(tmpDir('lock-target'), 'pidfile')
  await fs.writeFile(target, String(process.pid))
  const file = path.join(dir, '.lock')
  await fs.symlink(target, file)
  assert.equal(await lockOwner(file), undefined)
  const lock = await acquireLock(file, {timeoutMs: 1000})
  await lock.release()
  assert.equal(await fs.readFile(target, 'utf8'), String(process.pid), 'the target is untouched')
})
