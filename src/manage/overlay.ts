/**
 * Overlays across clouds are encrypted unless the user says otherwise: VXLAN carries containers'
 * traffic in the clear, and between clouds it crosses the internet. Docker's `--opt encrypted`
 * puts it in IPsec (ESP, IP protocol 50, which berth's firewall rules admit between members).
 * A swarm whose members share a WireGuard mesh (`--swarm-mesh`, marked in their records) needs no
 * second layer: its overlays already travel inside the tunnels.
 */
import type {MachineRecord} from '../store/index.js'

/** Docker enables encryption on the key alone, whatever its value: berth reads "false" as off. */
const OFF = /^(false|0|no|off)$/i

/** The options an overlay is made with, and the line that says what berth chose (none when it chose nothing). */
export function overlayOptions(given: Record<string, string> | null | undefined, records: MachineRecord[]): {options: Record<string, string>; note?: string} {
  const options = {...given}
  if ('encrypted' in options) {
    if (!OFF.test(options.encrypted)) return {options}
    delete options.encrypted
    return {options, note: 'not encrypted (encrypted=false): overlay traffic crosses the networks between machines in the clear'}
  }
  const clouds = [...new Set(records.map(r => r.driver))].sort()
  if (clouds.length < 2 || records.some(r => r.mesh)) return {options}
  options.encrypted = ''
  return {options, note: `encrypted (IPsec) by default: the swarm spans ${clouds.join(', ')} and has no mesh; -o encrypted=false to turn it off`}
}
