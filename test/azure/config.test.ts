/** Options, names and firewall rules of the Azure driver: pure functions, no cloud. */
import {test} from 'node:test'
import assert from 'node:assert/strict'
import {writeFileSync} from 'node:fs'
import path from 'node:path'
import {tmpDir} from '../helpers.js'
import {parseOptions, parsePort, resourceNames, securityRules} from '../../drivers/azure/config.js'
import {flags} from '../../drivers/azure/flags.js'

const SUB = '11111111-2222-3333-4444-555555555555'
const m = {machineName: 'web1', machineId: 'a1b2c3d4e5f60718'}
const parse = (o: Record<string, unknown>, env: NodeJS.ProcessEnv = {}) => parseOptions({'azure-subscription-id': SUB, ...o}, m, env)

test('docker-machine flag names, each with its AZURE_* variable; the secret is marked', () => {
  const names = flags.map(f => f.name)
  for (const n of ['subscription-id', 'resource-group', 'location', 'size', 'image', 'ssh-user', 'vnet', 'subnet', 'subnet-prefix', 'open-port', 'use-private-ip', 'no-public-ip', 'static-public-ip', 'dns', 'custom-data', 'availability-zone', 'tenant-id', 'client-id', 'client-secret', 'environment', 'resource-manager-endpoint', 'open-cidr', 'stop-mode']) {
    assert.ok(names.includes(`azure-${n}`), n)
  }
  for (const f of flags) assert.match(f.env ?? '', /^AZURE_/, f.name)
  assert.equal(flags.find(f => f.name === 'azure-client-secret')?.secret, true)
})

test('defaults: berth group, japaneast, a B-series size, Ubuntu LTS, docker-user, public cloud', async () => {
  const d = await parse({})
  assert.equal(d.resourceGroup, 'berth')
  assert.equal(d.location, 'japaneast')
  assert.match(d.size, /^Standard_B/)
  assert.deepEqual(d.image, {publisher: 'Canonical', offer: 'ubuntu-24_04-lts', sku: 'server', version: 'latest'})
  assert.equal(d.sshUser, 'docker-user')
  assert.equal(d.endpoint, 'https://management.azure.com')
  assert.equal(d.authorityHost, 'https://login.microsoftonline.com')
  assert.equal(d.stopMode, 'deallocate')
  assert.deepEqual(d.made, [])
})

test('"East Asia" as docker-machine users wrote it; clouds and a custom ARM endpoint', async () => {
  assert.equal((await parse({'azure-location': 'East Asia'})).location, 'eastasia')
  const cn = await parse({'azure-environment': 'AzureChinaCloud'})
  assert.equal(cn.endpoint, 'https://management.chinacloudapi.cn')
  assert.equal(cn.authorityHost, 'https://login.chinacloudapi.cn')
  const stack = await parse({'azure-resource-manager-endpoint': 'https://management.local.azurestack.external/'}, {AZURE_AUTHORITY_HOST: 'https://adfs.local.azurestack.external/adfs'})
  assert.equal(stack.endpoint, 'https://management.local.azurestack.external')
  assert.equal(stack.authorityHost, 'https://adfs.local.azurestack.external/adfs')
  await assert.rejects(parse({'azure-resource-manager-endpoint': 'http://insecure.example'}), /Azure sends tokens only over https/)
  await assert.rejects(parse({'azure-environment': 'AzureGermanCloud'}), /bad --azure-environment/)
})

test('bad input is refused before anything is made, in one line naming the flag', async () => {
  await assert.rejects(parse({'azure-ssh-user': 'root'}), /--azure-ssh-user "root" is refused by Azure/)
  await assert.rejects(parse({'azure-ssh-user': 'Admin'}), /refused by Azure/)
  await assert.rejects(parse({'azure-image': 'ubuntu'}), /bad --azure-image "ubuntu": use publisher:offer:sku:version/)
  await assert.rejects(parse({'azure-open-cidr': '10.0.0.0/33'}), /bad --azure-open-cidr/)
  await assert.rejects(parse({'azure-stop-mode': 'hibernate'}), /use deallocate or poweroff/)
  await assert.rejects(parse({'azure-availability-zone': '4'}), /use 1, 2 or 3/)
  await assert.rejects(parse({'azure-custom-data': '/nonexistent/cloud-init'}), /cannot read/)
  await assert.rejects(parseOptions({'azure-subscription-id': 'not-a-guid'}, m, {}), /it is a GUID/)
  assert.throws(() => parsePort('70000'), /bad --azure-open-port/)
  assert.deepEqual(parsePort('4789/udp'), {port: 4789, protocol: 'Udp'})
})

test('custom data over 64 KiB is refused; a vnet in another group is named group:vnet', async () => {
  const dir = tmpDir('azcfg')
  writeFileSync(path.join(dir, 'big'), Buffer.alloc(65536))
  await assert.rejects(parse({'azure-custom-data': path.join(dir, 'big')}), /Azure takes at most 65535/)
  const d = await parse({'azure-vnet': 'netrg:corp-vnet'})
  assert.equal(d.vnetGroup, 'netrg')
  assert.equal(d.vnet, 'corp-vnet')
  assert.ok((await parse({'azure-no-public-ip': true})).usePrivateIp)
})

test('resource names: the machine name for people, its id for uniqueness', () => {
  const n = resourceNames('web1', 'a1b2c3d4e5f60718')
  assert.deepEqual(n, {vm: 'web1-a1b2c3d4', computer: 'web1', nic: 'web1-a1b2c3d4-nic', pip: 'web1-a1b2c3d4-ip', nsg: 'web1-a1b2c3d4-nsg', disk: 'web1-a1b2c3d4-osdisk'})
})

test('NSG rules: SSH and engine from --azure-open-cidr and open ports; the swarm ports are the firewall hook\'s', () => {
  const base = {openCidr: '198.51.100.0/24', openPorts: [{port: 80, protocol: 'Tcp' as const}]}
  const rules = securityRules(base)
  assert.deepEqual(rules.map(r => `${r.protocol}/${r.destinationPortRange}/${r.sourceAddressPrefix}`), ['Tcp/22/198.51.100.0/24', 'Tcp/2376/198.51.100.0/24', 'Tcp/80/198.51.100.0/24'])
  assert.equal(new Set(rules.map(r => r.priority)).size, rules.length, 'priorities are unique')
})
