import assert from 'node:assert/strict'
import {test} from 'node:test'
import {Pacer} from '../../src/core/index.js'

/** A rate limit as API gateways keep one: a token bucket answering 429 + Retry-After when empty. */
function bucket(burst: number, perSecond: number) {
  let tokens = burst
  let at = Date.now()
  return () => {
    const now = Date.now()
    tokens = Math.min(burst, tokens + ((now - at) / 1000) * perSecond)
    at = now
    if (tokens >= 1) {
      tokens--
      return {status: 200}
    }
    return {status: 429, retryAfterMs: 1000}
  }
}

async function drive(requests: number, pacer: Pacer | undefined, api: () => {status: number; retryAfterMs?: number}): Promise<number> {
  let throttled = 0
  await Promise.all(Array.from({length: requests}, async () => {
    for (;;) {
      await pacer?.take()
      const r = api()
      if (r.status !== 429) return pacer?.ok()
      throttled++
      if (pacer) pacer.throttled(r.retryAfterMs)
      else await new Promise(res => setTimeout(res, r.retryAfterMs! * (1 + Math.random() * 0.3)))
    }
  }))
  return throttled
}

test('nothing waits before the first 429', async () => {
  const p = new Pacer()
  for (let i = 0; i < 50; i++) {
    await p.take()
    p.ok()
  }
  assert.equal(p.stats.waitedMs, 0)
})

test('a 429 closes the gate for at least its Retry-After, for every caller', async () => {
  const p = new Pacer()
  p.ok()
  p.throttled(300)
  const t0 = Date.now()
  await Promise.all([p.take(), p.take()])
  assert.ok(Date.now() - t0 >= 300, `waited ${Date.now() - t0} ms`)
})

test('60 requests behind 5 + 20/s: a shared pace sees a fraction of the 429s that retrying each alone sees', async () => {
  const alone = await drive(60, undefined, bucket(5, 20))
  const paced = await drive(60, new Pacer(), bucket(5, 20))
  assert.ok(paced < 60 + 5, `${paced} 429s paced`)
  assert.ok(paced * 2 < alone, `${paced} 429s paced vs ${alone} alone`)
})

test('an abort ends a wait for the gate', async () => {
  const p = new Pacer()
  p.throttled(10_000)
  const ac = new AbortController()
  const w = p.take(ac.signal)
  ac.abort(new Error('stop'))
  await assert.rejects(w, /stop/)
})
