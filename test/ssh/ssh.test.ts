import {test} from 'node:test'
import assert from 'node:assert/strict'
import {getEventListeners} from 'node:events'
import {connect, generateKeyPair, HostKeyMismatch, shellQuote} from '../../src/ssh/index.js'
import {FakeSshd} from '../fakes/sshd.js'
import {closedPort} from '../fakes/world.js'

async function hostWithKey() {
  const keys = await generateKeyPair('test')
  const host = await FakeSshd.start({exec: cmd => (cmd === 'fail' ? {code: 3, stderr: 'one\nlast line\n'} : {code: 0, stdout: `ran ${cmd}`})})
  host.authorized.push(keys.publicKey)
  return {host, keys}
}

test('a 60 s SSH wait for a host that is not there leaves no listener behind and never warns', {timeout: 90_000}, async () => {
  const warnings: Error[] = []
  const onWarning = (w: Error) => warnings.push(w)
  process.on('warning', onWarning)
  const port = await closedPort()
  const abort = new AbortController()
  const started = Date.now()
  try {
    await assert.rejects(connect({host: '127.0.0.1', port, user: 'root', timeoutMs: 60_000, signal: abort.signal}),
      /SSH to root@127\.0\.0\.1:\d+ not ready after 60 s: .*ECONNREFUSED/)
    assert.ok(Date.now() - started >= 59_000, 'waited the whole minute')
    // Warnings are emitted on the next tick.
    await new Promise(r => setImmediate(r))
    assert.deepEqual(warnings.filter(w => w.name === 'MaxListenersExceededWarning'), [])
    assert.equal(getEventListeners(abort.signal, 'abort').length, 0)
  } finally {
    process.off('warning', onWarning)
  }
})

test('an SSH wait ends at once when aborted', async () => {
  const port = await closedPort()
  const abort = new AbortController()
  setTimeout(() => abort.abort(new Error('stop now')), 300)
  const started = Date.now()
  await assert.rejects(connect({host: '127.0.0.1', port, user: 'root', timeoutMs: 30_000, signal: abort.signal}), /stop now/)
  assert.ok(Date.now() - started < 5000)
})

test('first contact reports the host key; a different key later is refused without retrying', async () => {
  const {host, keys} = await hostWithKey()
  try {
    const s = await connect({host: '127.0.0.1', port: host.port, user: 'root', privateKey: keys.privateKey, timeoutMs: 5000})
    assert.match(s.hostKey.fingerprint, /^SHA256:/)
    assert.equal(s.hostKey.type, 'ssh-ed25519')
    s.close()
    const other = {...s.hostKey, key: Buffer.from('not the key').toString('base64'), fingerprint: 'SHA256:pinned'}
    const started = Date.now()
    await assert.rejects(connect({host: '127.0.0.1', port: host.port, user: 'root', privateKey: keys.privateKey, hostKey: other, timeoutMs: 20_000}),
      (err: Error) => err instanceof HostKeyMismatch && /expected SHA256:pinned, got SHA256:/.test(err.message))
    assert.ok(Date.now() - started < 5000, 'a mismatch is final, not retried')
  } finally {
    await host.close()
  }
})

test('exec, run and files over one session', async () => {
  const {host, keys} = await hostWithKey()
  try {
    const s = await connect({host: '127.0.0.1', port: host.port, user: 'root', privateKey: keys.privateKey, timeoutMs: 5000})
    try {
      assert.deepEqual(await s.exec('echo hi'), {code: 0, stdout: 'ran echo hi', stderr: ''})
      await assert.rejects(s.run('fail', {what: 'the step'}), /^Error: the step failed \(exit 3\): last line$/)
      await s.writeFile('/etc/secret', 'k', 0o600)
      assert.equal(host.files.get('/etc/secret')!.mode, 0o600)
      assert.equal((await s.readFile('/etc/secret')).toString(), 'k')
      assert.equal(s.asRoot('id'), 'id')
    } finally {
      s.close()
    }
  } finally {
    await host.close()
  }
})

test('shell quoting leaves plain words alone and survives quotes', () => {
  assert.equal(shellQuote('plain-word_1'), 'plain-word_1')
  assert.equal(shellQuote("it's"), `'it'\\''s'`)
})
