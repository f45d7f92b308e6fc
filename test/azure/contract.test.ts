/**
 * The official ARM samples are the contract: every one parses, the driver reads their shapes,
 * and what it sends carries every field the samples' requests carry.
 */
import {afterEach, describe, test} from 'node:test'
import assert from 'node:assert/strict'
import {readdirSync, readFileSync} from 'node:fs'
import path from 'node:path'
import nock from 'nock'
import driver, {powerState} from '../../drivers/azure/driver.js'
import {ROOT} from '../helpers.js'
import {asyncOp, azureData, fakeArm, fakeLogin, handle, locationOp, type Route} from './fake-arm.js'

const DIR = path.join(ROOT, 'test', 'fixtures', 'azure')
const sample = (p: string) => JSON.parse(readFileSync(path.join(DIR, p), 'utf8'))
const files = readdirSync(DIR, {recursive: true}).map(String).filter(f => f.endsWith('.json')).sort()

/** Every key path of a JSON value, arrays as []. */
function keyPaths(o: unknown, prefix = ''): string[] {
  if (Array.isArray(o)) return [...new Set(o.flatMap(x => keyPaths(x, `${prefix}[]`)))]
  if (o && typeof o === 'object') return Object.entries(o).flatMap(([k, v]) => [`${prefix}.${k}`, ...keyPaths(v, `${prefix}.${k}`)])
  return []
}

/** The sample request's fields that the driver must send too (those it leaves out on purpose are listed). */
function assertCarries(sent: unknown, sampleRequest: unknown, leftOut: RegExp[] = []) {
  const ours = new Set(keyPaths(sent))
  const missing = keyPaths(sampleRequest).filter(p => !ours.has(p) && !leftOut.some(r => r.test(p)))
  assert.deepEqual(missing, [], 'fields of the sample request the driver does not send')
}

describe('azure ARM samples', () => {
  afterEach(() => nock.cleanAll())

  test('every sample parses and has the shape of its kind', () => {
    assert.ok(files.length >= 23, `only ${files.length} samples`)
    for (const f of files) {
      const j = sample(f)
      if (f.startsWith('lro/')) {
        assert.match(j.status, /^(InProgress|Running|Succeeded|Failed|Canceled)$/, f)
        continue
      }
      assert.ok(j.parameters && typeof j.parameters === 'object', `${f}: parameters`)
      assert.ok(j.parameters['api-version'], `${f}: api-version`)
      const codes = Object.keys(j.responses)
      assert.ok(codes.length && codes.every(c => /^\d{3}$/.test(c)), `${f}: responses by status`)
      for (const c of codes.filter(c => c === '202')) {
        const h = j.responses[c].headers ?? {}
        assert.ok(h.location || h.Location, `${f}: a 202 carries Location`)
      }
      for (const c of codes.filter(c => c === '201')) assert.ok(j.responses[c].body?.properties?.provisioningState || j.responses[c].body?.properties, `${f}: 201 has properties`)
    }
  })

  test('PowerState of the instance-view sample reads as Running; others map too', () => {
    assert.equal(powerState(sample('compute/vm-get-instanceview.json').responses['200'].body.statuses), 'Running')
    assert.equal(powerState([{code: 'ProvisioningState/succeeded'}, {code: 'PowerState/deallocated'}]), 'Stopped')
    assert.equal(powerState([{code: 'ProvisioningState/succeeded'}, {code: 'PowerState/deallocating'}]), 'Stopping')
    assert.equal(powerState([{code: 'ProvisioningState/failed/OSProvisioningTimedOut'}, {code: 'PowerState/running'}]), 'Error')
    assert.equal(powerState([{code: 'ProvisioningState/creating'}]), 'Starting')
  })

  test('state and IPs are read from the samples\' bodies', async () => {
    const {d, tenant} = await azureData()
    fakeLogin(tenant)
    const pipGet = sample('network/publicip-get.json').responses['200'].body
    const listed = sample('network/publicip-list-all.json').responses['200'].body.value.find((p: {properties: {ipAddress?: string}}) => p.properties.ipAddress)
    fakeArm([
      {method: 'GET', path: /instanceView/, reply: () => [200, sample('compute/vm-get-instanceview.json').responses['200'].body]},
      // PublicIpAddressGet carries no ipAddress until one is allocated.
      {method: 'GET', path: /publicIPAddresses\/m1-01234567-ip\?/, reply: () => [200, pipGet]},
      {method: 'GET', path: /publicIPAddresses\/m1-01234567-ip\?/, reply: () => [200, listed]},
      {method: 'GET', path: /networkInterfaces\/m1-01234567-nic\?/, reply: () => [200, sample('network/nic-get.json').responses['200'].body], times: 2},
    ])
    assert.equal(await driver.state(handle(d)), 'Running')
    await assert.rejects(driver.ip(handle(d)), /m1 has no public IP address yet/)
    assert.equal(await driver.ip(handle(d)), listed.properties.ipAddress)
    assert.equal(await driver.ip(handle({...d, usePrivateIp: true})), '172.20.2.4')
  })

  test('create sends what the sample requests carry, follows each LRO, and saves as it goes', async () => {
    const {d, tenant} = await azureData({'azure-open-cidr': '203.0.113.0/24'})
    d.made = []
    fakeLogin(tenant)
    const body = (f: string, code = '201') => sample(f).responses[code].body
    /** A PUT answered 201 + Azure-AsyncOperation, polled InProgress then Succeeded, then read. */
    const lro = (ns: string, type: RegExp, id: string, created: unknown, final = created): Route[] => [
      {method: 'PUT', path: type, reply: () => [201, created, asyncOp(ns, id)]},
      {method: 'GET', path: new RegExp(`operations/${id}`), reply: () => [200, sample('lro/vm-start-operation-status-inprogress.json'), {'retry-after': '0'}]},
      {method: 'GET', path: new RegExp(`operations/${id}`), reply: () => [200, sample('lro/deployment-operation-status-succeeded.json')]},
      {method: 'GET', path: type, reply: () => [200, final]},
    ]
    const vmFinal = {...body('compute/vm-create-linux-ssh.json'), properties: {...body('compute/vm-create-linux-ssh.json').properties, provisioningState: 'Succeeded'}}
    const {seen, routes} = fakeArm([
      {method: 'HEAD', path: /resourcegroups\/rg1\?/i, reply: () => [404]},
      {method: 'PUT', path: /resourcegroups\/rg1\?/i, reply: () => [201, body('resources/resourcegroup-create.json')]},
      {method: 'GET', path: /virtualNetworks\/berth-vnet\?/, reply: () => [404, {error: {code: 'ResourceNotFound', message: 'not found'}}]},
      ...lro('Microsoft.Network', /networkSecurityGroups\/m1-01234567-nsg\?/, 'op-nsg', body('network/nsg-create-with-rule.json')),
      ...lro('Microsoft.Network', /virtualNetworks\/berth-vnet\?/, 'op-vnet', body('network/vnet-create.json')),
      ...lro('Microsoft.Network', /publicIPAddresses\/m1-01234567-ip\?/, 'op-pip', body('network/publicip-create-static-standard.json')),
      ...lro('Microsoft.Network', /networkInterfaces\/m1-01234567-nic\?/, 'op-nic', body('network/nic-create.json')),
      ...lro('Microsoft.Compute', /virtualMachines\/m1-01234567\?/, 'op-vm', body('compute/vm-create-linux-ssh.json'), vmFinal),
    ])
    const saves: string[][] = []
    const key = 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIB3rth berth-m1'
    await driver.create({
      machineName: 'm1', machineId: '0123456789abcdef', machineDir: '/nonexistent', driverDir: '/nonexistent', sshPublicKey: key, signal: new AbortController().signal,
      save: async data => void saves.push([...data.made]), log() {}, debug() {}, warn() {},
    }, d)
    assert.deepEqual(routes, [], 'every step was called')
    // Recorded before each call, so a crash mid-call still leaves a name to clean up.
    assert.deepEqual(saves[0], ['rg'])
    assert.deepEqual(saves.at(-1)!.slice().sort(), ['nic', 'nsg', 'pip', 'rg', 'vm', 'vnet'])
    assert.ok(saves.findIndex(s => s.includes('vm')) > saves.findIndex(s => s.includes('nic')))
    const put = (re: RegExp) => seen.find(s => s.method === 'PUT' && re.test(s.uri))!.body
    const req = (f: string) => sample(f).parameters.parameters

    assertCarries(put(/resourcegroups/i), req('resources/resourcegroup-create.json'))
    assertCarries(put(/networkSecurityGroups/), req('network/nsg-create-with-rule.json'))
    assertCarries(put(/virtualNetworks/), req('network/vnet-create.json'), [/flowTimeoutInMinutes/])
    assertCarries(put(/publicIPAddresses/), req('network/publicip-create-static-standard.json'), [/idleTimeoutInMinutes/, /sku\.tier/])
    assertCarries(put(/networkInterfaces/), req('network/nic-create.json'), [/enableAcceleratedNetworking/, /disableTcpStateTracking/, /privateIPAddressPrefixLength/])
    assertCarries(put(/virtualMachines/), req('compute/vm-create-linux-ssh.json'))

    const rules = put(/networkSecurityGroups/).properties.securityRules
    assert.deepEqual(rules.map((r: {properties: {destinationPortRange: string; sourceAddressPrefix: string}}) => [r.properties.destinationPortRange, r.properties.sourceAddressPrefix]), [['22', '203.0.113.0/24'], ['2376', '203.0.113.0/24']])
    const vm = put(/virtualMachines/)
    assert.equal(vm.properties.osProfile.adminUsername, 'docker-user')
    assert.deepEqual(vm.properties.osProfile.linuxConfiguration.ssh.publicKeys, [{path: '/home/docker-user/.ssh/authorized_keys', keyData: key}])
    assert.equal(vm.properties.hardwareProfile.vmSize, 'Standard_B2s')
    assert.match(vm.properties.networkProfile.networkInterfaces[0].id, /\/resourceGroups\/rg1\/providers\/Microsoft\.Network\/networkInterfaces\/m1-01234567-nic$/)
    // Each LRO was polled at its Azure-AsyncOperation URL, InProgress then Succeeded.
    for (const op of ['op-nsg', 'op-vnet', 'op-pip', 'op-nic', 'op-vm']) assert.equal(seen.filter(s => s.uri.includes(`operations/${op}`)).length, 2, op)
  })

  test('rm follows Location polling, and keeps a network and group berth did not make', async () => {
    const {d, tenant} = await azureData()
    fakeLogin(tenant)
    const del = (type: RegExp, ns: string, id: string, last = 204): Route[] => [
      {method: 'DELETE', path: type, reply: () => [202, undefined, locationOp(ns, id)]},
      {method: 'GET', path: new RegExp(`operationResults/${id}`), reply: () => [202, undefined, {'retry-after': '0'}]},
      {method: 'GET', path: new RegExp(`operationResults/${id}`), reply: () => [last]},
    ]
    const vnet = sample('network/vnet-create.json').responses['200'].body
    const {seen, routes} = fakeArm([
      ...del(/virtualMachines\/m1-01234567\?/, 'Microsoft.Compute', 'd-vm', 200),
      ...del(/disks\/m1-01234567-osdisk\?/, 'Microsoft.Compute', 'd-disk', 200),
      // Azure holds the NIC for a moment after its VM goes.
      {method: 'DELETE', path: /networkInterfaces\/m1-01234567-nic\?/, reply: () => [400, {error: {code: 'NicReservedForAnotherVm', message: 'Nic(s) in request is reserved for another Virtual Machine for 180 seconds.'}}]},
      ...del(/networkInterfaces\/m1-01234567-nic\?/, 'Microsoft.Network', 'd-nic'),
      ...del(/publicIPAddresses\/m1-01234567-ip\?/, 'Microsoft.Network', 'd-pip'),
      ...del(/networkSecurityGroups\/m1-01234567-nsg\?/, 'Microsoft.Network', 'd-nsg'),
      // The samples' network and group carry no berth-created tag: they stay.
      {method: 'GET', path: /virtualNetworks\/berth-vnet\?/, reply: () => [200, vnet]},
      {method: 'GET', path: /resourcegroups\/rg1\?/i, reply: () => [200, sample('resources/resourcegroup-create.json').responses['200'].body]},
    ])
    assert.deepEqual(await driver.remove(handle(d)), [])
    assert.deepEqual(routes, [])
    assert.equal(seen.filter(s => s.method === 'DELETE' && /virtualNetworks|resourcegroups\/rg1\?/i.test(s.uri)).length, 0)
    const order = seen.filter(s => s.method === 'DELETE').map(s => /providers\/[^/]+\/([^/]+)/.exec(s.uri)![1])
    assert.deepEqual(order.slice(0, 4), ['virtualMachines', 'disks', 'networkInterfaces', 'networkInterfaces'])
  })
})
