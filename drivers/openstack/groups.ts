/** Security groups berth makes: a machine's own (SSH and the engine from a CIDR) or its swarm's. */
import {ENGINE_PORT} from '../../src/sdk/index.js'
import type {Cloud, RuleSpec} from './api.js'
import {parseCidr} from './config.js'

/** In-process creation of a swarm's security group, so parallel members make it once. */
const swarmGroups = new Map<string, Promise<string>>()

/**
 * SSH and the engine from the user's CIDR, and between the group's members. The swarm ports are
 * not here: berth admits each member by address as the swarm's membership changes (firewall.ts),
 * members in other clouds included.
 */
export function securityRules(openCidr: string | undefined, selfGroupId: string | undefined, sshPort = 22): RuleSpec[] {
  const rules: RuleSpec[] = []
  if (openCidr) {
    const {v6} = parseCidr(openCidr)
    for (const port of [...new Set([sshPort, ENGINE_PORT])]) {
      rules.push({direction: 'ingress', ethertype: v6 ? 'IPv6' : 'IPv4', protocol: 'tcp', portMin: port, portMax: port, remoteIpPrefix: openCidr, description: port === ENGINE_PORT ? 'docker engine (TLS)' : 'ssh'})
    }
  }
  if (selfGroupId) {
    const swarm: [RuleSpec['protocol'], number, string][] = [['tcp', sshPort, 'ssh between members'], ['tcp', ENGINE_PORT, 'docker engine between members']]
    for (const [protocol, port, description] of swarm) {
      rules.push({direction: 'ingress', ethertype: 'IPv4', protocol, portMin: port, portMax: port, remoteGroupId: selfGroupId, description})
    }
  }
  return rules
}

/**
 * The swarm's group, made once: reuse the oldest of that name (another store may have made it),
 * adding whatever rules it lacks; two made at once by a race are tolerated, the extra one is unused.
 */
export async function ensureSwarmGroup(cloud: Cloud, name: string, openCidr: string | undefined, sshPort: number): Promise<string> {
  const key = `${cloud.client.opts.auth.url}|${cloud.client.opts.region}|${name}`
  let p = swarmGroups.get(key)
  if (!p) {
    p = (async () => {
      const existing = (await cloud.securityGroupsNamed(name)).sort((a, b) => (a.created_at ?? '').localeCompare(b.created_at ?? '') || a.id.localeCompare(b.id))
      const g = existing[0] ?? await cloud.createSecurityGroup(name, `berth swarm ${name.replace(/^berth-swarm-/, '')}: swarm ports from its members, SSH and Docker from ${openCidr ?? 'members only'}`)
      const have = new Set(g.security_group_rules.map(r => `${r.direction}|${r.protocol}|${r.port_range_min}|${r.remote_ip_prefix ?? ''}|${r.remote_group_id ?? ''}`))
      for (const r of securityRules(openCidr, g.id, sshPort)) {
        if (have.has(`${r.direction}|${r.protocol}|${r.portMin}|${r.remoteIpPrefix ?? ''}|${r.remoteGroupId ?? ''}`)) continue
        await cloud.createRule(g.id, r)
      }
      return g.id
    })()
    swarmGroups.set(key, p)
    p.catch(() => swarmGroups.delete(key))
  }
  return p
}

export function resetSwarmGroups(): void {
  swarmGroups.clear()
}
