/**
 * The OpenStack driver (and, with the conoha preset, the ConoHa one). Every cloud resource is
 * recorded before it is asked for (its name) and again once it exists (its id), so a create
 * that fails or is interrupted at any point can be undone: remove() deletes by id, or finds
 * by name what a lost answer left behind.
 */
import type {AdoptedHost, DockerMachineHost, Driver, MachineHandle, MachineState, SSHEndpoint} from '../../src/sdk/index.js'
import {errorMessage, Ledger, settleAll, undo, UserError} from '../../src/sdk/index.js'
import {Cloud} from './api.js'
import {resolveConfig} from './config.js'
import {deleteGroup, waitGone, waitServer, waitVolume, waitVolumeFree} from './waits.js'
import {ensureSwarmGroup, resetSwarmGroups, securityRules} from './groups.js'
import {firewall} from './firewall.js'
import {resolveNames} from './lookup.js'
import type {Server} from './schemas.js'
import type {Interface} from './catalog.js'
import {clientFor, type CloudData, cloudFor, keepSecrets, resetClients, type Secrets, secretsFor} from './session.js'
import {addressesOf, mapState} from './state.js'

/** What the machine record keeps: enough to find and control every resource, and no secret. */
export interface OpenStackData {
  cloud: CloudData
  spec: {
    flavorId: string
    imageId: string
    networkId?: string
    /** The user's groups, by name. */
    secGroups: string[]
    floatingNetworkId?: string
    ipVersion: 4 | 6
    sshUser: string
    sshPort: number
    privateKeyFile?: string
    /** The user's own keypair (with privateKeyFile), used as it is. */
    keypairName?: string
    activeTimeoutSec: number
    bootVolume?: {size: number; type?: string}
    availabilityZone?: string
    openCidr?: string
    nameTag: boolean
  }
  /** owned: berth imported it (and deletes it); otherwise the user's own keypair. */
  keypair?: {name: string; owned: boolean}
  /** shared: the swarm's group, deleted by whichever rm leaves it unused. */
  secGroup?: {name: string; id?: string; shared: boolean}
  volume?: {name: string; id?: string}
  server?: {name: string; id?: string}
  floatingIp?: {description: string; id?: string; address?: string}
  ip?: string
  addresses?: string[]
  /** The fixed address behind a floating one, and the name of its (tenant) network. */
  privateIp?: string
  network?: string
}


/** What preCreate hands to create in memory: never in the record. */
export interface OpenStackSecrets {
  auth: Secrets
  /** --openstack-user-data (may carry secrets of the user's). */
  userData?: string
  /** The public key of --openstack-private-key-file's pair, imported instead of berth's. */
  publicKey?: string
}

const METADATA_KEY = 'berth-machine-id'

type Handle = MachineHandle<OpenStackData>

const short = (id: string) => id.slice(0, 8)

export function makeDriver(name: 'openstack' | 'conoha'): Driver<OpenStackData, OpenStackSecrets> {
  return {
    name,
    sshTimeout: 120,

    async preCreate(options) {
      const cfg = await resolveConfig(options)
      const auth: Secrets = {password: cfg.auth.password, applicationCredentialSecret: cfg.auth.applicationCredentialSecret}
      const {password: _pw, applicationCredentialSecret: _acs, ...rest} = cfg.auth
      const cloudData: CloudData = {...rest, region: cfg.region, interface: cfg.interface, preset: cfg.preset, conoha: cfg.conoha}
      const client = clientFor(cloudData, auth)
      // Resolve every name now: a typo then fails before anything is made.
      const {flavorId, imageId, networkId, floatingNetworkId} = await resolveNames(client, new Cloud(client), cfg)
      const data: OpenStackData = {
        cloud: cloudData,
        spec: {
          flavorId, imageId, networkId, secGroups: cfg.secGroups, floatingNetworkId, ipVersion: cfg.ipVersion,
          sshUser: cfg.sshUser, sshPort: cfg.sshPort, privateKeyFile: cfg.privateKeyFile, keypairName: cfg.keypairName, activeTimeoutSec: cfg.activeTimeoutSec,
          bootVolume: cfg.bootVolume, availabilityZone: cfg.availabilityZone, openCidr: cfg.openCidr, nameTag: cfg.nameTag,
        },
      }
      return {data, secrets: {auth, userData: cfg.userData, publicKey: cfg.publicKey}}
    },

    async create(ctx, data0) {
      const ledger = new Ledger<OpenStackData>({...data0}, ctx.save)
      const data = ledger.data
      const spec = data.spec
      const p = ctx.secrets
      const secrets = p?.auth ?? await secretsFor(ctx)
      // Kept before anything is made, so that a rollback (or an rm after a crash) can authenticate.
      await keepSecrets(ctx.machineDir, secrets)
      const cloud = new Cloud(clientFor(data.cloud, secrets, ctx.debug), ctx.signal)
      const tag = `${ctx.machineName}-${short(ctx.machineId)}`

      // Independent steps run together; all of them settle before a failure is thrown, so rollback sees every id.
      await settleAll([
        (async () => {
          if (spec.keypairName) return ledger.record({keypair: {name: spec.keypairName, owned: false}})
          const name = `berth-${tag}`
          await ledger.intend({keypair: {name, owned: true}})
          ctx.log('importing the SSH key')
          await cloud.importKeypair(name, (p?.publicKey ?? ctx.sshPublicKey).trim())
        })(),
        (async () => {
          if (ctx.swarm) {
            const name = `berth-swarm-${ctx.swarm.name}`
            await ledger.intend({secGroup: {name, shared: true}})
            ctx.log(`security group ${name}`)
            // Without groups of the user's, berth itself must let SSH and the engine in.
            const open = spec.openCidr ?? (spec.secGroups.length ? undefined : '0.0.0.0/0')
            const id = await ensureSwarmGroup(cloud, name, open, spec.sshPort)
            await ledger.record({secGroup: {name, shared: true, id}})
          } else if (spec.openCidr) {
            const name = `berth-${tag}`
            await ledger.intend({secGroup: {name, shared: false}})
            ctx.log(`security group ${name}`)
            const g = await cloud.createSecurityGroup(name, `berth machine ${ctx.machineName}: SSH and Docker from ${spec.openCidr}`)
            await ledger.record({secGroup: {name, shared: false, id: g.id}})
            for (const r of securityRules(spec.openCidr, undefined, spec.sshPort)) await cloud.createRule(g.id, r)
          }
        })(),
        (async () => {
          if (!spec.bootVolume) return
          const name = `berth-${tag}-boot`
          await ledger.intend({volume: {name}})
          ctx.log(`boot volume (${spec.bootVolume.size} GB)`)
          const v = await cloud.createVolume({name, size: spec.bootVolume.size, imageRef: spec.imageId, volumeType: spec.bootVolume.type, availabilityZone: spec.availabilityZone, description: `berth machine ${ctx.machineName}`})
          await ledger.record({volume: {name, id: v.id}})
          await waitVolume(cloud, v.id, spec.activeTimeoutSec)
        })(),
      ])

      const groups = [...spec.secGroups]
      if (data.secGroup?.id) {
        if (!groups.length) groups.push('default')
        // By id: a swarm's group name could exist twice after a race between two stores.
        groups.push(data.secGroup.id)
      }
      const metadata: Record<string, string> = {[METADATA_KEY]: ctx.machineId}
      if (spec.nameTag) metadata.instance_name_tag = ctx.machineName
      await ledger.intend({server: {name: ctx.machineName}})
      ctx.log('creating the server')
      const serverId = await cloud.createServer({
        server: {
          name: ctx.machineName,
          flavorRef: spec.flavorId,
          ...(data.volume?.id
            ? {block_device_mapping_v2: [{uuid: data.volume.id, source_type: 'volume', destination_type: 'volume', boot_index: 0, delete_on_termination: false}]}
            : {imageRef: spec.imageId}),
          key_name: data.keypair!.name,
          ...(spec.networkId ? {networks: [{uuid: spec.networkId}]} : {}),
          ...(groups.length ? {security_groups: groups.map(name => ({name}))} : {}),
          ...(p?.userData ? {user_data: p.userData} : {}),
          ...(spec.availabilityZone ? {availability_zone: spec.availabilityZone} : {}),
          metadata,
        },
      })
      await ledger.record({server: {name: ctx.machineName, id: serverId}})
      ctx.log('waiting for the server to become ACTIVE')
      let server = await waitServer(cloud, serverId, s => s.status === 'ACTIVE', spec.activeTimeoutSec, 'to become ACTIVE')

      if (spec.floatingNetworkId) {
        const ports = await cloud.ports(serverId)
        const port = ports.find(pt => !spec.networkId || pt.network_id === spec.networkId) ?? ports[0]
        if (!port) throw new UserError(`neutron: server ${serverId} has no port to attach a floating IP to`)
        const description = `berth ${ctx.machineId}`
        await ledger.intend({floatingIp: {description}})
        ctx.log('allocating a floating IP')
        const fip = await cloud.createFloatingIp(spec.floatingNetworkId, port.id, description)
        await ledger.record({floatingIp: {description, id: fip.id, address: fip.floating_ip_address}})
        server = (await cloud.server(serverId)) ?? server
      }
      const {ip, all, privateIp, network} = addressesOf(server, {ipVersion: spec.ipVersion, floatingAddress: data.floatingIp?.address})
      if (!ip) throw new UserError(`nova server ${serverId} has no IPv${spec.ipVersion} address: check --openstack-net-name or --openstack-ip-version`)
      await ledger.record({ip, addresses: all, ...(privateIp ? {privateIp, network} : {})})
      return {...data}
    },

    async remove(m) {
      const data = m.data
      if (!data.keypair && !data.secGroup && !data.volume && !data.server && !data.floatingIp) return []
      const cloud = await cloudFor(m)
      try {
        await cloud.client.getToken()
      } catch (err) {
        return [`cannot authenticate to delete the machine's resources (${errorMessage(err)})`]
      }
      const {keypair, secGroup, volume, server, floatingIp} = data
      let serverGone = true
      // In the order create makes them; undo deletes from the last. By id, or by name when the answer with the id was lost.
      return undo([
        keypair?.owned && {what: `keypair ${keypair.name}`, undo: () => cloud.deleteKeypair(keypair.name)},
        secGroup && {what: `security group ${secGroup.name}`, undo: async () => {
          const ids = secGroup.id ? [secGroup.id] : (await cloud.securityGroupsNamed(secGroup.name)).map(g => g.id)
          for (const id of ids) await deleteGroup(cloud, id, secGroup.shared)
        }},
        volume && {what: `cinder volume ${volume.id ?? volume.name}`, undo: async () => {
          if (!serverGone) throw new Error('still attached to the server')
          const ids = volume.id ? [volume.id] : (await cloud.volumesNamed(volume.name)).map(v => v.id)
          for (const id of ids) {
            await waitVolumeFree(cloud, id)
            await cloud.deleteVolume(id)
          }
        }},
        server && {what: `nova server ${server.id ?? server.name}`, undo: async () => {
          serverGone = false
          const ids = server.id ? [server.id] : (await cloud.serversNamed(server.name)).filter(s => s.metadata?.[METADATA_KEY] === m.machineId).map(s => s.id)
          for (const id of ids) await cloud.deleteServer(id)
          // Its volume and security group stay in use until the server is really gone.
          if (volume || secGroup) for (const id of ids) await waitGone(cloud, id, 180)
          serverGone = true
        }},
        floatingIp && {what: `floating IP ${floatingIp.address ?? floatingIp.description}`, undo: async () => {
          const ids = floatingIp.id ? [floatingIp.id] : (await cloud.floatingIps({description: floatingIp.description})).filter(f => f.description === floatingIp.description).map(f => f.id)
          for (const id of ids) await cloud.deleteFloatingIp(id)
        }},
      ], {describe: err => errorMessage(err)})
    },

    async start(m) {
      const cloud = await cloudFor(m)
      const s = await mustServer(cloud, m)
      if (s.status === 'SHUTOFF') {
        await cloud.serverAction(s.id, {'os-start': null})
      } else if (s.status !== 'ACTIVE') {
        throw new UserError(`cannot start "${m.machineName}": its server is ${s.status}`)
      }
      await refresh(m, await waitServer(cloud, s.id, x => x.status === 'ACTIVE' && !x['OS-EXT-STS:task_state'], m.data.spec.activeTimeoutSec, 'to start'))
    },

    async stop(m) {
      const cloud = await cloudFor(m)
      const s = await mustServer(cloud, m)
      if (s.status === 'ACTIVE') await cloud.serverAction(s.id, {'os-stop': null})
      else if (s.status !== 'SHUTOFF') throw new UserError(`cannot stop "${m.machineName}": its server is ${s.status}`)
      await waitServer(cloud, s.id, x => x.status === 'SHUTOFF', m.data.spec.activeTimeoutSec, 'to stop')
    },

    async restart(m) {
      const cloud = await cloudFor(m)
      const s = await mustServer(cloud, m)
      if (s.status === 'SHUTOFF') return this.start(m)
      await cloud.serverAction(s.id, {reboot: {type: 'SOFT'}})
      await refresh(m, await waitServer(cloud, s.id, x => x.status === 'ACTIVE' && !x['OS-EXT-STS:task_state'], m.data.spec.activeTimeoutSec, 'to reboot'))
    },

    async kill(m) {
      // Nova has no forced power-off in its API: os-stop is the hardest stop it offers.
      return this.stop(m)
    },

    async state(m): Promise<MachineState> {
      const id = m.data.server?.id
      if (!id) return 'NotFound'
      return mapState(await (await cloudFor(m)).server(id))
    },

    async ip(m) {
      const data = m.data
      if (data.ip) return data.ip
      const cloud = await cloudFor(m)
      const {ip} = addressesOf(await mustServer(cloud, m), {ipVersion: data.spec.ipVersion, floatingAddress: data.floatingIp?.address})
      if (!ip) throw new UserError(`"${m.machineName}" has no IPv${data.spec.ipVersion} address yet`)
      return ip
    },

    async addresses(m) {
      return m.data.addresses ?? []
    },

    async sshEndpoint(m): Promise<SSHEndpoint> {
      const {spec} = m.data
      return {host: await this.ip(m), port: spec.sshPort, user: spec.sshUser, privateKeyPath: spec.privateKeyFile}
    },

    addressing(m) {
      const {ip, privateIp, network, cloud} = m.data
      // A tenant network is one project's: its name is unique only within the cloud, region and project.
      const project = cloud.projectId ?? cloud.projectName ?? ''
      return {public: ip, ...(privateIp && network ? {private: privateIp, network: `openstack:${cloud.url}|${cloud.region ?? ''}|${project}|${network}`} : {})}
    },

    firewall,

    labels(m) {
      const c = m.data.cloud
      return {provider: c.preset ?? 'openstack', ...(c.region ? {region: c.region} : {})}
    },

    ...(name === 'openstack' ? {adoptDockerMachine: adoptOpenStack} : {}),
  }
}

async function mustServer(cloud: Cloud, m: Handle): Promise<Server> {
  const id = m.data.server?.id
  const s = id ? await cloud.server(id) : undefined
  if (!s) throw new UserError(`the server of "${m.machineName}" no longer exists${id ? ` (nova server ${id})` : ''}: remove the machine with "berth rm -f ${m.machineName}"`)
  return s
}

/** After a start the fixed address may have changed: record what the server says now. */
async function refresh(m: Handle, s: Server): Promise<void> {
  const data = m.data
  const {ip, all, privateIp, network} = addressesOf(s, {ipVersion: data.spec.ipVersion, floatingAddress: data.floatingIp?.address})
  if (ip && (ip !== data.ip || all.join() !== (data.addresses ?? []).join() || privateIp !== data.privateIp)) {
    const {privateIp: _p, network: _n, ...rest} = data
    await m.save({...rest, ip, addresses: all, ...(privateIp ? {privateIp, network} : {})})
  }
}

const text = (v: unknown) => (typeof v === 'string' && v ? v : undefined)
const INTERFACES: Record<string, Interface> = {publicURL: 'public', internalURL: 'internal', adminURL: 'admin'}

/**
 * A docker-machine OpenStack server: the same Keystone credentials (its password goes to the
 * machine's secrets file, 0600, as berth's own openstack machines keep theirs), the nova server
 * by id, the address docker-machine recorded. The keypair is recorded as the user's: berth does
 * not know whether docker-machine made it, so `rm --remove-host` leaves it.
 */
async function adoptOpenStack(h: DockerMachineHost): Promise<AdoptedHost<OpenStackData>> {
  const d = h.driver
  const url = text(d.AuthUrl)
  const id = text(d.MachineId)
  if (!url || !id) throw new UserError(`docker-machine host "${h.machineName}": its config.json has no ${url ? 'MachineId' : 'AuthUrl'}, so berth cannot find its server`)
  const unmapped: string[] = []
  if (d.Insecure === true || text(d.CaCert)) unmapped.push('Insecure / CaCert: berth verifies the cloud\'s certificate with the system CAs')
  if (d.ComputeNetwork === true) unmapped.push('nova-network: berth speaks neutron only')
  if (text(d.FloatingIpPool)) unmapped.push(`floating IP from ${text(d.FloatingIpPool)}: kept on the server, not deleted by rm --remove-host`)
  if (text(d.KeyPairName)) unmapped.push(`keypair ${text(d.KeyPairName)}: not deleted by rm --remove-host`)
  if (text(d.Password)) await keepSecrets(h.machineDir, {password: text(d.Password)})
  else unmapped.push('no password in config.json: berth uses OS_PASSWORD from the environment')
  const domain = text(d.DomainName)
  const domainId = text(d.DomainID)
  const data: OpenStackData = {
    cloud: {
      url, username: text(d.Username), projectName: text(d.TenantName), projectId: text(d.TenantId),
      userDomainName: domain, projectDomainName: domain, userDomainId: domainId, projectDomainId: domainId,
      region: text(d.Region), interface: INTERFACES[text(d.EndpointType) ?? ''] ?? 'public',
    },
    spec: {
      flavorId: text(d.FlavorId) ?? '', imageId: text(d.ImageId) ?? '', networkId: text(d.NetworkId),
      secGroups: Array.isArray(d.SecurityGroups) ? d.SecurityGroups.filter((g): g is string => typeof g === 'string') : [],
      floatingNetworkId: text(d.FloatingIpPoolId), ipVersion: d.IpVersion === 6 ? 6 : 4,
      sshUser: text(d.SSHUser) ?? 'root', sshPort: typeof d.SSHPort === 'number' && d.SSHPort > 0 ? d.SSHPort : 22,
      privateKeyFile: h.sshKeyPath, keypairName: text(d.KeyPairName),
      activeTimeoutSec: typeof d.ActiveTimeout === 'number' && d.ActiveTimeout > 0 ? d.ActiveTimeout : 200,
      availabilityZone: text(d.AvailabilityZone), nameTag: false,
    },
    ...(text(d.KeyPairName) ? {keypair: {name: text(d.KeyPairName)!, owned: false}} : {}),
    server: {name: h.machineName, id},
    ...(text(d.IPAddress) ? {ip: text(d.IPAddress)} : {}),
  }
  return {data, unmapped}
}

export default makeDriver('openstack')

/** Forget cached clients, lookups and swarm groups (tests run many "processes" in one). */
export function resetCaches(): void {
  resetClients()
  resetSwarmGroups()
}
