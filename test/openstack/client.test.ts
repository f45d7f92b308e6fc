/** The OpenStack client against the simulator (fake hosts): auth, catalog, refresh, retries, errors. */
import {after, before, test} from 'node:test'
import assert from 'node:assert/strict'
import {Cloud} from '../../drivers/openstack/api.js'
import {type ClientOptions, OpenStackClient} from '../../drivers/openstack/client.js'
import {OpenStackError, retryAfterMs} from '../../drivers/openstack/errors.js'
import {OpenStackSim} from '../sim/openstack.js'

let sim: OpenStackSim
let two: OpenStackSim

before(async () => {
  sim = await OpenStackSim.start({boot: 'fake'})
  two = await OpenStackSim.start({boot: 'fake', extraRegions: ['RegionTwo']})
})
after(async () => {
  await sim.close()
  await two.close()
})

const PASSWORD = 'secretsecret'
function client(o: Partial<ClientOptions> & {s?: OpenStackSim} = {}): OpenStackClient {
  const s = o.s ?? sim
  return new OpenStackClient({
    auth: {url: s.authUrl('3'), username: 'demo', password: PASSWORD, userDomainName: 'Default', projectName: 'demo', projectDomainId: 'default'},
    retryBaseMs: 5, timeoutMs: 2000, microversion: '2.1', ...o,
  })
}

test('Keystone v3: password with project by name and domain, token from X-Subject-Token, catalog to the simulator', async () => {
  const c = client()
  const t = await c.getToken()
  assert.match(t.id, /^[0-9a-f]{64}$/)
  assert.equal(t.projectId, sim.project.id)
  assert.equal(await c.endpoint('compute'), `${sim.url}/compute/v2.1`)
  assert.equal(await c.endpoint('network'), `${sim.url}/network/v2.0`)
  assert.equal(await c.endpoint('image'), `${sim.url}/image/v2`)
  assert.equal(await c.endpoint('volume'), `${sim.url}/volume/v3/${sim.project.id}`)
  assert.ok(t.expiresAt > Date.now() + 3000_000)
})

test('Keystone v3: user and project by id', async () => {
  const c = new OpenStackClient({auth: {url: sim.authUrl('3'), userId: sim.user.id, password: PASSWORD, projectId: sim.project.id}})
  assert.equal((await new Cloud(c).flavors()).length, 3)
})

test('Keystone v3: application credentials, by id and by name with the user', async () => {
  const cred = sim.appCreds[0]
  const byId = new OpenStackClient({auth: {url: sim.authUrl('3'), applicationCredentialId: cred.id, applicationCredentialSecret: cred.secret}})
  assert.equal((await byId.getToken()).projectId, cred.projectId)
  const byName = new OpenStackClient({auth: {url: sim.authUrl('3'), applicationCredentialName: cred.name, username: 'demo', userDomainName: 'Default', applicationCredentialSecret: cred.secret}})
  assert.equal((await byName.getToken()).projectId, cred.projectId)
  const wrong = new OpenStackClient({auth: {url: sim.authUrl('3'), applicationCredentialId: cred.id, applicationCredentialSecret: 'nope'}})
  await assert.rejects(wrong.getToken(), /keystone POST \/auth\/tokens: 401 Unauthorized/)
})

test('Keystone v2.0: tenantName or tenantId, catalog from access.serviceCatalog', async () => {
  for (const p of [{projectName: 'demo'}, {projectId: sim.project.id}]) {
    const c = new OpenStackClient({auth: {url: sim.authUrl('2.0'), username: 'demo', password: PASSWORD, ...p}})
    assert.equal(c.version, '2.0')
    assert.equal(await c.endpoint('compute'), `${sim.url}/compute/v2/${sim.project.id}`)
    assert.equal((await new Cloud(c).imagesNamed('ubuntu-24.04')).length, 1)
  }
})

test('a bare auth URL means v3', async () => {
  const c = new OpenStackClient({auth: {url: sim.url, username: 'demo', password: PASSWORD, projectName: 'demo'}})
  assert.equal(c.version, '3')
  assert.ok(await c.getToken())
})

test('a wrong password gives one line naming the API and the request, never the password', async () => {
  const c = client({auth: {url: sim.authUrl('3'), username: 'demo', password: 'hunter2-wrong', projectName: 'demo'}})
  const err = await c.getToken().then(() => undefined, e => e as Error)
  assert.ok(err instanceof OpenStackError)
  assert.equal(err.message, 'keystone POST /auth/tokens: 401 Unauthorized: The request you have made requires authentication. (check the user name, password and project)')
  assert.doesNotMatch(err.message + String(err.stack), /hunter2/)
})

test('regions: several in the catalog need a choice; the chosen one is used', async () => {
  await assert.rejects(client({s: two}).endpoint('compute'), /nova has endpoints in several regions \(RegionOne, RegionTwo\): pick one with --openstack-region/)
  assert.equal(await client({s: two, region: 'RegionOne'}).endpoint('compute'), `${two.url}/compute/v2.1`)
  assert.equal(await client({s: two, region: 'RegionTwo'}).endpoint('compute'), `${two.url}/r1/compute/v2.1`)
  await assert.rejects(client({s: two, region: 'Atlantis'}).endpoint('compute'), /no public nova endpoint in region "Atlantis" \(regions: RegionOne, RegionTwo\)/)
})

test('interface selection: internal endpoints are used when asked for', async () => {
  sim.resetCounters()
  const c = client({interface: 'internal'})
  assert.equal(await c.endpoint('compute'), `${sim.url}/internal/compute/v2.1`)
  await new Cloud(c).flavors()
  assert.equal(sim.interfaceHits.internal, 1)
})

test('the token is refreshed before it expires, without a 401', async () => {
  const short = await OpenStackSim.start({boot: 'fake', tokenTtlSec: 2})
  try {
    const c = client({s: short})
    const cloud = new Cloud(c)
    await cloud.imagesNamed('x')
    assert.equal(short.authCount, 1)
    await new Promise(r => setTimeout(r, 1600))
    await cloud.imagesNamed('x')
    assert.equal(short.authCount, 2)
    assert.ok(short.requests.every(r => r.status !== 401))
  } finally {
    await short.close()
  }
})

test('a revoked token: one 401, a new token, the call succeeds', async () => {
  const c = client()
  const cloud = new Cloud(c)
  await cloud.imagesNamed('x')
  sim.resetCounters()
  sim.revokeTokens()
  assert.deepEqual(await cloud.imagesNamed('x'), [])
  assert.deepEqual(sim.requests.map(r => `${r.op} ${r.status}`), ['glance.images.list 401', 'keystone.tokens 201', 'glance.images.list 200'])
})

test('parallel calls share one authentication', async () => {
  sim.resetCounters()
  const c = client()
  await Promise.all(Array.from({length: 10}, () => new Cloud(c).imagesNamed('x')))
  assert.equal(sim.authCount, 1)
})

test('429: waits for Retry-After, then succeeds', async () => {
  const c = client()
  await c.getToken()
  sim.inject('nova.flavors.list', 429, {times: 1, retryAfter: 1})
  const t0 = Date.now()
  assert.equal((await new Cloud(c).flavors()).length, 3)
  assert.ok(Date.now() - t0 >= 950, `waited only ${Date.now() - t0} ms`)
  assert.equal(c.stats.throttled, 1)
  sim.clearFaults()
})

test('5xx: a GET is retried with backoff; a POST is not (it might have been done)', async () => {
  const c = client({retries: 3})
  const cloud = new Cloud(c)
  sim.inject('glance.images.list', 500, {times: 2})
  assert.deepEqual(await cloud.imagesNamed('none'), [])
  assert.equal(c.stats.retries, 2)
  sim.clearFaults()
  sim.resetCounters()
  sim.inject('nova.keypairs.create', 500, {times: 1})
  await assert.rejects(cloud.importKeypair('k1', 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl'),
    /^OpenStackError: nova POST \/os-keypairs: 500 Internal Server Error: Unexpected API Error\..* \(after 1 attempts\)$/)
  assert.equal(sim.calls.get('nova.keypairs.create'), 1)
  sim.clearFaults()
  // 503 means the request was turned away: safe to repeat even for a create.
  sim.inject('nova.keypairs.create', 503, {times: 1})
  await cloud.importKeypair('k2', 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl')
  assert.equal(sim.calls.get('nova.keypairs.create'), 3)
  sim.clearFaults()
  await cloud.deleteKeypair('k2')
  // Persistent trouble ends after the retries with a clear error.
  sim.inject('nova.flavors.list', 500)
  await assert.rejects(new Cloud(client({retries: 2})).flavors(), /nova GET \/flavors: 500 Internal Server Error: .*\(after 3 attempts\)/)
  sim.clearFaults()
})

test('a lost answer: a GET is asked again, a POST fails naming the wait', async () => {
  const c = client({timeoutMs: 300})
  const cloud = new Cloud(c)
  await c.getToken()
  sim.inject('glance.images.list', 'timeout', {times: 1})
  assert.deepEqual(await cloud.imagesNamed('none'), [])
  sim.clearFaults()
  sim.inject('neutron.secgroups.create', 'timeout', {times: 1})
  await assert.rejects(cloud.createSecurityGroup('lost', 'x'), /^OpenStackError: neutron POST \/security-groups: no answer within 0\.3 s$/)
  sim.clearFaults()
  // The simulator did it anyway, as a real cloud may have.
  const lost = await cloud.securityGroupsNamed('lost')
  assert.equal(lost.length, 1)
  await cloud.deleteSecurityGroup(lost[0].id)
})

test('404 and 409 come through as the APIs say them', async () => {
  const cloud = new Cloud(client())
  assert.equal(await cloud.server('00000000-0000-0000-0000-000000000000'), undefined)
  assert.equal(await cloud.deleteKeypair('never-made'), false)
  const def = (await cloud.securityGroupsNamed('default'))[0]
  await assert.rejects(cloud.deleteSecurityGroup(def.id), /neutron DELETE \/security-groups\/.*: 409 Conflict: Removing default security group not allowed\./)
  await assert.rejects(cloud.createServer({server: {name: 'x', flavorRef: '999', imageRef: 'y'}}), /nova POST \/servers: 400 Bad Request: Invalid flavorRef provided\./)
  assert.equal(await cloud.image('nope'), undefined)
  await assert.rejects(cloud.client.request('image', 'GET', '/images/nope'), /glance GET \/images\/nope: 404 Not Found: No image found with ID nope$/)
})

test('quotas: the legacy compute API and Cinder answer 413, Nova v2.1 answers 403', async () => {
  const q = await OpenStackSim.start({boot: 'fake', profile: 'conoha-v2', quota: {instances: 0, volumes: 0}})
  const q3 = await OpenStackSim.start({boot: 'fake', quota: {instances: 0}})
  try {
    const legacy = new Cloud(new OpenStackClient({auth: {url: q.authUrl('2.0'), username: 'demo', password: PASSWORD, projectName: 'demo'}}))
    const img = q.images[0].id
    await assert.rejects(legacy.createServer({server: {name: 'x', flavorRef: q.flavors[0].id, imageRef: img}}), /nova POST \/servers: 413 Request Entity Too Large: Quota exceeded for instances: Requested 1, but already used 0 of 0 instances/)
    await assert.rejects(legacy.createVolume({name: 'v', size: 30, imageRef: img}), /cinder POST \/volumes: 413 Request Entity Too Large: VolumeLimitExceeded: Maximum number of volumes allowed \(0\) exceeded/)
    const v21 = new Cloud(client({s: q3}))
    await assert.rejects(v21.createServer({server: {name: 'x', flavorRef: '1', imageRef: q3.images[0].id}}), /nova POST \/servers: 403 Forbidden: Quota exceeded for instances/)
  } finally {
    await q.close()
    await q3.close()
  }
})

test('Retry-After: seconds or an HTTP date', () => {
  assert.equal(retryAfterMs('3'), 3000)
  assert.equal(retryAfterMs(new Date(Date.now() + 5000).toUTCString())! > 3000, true)
  assert.equal(retryAfterMs('soon'), undefined)
  assert.equal(retryAfterMs(null), undefined)
})
