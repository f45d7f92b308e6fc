/**
 * Azure driver: a VM and what it needs (resource group, NSG, network, public IP, NIC) through
 * Azure Resource Manager. Long-running operations are followed by the SDK as ARM says
 * (Azure-AsyncOperation, else Location, with Retry-After); each is bounded by a deadline.
 */
import {createHash} from 'node:crypto'
import {promises as fs} from 'node:fs'
import type {Driver, MachineState, UndoStep} from '../../src/sdk/index.js'
import {errorMessage, Ledger, poll, settleAll, sleep, undo, UserError} from '../../src/sdk/index.js'
import {clientSecret, makeClients, type Clients} from './arm.js'
import {parseOptions, securityRules, type AzureData} from './config.js'
import {armFailure, mapArmError} from './errors.js'
import {nsgFirewall} from './firewall.js'

const TAG = {'berth-created': 'true'}
const LRO_DEADLINE_MS = Number(process.env.BERTH_AZURE_DEADLINE_MS) || 15 * 60_000
const NIC_RETRY_MS = Number(process.env.BERTH_AZURE_NIC_RETRY_MS) || 180_000

const clientCache = new Map<string, Promise<Clients>>()

/**
 * What the machines of one create share (the resource group, the virtual network): checked and
 * made once per process, by the first machine. The answer is what berth made, which every
 * machine sharing it then records, so whichever rm comes last deletes it. Forgotten after a
 * failure, after an rm that deleted it, and after 10 minutes.
 */
const sharedSteps = new Map<string, {p: Promise<string[]>; at: number}>()
const SHARED_TTL_MS = 10 * 60_000

function once(key: string, fn: () => Promise<string[]>): Promise<string[]> {
  const hit = sharedSteps.get(key)
  if (hit && Date.now() - hit.at < SHARED_TTL_MS) return hit.p
  const p = fn()
  sharedSteps.set(key, {p, at: Date.now()})
  p.catch(() => {
    if (sharedSteps.get(key)?.p === p) sharedSteps.delete(key)
  })
  return p
}

const rgKey = (d: AzureData) => `rg|${d.subscriptionId}|${d.resourceGroup}`.toLowerCase()
const vnetKey = (d: AzureData) => `vnet|${d.subscriptionId}|${d.vnetGroup}|${d.vnet}|${d.subnet}`.toLowerCase()

/** --azure-client-secret, handed to create in memory: later commands read it again from the environment or its file. */
export interface AzureSecrets {
  clientSecret?: string
}

/** One set of clients (one token, one pace) per identity: the create's machines and the later reads of their addresses. */
async function clients(d: AzureData, given?: string): Promise<Clients> {
  const secret = await clientSecret(d, given)
  const id = secret ? createHash('sha256').update(secret).digest('hex').slice(0, 16) : ''
  const key = JSON.stringify([d.subscriptionId, d.endpoint, d.authorityHost, d.tenantId, d.clientId, id])
  let c = clientCache.get(key)
  if (!c) {
    c = makeClients(d, secret)
    clientCache.set(key, c)
    c.catch(() => clientCache.delete(key))
  }
  return c
}

function deadline(signal?: AbortSignal, ms = LRO_DEADLINE_MS): AbortSignal {
  const t = AbortSignal.timeout(ms)
  return signal ? AbortSignal.any([signal, t]) : t
}

const isNotFound = (err: unknown) => {
  const f = armFailure(err)
  // A missing subscription is a mistake to report, not a resource that is gone.
  return f.code !== 'SubscriptionNotFound' && (f.status === 404 || /NotFound$/.test(f.code ?? ''))
}

const ids = (d: AzureData) => {
  const rg = `/subscriptions/${d.subscriptionId}/resourceGroups/${d.resourceGroup}`
  return {
    nsg: `${rg}/providers/Microsoft.Network/networkSecurityGroups/${d.names.nsg}`,
    pip: `${rg}/providers/Microsoft.Network/publicIPAddresses/${d.names.pip}`,
    nic: `${rg}/providers/Microsoft.Network/networkInterfaces/${d.names.nic}`,
    subnet: `/subscriptions/${d.subscriptionId}/resourceGroups/${d.vnetGroup}/providers/Microsoft.Network/virtualNetworks/${d.vnet}/subnets/${d.subnet}`,
  }
}

/** Run one ARM step; failures become one actionable line naming the step. */
async function step<T>(d: AzureData, what: string, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn()
  } catch (err) {
    throw mapArmError(err, what, {subscriptionId: d.subscriptionId, location: d.location, size: d.size})
  }
}

async function customData(d: AzureData): Promise<string | undefined> {
  if (!d.customDataFile) return undefined
  // Unchanged bytes, base64 as ARM wants them; cloud-init decides what they mean.
  return (await fs.readFile(d.customDataFile)).toString('base64')
}

async function publicIp(c: Clients, d: AzureData): Promise<string | undefined> {
  if (d.noPublicIp) return undefined
  if (d.publicIp) return d.publicIp
  const pip = await c.network.publicIPAddresses.get(d.resourceGroup, d.names.pip)
  return pip.ipAddress
}

async function privateIp(c: Clients, d: AzureData): Promise<string | undefined> {
  const nic = await c.network.networkInterfaces.get(d.resourceGroup, d.names.nic)
  return nic.ipConfigurations?.[0]?.privateIPAddress
}

const nicHeld = (err: unknown) => {
  const f = armFailure(err)
  return /NicReservedForAnotherVm|NicInUse|AnotherOperationInProgress|RetryableError/.test(f.code ?? '') || f.status === 409
}

/**
 * Azure holds a NIC for a while after its VM is gone: retry until it lets go. The pauses end on
 * the command's signal; not on the LRO deadline's, whose expiry the next attempt reports.
 */
async function deleteNic(c: Clients, d: AzureData, lro: {abortSignal: AbortSignal}, debug: (l: string) => void, signal?: AbortSignal): Promise<void> {
  await poll(async () => {
    await gone(() => c.network.networkInterfaces.beginDeleteAndWait(d.resourceGroup, d.names.nic, lro))
    return true
  }, {
    timeoutMs: NIC_RETRY_MS, intervalMs: 1000, backoff: 2, maxIntervalMs: 15_000, signal,
    fatal: err => !nicHeld(err),
    // Still held at the end: what Azure last said.
    timeoutError: last => last as Error,
    onRetry: (err, pause) => debug(`network interface still reserved (${armFailure(err).code}): retrying in ${Math.ceil(pause / 1000)} s`),
  })
}

/** Delete, where "already gone" counts as done. */
async function gone(fn: () => Promise<unknown>): Promise<void> {
  try {
    await fn()
  } catch (err) {
    if (!isNotFound(err)) throw err
  }
}

const driver: Driver<AzureData, AzureSecrets> = {
  name: 'azure',
  sshTimeout: 300,

  async preCreate(options, ctx) {
    const data = await parseOptions(options, ctx)
    const secret = options['azure-client-secret']
    return {data, secrets: typeof secret === 'string' && secret ? {clientSecret: secret} : undefined}
  },

  async create(ctx, data) {
    const ledger = new Ledger<AzureData>({...data, swarm: Boolean(ctx.swarm), made: [...(data.made ?? [])]}, ctx.save)
    const d = ledger.data
    /** The names are fixed in the data already: the intent is which of them exist, noted before each call. */
    const intend = (what: string) => ledger.intend({made: d.made.includes(what) ? d.made : [...d.made, what]})
    const c = await step(d, 'Azure sign-in', () => clients(d, ctx.secrets?.clientSecret))
    const signal = deadline(ctx.signal)
    const lro = {abortSignal: signal}
    const {resources, network, compute} = c

    const share = async (made: Promise<string[]>) => {
      for (const what of await made) await intend(what)
    }
    await share(once(rgKey(d), async () => {
      const rg = await step(d, `read resource group ${d.resourceGroup}`, () => resources.resourceGroups.checkExistence(d.resourceGroup))
      if (rg.body) return []
      ctx.log(`creating resource group ${d.resourceGroup}`)
      await intend('rg')
      await step(d, `create resource group ${d.resourceGroup}`, () => resources.resourceGroups.createOrUpdate(d.resourceGroup, {location: d.location, tags: TAG}))
      return ['rg']
    }))

    ctx.log('creating network security group, network and public IP')
    const nsg = async () => {
      await intend('nsg')
      await step(d, `create network security group ${d.names.nsg}`, () => network.networkSecurityGroups.beginCreateOrUpdateAndWait(d.resourceGroup, d.names.nsg, {
        location: d.location, securityRules: securityRules(d) as never,
      }, lro))
    }
    // Machines created side by side race to make the shared network: the losers wait and see it made.
    const vnet = async () => {
      for (let attempt = 1; ; attempt++) {
        try {
          return await vnetOnce()
        } catch (err) {
          const f = armFailure((err as {cause?: unknown}).cause ?? err)
          if (attempt >= 8 || !/AnotherOperationInProgress|Conflict|RetryableError|InUse/.test(`${f.code} ${f.message}`)) throw err
          ctx.debug(`virtual network busy (${f.code}): retrying`)
          await sleep(500 * attempt)
        }
      }
    }
    const vnetOnce = async () => {
      const existing = await network.virtualNetworks.get(d.vnetGroup, d.vnet).catch(err => {
        if (isNotFound(err)) return undefined
        throw mapArmError(err, `read virtual network ${d.vnet}`, d)
      })
      if (!existing) {
        await intend('vnet')
        await step(d, `create virtual network ${d.vnet}`, () => network.virtualNetworks.beginCreateOrUpdateAndWait(d.vnetGroup, d.vnet, {
          location: d.location, tags: TAG, addressSpace: {addressPrefixes: [d.subnetPrefix]},
          subnets: [{name: d.subnet, addressPrefix: d.subnetPrefix}],
        }, lro))
        return ['vnet']
      } else if (!existing.subnets?.some(s => s.name === d.subnet)) {
        await intend('subnet')
        await step(d, `create subnet ${d.subnet}`, () => network.subnets.beginCreateOrUpdateAndWait(d.vnetGroup, d.vnet, d.subnet, {addressPrefix: d.subnetPrefix}, lro))
        return ['subnet']
      }
      return []
    }
    const pip = async () => {
      if (d.noPublicIp) return
      await intend('pip')
      // Basic-SKU public IPs are retired: Standard is the only SKU, and it is always static.
      const made = await step(d, `create public IP ${d.names.pip}`, () => network.publicIPAddresses.beginCreateOrUpdateAndWait(d.resourceGroup, d.names.pip, {
        location: d.location, sku: {name: 'Standard'}, publicIPAllocationMethod: 'Static', publicIPAddressVersion: 'IPv4',
        ...(d.dnsLabel ? {dnsSettings: {domainNameLabel: d.dnsLabel}} : {}),
        ...(d.zone ? {zones: [d.zone]} : {}),
      }, lro))
      if (made.ipAddress) await ledger.record({publicIp: made.ipAddress})
    }
    await settleAll([nsg(), share(once(vnetKey(d), vnet)), pip()])

    ctx.log('creating network interface')
    const id = ids(d)
    await intend('nic')
    await step(d, `create network interface ${d.names.nic}`, () => network.networkInterfaces.beginCreateOrUpdateAndWait(d.resourceGroup, d.names.nic, {
      location: d.location, networkSecurityGroup: {id: id.nsg},
      ipConfigurations: [{name: 'ipconfig1', primary: true, privateIPAllocationMethod: 'Dynamic', subnet: {id: id.subnet}, ...(d.noPublicIp ? {} : {publicIPAddress: {id: id.pip}})}],
    }, lro))

    ctx.log(`creating virtual machine ${d.names.vm} (${d.size})`)
    await intend('vm')
    const data64 = await customData(d)
    await step(d, `create virtual machine ${d.names.vm}`, async () => compute.virtualMachines.createOrUpdate(d.resourceGroup, d.names.vm, {
      location: d.location,
      ...(d.zone ? {zones: [d.zone]} : {}),
      tags: {'berth-machine': ctx.machineName},
      hardwareProfile: {vmSize: d.size},
      storageProfile: {
        imageReference: d.image,
        osDisk: {name: d.names.disk, createOption: 'FromImage', deleteOption: 'Delete', caching: 'ReadWrite', managedDisk: {storageAccountType: 'Standard_LRS'}},
      },
      osProfile: {
        computerName: d.names.computer, adminUsername: d.sshUser, ...(data64 ? {customData: data64} : {}),
        linuxConfiguration: {disablePasswordAuthentication: true, ssh: {publicKeys: [{path: `/home/${d.sshUser}/.ssh/authorized_keys`, keyData: ctx.sshPublicKey}]}},
      },
      networkProfile: {networkInterfaces: [{id: id.nic, primary: true}]},
    }, lro))
    if (!d.noPublicIp && !d.publicIp) {
      // Known once the VM holds it (some clouds allocate at attach): read once here, then every command uses the record.
      const ip = await publicIp(c, d).catch(() => undefined)
      if (ip) await ledger.record({publicIp: ip})
    }
    // Both addresses on record: swarm members of one vnet reach each other on the private one.
    const priv = await privateIp(c, d).catch(() => undefined)
    if (priv) await ledger.record({privateIp: priv})
    await ledger.save()
    return {...d}
  },

  async remove(m, opts) {
    const d = m.data
    const made = new Set(d.made ?? [])
    if (!made.size) return []
    let c: Clients
    try {
      c = await clients(d)
    } catch (err) {
      return [`every Azure resource of ${m.machineName}: ${errorMessage(mapArmError(err, 'Azure sign-in', d))}`]
    }
    const lro = {abortSignal: deadline(m.signal)}
    const {compute, network, resources} = c
    const read = (what: string) => (err: unknown) => {
      if (isNotFound(err)) return undefined
      throw mapArmError(err, `read ${what}`, d)
    }
    const vnetStep: UndoStep = {what: `virtual network ${d.vnet}`, ifClean: true, undo: async () => {
      // Shared pieces go only when berth made them and nothing else uses them.
      const vnet = await network.virtualNetworks.get(d.vnetGroup, d.vnet).catch(read(`virtual network ${d.vnet}`))
      const used = (s?: {ipConfigurations?: unknown[]}) => Boolean(s?.ipConfigurations?.length)
      if (vnet && vnet.tags?.['berth-created'] === 'true' && !vnet.subnets?.some(used)) {
        sharedSteps.delete(vnetKey(d))
        await gone(() => network.virtualNetworks.beginDeleteAndWait(d.vnetGroup, d.vnet, lro))
      } else if (vnet && made.has('subnet') && !used(vnet.subnets?.find(s => s.name === d.subnet))) {
        vnetStep.what = `subnet ${d.subnet}`
        sharedSteps.delete(vnetKey(d))
        await gone(() => network.subnets.beginDeleteAndWait(d.vnetGroup, d.vnet, d.subnet, lro))
      }
    }}
    // In the order create makes them; undo deletes from the last, and "already gone" counts as done.
    return undo([
      // Every machine checks the shared pieces, not only the one whose create made them: machines
      // removed in parallel finish in any order, and the last one out must take the vnet and group.
      {what: `resource group ${d.resourceGroup}`, ifClean: true, undo: async () => {
        // Only when berth made it (its tag) and nothing else lives in it.
        let empty = false
        try {
          const group = await resources.resourceGroups.get(d.resourceGroup)
          if (group.tags?.['berth-created'] === 'true') {
            const others = []
            for await (const r of resources.resources.listByResourceGroup(d.resourceGroup)) others.push(r.id)
            empty = !others.length
          }
        } catch (err) {
          if (isNotFound(err)) return
          throw mapArmError(err, `read resource group ${d.resourceGroup}`, d)
        }
        if (!empty) return
        sharedSteps.delete(rgKey(d))
        sharedSteps.delete(vnetKey(d))
        await gone(() => resources.resourceGroups.beginDeleteAndWait(d.resourceGroup, lro))
      }},
      vnetStep,
      [
        made.has('pip') && {what: `public IP ${d.names.pip}`, undo: () => gone(() => network.publicIPAddresses.beginDeleteAndWait(d.resourceGroup, d.names.pip, lro))},
        made.has('nsg') && {what: `network security group ${d.names.nsg}`, undo: () => gone(() => network.networkSecurityGroups.beginDeleteAndWait(d.resourceGroup, d.names.nsg, lro))},
      ],
      made.has('nic') && {what: `network interface ${d.names.nic}`, stop: true, undo: () => deleteNic(c, d, lro, m.debug, m.signal)},
      made.has('vm') && {what: `OS disk ${d.names.disk}`, undo: () => gone(() => compute.disks.delete(d.resourceGroup, d.names.disk, lro))},
      made.has('vm') && {what: `virtual machine ${d.names.vm}`, stop: true, undo: async () => {
        m.log(`deleting virtual machine ${d.names.vm}`)
        await gone(() => compute.virtualMachines.delete(d.resourceGroup, d.names.vm, {...lro, forceDeletion: opts?.force}))
      }},
    ], {describe: (err, what) => errorMessage(mapArmError(err, `delete ${what}`, d))})
  },

  async start(m) {
    const d = m.data
    const c = await step(d, 'Azure sign-in', () => clients(d))
    await step(d, `start ${d.names.vm}`, async () => c.compute.virtualMachines.start(d.resourceGroup, d.names.vm, {abortSignal: deadline(m.signal)}))
  },

  async stop(m) {
    const d = m.data
    const c = await step(d, 'Azure sign-in', () => clients(d))
    const opts = {abortSignal: deadline(m.signal)}
    if (d.stopMode === 'poweroff') await step(d, `power off ${d.names.vm}`, async () => c.compute.virtualMachines.powerOff(d.resourceGroup, d.names.vm, opts))
    else await step(d, `deallocate ${d.names.vm}`, async () => c.compute.virtualMachines.deallocate(d.resourceGroup, d.names.vm, opts))
  },

  async restart(m) {
    const d = m.data
    const c = await step(d, 'Azure sign-in', () => clients(d))
    await step(d, `restart ${d.names.vm}`, async () => c.compute.virtualMachines.restart(d.resourceGroup, d.names.vm, {abortSignal: deadline(m.signal)}))
  },

  async kill(m) {
    const d = m.data
    const c = await step(d, 'Azure sign-in', () => clients(d))
    await step(d, `power off ${d.names.vm}`, async () => c.compute.virtualMachines.powerOff(d.resourceGroup, d.names.vm, {skipShutdown: true, abortSignal: deadline(m.signal)}))
  },

  async state(m): Promise<MachineState> {
    const d = m.data
    if (!d.made?.includes('vm')) return 'NotFound'
    const c = await step(d, 'Azure sign-in', () => clients(d))
    let view
    try {
      view = await c.compute.virtualMachines.instanceView(d.resourceGroup, d.names.vm)
    } catch (err) {
      if (isNotFound(err)) return 'NotFound'
      throw mapArmError(err, `read ${d.names.vm}`, d)
    }
    return powerState(view.statuses ?? [])
  },

  async ip(m) {
    const d = m.data
    const c = await step(d, 'Azure sign-in', () => clients(d))
    const ip = await step(d, `read address of ${d.names.vm}`, () => (d.usePrivateIp ? privateIp(c, d) : publicIp(c, d)))
    if (!ip) throw new UserError(`${m.machineName} has no ${d.usePrivateIp ? 'private' : 'public'} IP address yet (is it deallocated? "berth start ${m.machineName}")`)
    return ip
  },

  async addresses(m) {
    const d = m.data
    const c = await step(d, 'Azure sign-in', () => clients(d))
    const all = await Promise.all([publicIp(c, d).catch(() => undefined), privateIp(c, d).catch(() => undefined)])
    return [...new Set(all.filter((a): a is string => !!a))]
  },

  async sshEndpoint(m) {
    return {host: await this.ip(m), port: 22, user: m.data.sshUser}
  },

  addressing(m) {
    const d = m.data
    return {
      ...(d.usePrivateIp ? {} : {public: d.publicIp}), ...(d.privateIp ? {private: d.privateIp} : {}),
      network: `azure:${d.subscriptionId}/${d.vnetGroup}/${d.vnet}`.toLowerCase(),
    }
  },

  async firewall(m, req) {
    const d = m.data
    if (!d.made?.includes('nsg')) return
    const c = await step(d, 'Azure sign-in', () => clients(d))
    await step(d, `update network security group ${d.names.nsg}`, () => nsgFirewall(c, d, req, {abortSignal: deadline(m.signal)}))
  },

  labels(m) {
    const d = m.data
    return {region: d.location, ...(d.zone ? {zone: d.zone} : {})}
  },

  async adoptDockerMachine(h) {
    return (await import('./adopt.js')).adoptAzure(h)
  },
}

/** The PowerState/* status of an instance view, as berth's states. */
export function powerState(statuses: {code?: string}[]): MachineState {
  const codes = statuses.map(s => s.code ?? '')
  if (codes.some(c => /^ProvisioningState\/failed/i.test(c))) return 'Error'
  const p = codes.find(c => c.startsWith('PowerState/'))?.slice('PowerState/'.length).toLowerCase()
  switch (p) {
    case 'running': return 'Running'
    case 'starting': return 'Starting'
    case 'stopping': case 'deallocating': return 'Stopping'
    case 'stopped': case 'deallocated': return 'Stopped'
    default: return codes.some(c => /^ProvisioningState\/(creating|updating)/i.test(c)) ? 'Starting' : 'Unknown'
  }
}

export default driver
