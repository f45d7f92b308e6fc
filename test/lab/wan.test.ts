/** The WAN options of a lab network (drivers/lab/wan.ts): what a user types, read or refused in one line. */
import {test} from 'node:test'
import assert from 'node:assert/strict'
import {describeWan, sameWan, wanOption, wants} from '../../drivers/lab/wan.js'

test('delay, jitter and loss are read as one-way times and a percentage each way', () => {
  assert.equal(wanOption({}), undefined)
  assert.deepEqual(wanOption({'lab-wan-delay': '75ms', 'lab-wan-loss': '0.5%'}), {delayMs: 75, jitterMs: 0, lossPct: 0.5})
  assert.deepEqual(wanOption({'lab-wan-delay': '0.2s', 'lab-wan-jitter': '5', 'lab-wan-loss': '1'}), {delayMs: 200, jitterMs: 5, lossPct: 1})
  // "0ms" is a WAN with nothing on it: a routed network, and no wire process to run.
  const zero = wanOption({'lab-wan-delay': '0ms'})
  assert.deepEqual(zero, {delayMs: 0, jitterMs: 0, lossPct: 0})
  assert.equal(wants(zero), false)
  assert.equal(wants(wanOption({'lab-wan-loss': '1%'})), true)
  assert.equal(describeWan({delayMs: 75, jitterMs: 2, lossPct: 0.5}), '75 ms ± 2 ms each way, 0.5 % loss each way')
  assert.ok(sameWan(undefined, {delayMs: 0, jitterMs: 0, lossPct: 0}))
  assert.ok(!sameWan({delayMs: 75, jitterMs: 0, lossPct: 0}, {delayMs: 75, jitterMs: 0, lossPct: 1}))
})

test('bad values are refused naming the flag and the form it takes', () => {
  const cases: Array<[Record<string, string>, RegExp]> = [
    [{'lab-wan-delay': 'soon'}, /bad --lab-wan-delay "soon": a one-way time such as 75ms/],
    [{'lab-wan-delay': '11s'}, /at most 10s/],
    [{'lab-wan-delay': '-5ms'}, /bad --lab-wan-delay/],
    [{'lab-wan-loss': '100%'}, /bad --lab-wan-loss "100%".*below 100/],
    [{'lab-wan-loss': 'some'}, /bad --lab-wan-loss/],
    [{'lab-wan-delay': '5ms', 'lab-wan-jitter': '6ms'}, /--lab-wan-jitter 6ms is more than --lab-wan-delay 5ms/],
  ]
  for (const [opts, re] of cases) assert.throws(() => wanOption(opts), re)
})
