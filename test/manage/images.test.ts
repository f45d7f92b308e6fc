/** The endpoint's pure pieces for images, volumes and progress streams. */
import {test} from 'node:test'
import assert from 'node:assert/strict'
import {PassThrough} from 'node:stream'
import {fetchOrder, namesRegistry, pullRef} from '../../src/manage/images.js'
import {namedVolumes} from '../../src/manage/resources.js'
import {combinedError, jsonLines, tagged, type Message} from '../../src/manage/stream.js'

test('a reference names a registry when its first part has a dot, a port or is localhost', () => {
  assert.equal(namesRegistry('10.0.0.5:5000/web:1'), true)
  assert.equal(namesRegistry('registry.example/team/app'), true)
  assert.equal(namesRegistry('localhost/app'), true)
  assert.equal(namesRegistry('nginx'), false)
  assert.equal(namesRegistry('user/app:1'), false)
})

test('a pull without a tag is of latest, not of every tag; digests stay digests', () => {
  assert.equal(pullRef('nginx', null), 'nginx:latest')
  assert.equal(pullRef('nginx', '1.25'), 'nginx:1.25')
  assert.equal(pullRef('10.0.0.5:5000/web', null), '10.0.0.5:5000/web:latest')
  assert.equal(pullRef('web', 'sha256:' + 'a'.repeat(64)), `web@sha256:${'a'.repeat(64)}`)
  assert.equal(pullRef('web@sha256:' + 'b'.repeat(64), null), `web@sha256:${'b'.repeat(64)}`)
})

test('named volumes of a create body: name:/path binds and volume mounts, not host paths', () => {
  assert.deepEqual(namedVolumes({HostConfig: {Binds: ['data:/var/lib/x:rw', '/srv:/srv', './rel:/rel', 'data:/again'], Mounts: [{Type: 'volume', Source: 'logs'}, {Type: 'bind', Source: '/tmp'}]}} as never), ['data', 'logs'])
  assert.deepEqual(namedVolumes({}), [])
})

test('progress lines are read whole across chunks, and tagged with their machine', async () => {
  const s = new PassThrough()
  const got: Message[] = []
  const done = jsonLines(s, m => got.push(m))
  s.write('{"status":"Pulling fs layer","id":"ab')
  s.write('c"}\r\n{"status":"Digest: sha256:1"}\r\n{"status":"Status: Downloaded"}')
  s.end()
  await done
  assert.deepEqual(got.map(m => tagged('m2', m)), [
    {status: 'Pulling fs layer', id: 'm2/abc'}, {status: 'm2: Digest: sha256:1'}, {status: 'm2: Status: Downloaded'},
  ])
})

test('one cause on several machines is said once; all 404 stays a 404', () => {
  const e = combinedError([{machine: 'a', status: 404, error: 'manifest unknown'}, {machine: 'b', status: 404, error: 'manifest unknown'}])
  assert.equal(e.status, 404)
  assert.equal(e.message, 'manifest unknown (on a, b)')
  const mixed = combinedError([{machine: 'a', status: 500, error: 'refused'}, {machine: 'b', status: 409, error: 'in use'}])
  assert.equal(mixed.status, 409)
  assert.equal(mixed.message, 'a: refused; b: in use')
})

test('an image missing on the chosen machine: pulled from its registry or mirror, else copied from a member', () => {
  assert.deepEqual(fetchOrder('10.0.0.5:5000/web:1', false, true), ['pull', 'copy'])
  assert.deepEqual(fetchOrder('bb:v1', false, true), ['copy', 'pull'])
  assert.deepEqual(fetchOrder('nginx:latest', true, true), ['pull', 'copy'])
  assert.deepEqual(fetchOrder('nginx:latest', false, false), ['pull', 'copy'])
})
