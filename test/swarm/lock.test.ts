/**
 * A joiner killed while it held swarms/S.lock leaves its PID in the file (issue 16). The swarm
 * lock is core's acquireLock, which takes over a lock whose owner is dead, as machine locks are:
 * without that, every later join of S waited the lock's 300 s and failed.
 */
import {test} from 'node:test'
import assert from 'node:assert/strict'
import {spawnSync} from 'node:child_process'
import {promises as fs} from 'node:fs'
import path from 'node:path'
import {swarmLock} from '../../src/swarm/index.js'
import {world} from '../fakes/world.js'

test('a dead joiner\'s swarm lock is taken over at once', async () => {
  const w = await world()
  try {
    const file = path.join(w.store.root, 'swarms', 's1.lock')
    await fs.mkdir(path.dirname(file), {recursive: true})
    const dead = spawnSync('true').pid! // has exited by the time spawnSync returns
    await fs.writeFile(file, String(dead))
    const started = Date.now()
    const lock = await swarmLock(w.berth.ctx, 's1')
    assert.ok(Date.now() - started < 5000, 'taken over, not waited out')
    assert.equal(await fs.readFile(file, 'utf8'), String(process.pid))
    await lock.release()
    await assert.rejects(fs.access(file))
  } finally {
    await w.close()
  }
})
