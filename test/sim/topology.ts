/**
 * A simulated cloud's network, as real clouds build it: the VMs sit on a private network of the
 * cloud's own (a lab network this box has no address on), behind a router namespace whose public
 * side is on the shared "internet" bridge, where this box (berth), lab hosts and other clouds'
 * routers are. A VM's public address (an Azure public IP, an OpenStack floating IP) is leased on
 * the internet subnet and mapped 1:1 by the router: DNAT in to the private address, SNAT out
 * from it (so the VM appears with its public address, also to a VM of its own network that dials
 * that address: hairpin NAT, as the clouds do).
 *
 * The lab module makes the network and its router (drivers/lab/network.ts, nat.ts: the router
 * MASQUERADEs what has no public address, and takes nothing inbound); this adds the 1:1 maps.
 * Filtering (NSGs, security groups) is not done here: this is addressing and routing only.
 */
import {randomBytes} from 'node:crypto'
import {promises as fs} from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import {bridgeName, type LabNet, leaseIp, maybeRemoveBridge, networkBridge, normaliseSubnet, releaseIp} from '../../drivers/lab/network.js'
import {routerExists, routerNetns} from '../../drivers/lab/nat.js'
import {run} from '../../drivers/lab/run.js'

export interface TopologyOptions {
  /** The shared internet's subnet: public addresses are leased on its bridge. */
  internet: string
  /** The cloud network's private subnet (the vnet subnet, the tenant network); unused where VMs sit on the internet (ConoHa). */
  subnet?: string
  /** Names the lab network (one bridge per name); default from the subnet. */
  name?: string
}

const TAG = (pub: string) => `berth-sim-pub-${pub}`

export class CloudNetwork {
  readonly internet: string
  readonly subnet: string
  readonly name: string
  readonly bridge: string
  readonly internetBridge: string
  readonly netns: string
  /** Public address -> its lease owner folder (kept while the address is allocated). */
  private readonly leases = new Map<string, string>()
  /** Public address -> private address it maps to now. */
  private readonly binds = new Map<string, string>()
  private dir = ''
  /** Router edits one at a time: iptables in one namespace does not take concurrent writers. */
  private chain: Promise<unknown> = Promise.resolve()

  constructor(o: TopologyOptions & {subnet: string}) {
    this.internet = normaliseSubnet(o.internet)
    this.subnet = normaliseSubnet(o.subnet)
    this.name = o.name ?? `cloud-${this.subnet.replace('/', '-')}`
    this.bridge = networkBridge(this.name)
    this.internetBridge = bridgeName(this.internet)
    this.netns = routerNetns(this.bridge)
  }

  /** What bootHost needs to put a VM on this network: its subnet, the network and its router. */
  boot(): {subnet: string; net: LabNet} {
    return {subnet: this.subnet, net: {name: this.name, behindNat: this.internet, sealed: true}}
  }

  /** A public address of the internet subnet, leased so that no lab host or router takes it. */
  async allocate(): Promise<string> {
    if (!this.dir) this.dir = await fs.mkdtemp(path.join(os.tmpdir(), 'berth-simpub-'))
    const owner = path.join(this.dir, randomBytes(6).toString('hex'))
    await fs.mkdir(owner)
    const ip = await leaseIp(this.internet, this.internetBridge, owner)
    this.leases.set(ip, owner)
    return ip
  }

  async release(pub: string): Promise<void> {
    await this.unbind(pub)
    const owner = this.leases.get(pub)
    if (!owner) return
    this.leases.delete(pub)
    await releaseIp({ip: pub, bridge: this.internetBridge, dir: owner})
    await fs.rm(owner, {recursive: true, force: true})
    await maybeRemoveBridge(this.internetBridge).catch(() => {})
  }

  /** Map a public address to a private one in the router (again after the router was remade). */
  bind(pub: string, priv: string): Promise<void> {
    return this.serial(async () => {
      if (!await routerExists({netns: this.netns})) throw new Error(`cloud network ${this.name}: its router ${this.netns} does not exist (no VM on it)`)
      if (this.binds.get(pub) === priv && await this.bound(pub)) return
      await this.dropRules(pub)
      const tag = ['-m', 'comment', '--comment', TAG(pub)]
      const ipt = (args: string[]) => `iptables -w 10 ${args.join(' ')}`
      await this.sh([
        'set -e',
        // Forwarding back out of lan (hairpin) must not make the router tell VMs to go direct.
        'echo 0 > /proc/sys/net/ipv4/conf/all/send_redirects; echo 0 > /proc/sys/net/ipv4/conf/lan/send_redirects',
        // What the DNAT let in, and VM to VM through the router: allowed (the router's own rules take only answers from wan).
        `${ipt(['-C', 'FORWARD', '-i', 'wan', '-o', 'lan', '-m', 'conntrack', '--ctstate', 'DNAT', '-j', 'ACCEPT'])} 2>/dev/null || ${ipt(['-I', 'FORWARD', '-i', 'wan', '-o', 'lan', '-m', 'conntrack', '--ctstate', 'DNAT', '-j', 'ACCEPT'])}`,
        `${ipt(['-C', 'FORWARD', '-i', 'lan', '-o', 'lan', '-j', 'ACCEPT'])} 2>/dev/null || ${ipt(['-I', 'FORWARD', '-i', 'lan', '-o', 'lan', '-j', 'ACCEPT'])}`,
        `ip addr replace ${pub}/32 dev wan`,
        ipt(['-t', 'nat', '-I', 'PREROUTING', '-d', pub, '-j', 'DNAT', '--to-destination', priv, ...tag]),
        // Ahead of the router's MASQUERADE, and on every way out (lan too, for the hairpin).
        ipt(['-t', 'nat', '-I', 'POSTROUTING', '-s', priv, '-j', 'SNAT', '--to-source', pub, ...tag]),
      ].join('\n'))
      // This box may still know the address at a previous owner's MAC.
      await run('ip', ['neigh', 'flush', 'to', pub]).catch(() => {})
      this.binds.set(pub, priv)
    })
  }

  /** The public address maps to nothing (the VM is gone or deallocated); the address stays leased. */
  unbind(pub: string): Promise<void> {
    return this.serial(async () => {
      this.binds.delete(pub)
      if (!await routerExists({netns: this.netns})) return
      await this.dropRules(pub)
      await this.sh(`ip addr del ${pub}/32 dev wan 2>/dev/null || true`)
    })
  }

  /** Every public address still leased goes back (the simulator closes). */
  async close(): Promise<void> {
    for (const pub of [...this.leases.keys()]) await this.release(pub).catch(() => {})
    if (this.dir) await fs.rm(this.dir, {recursive: true, force: true})
  }

  private async bound(pub: string): Promise<boolean> {
    return (await this.rules()).some(l => l.includes(TAG(pub)))
  }

  private async rules(): Promise<string[]> {
    return (await run('ip', ['netns', 'exec', this.netns, 'iptables', '-w', '10', '-t', 'nat', '-S']).catch(() => '')).split('\n')
  }

  private async dropRules(pub: string): Promise<void> {
    for (const line of await this.rules()) {
      if (!line.startsWith('-A ') || !line.includes(`--comment ${TAG(pub)}`)) continue
      await run('ip', ['netns', 'exec', this.netns, 'iptables', '-w', '10', '-t', 'nat', '-D', ...line.split(/\s+/).slice(1)]).catch(() => {})
    }
  }

  private sh(script: string): Promise<string> {
    return run('ip', ['netns', 'exec', this.netns, 'sh', '-c', script])
  }

  private serial<T>(fn: () => Promise<T>): Promise<T> {
    const p = this.chain.then(fn)
    this.chain = p.catch(() => {})
    return p
  }
}
