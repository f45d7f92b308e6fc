/** Options -> the machine's Azure data: pure, so it is tested without a cloud. */
import {promises as fs} from 'node:fs'
import {ENGINE_PORT, parseCidr, UserError} from '../../src/sdk/index.js'

export interface Cloud {
  endpoint: string
  authorityHost: string
}

export const CLOUDS: Record<string, Cloud> = {
  AzurePublicCloud: {endpoint: 'https://management.azure.com', authorityHost: 'https://login.microsoftonline.com'},
  AzureChinaCloud: {endpoint: 'https://management.chinacloudapi.cn', authorityHost: 'https://login.chinacloudapi.cn'},
  AzureUSGovernment: {endpoint: 'https://management.usgovcloudapi.net', authorityHost: 'https://login.microsoftonline.us'},
}

/** Names Azure refuses as the admin user of a Linux VM. */
const RESERVED_USERS = new Set(['administrator', 'admin', 'user', 'user1', 'test', 'user2', 'test1', 'user3', 'admin1', '1', '123', 'a', 'actuser', 'adm', 'admin2', 'aspnet', 'backup', 'console', 'david', 'guest', 'john', 'owner', 'root', 'server', 'sql', 'support', 'support_388945a0', 'sys', 'test2', 'test3', 'user4', 'user5'])

export interface OpenPort {
  port: number
  protocol: 'Tcp' | 'Udp'
}

export interface AzureData {
  subscriptionId: string
  resourceGroup: string
  location: string
  size: string
  image: {publisher: string; offer: string; sku: string; version: string}
  sshUser: string
  vnetGroup: string
  vnet: string
  subnet: string
  subnetPrefix: string
  openPorts: OpenPort[]
  openCidr: string
  usePrivateIp: boolean
  noPublicIp: boolean
  staticPublicIp: boolean
  dnsLabel?: string
  customDataFile?: string
  zone?: string
  tenantId?: string
  clientId?: string
  clientSecretFile?: string
  environment: string
  endpoint: string
  authorityHost: string
  stopMode: 'deallocate' | 'poweroff'
  swarm: boolean
  /** ARM resource names, fixed before anything exists so a crash can still be cleaned up. */
  names: {vm: string; computer: string; nic: string; pip: string; nsg: string; disk: string}
  /** What exists so far (rollback and rm delete these, newest first). */
  made: string[]
  /** The Standard (always static) public IP, as its create answered: read once, not on every command. */
  publicIp?: string
  /** Its address on the virtual network's subnet (what the NIC says once the VM holds it). */
  privateIp?: string
}

const str = (v: unknown) => (v === undefined || v === null || v === '' ? undefined : String(v))

export function parseImage(urn: string): AzureData['image'] {
  const parts = urn.split(':')
  if (parts.length !== 4 || parts.some(p => !p)) throw new UserError(`bad --azure-image "${urn}": use publisher:offer:sku:version, e.g. Canonical:ubuntu-24_04-lts:server:latest or Debian:debian-12:12-gen2:latest`)
  const [publisher, offer, sku, version] = parts
  return {publisher, offer, sku, version}
}

export function parsePort(spec: string): OpenPort {
  const m = /^(\d{1,5})(?:\/(tcp|udp))?$/i.exec(spec.trim())
  const port = m ? Number(m[1]) : 0
  if (!m || port < 1 || port > 65535) throw new UserError(`bad --azure-open-port "${spec}": use PORT or PORT/tcp or PORT/udp`)
  return {port, protocol: m[2]?.toLowerCase() === 'udp' ? 'Udp' : 'Tcp'}
}

function checkCidr(cidr: string, flag: string): void {
  if (cidr === '*' || cidr === 'Internet') return
  if (parseCidr(cidr)?.v6 !== false) throw new UserError(`bad ${flag} "${cidr}": use an IPv4 CIDR such as 203.0.113.0/24`)
}

function endpointUrl(raw: string, what: string): string {
  let u: URL
  try {
    u = new URL(raw)
  } catch {
    throw new UserError(`bad ${what} "${raw}": use an https:// URL`)
  }
  if (u.protocol !== 'https:') throw new UserError(`bad ${what} "${raw}": Azure sends tokens only over https`)
  return u.toString().replace(/\/+$/, '')
}

/** Resource names: the machine name for people, its id for uniqueness across stores. */
export function resourceNames(machineName: string, machineId: string): AzureData['names'] {
  const base = `${machineName}-${machineId.slice(0, 8)}`
  return {vm: base, computer: machineName.slice(0, 64), nic: `${base}-nic`, pip: `${base}-ip`, nsg: `${base}-nsg`, disk: `${base}-osdisk`}
}

export async function parseOptions(o: Record<string, unknown>, machine: {machineName: string; machineId: string}, env: NodeJS.ProcessEnv = process.env): Promise<AzureData> {
  const subscriptionId = str(o['azure-subscription-id'])
  if (!subscriptionId) throw new UserError('no Azure subscription: set AZURE_SUBSCRIPTION_ID or --azure-subscription-id (az account show --query id -o tsv)')
  if (!/^[0-9a-fA-F-]{36}$/.test(subscriptionId)) throw new UserError(`bad --azure-subscription-id "${subscriptionId}": it is a GUID (az account show --query id -o tsv)`)
  const environment = str(o['azure-environment']) ?? 'AzurePublicCloud'
  const cloud = CLOUDS[environment]
  if (!cloud) throw new UserError(`bad --azure-environment "${environment}": use ${Object.keys(CLOUDS).join(', ')}`)
  const endpoint = endpointUrl(str(o['azure-resource-manager-endpoint']) ?? cloud.endpoint, '--azure-resource-manager-endpoint')
  const authorityHost = endpointUrl(str(env.AZURE_AUTHORITY_HOST) ?? cloud.authorityHost, 'AZURE_AUTHORITY_HOST')
  const sshUser = str(o['azure-ssh-user']) ?? 'docker-user'
  if (RESERVED_USERS.has(sshUser.toLowerCase()) || !/^[a-z_][a-z0-9_.-]{0,63}$/i.test(sshUser)) {
    throw new UserError(`--azure-ssh-user "${sshUser}" is refused by Azure (reserved or invalid): use another name, e.g. docker-user`)
  }
  const stopMode = str(o['azure-stop-mode']) ?? 'deallocate'
  if (stopMode !== 'deallocate' && stopMode !== 'poweroff') throw new UserError(`bad --azure-stop-mode "${stopMode}": use deallocate or poweroff`)
  const vnetSpec = str(o['azure-vnet']) ?? 'berth-vnet'
  const resourceGroup = str(o['azure-resource-group']) ?? 'berth'
  if (!/^[-\w.()]{1,90}$/.test(resourceGroup) || resourceGroup.endsWith('.')) throw new UserError(`bad --azure-resource-group "${resourceGroup}": letters, digits, - _ . ( ), at most 90`)
  const [vnetGroup, vnet] = vnetSpec.includes(':') ? vnetSpec.split(':', 2) : [resourceGroup, vnetSpec]
  const subnetPrefix = str(o['azure-subnet-prefix']) ?? '192.168.0.0/16'
  checkCidr(subnetPrefix, '--azure-subnet-prefix')
  const openCidr = str(o['azure-open-cidr']) ?? '*'
  checkCidr(openCidr, '--azure-open-cidr')
  const zone = str(o['azure-availability-zone'])
  if (zone && !/^[1-3]$/.test(zone)) throw new UserError(`bad --azure-availability-zone "${zone}": use 1, 2 or 3`)
  const dnsLabel = str(o['azure-dns'])
  if (dnsLabel && !/^[a-z][a-z0-9-]{1,61}[a-z0-9]$/.test(dnsLabel)) throw new UserError(`bad --azure-dns "${dnsLabel}": 3-63 lowercase letters, digits and hyphens, starting with a letter`)
  const customDataFile = str(o['azure-custom-data'])
  if (customDataFile) {
    const size = await fs.stat(customDataFile).then(s => s.size, () => -1)
    if (size < 0) throw new UserError(`--azure-custom-data: cannot read "${customDataFile}"`)
    if (size > 65535) throw new UserError(`--azure-custom-data "${customDataFile}" is ${size} bytes: Azure takes at most 65535`)
  }
  const clientSecretFile = str(o['azure-client-secret-file'])
  if (clientSecretFile && !await fs.access(clientSecretFile).then(() => true, () => false)) throw new UserError(`--azure-client-secret-file: cannot read "${clientSecretFile}"`)
  const noPublicIp = Boolean(o['azure-no-public-ip'])
  return {
    subscriptionId, resourceGroup, location: (str(o['azure-location']) ?? 'japaneast').toLowerCase().replace(/\s+/g, ''),
    size: str(o['azure-size']) ?? 'Standard_B2s', image: parseImage(str(o['azure-image']) ?? 'Canonical:ubuntu-24_04-lts:server:latest'),
    sshUser, vnetGroup, vnet, subnet: str(o['azure-subnet']) ?? 'berth', subnetPrefix,
    openPorts: ((o['azure-open-port'] as string[] | undefined) ?? []).flatMap(s => s.split(',')).filter(Boolean).map(parsePort),
    openCidr, usePrivateIp: noPublicIp || Boolean(o['azure-use-private-ip']), noPublicIp,
    staticPublicIp: Boolean(o['azure-static-public-ip']), dnsLabel, customDataFile, zone,
    tenantId: str(o['azure-tenant-id']), clientId: str(o['azure-client-id']), clientSecretFile,
    environment, endpoint, authorityHost, stopMode, swarm: false,
    names: resourceNames(machine.machineName, machine.machineId), made: [],
  }
}

/** NSG rules: SSH and the engine, and extra ports, from --azure-open-cidr. */
export function securityRules(d: Pick<AzureData, 'openCidr' | 'openPorts'>, enginePort = ENGINE_PORT): Record<string, unknown>[] {
  const from = d.openCidr === '*' ? {sourceAddressPrefix: '*'} : {sourceAddressPrefix: d.openCidr}
  const rules: Record<string, unknown>[] = []
  let priority = 300
  const add = (name: string, port: number | string, protocol: string, source: Record<string, unknown>) => rules.push({
    name, protocol, access: 'Allow', direction: 'Inbound', priority: priority++,
    ...source, sourcePortRange: '*', destinationAddressPrefix: '*', destinationPortRange: String(port),
  })
  add('berth-ssh', 22, 'Tcp', from)
  add('berth-docker', enginePort, 'Tcp', from)
  for (const p of d.openPorts) add(`berth-port-${p.port}-${p.protocol.toLowerCase()}`, p.port, p.protocol, from)
  // The swarm ports are not here: berth admits each member by address as the swarm changes (firewall.ts).
  return rules
}
