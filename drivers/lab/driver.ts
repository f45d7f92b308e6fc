import type {Driver, DriverContext, DriverData, MachineHandle, MachineState} from '../../src/sdk/index.js'
import {bootHost, checkLab, destroyHost, hostState, killHost, type LabHost, parseSubnet, planHost, startHost, stopHost} from './host.js'

const host = (m: {data: DriverData}) => m.data as unknown as LabHost

const driver: Driver = {
  name: 'lab',
  sshTimeout: 30,

  async preCreate(options) {
    await checkLab()
    const subnet = String(options['lab-subnet'])
    parseSubnet(subnet)
    return {subnet, root: String(options['lab-dir'])}
  },

  async create(ctx: DriverContext, data) {
    const opts = {
      id: ctx.machineId, hostname: ctx.machineName, authorizedKeys: ctx.sshPublicKey,
      subnet: String(data.subnet), root: String(data.root),
    }
    const plan = planHost(opts)
    await ctx.save({...plan} as unknown as DriverData)
    const h = await bootHost(opts, plan)
    const saved = {...h} as unknown as DriverData
    await ctx.save(saved)
    return saved
  },

  async remove(m) {
    const h = host(m)
    if (!h.netns) return [] // never got as far as making anything
    await destroyHost(h)
    return []
  },

  async start(m) {
    await m.save({...await startHost(host(m))} as unknown as DriverData)
  },

  async stop(m) {
    const h = host(m)
    await stopHost(h)
    await m.save({...h} as unknown as DriverData)
  },

  async restart(m) {
    await this.stop(m)
    await this.start(m)
  },

  async kill(m) {
    const h = host(m)
    await killHost(h)
    await m.save({...h} as unknown as DriverData)
  },

  async state(m): Promise<MachineState> {
    if (!host(m).dir) return 'NotFound'
    return hostState(host(m))
  },

  async ip(m) {
    return host(m).ip
  },

  async sshEndpoint(m) {
    return {host: host(m).ip, port: 22, user: 'root'}
  },

  engineDefaults(m: MachineHandle) {
    // Its own cgroup parent, so that a host's containers can be cleaned up as one subtree.
    return {'cgroup-parent': `/berth-lab-${host(m).id}`}
  },

  labels() {
    return {region: 'lab'}
  },
}

export default driver
