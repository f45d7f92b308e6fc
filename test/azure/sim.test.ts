/** The ARM simulator speaks the contract the samples and NOTES.md set, checked on the wire. */
import {after, before, describe, test} from 'node:test'
import assert from 'node:assert/strict'
import {readFileSync} from 'node:fs'
import https from 'node:https'
import path from 'node:path'
import {ROOT, tmpDir} from '../helpers.js'
import {startAzureSim, type AzureSim} from '../sim/azure.js'

const sample = (p: string) => JSON.parse(readFileSync(path.join(ROOT, 'test', 'fixtures', 'azure', p), 'utf8'))
const NET = '2025-05-01'

interface Res {
  status: number
  headers: Record<string, string | string[] | undefined>
  body: any
}

describe('ARM simulator contract', () => {
  let sim: AzureSim
  let token = ''
  const call = (method: string, p: string, opts: {body?: unknown; form?: string; auth?: string | null; query?: string} = {}): Promise<Res> => new Promise((resolve, reject) => {
    const u = new URL(p.startsWith('https://') ? p : sim.url + p)
    if (opts.query !== undefined) u.search = opts.query
    const data = opts.form ?? (opts.body === undefined ? undefined : JSON.stringify(opts.body))
    const headers: Record<string, string> = {}
    if (opts.auth !== null) headers.authorization = `Bearer ${opts.auth ?? token}`
    if (data) headers['content-type'] = opts.form ? 'application/x-www-form-urlencoded' : 'application/json'
    const r = https.request(u, {method, ca: sim.caPem, headers}, res => {
      let text = ''
      res.on('data', d => (text += d))
      res.on('end', () => resolve({status: res.statusCode ?? 0, headers: res.headers, body: text ? JSON.parse(text) : undefined}))
    })
    r.on('error', reject)
    r.end(data)
  })
  const rg = () => `/subscriptions/${sim.subscriptionId}/resourceGroups/rg1`
  const net = (type: string, name: string) => `${rg()}/providers/Microsoft.Network/${type}/${name}?api-version=${NET}`
  /** Poll an operation URL until it is terminal; returns every answer. */
  const pollAll = async (url: string): Promise<Res[]> => {
    const out: Res[] = []
    for (let i = 0; i < 20; i++) {
      const r = await call('GET', url)
      out.push(r)
      if (r.status !== 202 && !(r.status === 200 && /InProgress|Running/.test(r.body?.status ?? ''))) break
      await new Promise(res => setTimeout(res, Number(r.headers['retry-after'] ?? 0) * 1000))
    }
    return out
  }
  const keys = (o: object) => Object.keys(o).sort()
  const subset = (a: string[], b: string[], what: string) => assert.deepEqual(a.filter(k => !b.includes(k)), [], what)

  before(async () => {
    sim = await startAzureSim({labRoot: tmpDir('azsimt'), retryAfter: 0})
  })
  after(async () => sim?.close())

  test('the token endpoint: OpenID metadata, a refused secret, a token for the asked audience', async () => {
    const meta = await call('GET', `/${sim.tenantId}/v2.0/.well-known/openid-configuration`, {auth: null})
    assert.equal(meta.status, 200)
    assert.equal(meta.body.token_endpoint, `${sim.url}/${sim.tenantId}/oauth2/v2.0/token`)
    const form = (secret: string) => new URLSearchParams({grant_type: 'client_credentials', client_id: sim.clientId, client_secret: secret, scope: `${sim.url}/.default`}).toString()
    const bad = await call('POST', `/${sim.tenantId}/oauth2/v2.0/token`, {form: form('wrong'), auth: null})
    assert.equal(bad.status, 401)
    assert.match(bad.body.error_description, /^AADSTS7000215/)
    const ok = await call('POST', `/${sim.tenantId}/oauth2/v2.0/token`, {form: form(sim.clientSecret), auth: null})
    assert.equal(ok.status, 200)
    assert.equal(ok.body.token_type, 'Bearer')
    token = ok.body.access_token
    // A token for management.azure.com (arm-compute's default scope) is not one for this endpoint.
    const other = await call('POST', `/${sim.tenantId}/oauth2/v2.0/token`, {form: form(sim.clientSecret).replace(encodeURIComponent(sim.url), encodeURIComponent('https://management.azure.com')), auth: null})
    const wrongAud = await call('GET', `${rg()}?api-version=2025-04-01`, {auth: other.body.access_token})
    assert.equal(wrongAud.status, 401)
    assert.equal(wrongAud.body.error.code, 'InvalidAuthenticationTokenAudience')
  })

  test('bearer token and api-version are checked', async () => {
    const none = await call('GET', `${rg()}?api-version=2025-04-01`, {auth: null})
    assert.equal(none.status, 401)
    assert.equal(none.body.error.code, 'AuthenticationFailed')
    assert.equal((await call('GET', `${rg()}?api-version=2025-04-01`, {auth: 'forged'})).body.error.code, 'InvalidAuthenticationToken')
    assert.equal((await call('GET', rg())).body.error.code, 'MissingApiVersionParameter')
    const old = await call('GET', `${rg()}?api-version=2015-01-01`)
    assert.equal(old.status, 400)
    assert.equal(old.body.error.code, 'NoRegisteredProviderFound')
    const sub = await call('GET', `/subscriptions/99999999-0000-0000-0000-000000000000/resourceGroups/x?api-version=2025-04-01`)
    assert.equal(sub.body.error.code, 'SubscriptionNotFound')
  })

  test('resource groups: 201 then 200 in the sample\'s shape; children of a missing group are 404', async () => {
    const missing = await call('PUT', net('networkSecurityGroups', 'n1'), {body: {location: 'japaneast'}})
    assert.equal(missing.status, 404)
    assert.equal(missing.body.error.code, 'ResourceGroupNotFound')
    assert.equal((await call('HEAD', `${rg()}?api-version=2025-04-01`)).status, 404)
    const made = await call('PUT', `${rg()}?api-version=2025-04-01`, {body: sample('resources/resourcegroup-create.json').parameters.parameters})
    assert.equal(made.status, 201)
    subset(keys(sample('resources/resourcegroup-create.json').responses['201'].body), keys(made.body), 'resource group body')
    assert.equal((await call('PUT', `${rg()}?api-version=2025-04-01`, {body: {location: 'eastus'}})).status, 200)
    assert.equal((await call('HEAD', `${rg()}?api-version=2025-04-01`)).status, 204)
  })

  test('a PUT answers 201 with Azure-AsyncOperation and Retry-After; polling goes InProgress then Succeeded', async () => {
    const s = sample('network/nsg-create-with-rule.json')
    const r = await call('PUT', net('networkSecurityGroups', 'nsg1'), {body: s.parameters.parameters})
    assert.equal(r.status, 201)
    assert.match(String(r.headers['azure-asyncoperation']), /^https:\/\/127\.0\.0\.1:\d+\/subscriptions\/.*\/operations\/[-0-9a-f]+\?api-version=/)
    assert.match(String(r.headers['retry-after']), /^\d+$/)
    subset(keys(s.responses['201'].body), [...keys(r.body), 'etag'], 'NSG body')
    assert.notEqual(r.body.properties.provisioningState, 'Succeeded')
    const polls = await pollAll(String(r.headers['azure-asyncoperation']))
    assert.deepEqual(polls.map(p => [p.status, p.body.status]), [[200, 'InProgress'], [200, 'Succeeded']])
    subset(keys(sample('lro/vm-start-operation-status-inprogress.json')), keys(polls[0].body), 'status body')
    const got = await call('GET', net('networkSecurityGroups', 'nsg1'))
    assert.equal(got.body.properties.provisioningState, 'Succeeded')
    subset(keys(s.responses['201'].body.properties.securityRules[0].properties), [...keys(got.body.properties.securityRules[0].properties), 'provisioningState'], 'rule properties')
  })

  test('network, subnet, public IP and NIC from the samples\' requests; back-references; IP only once allocated', async () => {
    const wait = async (r: Res) => {
      assert.ok([200, 201].includes(r.status), JSON.stringify(r.body))
      const polls = await pollAll(String(r.headers['azure-asyncoperation']))
      assert.equal(polls.at(-1)!.body.status, 'Succeeded')
    }
    await wait(await call('PUT', net('virtualNetworks', 'vnet1'), {body: sample('network/vnet-create.json').parameters.parameters}))
    await wait(await call('PUT', `${rg()}/providers/Microsoft.Network/virtualNetworks/vnet1/subnets/default?api-version=${NET}`, {body: sample('network/subnet-create.json').parameters.subnetParameters}))
    await wait(await call('PUT', net('publicIPAddresses', 'ip1'), {body: sample('network/publicip-create-static-standard.json').parameters.parameters}))
    const nicReq = structuredClone(sample('network/nic-create.json').parameters.parameters)
    nicReq.properties.ipConfigurations = [nicReq.properties.ipConfigurations[0]]
    nicReq.properties.ipConfigurations[0].properties.publicIPAddress.id = `${rg()}/providers/Microsoft.Network/publicIPAddresses/ip1`
    nicReq.properties.ipConfigurations[0].properties.subnet.id = `${rg()}/providers/Microsoft.Network/virtualNetworks/vnet1/subnets/default`
    nicReq.properties.networkSecurityGroup = {id: `${rg()}/providers/Microsoft.Network/networkSecurityGroups/nsg1`}
    await wait(await call('PUT', net('networkInterfaces', 'nic1'), {body: nicReq}))
    const nic = await call('GET', net('networkInterfaces', 'nic1'))
    subset(keys(sample('network/nic-get.json').responses['200'].body), [...keys(nic.body), 'etag', 'type'], 'NIC body')
    assert.match(nic.body.properties.ipConfigurations[0].properties.privateIPAddress, /^\d+\.\d+\.\d+\.\d+$/)
    const pip = await call('GET', net('publicIPAddresses', 'ip1'))
    assert.equal(pip.body.properties.ipAddress, undefined, 'no address until a VM runs')
    assert.match(pip.body.properties.ipConfiguration.id, /networkInterfaces\/nic1\/ipConfigurations\/ipconfig1$/)
    const vnet = await call('GET', net('virtualNetworks', 'vnet1'))
    assert.equal(vnet.body.properties.subnets[0].properties.ipConfigurations.length, 1)
    // A second NIC cannot take the same public IP.
    const dup = await call('PUT', net('networkInterfaces', 'nic2'), {body: nicReq})
    assert.equal(dup.body.error.code, 'PublicIPAddressInUse')
  })

  test('deletes: in-use refused as ARM does, 202 + Location polled 202 then done, 204 when gone, 404 after', async () => {
    const inUse = await call('DELETE', net('networkSecurityGroups', 'nsg1'))
    assert.equal(inUse.status, 400)
    assert.equal(inUse.body.error.code, 'InUseNetworkSecurityGroupCannotBeDeleted')
    assert.equal((await call('DELETE', net('virtualNetworks', 'vnet1'))).body.error.code, 'InUseSubnetCannotBeDeleted')
    const d = await call('DELETE', net('networkInterfaces', 'nic1'))
    assert.equal(d.status, 202)
    assert.equal(d.body, undefined)
    assert.equal(d.headers['azure-asyncoperation'], undefined)
    const polls = await pollAll(String(d.headers.location))
    assert.deepEqual(polls.map(p => p.status), [202, 204])
    assert.equal((await call('DELETE', net('networkInterfaces', 'nic1'))).status, 204)
    const gone = await call('GET', net('networkInterfaces', 'nic1'))
    assert.equal(gone.status, 404)
    assert.equal(gone.body.error.code, 'ResourceNotFound')
  })

  test('faults: a 429 with Retry-After once, an async failure as a Failed operation', async () => {
    sim.inject({type: 'networkSecurityGroups', method: 'GET', status: 429, code: 'TooManyRequests', message: 'throttled', retryAfter: 2})
    const t = await call('GET', net('networkSecurityGroups', 'nsg1'))
    assert.equal(t.status, 429)
    assert.equal(t.headers['retry-after'], '2')
    assert.equal((await call('GET', net('networkSecurityGroups', 'nsg1'))).status, 200)
    sim.inject({type: 'publicIPAddresses', method: 'PUT', phase: 'async', code: 'InternalServerError', message: 'boom'})
    const r = await call('PUT', net('publicIPAddresses', 'ip2'), {body: {location: 'japaneast', sku: {name: 'Standard'}, properties: {publicIPAllocationMethod: 'Static'}}})
    assert.equal(r.status, 201)
    const polls = await pollAll(String(r.headers['azure-asyncoperation']))
    assert.deepEqual(polls.at(-1)!.body.error, {code: 'InternalServerError', message: 'boom'})
    assert.equal(polls.at(-1)!.body.status, 'Failed')
    assert.equal((await call('GET', net('publicIPAddresses', 'ip2'))).body.properties.provisioningState, 'Failed')
  })

  test('deleting the group takes everything in it; the inventory is then empty', async () => {
    assert.ok(sim.inventory().length > 1)
    const d = await call('DELETE', `${rg()}?api-version=2025-04-01`)
    assert.equal(d.status, 202)
    const polls = await pollAll(String(d.headers.location))
    assert.equal(polls.at(-1)!.status, 204)
    assert.deepEqual(sim.inventory(), [])
  })
})
