/**
 * The OpenStack driver (and, with the conoha preset, the ConoHa one). Every cloud resource is
 * recorded before it is asked for (its name) and again once it exists (its id), so a create
 * that fails or is interrupted at any point can be undone: remove() deletes by id, or finds
 * by name what a lost answer left behind.
 */
import {promises as fs} from 'node:fs'
import path from 'node:path'
import type {Driver, DriverContext, DriverData, MachineHandle, MachineState, SSHEndpoint} from '../../src/sdk/index.js'
import {errorMessage, UserError} from '../../src/sdk/index.js'
import {writeFileAtomic} from '../../src/sdk/index.js'
import {Cloud, type RuleSpec} from './api.js'
import {type AuthConfig, type Interface, OpenStackClient, OpenStackError} from './client.js'
import {parseCidr, type Preset, resolveConfig, type ResolvedConfig} from './config.js'
import type {Server} from './schemas.js'

/** What the machine record keeps: enough to find and control every resource, and no secret. */
export interface OpenStackData {
  cloud: Omit<AuthConfig, 'password' | 'applicationCredentialSecret'> & {region?: string; interface: Interface; preset?: Preset; conoha?: 'v2' | 'v3'}
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
}

interface Secrets {
  password?: string
  applicationCredentialSecret?: string
}

const SECRETS_FILE = 'openstack-secrets.json'
const METADATA_KEY = 'berth-machine-id'

/** Secrets and user data between preCreate and create (same process), never in the record. */
const pending = new Map<string, {secrets: Secrets; userData?: string; publicKey?: string}>()
/** One client per credentials and region in a process: parallel creates share one token. */
const clients = new Map<string, OpenStackClient>()
/** Name lookups made once per client (flavors, images, networks do not change during a create). */
const lookups = new WeakMap<OpenStackClient, Map<string, Promise<unknown>>>()
/** In-process creation of a swarm's security group, so parallel members make it once. */
const swarmGroups = new Map<string, Promise<string>>()

const d = (m: {data: DriverData}) => m.data as unknown as OpenStackData
const short = (id: string) => id.slice(0, 8)
const sleep = (ms: number, signal?: AbortSignal) => new Promise<void>((resolve, reject) => {
  if (signal?.aborted) return reject(signal.reason)
  const t = setTimeout(() => {
    signal?.removeEventListener('abort', abort)
    resolve()
  }, ms)
  const abort = () => {
    clearTimeout(t)
    reject(signal!.reason)
  }
  signal?.addEventListener('abort', abort, {once: true})
})

function runtime(): {timeoutMs: number; retries: number; retryBaseMs: number} {
  const n = (k: string, dflt: number) => {
    const v = Number(process.env[k])
    return process.env[k] && Number.isFinite(v) && v >= 0 ? v : dflt
  }
  return {timeoutMs: n('BERTH_OPENSTACK_API_TIMEOUT', 60) * 1000, retries: n('BERTH_OPENSTACK_RETRIES', 4), retryBaseMs: n('BERTH_OPENSTACK_RETRY_BASE_MS', 500)}
}

function clientFor(cloud: OpenStackData['cloud'], secrets: Secrets, debug?: (l: string) => void): OpenStackClient {
  const {region, interface: iface, preset: _p, conoha: _c, ...auth} = cloud
  const full: AuthConfig = {...auth, ...secrets}
  const key = JSON.stringify([full, region, iface])
  let c = clients.get(key)
  if (!c) {
    c = new OpenStackClient({auth: full, region, interface: iface, microversion: '2.1', ...runtime(), debug})
    clients.set(key, c)
  }
  return c
}

function memo<T>(c: OpenStackClient, key: string, fn: () => Promise<T>): Promise<T> {
  let m = lookups.get(c)
  if (!m) lookups.set(c, m = new Map())
  let p = m.get(key) as Promise<T> | undefined
  if (!p) {
    p = fn()
    m.set(key, p)
    // A failed lookup (a typo, a 500) is asked again next time.
    p.catch(() => m.delete(key))
  }
  return p
}

async function readSecrets(dir: string): Promise<Secrets | undefined> {
  try {
    return JSON.parse(await fs.readFile(path.join(dir, SECRETS_FILE), 'utf8')) as Secrets
  } catch {
    return undefined
  }
}

/** Secrets for an existing machine: the machine's own file, else the current environment. */
async function secretsFor(m: {machineId: string; machineDir: string}): Promise<Secrets> {
  return pending.get(m.machineId)?.secrets ?? await readSecrets(m.machineDir) ?? {
    password: process.env.OS_PASSWORD, applicationCredentialSecret: process.env.OS_APPLICATION_CREDENTIAL_SECRET,
  }
}

async function cloudFor(m: {machineId: string; machineDir: string; data: DriverData; signal?: AbortSignal; debug?: (l: string) => void}): Promise<Cloud> {
  return new Cloud(clientFor(d(m).cloud, await secretsFor(m), m.debug), m.signal)
}

/** Serialize record writes: concurrent steps each save, and a late write must never drop an earlier id. */
function saver(save: (data: DriverData) => Promise<void>, data: OpenStackData): () => Promise<void> {
  let chain = Promise.resolve()
  return () => {
    chain = chain.then(() => save({...data} as unknown as DriverData))
    return chain
  }
}

/** Poll with backoff until the server reaches one of `want`; ERROR ends the wait at once. */
async function waitServer(cloud: Cloud, id: string, want: (s: Server) => boolean, timeoutSec: number, what: string, signal?: AbortSignal): Promise<Server> {
  const deadline = Date.now() + timeoutSec * 1000
  let delay = 200
  for (;;) {
    const s = await cloud.server(id)
    if (!s) throw new UserError(`nova server ${id} disappeared while ${what}`)
    if (want(s)) return s
    if (s.status === 'ERROR') throw new UserError(`nova server ${id} went to ERROR${s.fault?.message ? `: ${s.fault.message}` : ''}`)
    if (Date.now() >= deadline) throw new UserError(`nova server ${id} is still ${s.status}${s['OS-EXT-STS:task_state'] ? ` (${s['OS-EXT-STS:task_state']})` : ''} after ${timeoutSec} s ${what}: raise --openstack-active-timeout or check the cloud`)
    await sleep(Math.min(delay, Math.max(0, deadline - Date.now())), signal)
    delay = Math.min(5000, delay * 1.5)
  }
}

async function waitGone(cloud: Cloud, id: string, timeoutSec: number): Promise<void> {
  const deadline = Date.now() + timeoutSec * 1000
  let delay = 200
  while (await cloud.server(id)) {
    if (Date.now() >= deadline) throw new UserError(`nova server ${id} is still being deleted after ${timeoutSec} s`)
    await sleep(delay)
    delay = Math.min(3000, delay * 1.5)
  }
}

/** The address clients use (floating first, else fixed, of the IP version wanted), and every address (for certificate SANs). */
export function addressesOf(s: Server, o: {ipVersion: 4 | 6; floatingAddress?: string}): {ip?: string; all: string[]} {
  const all = new Set<string>()
  let fixed: string | undefined
  let floating: string | undefined
  for (const addrs of Object.values(s.addresses)) {
    for (const a of addrs) {
      all.add(a.addr)
      if (a.version !== o.ipVersion) continue
      if (a['OS-EXT-IPS:type'] === 'floating') floating ??= a.addr
      else fixed ??= a.addr
    }
  }
  if (o.floatingAddress) all.add(o.floatingAddress)
  return {ip: o.floatingAddress ?? floating ?? fixed, all: [...all]}
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

/** The swarm ports between members, and SSH and the engine from the user's CIDR. */
export function securityRules(openCidr: string | undefined, selfGroupId: string | undefined, sshPort = 22): RuleSpec[] {
  const rules: RuleSpec[] = []
  if (openCidr) {
    const {v6} = parseCidr(openCidr)
    for (const port of [...new Set([sshPort, 2376])]) {
      rules.push({direction: 'ingress', ethertype: v6 ? 'IPv6' : 'IPv4', protocol: 'tcp', portMin: port, portMax: port, remoteIpPrefix: openCidr, description: port === 2376 ? 'docker engine (TLS)' : 'ssh'})
    }
  }
  if (selfGroupId) {
    const swarm: [RuleSpec['protocol'], number, string][] = [
      ['tcp', sshPort, 'ssh between members'], ['tcp', 2376, 'docker engine between members'], ['tcp', 2377, 'swarm management'],
      ['tcp', 7946, 'swarm gossip'], ['udp', 7946, 'swarm gossip'], ['udp', 4789, 'swarm overlay (VXLAN)'],
    ]
    for (const [protocol, port, description] of swarm) {
      rules.push({direction: 'ingress', ethertype: 'IPv4', protocol, portMin: port, portMax: port, remoteGroupId: selfGroupId, description})
    }
  }
  return rules
}

export function makeDriver(name: 'openstack' | 'conoha'): Driver {
  return {
    name,
    sshTimeout: 120,

    async preCreate(options, ctx) {
      const cfg = await resolveConfig(options)
      const secrets: Secrets = {password: cfg.auth.password, applicationCredentialSecret: cfg.auth.applicationCredentialSecret}
      const {password: _pw, applicationCredentialSecret: _acs, ...auth} = cfg.auth
      const cloudData: OpenStackData['cloud'] = {...auth, region: cfg.region, interface: cfg.interface, preset: cfg.preset, conoha: cfg.conoha}
      const client = clientFor(cloudData, secrets)
      const cloud = new Cloud(client)
      // Resolve every name now: a typo then fails before anything is made.
      const [flavorId, imageId, networkId, floatingNetworkId] = await Promise.all([
        memo(client, `flavor:${cfg.flavor.id}:${cfg.flavor.name}`, () => findFlavor(cloud, cfg)),
        memo(client, `image:${cfg.image.id}:${cfg.image.name}`, () => findImage(cloud, cfg)),
        cfg.network.id || cfg.network.name ? memo(client, `net:${cfg.network.id}:${cfg.network.name}`, () => findNetwork(cloud, cfg.network, 'net')) : undefined,
        cfg.floatingIpPool ? memo(client, `pool:${cfg.floatingIpPool}`, () => findNetwork(cloud, {name: cfg.floatingIpPool}, 'floatingip-pool')) : undefined,
        ...cfg.secGroups.map(g => memo(client, `sg:${g}`, async () => {
          if (!(await cloud.securityGroupsNamed(g)).length) throw new UserError(`security group "${g}" not found: check --openstack-sec-groups`)
        })),
        cfg.keypairName ? memo(client, `kp:${cfg.keypairName}`, async () => {
          if (!await cloud.keypair(cfg.keypairName!)) throw new UserError(`keypair "${cfg.keypairName}" not found: check --openstack-keypair-name`)
        }) : undefined,
      ])
      pending.set(ctx.machineId, {secrets, userData: cfg.userData, publicKey: cfg.publicKey})
      const data: OpenStackData = {
        cloud: cloudData,
        spec: {
          flavorId, imageId, networkId, secGroups: cfg.secGroups, floatingNetworkId, ipVersion: cfg.ipVersion,
          sshUser: cfg.sshUser, sshPort: cfg.sshPort, privateKeyFile: cfg.privateKeyFile, keypairName: cfg.keypairName, activeTimeoutSec: cfg.activeTimeoutSec,
          bootVolume: cfg.bootVolume, availabilityZone: cfg.availabilityZone, openCidr: cfg.openCidr, nameTag: cfg.nameTag,
        },
      }
      return data as unknown as DriverData
    },

    async create(ctx: DriverContext, data0: DriverData): Promise<DriverData> {
      const data = {...(data0 as unknown as OpenStackData)}
      const spec = data.spec
      const p = pending.get(ctx.machineId)
      const secrets = p?.secrets ?? await secretsFor(ctx)
      // The secrets file lets a later rm (or a rollback after a crash) authenticate; it never enters the record.
      await writeFileAtomic(path.join(ctx.machineDir, SECRETS_FILE), JSON.stringify(secrets), 0o600)
      const cloud = new Cloud(clientFor(data.cloud, secrets, ctx.debug), ctx.signal)
      const save = saver(ctx.save, data)
      const tag = `${ctx.machineName}-${short(ctx.machineId)}`

      // Independent steps run together; all of them settle before a failure is thrown, so rollback sees every id.
      const settle = async (steps: (Promise<unknown> | undefined)[]) => {
        const results = await Promise.allSettled(steps)
        const failed = results.find(r => r.status === 'rejected') as PromiseRejectedResult | undefined
        if (failed) throw failed.reason
      }

      await settle([
        (async () => {
          if (spec.keypairName) {
            data.keypair = {name: spec.keypairName, owned: false}
            return save()
          }
          const name = `berth-${tag}`
          data.keypair = {name, owned: true}
          await save()
          ctx.log('importing the SSH key')
          await cloud.importKeypair(name, (p?.publicKey ?? ctx.sshPublicKey).trim())
        })(),
        (async () => {
          if (ctx.swarm) {
            const name = `berth-swarm-${ctx.swarm.name}`
            data.secGroup = {name, shared: true}
            await save()
            ctx.log(`security group ${name}`)
            // Without groups of the user's, berth itself must let SSH and the engine in.
            const open = spec.openCidr ?? (spec.secGroups.length ? undefined : '0.0.0.0/0')
            data.secGroup.id = await ensureSwarmGroup(cloud, name, open, spec.sshPort)
            await save()
          } else if (spec.openCidr) {
            const name = `berth-${tag}`
            data.secGroup = {name, shared: false}
            await save()
            ctx.log(`security group ${name}`)
            const g = await cloud.createSecurityGroup(name, `berth machine ${ctx.machineName}: SSH and Docker from ${spec.openCidr}`)
            data.secGroup.id = g.id
            await save()
            for (const r of securityRules(spec.openCidr, undefined, spec.sshPort)) await cloud.createRule(g.id, r)
          }
        })(),
        (async () => {
          if (!spec.bootVolume) return
          const name = `berth-${tag}-boot`
          data.volume = {name}
          await save()
          ctx.log(`boot volume (${spec.bootVolume.size} GB)`)
          const v = await cloud.createVolume({name, size: spec.bootVolume.size, imageRef: spec.imageId, volumeType: spec.bootVolume.type, availabilityZone: spec.availabilityZone, description: `berth machine ${ctx.machineName}`})
          data.volume.id = v.id
          await save()
          await waitVolume(cloud, v.id, spec.activeTimeoutSec, ctx.signal)
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
      data.server = {name: ctx.machineName}
      await save()
      ctx.log('creating the server')
      data.server.id = await cloud.createServer({
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
      await save()
      ctx.log('waiting for the server to become ACTIVE')
      let server = await waitServer(cloud, data.server.id, s => s.status === 'ACTIVE', spec.activeTimeoutSec, 'to become ACTIVE', ctx.signal)

      if (spec.floatingNetworkId) {
        const ports = await cloud.ports(data.server.id)
        const port = ports.find(pt => !spec.networkId || pt.network_id === spec.networkId) ?? ports[0]
        if (!port) throw new UserError(`neutron: server ${data.server.id} has no port to attach a floating IP to`)
        const description = `berth ${ctx.machineId}`
        data.floatingIp = {description}
        await save()
        ctx.log('allocating a floating IP')
        const fip = await cloud.createFloatingIp(spec.floatingNetworkId, port.id, description)
        data.floatingIp = {description, id: fip.id, address: fip.floating_ip_address}
        await save()
        server = (await cloud.server(data.server.id)) ?? server
      }
      const {ip, all} = addressesOf(server, {ipVersion: spec.ipVersion, floatingAddress: data.floatingIp?.address})
      if (!ip) throw new UserError(`nova server ${data.server.id} has no IPv${spec.ipVersion} address: check --openstack-net-name or --openstack-ip-version`)
      data.ip = ip
      data.addresses = all
      await save()
      pending.delete(ctx.machineId)
      return data as unknown as DriverData
    },

    async remove(m: MachineHandle): Promise<string[]> {
      const data = d(m)
      if (!data.keypair && !data.secGroup && !data.volume && !data.server && !data.floatingIp) return []
      const cloud = await cloudFor(m)
      try {
        await cloud.client.getToken()
      } catch (err) {
        return [`cannot authenticate to delete the machine's resources (${errorMessage(err)})`]
      }
      const left: string[] = []
      const attempt = async (what: string, fn: () => Promise<void>) => {
        try {
          await fn()
        } catch (err) {
          left.push(`${what}: ${errorMessage(err)}`)
        }
      }
      // Reverse order of creation.
      if (data.floatingIp) {
        await attempt(`floating IP ${data.floatingIp.address ?? data.floatingIp.description}`, async () => {
          const ids = data.floatingIp!.id ? [data.floatingIp!.id] : (await cloud.floatingIps({description: data.floatingIp!.description})).filter(f => f.description === data.floatingIp!.description).map(f => f.id)
          for (const id of ids) await cloud.deleteFloatingIp(id)
        })
      }
      let serverGone = true
      if (data.server) {
        const before = left.length
        await attempt(`nova server ${data.server.id ?? data.server.name}`, async () => {
          const ids = data.server!.id ? [data.server!.id] : (await cloud.serversNamed(data.server!.name)).filter(s => s.metadata?.[METADATA_KEY] === m.machineId).map(s => s.id)
          for (const id of ids) await cloud.deleteServer(id)
          // Its volume and security group stay in use until the server is really gone.
          if (data.volume || data.secGroup) for (const id of ids) await waitGone(cloud, id, 180)
        })
        serverGone = left.length === before
      }
      if (data.volume) {
        await attempt(`cinder volume ${data.volume.id ?? data.volume.name}`, async () => {
          if (!serverGone) throw new Error('still attached to the server')
          const ids = data.volume!.id ? [data.volume!.id] : (await cloud.volumesNamed(data.volume!.name)).map(v => v.id)
          for (const id of ids) {
            await waitVolumeFree(cloud, id)
            await cloud.deleteVolume(id)
          }
        })
      }
      if (data.secGroup) {
        await attempt(`security group ${data.secGroup.name}`, async () => {
          const ids = data.secGroup!.id ? [data.secGroup!.id] : (await cloud.securityGroupsNamed(data.secGroup!.name)).map(g => g.id)
          for (const id of ids) await deleteGroup(cloud, id, data.secGroup!.shared)
        })
      }
      if (data.keypair?.owned) {
        await attempt(`keypair ${data.keypair.name}`, async () => {
          await cloud.deleteKeypair(data.keypair!.name)
        })
      }
      return left
    },

    async start(m) {
      const cloud = await cloudFor(m)
      const s = await mustServer(cloud, m)
      if (s.status === 'SHUTOFF') {
        await cloud.serverAction(s.id, {'os-start': null})
      } else if (s.status !== 'ACTIVE') {
        throw new UserError(`cannot start "${m.machineName}": its server is ${s.status}`)
      }
      await refresh(m, await waitServer(cloud, s.id, x => x.status === 'ACTIVE' && !x['OS-EXT-STS:task_state'], d(m).spec.activeTimeoutSec, 'to start', m.signal))
    },

    async stop(m) {
      const cloud = await cloudFor(m)
      const s = await mustServer(cloud, m)
      if (s.status === 'ACTIVE') await cloud.serverAction(s.id, {'os-stop': null})
      else if (s.status !== 'SHUTOFF') throw new UserError(`cannot stop "${m.machineName}": its server is ${s.status}`)
      await waitServer(cloud, s.id, x => x.status === 'SHUTOFF', d(m).spec.activeTimeoutSec, 'to stop', m.signal)
    },

    async restart(m) {
      const cloud = await cloudFor(m)
      const s = await mustServer(cloud, m)
      if (s.status === 'SHUTOFF') return this.start(m)
      await cloud.serverAction(s.id, {reboot: {type: 'SOFT'}})
      await refresh(m, await waitServer(cloud, s.id, x => x.status === 'ACTIVE' && !x['OS-EXT-STS:task_state'], d(m).spec.activeTimeoutSec, 'to reboot', m.signal))
    },

    async kill(m) {
      // Nova has no forced power-off in its API: os-stop is the hardest stop it offers.
      return this.stop(m)
    },

    async state(m): Promise<MachineState> {
      const id = d(m).server?.id
      if (!id) return 'NotFound'
      return mapState(await (await cloudFor(m)).server(id))
    },

    async ip(m) {
      const data = d(m)
      if (data.ip) return data.ip
      const cloud = await cloudFor(m)
      const {ip} = addressesOf(await mustServer(cloud, m), {ipVersion: data.spec.ipVersion, floatingAddress: data.floatingIp?.address})
      if (!ip) throw new UserError(`"${m.machineName}" has no IPv${data.spec.ipVersion} address yet`)
      return ip
    },

    async addresses(m) {
      return d(m).addresses ?? []
    },

    async sshEndpoint(m): Promise<SSHEndpoint> {
      const data = d(m)
      return {host: await this.ip(m), port: data.spec.sshPort, user: data.spec.sshUser, privateKeyPath: data.spec.privateKeyFile}
    },

    labels(m) {
      const c = d(m).cloud
      return {provider: c.preset ?? 'openstack', ...(c.region ? {region: c.region} : {})}
    },
  }
}

async function mustServer(cloud: Cloud, m: MachineHandle): Promise<Server> {
  const id = d(m).server?.id
  const s = id ? await cloud.server(id) : undefined
  if (!s) throw new UserError(`the server of "${m.machineName}" no longer exists${id ? ` (nova server ${id})` : ''}: remove the machine with "berth rm -f ${m.machineName}"`)
  return s
}

/** After a start the fixed address may have changed: record what the server says now. */
async function refresh(m: MachineHandle, s: Server): Promise<void> {
  const data = d(m)
  const {ip, all} = addressesOf(s, {ipVersion: data.spec.ipVersion, floatingAddress: data.floatingIp?.address})
  if (ip && (ip !== data.ip || all.join() !== (data.addresses ?? []).join())) {
    await m.save({...data, ip, addresses: all} as unknown as DriverData)
  }
}

async function findFlavor(cloud: Cloud, cfg: ResolvedConfig): Promise<string> {
  if (cfg.flavor.id) {
    if (!await cloud.flavor(cfg.flavor.id)) throw new UserError(`flavor id "${cfg.flavor.id}" not found: check --openstack-flavor-id`)
    return cfg.flavor.id
  }
  const all = await cloud.flavors()
  const f = all.find(x => x.name === cfg.flavor.name)
  if (!f) throw new UserError(`flavor "${cfg.flavor.name}" not found (the cloud has: ${all.map(x => x.name).slice(0, 12).join(', ')}${all.length > 12 ? ', ...' : ''})`)
  return f.id
}

async function findImage(cloud: Cloud, cfg: ResolvedConfig): Promise<string> {
  if (cfg.image.id) {
    if (!await cloud.image(cfg.image.id)) throw new UserError(`image id "${cfg.image.id}" not found: check --openstack-image-id`)
    return cfg.image.id
  }
  const found = (await cloud.imagesNamed(cfg.image.name!)).filter(i => i.status === 'active')
  if (!found.length) throw new UserError(`image "${cfg.image.name}" not found (or not active): check --openstack-image-name`)
  if (found.length > 1) throw new UserError(`${found.length} images are named "${cfg.image.name}": pass --openstack-image-id (${found.map(i => i.id).join(', ')})`)
  return found[0].id
}

async function findNetwork(cloud: Cloud, n: {id?: string; name?: string}, flag: 'net' | 'floatingip-pool'): Promise<string> {
  if (n.id) {
    if (!await cloud.network(n.id)) throw new UserError(`network id "${n.id}" not found: check --openstack-net-id`)
    return n.id
  }
  const found = await cloud.networksNamed(n.name!)
  if (!found.length) throw new UserError(`network "${n.name}" not found: check --openstack-${flag}${flag === 'net' ? '-name' : ''}`)
  if (found.length > 1) throw new UserError(`${found.length} networks are named "${n.name}": pass --openstack-net-id`)
  return found[0].id
}

async function waitVolume(cloud: Cloud, id: string, timeoutSec: number, signal?: AbortSignal): Promise<void> {
  const deadline = Date.now() + timeoutSec * 1000
  let delay = 200
  for (;;) {
    const v = await cloud.volume(id)
    if (!v) throw new UserError(`cinder volume ${id} disappeared while being made`)
    if (v.status === 'available') return
    if (v.status.startsWith('error')) throw new UserError(`cinder volume ${id} went to ${v.status}: check --openstack-volume-type and the quota`)
    if (Date.now() >= deadline) throw new UserError(`cinder volume ${id} is still ${v.status} after ${timeoutSec} s`)
    await sleep(Math.min(delay, Math.max(0, deadline - Date.now())), signal)
    delay = Math.min(5000, delay * 1.5)
  }
}

/** A volume is detached a little after its server is gone. */
async function waitVolumeFree(cloud: Cloud, id: string): Promise<void> {
  const deadline = Date.now() + 60_000
  let delay = 200
  for (;;) {
    const v = await cloud.volume(id)
    if (!v || !['in-use', 'detaching', 'attaching', 'creating', 'downloading'].includes(v.status)) return
    if (Date.now() >= deadline) throw new UserError(`cinder volume ${id} is still ${v.status} after 60 s`)
    await sleep(delay)
    delay = Math.min(3000, delay * 1.5)
  }
}

async function deleteGroup(cloud: Cloud, id: string, shared: boolean): Promise<void> {
  const deadline = Date.now() + 30_000
  for (;;) {
    try {
      await cloud.deleteSecurityGroup(id)
      return
    } catch (err) {
      if (!(err instanceof OpenStackError) || err.status !== 409) throw err
      // Our server is gone by now, so a swarm's group still in use serves other members: it stays.
      if (shared) return
      // A machine's own group frees up as soon as Neutron has let go of the server's port.
      if (Date.now() >= deadline) throw err
      await sleep(1000)
    }
  }
}

/**
 * The swarm's group, made once: reuse the oldest of that name (another store may have made it),
 * adding whatever rules it lacks; two made at once by a race are tolerated, the extra one is unused.
 */
async function ensureSwarmGroup(cloud: Cloud, name: string, openCidr: string | undefined, sshPort: number): Promise<string> {
  const key = `${cloud.client.opts.auth.url}|${cloud.client.opts.region}|${name}`
  let p = swarmGroups.get(key)
  if (!p) {
    p = (async () => {
      const existing = (await cloud.securityGroupsNamed(name)).sort((a, b) => (a.created_at ?? '').localeCompare(b.created_at ?? '') || a.id.localeCompare(b.id))
      const g = existing[0] ?? await cloud.createSecurityGroup(name, `berth swarm ${name.replace(/^berth-swarm-/, '')}: swarm ports between members, SSH and Docker from ${openCidr ?? 'members only'}`)
      const have = new Set(g.security_group_rules.map(r => `${r.direction}|${r.protocol}|${r.port_range_min}|${r.remote_ip_prefix ?? ''}|${r.remote_group_id ?? ''}`))
      for (const r of securityRules(openCidr, g.id, sshPort)) {
        if (have.has(`${r.direction}|${r.protocol}|${r.portMin}|${r.remoteIpPrefix ?? ''}|${r.remoteGroupId ?? ''}`)) continue
        await cloud.createRule(g.id, r)
      }
      return g.id
    })()
    swarmGroups.set(key, p)
    p.catch(() => swarmGroups.delete(key))
  }
  return p
}

export default makeDriver('openstack')

/** Forget cached clients, lookups and swarm groups (tests run many "processes" in one). */
export function resetCaches(): void {
  clients.clear()
  swarmGroups.clear()
  pending.clear()
}
