/**
 * Neutron security groups as a host filter (firewall.ts): a port's groups' rules, ingress and
 * egress, IPv4. Security groups are allow lists: what no rule admits is dropped, each direction
 * on its own (a group without egress rules lets nothing out). A rule with remote_group_id admits
 * the addresses of every port in that group (fixed and floating), as Neutron's agents expand it.
 */
import type {FwRule, HostFilter} from './firewall.js'

export interface SgRule {
  id: string
  groupId: string
  direction: 'ingress' | 'egress'
  ethertype: 'IPv4' | 'IPv6'
  protocol: string | null
  min: number | null
  max: number | null
  prefix: string | null
  remoteGroupId: string | null
}

const PROTO: Record<string, string> = {tcp: 'tcp', udp: 'udp', icmp: 'icmp', 6: 'tcp', 17: 'udp', 1: 'icmp'}

/** The filter of one port: its groups' rules; `members(g)` gives the addresses of group g's ports. */
export function securityGroupFilter(groupIds: string[], rules: Iterable<SgRule>, members: (groupId: string) => string[]): HostFilter {
  const all = [...rules]
  const stage = (direction: SgRule['direction']): FwRule[] => {
    const out: FwRule[] = []
    for (const r of all) {
      if (!groupIds.includes(r.groupId) || r.direction !== direction || r.ethertype !== 'IPv4') continue
      const proto = r.protocol === null || r.protocol === 'any' ? undefined : PROTO[r.protocol] ?? r.protocol
      const ports = (proto === 'tcp' || proto === 'udp') && r.min !== null ? [r.min === (r.max ?? r.min) ? String(r.min) : `${r.min}:${r.max}`] : undefined
      const remote = r.remoteGroupId ? members(r.remoteGroupId) : r.prefix && r.prefix !== '0.0.0.0/0' ? [r.prefix] : undefined
      out.push({action: 'RETURN', proto, ports, remote, why: `sg rule ${r.id}`})
    }
    out.push({action: 'DROP', why: `no rule of the port's security groups admits it`})
    return out
  }
  return {inbound: [stage('ingress')], outbound: [stage('egress')]}
}
