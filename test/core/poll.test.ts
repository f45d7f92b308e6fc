import assert from 'node:assert/strict'
import {test} from 'node:test'
import {poll, pollUntil} from '../../src/core/index.js'

test('poll returns the first value an attempt gives; throws are "not yet"', async () => {
  let n = 0
  const v = await poll(async () => {
    if (++n < 3) throw new Error('not yet')
    return n === 3 ? 'up' : undefined
  }, {timeoutMs: 5000, intervalMs: 1})
  assert.equal(v, 'up')
  assert.equal(n, 3)
})

test('poll ends at once on a fatal error', async () => {
  let n = 0
  await assert.rejects(poll(async () => {
    n++
    throw new Error('refused')
  }, {timeoutMs: 5000, intervalMs: 1, fatal: () => true}), /refused/)
  assert.equal(n, 1)
})

test('poll: a sync timeoutError is thrown at the deadline, given the last error', async () => {
  await assert.rejects(poll(async () => {
    throw new Error('closed')
  }, {timeoutMs: 20, intervalMs: 5, timeoutError: last => new Error(`gave up (${(last as Error).message})`)}), /^Error: gave up \(closed\)$/)
})

test('poll: an async timeoutError is awaited before the deadline error is thrown', async () => {
  const seen: string[] = []
  await assert.rejects(poll(async () => undefined, {
    timeoutMs: 20, intervalMs: 5,
    timeoutError: async () => {
      await new Promise(resolve => setImmediate(resolve))
      seen.push('cleaned up')
      return new Error('no monitor: last log line')
    },
  }), /no monitor: last log line/)
  assert.deepEqual(seen, ['cleaned up'])
})

test('poll without timeoutError names `what` and the last error', async () => {
  await assert.rejects(poll(async () => {
    throw new Error('refused\nmore')
  }, {timeoutMs: 10, intervalMs: 5, what: 'no answer'}), /^Error: no answer: refused$/)
})

test('poll and pollUntil end on the signal', async () => {
  const ac = new AbortController()
  setTimeout(() => ac.abort(new Error('interrupted')), 20)
  await assert.rejects(poll(async () => undefined, {timeoutMs: 5000, intervalMs: 5, signal: ac.signal}), /interrupted/)
  await assert.rejects(pollUntil(async () => false, {timeoutMs: 5000, intervalMs: 5, signal: ac.signal}), /interrupted/)
})

test('pollUntil gives up quietly at the deadline', async () => {
  assert.equal(await pollUntil(async () => false, {timeoutMs: 20, intervalMs: 5}), false)
  let n = 0
  assert.equal(await pollUntil(async () => ++n === 2, {timeoutMs: 5000, intervalMs: 1}), true)
})
