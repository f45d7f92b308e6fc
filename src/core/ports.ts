/**
 * The ports a Docker host and a swarm use: the swarm check, and the clouds' security rules
 * between members, all open these and only these.
 */

export const ENGINE_PORT = 2376

export interface SwarmPort {
  port: number
  proto: 'tcp' | 'udp'
  /** What Docker's documentation calls it. */
  what: string
  /** Short name for rule names (gossip comes twice, once per protocol). */
  key: 'manager' | 'gossip' | 'vxlan'
}

export const SWARM_PORTS: readonly SwarmPort[] = [
  {port: 2377, proto: 'tcp', what: 'cluster management', key: 'manager'},
  {port: 7946, proto: 'tcp', what: 'node communication', key: 'gossip'},
  {port: 7946, proto: 'udp', what: 'node communication', key: 'gossip'},
  {port: 4789, proto: 'udp', what: 'overlay network traffic', key: 'vxlan'},
]

/** One path from a member to another on one port, as `swarm doctor` reports it: swarm ports and mesh tunnels alike. */
export interface PortPath {
  from: string
  to: string
  address: string
  port: number
  proto: string
  ok: boolean
  /** The source address the far end saw (NAT shows as one the sender does not have). */
  seenAs?: string
  reason?: string
  fix?: string
}
