/**
 * Azure network security groups as a host filter (firewall.ts), from the simulator's inventory:
 * the NSG of the VM's subnet and the NSG of its NIC, each a stage (inbound: subnet first, then NIC;
 * outbound: NIC first), rules in priority order, the lowest number first, the first match deciding,
 * the default rules (AllowVnetInBound, AllowAzureLoadBalancerInBound, DenyAllInBound and their
 * outbound twins) last. A VM with no NSG anywhere is open, as in Azure.
 */
import type {FwRule, HostFilter} from './firewall.js'

/** What ARM gives every NSG, in every region: https://learn.microsoft.com/azure/virtual-network/network-security-groups-overview#default-security-rules */
export function defaultSecurityRules(): Record<string, unknown>[] {
  const rule = (name: string, direction: string, priority: number, access: string, source: string, destination: string) => ({
    name, properties: {
      description: `${access === 'Allow' ? 'Allow' : 'Deny'} ${name.replace(/^(Allow|Deny)/, '').replace(/(In|Out)Bound$/, '')} ${direction.toLowerCase()} traffic`,
      protocol: '*', sourcePortRange: '*', destinationPortRange: '*', sourceAddressPrefix: source, destinationAddressPrefix: destination,
      access, priority, direction, provisioningState: 'Succeeded',
    },
  })
  return [
    rule('AllowVnetInBound', 'Inbound', 65000, 'Allow', 'VirtualNetwork', 'VirtualNetwork'),
    rule('AllowAzureLoadBalancerInBound', 'Inbound', 65001, 'Allow', 'AzureLoadBalancer', '*'),
    rule('DenyAllInBound', 'Inbound', 65500, 'Deny', '*', '*'),
    rule('AllowVnetOutBound', 'Outbound', 65000, 'Allow', 'VirtualNetwork', 'VirtualNetwork'),
    rule('AllowInternetOutBound', 'Outbound', 65001, 'Allow', '*', 'Internet'),
    rule('DenyAllOutBound', 'Outbound', 65500, 'Deny', '*', '*'),
  ]
}

/** The few resource shapes this needs (the simulator's own records). */
interface Res {id: string; type: string; properties: Record<string, any>}

/** Azure's own health probes and DNS come from here. */
const AZURE_LB = '168.63.129.16/32'

const list = (one: unknown, many: unknown): string[] => [...(Array.isArray(many) ? many : []), ...(one === undefined || one === null || one === '' ? [] : [one])].map(String)

/** "*" (any) -> undefined; a tag -> its addresses; a CIDR or an address as it is. */
function prefixes(values: string[], vnet: string[]): string[] | undefined {
  if (!values.length || values.some(v => v === '*' || v.toLowerCase() === 'any' || v === '0.0.0.0/0' || v.toLowerCase() === 'internet')) return undefined
  return [...new Set(values.flatMap(v => {
    const t = v.toLowerCase()
    if (t === 'virtualnetwork') return vnet
    if (t === 'azureloadbalancer') return [AZURE_LB]
    // Other service tags name Azure's own ranges, none of which the lab reaches.
    if (!/^[\d.]+(\/\d+)?$/.test(v)) return []
    return [v]
  }))]
}

const portList = (values: string[]): string[] | undefined => (!values.length || values.includes('*') ? undefined : values.map(v => v.replace('-', ':')))

function toRules(s: {name: string; properties: Record<string, any>}, dir: 'Inbound' | 'Outbound', vnet: string[]): FwRule[] {
  const p = s.properties
  const source = prefixes(list(p.sourceAddressPrefix, p.sourceAddressPrefixes), vnet)
  const destination = prefixes(list(p.destinationAddressPrefix, p.destinationAddressPrefixes), vnet)
  const base = {
    action: String(p.access).toLowerCase() === 'allow' ? 'RETURN' as const : 'DROP' as const,
    remote: dir === 'Inbound' ? source : destination, local: dir === 'Inbound' ? destination : source,
    why: `nsg rule ${s.name} (${p.priority})`,
  }
  const proto = String(p.protocol ?? '*').toLowerCase()
  const ports = portList(list(p.destinationPortRange, p.destinationPortRanges))
  const sourcePorts = portList(list(p.sourcePortRange, p.sourcePortRanges))
  if (proto === 'tcp' || proto === 'udp') return [{...base, proto, ports, sourcePorts}]
  if (proto === 'icmp') return [{...base, proto: 'icmp'}]
  if (proto === 'esp') return [{...base, proto: '50'}]
  if (proto === 'ah') return [{...base, proto: '51'}]
  // "*" with ports: the ports of TCP and UDP.
  if (ports || sourcePorts) return [{...base, proto: 'tcp', ports, sourcePorts}, {...base, proto: 'udp', ports, sourcePorts}]
  return [base]
}

function stage(nsg: Res, dir: 'Inbound' | 'Outbound', vnet: string[]): FwRule[] {
  const all = [...(nsg.properties.securityRules ?? []), ...(nsg.properties.defaultSecurityRules ?? [])]
    .filter((s: any) => s.properties?.direction === dir)
    .sort((a: any, b: any) => Number(a.properties.priority) - Number(b.properties.priority))
  return all.flatMap((s: any) => toRules(s, dir, vnet))
}

/**
 * The filter of a VM from its NIC: `get` reads any resource of the inventory by id. The
 * VirtualNetwork tag is the vnet's address space and the private address of every NIC in it.
 */
export function nsgFilter(nic: Res, get: (id: string) => Res | undefined, all: Iterable<Res>): HostFilter {
  const ipc = nic.properties.ipConfigurations?.[0]?.properties ?? {}
  const subnetId = String(ipc.subnet?.id ?? '')
  const vnetId = subnetId.replace(/\/subnets\/[^/]+$/i, '')
  const vnetRes = get(vnetId)
  const subnet = (vnetRes?.properties.subnets ?? []).find((s: any) => `${vnetId}/subnets/${s.name}`.toLowerCase() === subnetId.toLowerCase())
  const vnet = [...(vnetRes?.properties.addressSpace?.addressPrefixes ?? [])]
  for (const r of all) {
    if (!r.type.endsWith('networkInterfaces')) continue
    for (const c of r.properties.ipConfigurations ?? []) {
      if (String(c.properties?.subnet?.id ?? '').toLowerCase().startsWith(vnetId.toLowerCase() + '/') && c.properties?.privateIPAddress) vnet.push(`${c.properties.privateIPAddress}/32`)
    }
  }
  const nsgs = [subnet?.properties?.networkSecurityGroup?.id, nic.properties.networkSecurityGroup?.id].map(id => (id ? get(String(id)) : undefined)).filter((r): r is Res => Boolean(r))
  return {
    inbound: nsgs.map(n => stage(n, 'Inbound', vnet)),
    outbound: [...nsgs].reverse().map(n => stage(n, 'Outbound', vnet)),
  }
}
