import {test} from 'node:test'
import assert from 'node:assert/strict'
import {Ledger, settleAll, undo, type UndoStep} from '../../src/sdk/ledger.js'

interface Data {
  made: string[]
  server?: {name: string; id?: string}
}

test('ledger: each note is saved before the next step, in order, and never lost to a late write', async () => {
  const saved: Data[] = []
  let slow = true
  const ledger = new Ledger<Data>({made: []}, async d => {
    // The first write is slow: a second one asked meanwhile must still land after it.
    if (slow) {
      slow = false
      await new Promise(r => setTimeout(r, 20))
    }
    saved.push(d)
  })
  await Promise.all([ledger.intend({made: ['a']}), ledger.intend({server: {name: 'n'}})])
  await ledger.record({server: {name: 'n', id: 'x1'}})
  assert.deepEqual(saved.at(-1), {made: ['a'], server: {name: 'n', id: 'x1'}})
  assert.equal(saved.length, 3)
  // Each write is a copy: later notes do not change what was saved before.
  assert.equal(saved[0].server?.id, undefined)
})

test('settleAll waits for every step before throwing the first failure', async () => {
  const done: string[] = []
  await assert.rejects(settleAll([
    Promise.reject(new Error('first')),
    new Promise(r => setTimeout(r, 20)).then(() => void done.push('slow')),
    undefined,
    false,
  ]), /first/)
  assert.deepEqual(done, ['slow'])
})

test('undo runs in reverse order of making, side by side within a group, and reports what is left', async () => {
  const order: string[] = []
  const step = (what: string, fail = false, extra: Partial<UndoStep> = {}): UndoStep => ({what, ...extra, undo: async () => {
    order.push(what)
    if (fail) throw new Error(`${what} is busy`)
  }})
  const left = await undo([step('keypair'), undefined, step('group', true), [step('volume'), step('ip')], false, step('server')])
  assert.deepEqual(order, ['server', 'volume', 'ip', 'group', 'keypair'])
  assert.deepEqual(left, ['group: group is busy'])
})

test('undo: a failed "stop" step ends it; "ifClean" steps run only when nothing failed', async () => {
  const order: string[] = []
  const step = (what: string, fail: boolean, extra: Partial<UndoStep> = {}): UndoStep => ({what, ...extra, undo: async () => {
    order.push(what)
    if (fail) throw new Error('no')
  }})
  assert.deepEqual(await undo([step('rg', false), step('nic', true, {stop: true}), step('vm', false)]), ['nic: no'])
  assert.deepEqual(order, ['vm', 'nic'])
  order.length = 0
  const left = await undo([step('rg', false, {ifClean: true}), step('vnet', false, {ifClean: true}), step('disk', true), step('vm', false)], {describe: (err, what) => `cannot delete ${what}`})
  assert.deepEqual(order, ['vm', 'disk'])
  assert.deepEqual(left, ['disk: cannot delete disk'])
})
