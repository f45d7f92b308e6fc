/**
 * Networking of qemu VMs. Each VM has two NICs:
 * - NAT (QEMU user mode): SSH and the engine forwarded from loopback ports leased per machine;
 * - the store's segment: a QEMU socket netdev on a multicast group bound to loopback, so every VM
 *   of one store shares an L2 segment with no bridge, tap or root networking; addresses on it are
 *   static (cloud-init network-config), leased per store so two machines never share one.
 */
import {createHash} from 'node:crypto'
import path from 'node:path'

/**
 * The segment of a store and subnet: a multicast group and port derived from both, so two
 * stores (or two subnets of one store) on one host never share a segment.
 */
export function segmentFor(storeRoot: string, subnet: string): {group: string; port: number} {
  const h = createHash('sha256').update(`${path.resolve(storeRoot)}\n${subnet}`).digest()
  // 239.255.0.0/16 is the organisation-local scope; TTL 1 and loopback keep it on this host.
  return {group: `239.255.${h[0]}.${Math.max(1, h[1])}`, port: 20000 + (h.readUInt16BE(2) % 40000)}
}
