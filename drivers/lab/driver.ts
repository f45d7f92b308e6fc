import path from 'node:path'
import type {Driver, MachineHandle, MachineState} from '../../src/sdk/index.js'
import {UserError} from '../../src/sdk/index.js'
import {bootHost, checkLab, destroyHost, hostState, killHost, type LabHost, planHost, startHost, stopHost} from './host.js'
import {checkSubnet, DEFAULT_SUBNET, type LabNet, namedNetwork, natPublicAddress, networkBridge, normaliseSubnet, subnetsOverlap} from './network.js'
import {describeWan, sameWan, wanOption} from './wan.js'

/** What to make (preCreate's subnet and folder), then, from the plan on, the host itself. */
type LabData = Partial<LabHost> & {subnet: string; root?: string}

async function imageOption(v: unknown): Promise<string | undefined> {
  if (v === undefined || v === '') return undefined
  const dir = path.resolve(String(v))
  const {checkLabImage} = await import('./image.js')
  await checkLabImage(dir)
  return dir
}

/** The plan, saved before anything is made, names every piece: from then on there is something to remove. */
const isHost = (d: LabData): d is LabHost => Boolean(d.netns)

function host(m: MachineHandle<LabData>): LabHost {
  if (!isHost(m.data)) throw new UserError(`"${m.machineName}" was never made: remove it with "berth rm -f ${m.machineName}"`)
  return m.data
}

/** --lab-network, --lab-behind-nat, --lab-nat and --lab-wan-*, checked against the network as it stands. */
async function labNet(options: Record<string, unknown>, given?: string): Promise<{spec: LabNet; subnet?: string}> {
  const name = options['lab-network'] ? String(options['lab-network']) : undefined
  const behind = Boolean(options['lab-behind-nat'])
  const wan = wanOption(options)
  const spec: LabNet = {...(name ? {name} : {}), ...(options['lab-nat'] ? {nat: true} : {})}
  if (!name) {
    if (behind) throw new UserError('--lab-behind-nat puts a named network behind a router: give it one with --lab-network NAME')
    if (wan) throw new UserError('--lab-wan-delay, --lab-wan-jitter and --lab-wan-loss put a WAN on a named network\'s router: give it one with --lab-network NAME')
    return {spec}
  }
  if (!/^[a-z0-9][a-z0-9_.-]{0,62}$/i.test(name)) throw new UserError(`bad --lab-network "${name}": letters, digits, ".", "_" and "-", starting with a letter or digit`)
  const known = await namedNetwork(name)
  if (known && given && given !== known.subnet) throw new UserError(`lab network ${name} is on ${known.subnet}, not ${given}: leave out --lab-subnet (and BERTH_LAB_SUBNET) or pass --lab-subnet ${known.subnet}`)
  if (known && behind && !known.behindNat) throw new UserError(`lab network ${name} is not behind NAT (its hosts are on it already): use another --lab-network name for a network behind NAT`)
  if (known && wan && !known.behindNat && !known.routed) throw new UserError(`lab network ${name} has no router to put a WAN on (its hosts are on it already): use another --lab-network name for a network across a WAN`)
  if (known && wan && !sameWan(known.wan, wan)) throw new UserError(`lab network ${name}'s WAN is ${known.wan ? describeWan(known.wan) : 'without delay or loss'}: leave out --lab-wan-* to join it as it is, or use another --lab-network name`)
  const routed = known ? known.routed : Boolean(wan) && !behind
  if (known?.behindNat || behind || routed) {
    if (spec.nat) throw new UserError(`--lab-nat routes a host out through this box; hosts on lab network ${name} go out through its router (${routed ? '--lab-wan-*' : '--lab-behind-nat'}): drop one of them`)
    const pub = normaliseSubnet(String(options['lab-public-subnet']))
    const subnet = known?.subnet ?? given ?? DEFAULT_SUBNET
    if (subnetsOverlap(pub, subnet)) throw new UserError(`lab network ${name} (${subnet}) and its routers' public subnet ${pub} share addresses: use another --lab-public-subnet or --lab-subnet`)
    if (routed) spec.routed = pub
    else spec.behindNat = pub
    if (wan && !known) spec.wan = wan
  }
  return {spec, subnet: known?.subnet}
}

const driver: Driver<LabData> = {
  name: 'lab',
  sshTimeout: 30,

  async preCreate(options) {
    await checkLab()
    // Host bits are dropped, not refused: 172.30.77.9/24 is the network 172.30.77.0/24, on its bridge.
    const given = options['lab-subnet'] ? normaliseSubnet(String(options['lab-subnet'])) : undefined
    const net = await labNet(options, given)
    const subnet = net.subnet ?? given ?? DEFAULT_SUBNET
    await checkSubnet(subnet, undefined, net.spec.name ? networkBridge(net.spec.name) : undefined)
    const image = await imageOption(options['lab-image'])
    return {data: {subnet, root: String(options['lab-dir']), ...(Object.keys(net.spec).length ? {net: net.spec} : {}), ...(image ? {image} : {})}}
  },

  async create(ctx, data) {
    const opts = {
      id: ctx.machineId, hostname: ctx.machineName, authorizedKeys: ctx.sshPublicKey,
      subnet: String(data.subnet), root: String(data.root), net: data.net, image: data.image,
    }
    const plan = planHost(opts)
    await ctx.save({...plan})
    const h = await bootHost(opts, plan)
    await ctx.save({...h})
    return {...h}
  },

  async remove(m) {
    if (!isHost(m.data)) return [] // never got as far as making anything
    await destroyHost(m.data)
    return []
  },

  async start(m) {
    await m.save({...await startHost(host(m))})
  },

  async stop(m) {
    const h = host(m)
    await stopHost(h)
    await m.save({...h})
  },

  async restart(m) {
    await this.stop(m)
    await this.start(m)
  },

  async kill(m) {
    const h = host(m)
    await killHost(h)
    await m.save({...h})
  },

  async state(m): Promise<MachineState> {
    if (!isHost(m.data) || !m.data.dir) return 'NotFound'
    return hostState(m.data)
  },

  async ip(m) {
    return host(m).ip
  },

  /** Its own address and, behind NAT, the router's public one: the address its packets reach other networks from. */
  async addresses(m) {
    const h = host(m)
    const pub = h.net?.behindNat ? await natPublicAddress(h.bridge) : undefined
    return pub ? [h.ip, pub] : [h.ip]
  },

  async sshEndpoint(m) {
    return {host: host(m).ip, port: 22, user: 'root'}
  },

  engineDefaults(m) {
    // Its own cgroup parent, so that a host's containers can be cleaned up as one subtree.
    return {'cgroup-parent': `/berth-lab-${host(m).id}`}
  },

  labels() {
    return {region: 'lab'}
  },
}

export default driver
