/**
 * berth create -d azure end to end against the ARM simulator: the real CLI in its own process
 * (SDKs, MSAL, LRO polling over TLS), VMs that are real lab hosts, the stock docker CLI.
 */
import {after, before, describe, test} from 'node:test'
import assert from 'node:assert/strict'
import {readFileSync, writeFileSync} from 'node:fs'
import path from 'node:path'
import {berth, busyboxTar, docker, dockerEnv, isRoot, labLeftovers, tmpDir} from '../helpers.js'
import {startAzureSim, type AzureSim, type Fault} from '../sim/azure.js'
import {guestDir} from '../sim/azure-vm.js'

const skip = !isRoot() && 'lab hosts need root'

describe('azure driver e2e against the ARM simulator', {skip, concurrency: false}, () => {
  let sim: AzureSim
  let env: Record<string, string>
  const store = tmpDir('azstore')
  const name = 'az-e2e-1'
  const hostIds: string[] = []
  const config = (n: string) => JSON.parse(readFileSync(path.join(store, 'machines', n, 'config.json'), 'utf8'))

  before(async () => {
    sim = await startAzureSim({labRoot: tmpDir('azlab'), retryAfter: 1, nicReservationMs: 1500})
    env = {...sim.env(), BERTH_STORAGE_PATH: store, AZURE_LOCATION: 'japaneast'}
  })

  after(async () => {
    await berth(['rm', '-f', '-y', name], {env}).catch(() => undefined)
    await sim?.close()
    assert.deepEqual(labLeftovers(hostIds), [])
  })

  // Faults first, on an empty subscription: rollback must then remove the resource group and network too.
  const faults: {fault?: Fault; args?: string[]; expect: RegExp}[] = [
    {fault: {type: 'token', method: 'POST', status: 401, code: 'invalid_client', message: 'AADSTS7000215: Invalid client secret provided.'}, expect: /sign-in failed \(AADSTS7000215\)/},
    {fault: {type: 'resourcegroups', method: 'PUT', status: 403, code: 'AuthorizationFailed', message: "The client 'x' with object id 'y' does not have authorization to perform action 'Microsoft.Resources/subscriptions/resourcegroups/write' over scope '/subscriptions/s/resourcegroups/berth' or the scope is invalid."}, expect: /not authorized to Microsoft\.Resources\/subscriptions\/resourcegroups\/write: give the identity the Contributor role/},
    {fault: {type: 'networkSecurityGroups', method: 'PUT', status: 409, code: 'Conflict', message: 'Another request is changing this resource.'}, expect: /create network security group .*: conflict \(Conflict\)/},
    {fault: {type: 'virtualNetworks', method: 'PUT', phase: 'async', code: 'InternalServerError', message: 'An error occurred.'}, expect: /create virtual network berth-vnet: InternalServerError/},
    {fault: {type: 'publicIPAddresses', method: 'PUT', status: 400, code: 'PublicIPCountLimitReached', message: 'Cannot create more than 10 public IP addresses for this subscription in this region.'}, expect: /create public IP .*: quota exceeded/},
    {fault: {type: 'networkInterfaces', method: 'PUT', phase: 'async', code: 'InternalServerError', message: 'NIC allocation failed.'}, expect: /create network interface .*: InternalServerError/},
    {args: ['--azure-size', 'Standard_M416ms_v2'], expect: /size Standard_M416ms_v2 is not available in japaneast: pick another --azure-size/},
    {fault: {type: 'virtualMachines', method: 'PUT', status: 409, code: 'OperationNotAllowed', message: 'Operation could not be completed as it results in exceeding approved standardBSFamily Cores quota. Current Limit: 4, Current Usage: 4, Additional Required: 2.'}, expect: /create virtual machine .*: quota exceeded \(OperationNotAllowed\)/},
    {fault: {type: 'virtualMachines', method: 'PUT', phase: 'async', code: 'OSProvisioningTimedOut', message: 'OS Provisioning for VM did not finish in the allotted time.'}, expect: /create virtual machine .*: OSProvisioningTimedOut/},
  ]

  test('a fault at every ARM step fails the create with one clear line and leaves nothing behind', async () => {
    assert.deepEqual(sim.inventory(), [])
    // Operations finish at once here (Retry-After 0); the next tests keep Retry-After 1 s.
    sim.opts.retryAfter = 0
    for (const [i, f] of faults.entries()) {
      sim.clearFaults()
      if (f.fault) sim.inject(f.fault)
      const r = await berth(['create', '-d', 'azure', ...(f.args ?? []), `az-fault-${i}`], {env})
      assert.notEqual(r.code, 0, `fault ${i} should fail the create`)
      const last = r.stderr.trim().split('\n').filter(l => !/^\s*$/.test(l)).pop() ?? ''
      assert.match(last, f.expect, `fault ${i}: ${r.stderr}`)
      assert.doesNotMatch(r.stderr + r.stdout, new RegExp(sim.clientSecret), 'the secret never shows')
      await sim.settle()
      assert.deepEqual(sim.inventory(), [], `fault ${i} left resources: ${r.stderr}`)
      assert.deepEqual(sim.hosts(), [])
      const ls = await berth(['ls', '-q'], {env})
      assert.equal(ls.stdout.trim(), '', `fault ${i} left a machine record`)
    }
    sim.clearFaults()
    sim.opts.retryAfter = 1
  })

  test('berth create -d azure gives a machine the stock docker CLI reaches through berth env', async () => {
    const script = path.join(tmpDir('azcd'), 'init.sh')
    writeFileSync(script, '#!/bin/sh\necho "custom data ran on $(hostname)" > /var/log/berth-custom-data.txt\n')
    // A throttled call on the way is retried by the SDK after Retry-After.
    sim.inject({type: 'networkSecurityGroups', method: 'PUT', status: 429, code: 'TooManyRequests', message: 'Rate limit.', retryAfter: 0})
    const t0 = Date.now()
    const r = await berth(['create', '-d', 'azure', '--azure-custom-data', script, '--azure-open-port', '8080/tcp', name], {env})
    assert.equal(r.code, 0, r.stderr)
    const secs = (Date.now() - t0) / 1000
    assert.ok(secs < 60, `create took ${secs} s`)
    const rec = config(name)
    assert.equal(rec.driverData.sshUser, 'docker-user')
    assert.doesNotMatch(JSON.stringify(rec), new RegExp(sim.clientSecret), 'the secret is not stored')
    const types = sim.inventory().map(id => id.replace(/^.*\/providers\//, '').replace(/\/[^/]+$/, ''))
    assert.deepEqual(types.filter(t => t.startsWith('Microsoft')).sort(), ['Microsoft.Compute/disks', 'Microsoft.Compute/virtualMachines', 'Microsoft.Network/networkInterfaces', 'Microsoft.Network/networkSecurityGroups', 'Microsoft.Network/publicIPAddresses', 'Microsoft.Network/virtualNetworks'])
    // The VM got the machine's own key, and the NSG admits SSH, the engine and the extra port.
    const vm = sim.resource('virtualMachines', rec.driverData.names.vm)!
    const pub = readFileSync(path.join(store, 'machines', name, 'id_ed25519.pub'), 'utf8').trim()
    assert.equal(vm.properties.osProfile.linuxConfiguration.ssh.publicKeys[0].keyData.trim(), pub)
    const nsg = sim.resource('networkSecurityGroups', rec.driverData.names.nsg)!
    assert.deepEqual(nsg.properties.securityRules.map((s: {properties: {destinationPortRange: string}}) => s.properties.destinationPortRange), ['22', '2376', '8080'])
    const h = sim.hosts()[0]
    hostIds.push(h.id)
    // Custom data reached the host unchanged, and ran as cloud-init runs a script.
    assert.equal(readFileSync(path.join(guestDir(h), 'user-data.txt'), 'utf8'), readFileSync(script, 'utf8'))
    assert.match(readFileSync(path.join(h.dir, 'log', 'berth-custom-data.txt'), 'utf8'), new RegExp(`custom data ran on ${name}`))

    const denv = await dockerEnv(name, env)
    assert.equal(denv.DOCKER_HOST, `tcp://${h.ip}:2376`)
    const info = docker(['info', '--format', '{{.Name}} {{json .Labels}}'], denv)
    assert.equal(info.code, 0, info.stderr)
    assert.match(info.stdout, new RegExp(`^${name} `))
    assert.match(info.stdout, /"provider=azure"/)
    assert.match(info.stdout, /"region=japaneast"/)
    assert.equal(docker(['import', '-', 'bb:v1'], denv, busyboxTar()).code, 0)
    const run = docker(['run', '--rm', 'bb:v1', 'echo', 'hello from azure'], denv)
    assert.equal(run.code, 0, run.stderr)
    assert.equal(run.stdout.trim(), 'hello from azure')
  })

  test('stop deallocates, start brings the engine back', async () => {
    let r = await berth(['stop', name], {env})
    assert.equal(r.code, 0, r.stderr)
    const vm = sim.resource('virtualMachines', config(name).driverData.names.vm)!
    assert.equal(vm.vm?.power, 'deallocated')
    r = await berth(['status', name], {env})
    assert.equal(r.stdout.trim(), 'Stopped')
    r = await berth(['start', name], {env})
    assert.equal(r.code, 0, r.stderr)
    r = await berth(['status', name], {env})
    assert.equal(r.stdout.trim(), 'Running')
    const info = docker(['info', '--format', '{{.Name}}'], await dockerEnv(name, env))
    assert.equal(info.code, 0, info.stderr)
    assert.equal(info.stdout.trim(), name)
  })

  test('kill powers off without shutdown; rm leaves the subscription empty', async () => {
    let r = await berth(['kill', name], {env})
    assert.equal(r.code, 0, r.stderr)
    assert.equal(sim.resource('virtualMachines', config(name).driverData.names.vm)!.vm?.power, 'stopped')
    r = await berth(['rm', '-y', name], {env})
    assert.equal(r.code, 0, r.stderr)
    await sim.settle()
    assert.deepEqual(sim.inventory(), [])
    assert.deepEqual(sim.hosts(), [])
    // The NIC was still reserved when its VM went: rm retried until Azure let go.
    assert.ok(sim.calls.some(c => c.method === 'DELETE' && /networkInterfaces/.test(c.path) && c.status === 400), 'a NIC delete was refused and retried')
  })
})
