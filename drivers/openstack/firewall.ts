/**
 * Driver.firewall for OpenStack: the swarm's security group admits its members by address, one
 * rule per member address and port (remote_ip_prefix /32), so members in other clouds get in as
 * well as those of this one. berth's rules carry a description of their own; only those are
 * added or deleted, and only to reach the requested set (an unchanged request makes no call
 * beyond one read). The group is shared by the swarm's machines in this cloud: each admits the
 * others and itself, so every member's update asks for the same set.
 */
import type {FirewallRequest, MachineHandle} from '../../src/sdk/index.js'
import {type CloudData, cloudFor} from './session.js'

/** The part of the machine's data this needs (OpenStackData's, without importing the driver). */
interface Data {
  cloud: CloudData
  secGroup?: {name: string; id?: string; shared: boolean}
}

const PEER = 'berth swarm peer'

/** One update of a group at a time in this process: the members sharing it ask side by side. */
const chains = new Map<string, Promise<unknown>>()

const v4 = (a: string) => /^\d+\.\d+\.\d+\.\d+$/.test(a)

export async function firewall(m: MachineHandle<Data>, req: FirewallRequest): Promise<void> {
  const g = m.data.secGroup
  // No group of berth's: the user's own groups are theirs to keep.
  if (!g?.id) return
  const groupId = g.id
  const admit = new Set(req.peers.flatMap(p => p.addresses))
  if (g.shared && req.member) for (const a of req.addresses) admit.add(a)
  if (!g.shared && !req.member) admit.clear()
  const want = new Map<string, {protocol: 'tcp' | 'udp' | 'esp'; port?: number; prefix: string}>()
  for (const a of [...admit].filter(v4)) {
    for (const p of req.ports) {
      const port = 'port' in p ? p.port : undefined
      want.set(`${p.proto}|${port ?? null}|${a}/32`, {protocol: p.proto, port, prefix: `${a}/32`})
    }
  }
  const prev = chains.get(groupId) ?? Promise.resolve()
  const next = prev.catch(() => {}).then(async () => {
    const cloud = await cloudFor(m)
    const group = await cloud.securityGroup(groupId)
    if (!group) return
    const have = new Map<string, string>()
    const stale: string[] = []
    for (const r of group.security_group_rules) {
      if (r.direction !== 'ingress' || !r.description?.startsWith(PEER)) continue
      const key = `${r.protocol}|${r.port_range_min ?? null}|${r.remote_ip_prefix}`
      if (want.has(key) && !have.has(key)) have.set(key, r.id)
      else stale.push(r.id)
    }
    for (const [key, w] of want) {
      if (have.has(key)) continue
      await cloud.createRule(groupId, {direction: 'ingress', ethertype: 'IPv4', protocol: w.protocol, portMin: w.port, portMax: w.port, remoteIpPrefix: w.prefix, description: `${PEER} of ${req.swarm}`})
    }
    for (const id of stale) await cloud.deleteRule(id)
  })
  chains.set(groupId, next)
  void next.finally(() => {
    if (chains.get(groupId) === next) chains.delete(groupId)
  }).catch(() => {})
  await next
}
