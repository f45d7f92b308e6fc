/** The error mapping, through the real SDKs against nock: every failure is one line the user can act on. */
import {afterEach, describe, test} from 'node:test'
import assert from 'node:assert/strict'
import nock from 'nock'
import driver from '../../drivers/azure/driver.js'
import {mapArmError} from '../../drivers/azure/errors.js'
import {parseOptions} from '../../drivers/azure/config.js'
import {UserError} from '../../src/core/errors.js'
import {SUB, asyncOp, azureData, fakeArm, fakeLogin, handle} from './fake-arm.js'

const VM = /\/resourceGroups\/rg1\/providers\/Microsoft\.Compute\/virtualMachines\/m1-01234567/
const oneLine = (e: Error) => assert.doesNotMatch(e.message, /\n/, 'one line')

describe('azure error mapping', () => {
  afterEach(() => nock.cleanAll())

  test('no subscription names AZURE_SUBSCRIPTION_ID before anything is called', async () => {
    await assert.rejects(parseOptions({}, {machineName: 'm', machineId: 'abcdef01'}), (e: Error) => e instanceof UserError && /no Azure subscription: set AZURE_SUBSCRIPTION_ID/.test(e.message))
  })

  test('an unknown subscription says to check AZURE_SUBSCRIPTION_ID', async () => {
    const {d, tenant} = await azureData()
    fakeLogin(tenant)
    fakeArm([{method: 'GET', path: /instanceView/, reply: () => [404, {error: {code: 'SubscriptionNotFound', message: `The subscription '${SUB}' could not be found.`}}]}])
    await assert.rejects(driver.state(handle(d)), (e: Error) => (oneLine(e), /Azure subscription .* not found: check AZURE_SUBSCRIPTION_ID/.test(e.message)))
  })

  test('401 says the credentials were rejected', async () => {
    const {d, tenant} = await azureData()
    fakeLogin(tenant)
    fakeArm([{method: 'GET', path: /instanceView/, reply: () => [401, {error: {code: 'InvalidAuthenticationToken', message: 'The access token is invalid.'}}]}])
    await assert.rejects(driver.state(handle(d)), (e: Error) => (oneLine(e), /Azure rejected the credentials \(InvalidAuthenticationToken\): check AZURE_TENANT_ID/.test(e.message)))
  })

  test('403 names the action and the role that grants it', async () => {
    const {d, tenant} = await azureData()
    fakeLogin(tenant)
    const msg = `The client 'c1' with object id 'o1' does not have authorization to perform action 'Microsoft.Compute/virtualMachines/start/action' over scope '/subscriptions/${SUB}/resourceGroups/rg1/providers/Microsoft.Compute/virtualMachines/m1-01234567' or the scope is invalid. If access was recently granted, please refresh your credentials.`
    fakeArm([{method: 'POST', path: /\/start\?/, reply: () => [403, {error: {code: 'AuthorizationFailed', message: msg}}]}])
    await assert.rejects(driver.start(handle(d)), (e: Error) => (oneLine(e), /start m1-01234567: not authorized to Microsoft\.Compute\/virtualMachines\/start\/action: give the identity the Virtual Machine Contributor role \(or Contributor\) on \/subscriptions\//.test(e.message)))
  })

  test('a network 403 names Network Contributor', () => {
    const e = mapArmError(Object.assign(new Error("does not have authorization to perform action 'Microsoft.Network/publicIPAddresses/write' over scope '/subscriptions/x'"), {statusCode: 403, code: 'AuthorizationFailed'}), 'create public IP p')
    assert.match(e.message, /Network Contributor/)
  })

  test('409 conflicts say what to do', async () => {
    const {d, tenant} = await azureData()
    fakeLogin(tenant)
    fakeArm([{method: 'POST', path: /\/deallocate\?/, reply: () => [409, {error: {code: 'OperationNotAllowed', message: "Operation 'deallocate' is not allowed since the VM is marked for deletion."}}]}])
    await assert.rejects(driver.stop(handle(d)), (e: Error) => (oneLine(e), /deallocate m1-01234567: conflict \(OperationNotAllowed\): .*marked for deletion; wait for the other operation/.test(e.message)))
  })

  test('quota exceeded and SKU not available, from a VM create', async () => {
    const {d, tenant} = await azureData()
    fakeLogin(tenant)
    const {makeClients} = await import('../../drivers/azure/arm.js')
    const c = await makeClients(d)
    const put = () => c.compute.virtualMachines.createOrUpdate('rg1', 'm1-01234567', {location: 'japaneast', hardwareProfile: {vmSize: 'Standard_B2s'}})
    fakeArm([
      {method: 'PUT', path: VM, reply: () => [409, {error: {code: 'OperationNotAllowed', message: 'Operation could not be completed as it results in exceeding approved standardBSFamily Cores quota. Current Limit: 4, Current Usage: 4, Additional Required: 2.'}}]},
      {method: 'PUT', path: VM, reply: () => [409, {error: {code: 'SkuNotAvailable', message: "The requested VM size for resource 'Following SKUs have failed for Capacity Restrictions: Standard_B2s' is currently not available in location 'japaneast'."}}]},
    ])
    const ctx = {subscriptionId: SUB, location: 'japaneast', size: 'Standard_B2s'}
    const quota = await put().then(() => undefined, err => mapArmError(err, 'create virtual machine m1', ctx))
    assert.match(quota!.message, /^create virtual machine m1: quota exceeded \(OperationNotAllowed\): Operation could not be completed .* request more quota for japaneast$/)
    const sku = await put().then(() => undefined, err => mapArmError(err, 'create virtual machine m1', ctx))
    assert.match(sku!.message, /^create virtual machine m1: size Standard_B2s is not available in japaneast: pick another --azure-size or --azure-location/)
  })

  test('a long-running operation that fails reports its ARM code', async () => {
    const {d, tenant} = await azureData()
    fakeLogin(tenant)
    fakeArm([
      {method: 'POST', path: /\/start\?/, reply: () => [202, undefined, asyncOp('Microsoft.Compute', 'op-start')]},
      {method: 'GET', path: /operations\/op-start/, reply: () => [200, {status: 'InProgress', name: 'op-start'}, {'retry-after': '0'}]},
      {method: 'GET', path: /operations\/op-start/, reply: () => [200, {status: 'Failed', name: 'op-start', error: {code: 'AllocationFailed', message: 'Allocation failed. We do not have sufficient capacity for the requested VM size in this region.'}}]},
    ])
    await assert.rejects(driver.start(handle(d)), (e: Error) => (oneLine(e), /^start m1-01234567: AllocationFailed: Allocation failed/.test(e.message)))
  })

  test('a refused sign-in names the AADSTS code and what to check, never the secret', async () => {
    const {d, tenant} = await azureData()
    fakeLogin(tenant, {status: 401, error: 'invalid_client', description: 'AADSTS7000215: Invalid client secret provided. Ensure the secret being sent in the request is the client secret value.'})
    fakeArm([])
    await assert.rejects(driver.state(handle(d)), (e: Error) => (oneLine(e), /Azure sign-in failed \(AADSTS7000215\): check AZURE_TENANT_ID, AZURE_CLIENT_ID and the client secret/.test(e.message) && !e.message.includes('nock-secret')))
  })

  test('429 is retried after Retry-After, then the answer is used', async () => {
    const {d, tenant} = await azureData()
    fakeLogin(tenant)
    fakeArm([
      {method: 'GET', path: /instanceView/, reply: () => [429, {error: {code: 'TooManyRequests', message: 'slow down'}}, {'retry-after': '0'}]},
      {method: 'GET', path: /instanceView/, reply: () => [200, {statuses: [{code: 'ProvisioningState/succeeded'}, {code: 'PowerState/deallocated'}]}]},
    ])
    assert.equal(await driver.state(handle(d)), 'Stopped')
  })

  test('a VM that is gone reads as NotFound', async () => {
    const {d, tenant} = await azureData()
    fakeLogin(tenant)
    fakeArm([{method: 'GET', path: /instanceView/, reply: () => [404, {error: {code: 'ResourceNotFound', message: "The Resource 'Microsoft.Compute/virtualMachines/m1-01234567' under resource group 'rg1' was not found."}}]}])
    assert.equal(await driver.state(handle(d)), 'NotFound')
  })
})
