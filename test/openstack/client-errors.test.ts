/** Error paths of the OpenStack client that a well-behaved cloud never shows, faked with nock. */
import {afterEach, test} from 'node:test'
import assert from 'node:assert/strict'
import net from 'node:net'
import nock from 'nock'
import {Cloud} from '../../drivers/openstack/api.js'
import {OpenStackClient} from '../../drivers/openstack/client.js'

const KS = 'http://keystone.test:5000'
const NOVA = 'http://nova.test:8774/v2.1'

nock.disableNetConnect()
nock.enableNetConnect('127.0.0.1')
afterEach(() => nock.cleanAll())

function catalog() {
  return {
    token: {
      expires_at: new Date(Date.now() + 3600_000).toISOString(), issued_at: new Date().toISOString(), methods: ['password'],
      user: {id: 'u1', name: 'demo'}, project: {id: 'p1', name: 'demo'},
      catalog: [{type: 'compute', name: 'nova', endpoints: [{interface: 'public', region: 'R1', region_id: 'R1', url: NOVA}]}],
    },
  }
}

function authOk(scope = nock(KS)) {
  return scope.post('/v3/auth/tokens').reply(201, catalog(), {'X-Subject-Token': 'tok-1'})
}

const mk = () => new OpenStackClient({auth: {url: `${KS}/v3`, username: 'demo', password: 'pa55-w0rd', projectName: 'demo'}, retryBaseMs: 5, retries: 2, microversion: '2.1'})

test('sends the token and the Nova microversion headers; reads the catalog URL', async () => {
  authOk()
  const api = nock(NOVA, {reqheaders: {'x-auth-token': 'tok-1', 'x-openstack-nova-api-version': '2.1', 'openstack-api-version': 'compute 2.1'}})
    .get('/flavors').reply(200, {flavors: [{id: '1', name: 'm1.tiny', links: []}]})
  assert.deepEqual((await new Cloud(mk()).flavors()).map(f => f.name), ['m1.tiny'])
  assert.ok(api.isDone())
})

test('the password goes only in the auth body, and never into an error', async () => {
  let body = ''
  nock(KS).post('/v3/auth/tokens', b => {
    body = JSON.stringify(b)
    return true
  }).reply(500, 'Internal error').post('/v3/auth/tokens').times(2).reply(500, '<html><body><h1>500</h1>boom pa55-w0rd?</body></html>')
  const err = await mk().getToken().then(() => undefined, e => e as Error)
  assert.match(body, /"password":"pa55-w0rd"/)
  assert.match(body, /"scope":\{"project":\{"name":"demo"\}\}/)
  assert.ok(err)
  // The server echoed it back (a bad proxy): berth masks it.
  assert.equal(err.message, 'keystone POST /auth/tokens: 500 Internal Server Error: boom ***? (after 3 attempts)')
  assert.doesNotMatch(String(err.stack), /pa55-w0rd/)
})

test('a v3 answer without X-Subject-Token is an error, not a crash', async () => {
  nock(KS).post('/v3/auth/tokens').reply(201, catalog())
  await assert.rejects(mk().getToken(), /keystone POST \/auth\/tokens: 201 Error: no X-Subject-Token header in the answer/)
})

test('a token without a catalog asks for a project', async () => {
  const unscoped = catalog()
  delete (unscoped.token as Record<string, unknown>).catalog
  nock(KS).post('/v3/auth/tokens').reply(201, unscoped, {'X-Subject-Token': 't'})
  await assert.rejects(mk().getToken(), /the token has no service catalog: give a project/)
})

test('an answer that is not JSON, or not the documented shape, is named as such', async () => {
  authOk()
  nock(NOVA).get('/flavors').reply(200, '<html>proxy login</html>').get('/servers/s1').reply(200, {server: {id: 's1', name: 'x'}})
  const c = mk()
  await assert.rejects(new Cloud(c).flavors(), /^OpenStackError: nova GET \/flavors: 200 Error: the answer is not JSON$/)
  await assert.rejects(new Cloud(c).server('s1'), /^OpenStackError: nova GET \/servers\/s1: 200 Error: unexpected answer: server\.status: /)
})

test('a 502 HTML page from a proxy becomes one line', async () => {
  authOk()
  nock(NOVA).get('/flavors').times(3).reply(502, '<html><head><title>502 Bad Gateway</title></head><body><h1>502 Bad Gateway</h1>\n<p>nginx</p></body></html>')
  await assert.rejects(new Cloud(mk()).flavors(), /^OpenStackError: nova GET \/flavors: 502 Bad Gateway: nginx \(after 3 attempts\)$/)
})

test('Retry-After as an HTTP date is honoured', async () => {
  authOk()
  nock(NOVA).get('/flavors').reply(429, {overLimit: {code: 429, message: 'slow down'}}, {'Retry-After': new Date(Date.now() + 1500).toUTCString()})
    .get('/flavors').reply(200, {flavors: []})
  const t0 = Date.now()
  await new Cloud(mk()).flavors()
  // HTTP dates have whole seconds: at least 0.5 s of the 1.5 s remain.
  assert.ok(Date.now() - t0 >= 450, `waited ${Date.now() - t0} ms`)
})

test('too many 429s end in an error that says so', async () => {
  authOk()
  nock(NOVA).get('/flavors').times(3).reply(429, {overLimit: {code: 429, message: 'Rate limit exceeded'}}, {'Retry-After': '0'})
  const c = new OpenStackClient({auth: {url: `${KS}/v3`, username: 'demo', password: 'x', projectName: 'demo'}, throttleRetries: 2, throttleTimeoutMs: 0})
  await assert.rejects(new Cloud(c).flavors(), /nova GET \/flavors: 429 Too Many Requests: Rate limit exceeded \(after 3 attempts\)/)
})

test('a service that is down: retried, then named with its address', async () => {
  const port = await new Promise<number>(resolve => {
    const srv = net.createServer().listen(0, '127.0.0.1', () => {
      const p = (srv.address() as net.AddressInfo).port
      srv.close(() => resolve(p))
    })
  })
  const c = new OpenStackClient({auth: {url: `http://127.0.0.1:${port}/v3`, username: 'demo', password: 'x', projectName: 'demo'}, retryBaseMs: 5, retries: 2})
  await assert.rejects(c.getToken(), new RegExp(`^OpenStackError: keystone POST /auth/tokens: cannot reach 127\\.0\\.0\\.1:${port} \\(ECONNREFUSED\\)$`))
})
