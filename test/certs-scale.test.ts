/**
 * The store CA under a hundred creates of one process (issue 16: the 100-machine Azure create
 * timed out "waiting for the lock on the store certificates"): they share one look and at most
 * one lock, however busy the thread pool that their file operations queue on.
 */
import {test} from 'node:test'
import assert from 'node:assert/strict'
import {promises as fs} from 'node:fs'
import path from 'node:path'
import {ensureStoreCerts, loadCA} from '../src/certs/certs.js'
import {tmpDir} from './helpers.js'

/** Count the times the store lock file is taken (linked into place) while `fn` runs. */
async function lockTakes(dir: string, fn: () => Promise<unknown>): Promise<number> {
  const link = fs.link
  let n = 0
  fs.link = (async (from: string, to: string) => {
    if (path.resolve(String(to)) === path.join(path.resolve(dir), '.lock')) n++
    return link(from, to)
  }) as typeof fs.link
  try {
    await fn()
  } finally {
    fs.link = link
  }
  return n
}

test('a hundred parallel creates on a fresh store make one CA and take the store lock once', async () => {
  const dir = tmpDir('certs-100')
  let results: Awaited<ReturnType<typeof ensureStoreCerts>>[] = []
  const takes = await lockTakes(dir, async () => {
    results = await Promise.all(Array.from({length: 100}, () => ensureStoreCerts(dir)))
  })
  assert.equal(takes, 1)
  assert.equal(new Set(results.map(r => r.caPath)).size, 1)
  await loadCA(dir)
})

test('a CA that exists is read without the lock, even while another process holds it', async () => {
  const dir = tmpDir('certs-held')
  await ensureStoreCerts(dir)
  // A live PID (this one's parent) holds the lock, as a regenerate-certs elsewhere would.
  await fs.writeFile(path.join(dir, '.lock'), String(process.ppid))
  const t0 = Date.now()
  const takes = await lockTakes(dir, () => Promise.all(Array.from({length: 100}, () => ensureStoreCerts(dir))))
  assert.equal(takes, 0)
  assert.ok(Date.now() - t0 < 5000, 'nobody waited for the lock')
  await fs.rm(path.join(dir, '.lock'))
})
