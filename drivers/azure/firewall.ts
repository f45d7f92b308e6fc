/**
 * Driver.firewall for Azure: the machine's own NSG admits the swarm's other members, one rule per
 * port with every member address in sourceAddressPrefixes. berth's rules are named berth-peers-*;
 * their priorities are kept from one update to the next and chosen from 1000 up around the NSG's
 * other rules. The NSG is written (one PUT of the whole group, as ARM keeps its rules) only when
 * the rules would change: an unchanged request costs one read.
 */
import type {FirewallRequest} from '../../src/sdk/index.js'
import type {Clients} from './arm.js'
import type {AzureData} from './config.js'

const PREFIX = 'berth-peers-'
const FIRST_PRIORITY = 1000

interface Rule {
  name?: string
  priority?: number
  direction?: string
  protocol?: string
  destinationPortRange?: string
  sourceAddressPrefixes?: string[]
  [k: string]: unknown
}

const same = (a: Rule, b: Rule) => a.protocol === b.protocol && a.destinationPortRange === b.destinationPortRange && (a.sourceAddressPrefixes ?? []).join() === (b.sourceAddressPrefixes ?? []).join()

export async function nsgFirewall(c: Clients, d: AzureData, req: FirewallRequest, lro: {abortSignal: AbortSignal}): Promise<void> {
  let nsg
  try {
    nsg = await c.network.networkSecurityGroups.get(d.resourceGroup, d.names.nsg)
  } catch (err) {
    // Gone with its machine: nothing to admit.
    if ((err as {statusCode?: number}).statusCode === 404) return
    throw err
  }
  const rules = (nsg.securityRules ?? []) as Rule[]
  const others = rules.filter(r => !r.name?.startsWith(PREFIX))
  const mine = new Map(rules.filter(r => r.name?.startsWith(PREFIX)).map(r => [r.name!, r]))
  const sources = req.member ? [...new Set(req.peers.flatMap(p => p.addresses).filter(a => /^\d+\.\d+\.\d+\.\d+$/.test(a)))].sort() : []
  const used = new Set(others.filter(r => r.direction === 'Inbound').map(r => r.priority))
  const want: Rule[] = []
  if (sources.length) {
    for (const p of req.ports) {
      const name = 'port' in p ? `${PREFIX}${p.port}-${p.proto}` : `${PREFIX}${p.proto}`
      const kept = mine.get(name)?.priority
      let priority = kept !== undefined && !used.has(kept) ? kept : FIRST_PRIORITY
      while (used.has(priority)) priority++
      used.add(priority)
      want.push({
        name, priority, direction: 'Inbound', access: 'Allow', protocol: {tcp: 'Tcp', udp: 'Udp', esp: 'Esp'}[p.proto],
        description: `berth: swarm ${req.swarm} members`, sourceAddressPrefixes: sources, sourcePortRange: '*',
        destinationAddressPrefix: '*', destinationPortRange: 'port' in p ? String(p.port) : '*',
      })
    }
  }
  const unchanged = want.length === mine.size && want.every(w => {
    const h = mine.get(w.name!)
    return h && h.priority === w.priority && same(h, w)
  })
  if (unchanged) return
  await c.network.networkSecurityGroups.beginCreateOrUpdateAndWait(d.resourceGroup, d.names.nsg, {
    location: nsg.location, tags: nsg.tags, securityRules: [...others, ...want] as never,
  }, lro)
}
