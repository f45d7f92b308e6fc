import path from 'node:path'
import type {AdoptedHost, DockerMachineHost} from '../../src/sdk/index.js'
import {UserError, writeFileAtomic} from '../../src/sdk/index.js'
import {CLOUDS, parseImage, type AzureData} from './config.js'

const text = (v: unknown) => (typeof v === 'string' && v ? v : undefined)

/**
 * A docker-machine Azure VM under docker-machine's resource names (VM = machine name, NAME-nic,
 * NAME-ip, NAME-firewall, in its resource group). The service principal's secret, which
 * docker-machine kept in config.json, moves to a 0600 file in the machine's folder.
 */
export async function adoptAzure(h: DockerMachineHost): Promise<AdoptedHost<AzureData>> {
  const d = h.driver
  const sub = text(d.SubscriptionID)
  const rg = text(d.ResourceGroup)
  if (!sub || !rg) throw new UserError(`docker-machine host "${h.machineName}": its config.json has no ${sub ? 'ResourceGroup' : 'SubscriptionID'}`)
  const env = text(d.Environment) ?? 'AzurePublicCloud'
  const cloud = CLOUDS[env]
  if (!cloud) throw new UserError(`docker-machine host "${h.machineName}": Azure environment "${env}" is not one berth knows (${Object.keys(CLOUDS).join(', ')})`)
  const unmapped = [
    'OS disk: docker-machine\'s VHD in its storage account, and the availability set, are left by rm --remove-host',
  ]
  let clientSecretFile: string | undefined
  if (text(d.ClientSecret)) {
    clientSecretFile = path.join(h.machineDir, 'azure-client-secret')
    await writeFileAtomic(clientSecretFile, text(d.ClientSecret)!, 0o600)
  }
  const vnetSpec = text(d.VirtualNetwork) ?? 'docker-machine-vnet'
  const [vnetGroup, vnet] = vnetSpec.includes(':') ? vnetSpec.split(':', 2) : [rg, vnetSpec]
  let image: AzureData['image']
  try {
    image = parseImage(text(d.Image) ?? 'canonical:UbuntuServer:16.04.0-LTS:latest')
  } catch {
    image = {publisher: '', offer: '', sku: '', version: ''}
    unmapped.push(`image "${text(d.Image)}": not a publisher:offer:sku:version URN`)
  }
  const n = h.machineName
  const noPublicIp = d.NoPublicIP === true
  return {
    data: {
      subscriptionId: sub, resourceGroup: rg, location: text(d.Location) ?? 'westus', size: text(d.Size) ?? 'Standard_A2', image,
      sshUser: text(d.SSHUser) ?? 'docker-user', vnetGroup, vnet, subnet: text(d.SubnetName) ?? 'docker-machine',
      subnetPrefix: text(d.SubnetPrefix) ?? '192.168.0.0/16', openPorts: [], openCidr: '*',
      usePrivateIp: noPublicIp || d.UsePrivateIP === true, noPublicIp, staticPublicIp: d.StaticPublicIP === true, dnsLabel: text(d.DNSLabel),
      // docker-machine knew clouds by Environment only; an ARM endpoint of another cloud (Azure Stack
      // Hub) comes, as for create, from AZURE_RESOURCE_MANAGER_ENDPOINT at import time.
      clientId: text(d.ClientID), clientSecretFile, environment: env, endpoint: process.env.AZURE_RESOURCE_MANAGER_ENDPOINT?.replace(/\/+$/, '') || cloud.endpoint, authorityHost: cloud.authorityHost,
      stopMode: 'deallocate', swarm: false,
      names: {vm: n, computer: n, nic: `${n}-nic`, pip: `${n}-ip`, nsg: `${n}-firewall`, disk: `${n}-os-disk`},
      made: ['nsg', ...(noPublicIp ? [] : ['pip']), 'nic', 'vm'],
    },
    unmapped,
  }
}
