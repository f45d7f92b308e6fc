/** What a Nova server says about itself, in berth's terms: its addresses and its state. */
import type {MachineState} from '../../src/sdk/index.js'
import type {Server} from './schemas.js'

/**
 * The address clients use (floating first, else fixed, of the IP version wanted), every address
 * (for certificate SANs), and the fixed one with its network's name when a floating one is in
 * front of it (the private address: a ConoHa server's fixed address on ext-* is its public one).
 */
export function addressesOf(s: Server, o: {ipVersion: 4 | 6; floatingAddress?: string}): {ip?: string; all: string[]; privateIp?: string; network?: string} {
  const all = new Set<string>()
  let fixed: {addr: string; network: string} | undefined
  let floating: string | undefined
  for (const [network, addrs] of Object.entries(s.addresses)) {
    for (const a of addrs) {
      all.add(a.addr)
      if (a.version !== o.ipVersion) continue
      if (a['OS-EXT-IPS:type'] === 'floating') floating ??= a.addr
      else fixed ??= {addr: a.addr, network}
    }
  }
  if (o.floatingAddress) all.add(o.floatingAddress)
  const ip = o.floatingAddress ?? floating ?? fixed?.addr
  return {ip, all: [...all], ...(fixed && fixed.addr !== ip ? {privateIp: fixed.addr, network: fixed.network} : {})}
}

export function mapState(s: Server | undefined): MachineState {
  if (!s) return 'NotFound'
  const task = s['OS-EXT-STS:task_state']
  if (task === 'powering-off' || task === 'deleting') return 'Stopping'
  if (task === 'powering-on' || task === 'rebooting' || task === 'reboot_started') return 'Starting'
  switch (s.status) {
    case 'ACTIVE': {
      // power_state 4 (shutdown) or 6 (crashed) while ACTIVE means the guest stopped by itself.
      const p = s['OS-EXT-STS:power_state']
      return p === 4 || p === 6 ? 'Stopped' : 'Running'
    }
    case 'BUILD': case 'REBUILD': case 'REBOOT': case 'HARD_REBOOT': return 'Starting'
    case 'SHUTOFF': return 'Stopped'
    case 'PAUSED': return 'Paused'
    case 'SUSPENDED': case 'SHELVED': case 'SHELVED_OFFLOADED': return 'Saved'
    case 'ERROR': return 'Error'
    case 'DELETED': case 'SOFT_DELETED': return 'NotFound'
    default: return 'Unknown'
  }
}
