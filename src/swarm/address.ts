/**
 * Which address a swarm member is reached at. Inside one cloud network the members reach each
 * other's private addresses (no NAT on the way, traffic stays in the network); members spanning
 * clouds or networks (or with a lab head) reach only the public ones, mapped 1:1 to the private
 * ones by the clouds' routers. Decided from what the drivers recorded, without asking a cloud.
 */
import type {HostAddressing} from '../sdk/index.js'

export interface SwarmMember {
  name: string
  /** Its public address: the driver's swarm address, else ip(). */
  address: string
  addressing?: HostAddressing
}

const privateOn = (m: SwarmMember) => (m.addressing?.private && m.addressing.network ? {ip: m.addressing.private, network: m.addressing.network} : undefined)

/** What `self` advertises: its private address when every other member is on its network, else its public one. */
export function advertiseAddress(self: SwarmMember, others: SwarmMember[]): string {
  const own = privateOn(self)
  return own && others.every(o => o.addressing?.network === own.network) ? own.ip : self.address
}

/** The address `from` dials `to` at (a manager's, for a join): private on one network, else public. */
export function addressFrom(from: SwarmMember, to: SwarmMember): string {
  const theirs = privateOn(to)
  return theirs && from.addressing?.network === theirs.network ? theirs.ip : to.address
}
