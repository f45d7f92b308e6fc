/**
 * An Azure Resource Manager simulator on loopback, for tests and the bench: HTTPS with a CA
 * the caller gets, the Entra ID token endpoint ClientSecretCredential calls, and the ARM
 * resources a Docker host needs, answered in the official samples' shapes. Long-running
 * operations follow the ARM contract (201/202, Azure-AsyncOperation or Location, Retry-After,
 * InProgress then Succeeded). Its VMs are lab hosts, booted with the VM's SSH key.
 */
import {randomBytes, randomUUID} from 'node:crypto'
import {promises as fs} from 'node:fs'
import https from 'node:https'
import type {IncomingMessage, ServerResponse} from 'node:http'
import os from 'node:os'
import path from 'node:path'
import {issue, makeCA} from '../../src/certs/certs.js'
import {defaultSecurityRules, nsgFilter} from './azure-nsg.js'
import {HostFirewalls} from './firewall.js'
import {bootHost, destroyHost, killHost, startHost, stopHost, type LabHost} from '../../drivers/lab/host.js'
import {prepareAdmin, runCustomData} from './azure-vm.js'
import {slots} from './slots.js'
import {CloudNetwork, type TopologyOptions} from './topology.js'

export const SIM_SUBNET = '172.30.91.0/24'

export interface AzureSimOptions {
  /** Folder for the lab hosts' files (a temp folder of the test). */
  labRoot: string
  labSubnet?: string
  /**
   * Real topology (test/sim/topology.ts): VMs on a vnet of their own behind a router, public IPs
   * on the internet subnet mapped 1:1 to the private addresses. Absent: one flat lab subnet
   * where a VM's public and private IP are its one address.
   */
  topology?: TopologyOptions & {subnet: string}
  subscriptionId?: string
  tenantId?: string
  clientId?: string
  clientSecret?: string
  /** Retry-After of every long-running operation, whole seconds. */
  retryAfter?: number
  /** Polls answered InProgress before an operation may finish. */
  pollsBeforeDone?: number
  /** How long a NIC stays reserved after its VM is deleted (Azure lets go lazily). */
  nicReservationMs?: number
  /** NSGs become iptables rules in each VM's lab host (firewall.ts); false leaves every VM open. */
  enforceNsgs?: boolean
  /** ARM's subscription throttling (off when absent); ARM_LIMITS are the published defaults. */
  throttle?: ArmLimits
}

/** A token bucket: `bucket` requests at once, refilled by `perSecond`. */
export interface Bucket {
  bucket: number
  perSecond: number
}
export type ArmLimits = Record<'reads' | 'writes' | 'deletes', Bucket>

/**
 * Azure Resource Manager's subscription limits per principal and region since 2024 (bucket size,
 * refill per second): https://learn.microsoft.com/azure/azure-resource-manager/management/request-limits-and-throttling
 */
export const ARM_LIMITS: ArmLimits = {reads: {bucket: 250, perSecond: 25}, writes: {bucket: 200, perSecond: 10}, deletes: {bucket: 200, perSecond: 10}}

/** A failure to inject: the first `times` matching requests (or their operations) fail. */
export interface Fault {
  method?: string
  /** Last resource type segment, e.g. virtualMachines, networkInterfaces, resourcegroups, token. */
  type: string
  /** POST action (start, powerOff, deallocate, restart), or 'instanceView'. */
  action?: string
  /** 'request': the call itself answers the error; 'async': the operation later fails. */
  phase?: 'request' | 'async'
  status?: number
  code: string
  message: string
  times?: number
  retryAfter?: number
}

export interface SimCall {
  method: string
  path: string
  status: number
  kind: 'arm' | 'poll' | 'token'
  /** ms since the simulator started. */
  at: number
}

interface Resource {
  id: string
  name: string
  type: string
  rg: string
  location: string
  tags?: Record<string, string>
  sku?: unknown
  zones?: string[]
  properties: Record<string, any>
  /** VM only. */
  vm?: {host?: LabHost; power: 'running' | 'stopped' | 'deallocated' | 'starting' | 'stopping' | 'deallocating'; adminUser: string; keys: string; customData?: string}
}

interface Operation {
  id: string
  status: 'InProgress' | 'Succeeded' | 'Failed' | 'Canceled'
  polls: number
  settled: boolean
  startTime: string
  endTime?: string
  error?: {code: string; message: string}
  /** What a Location poll answers once done. */
  result?: {status: number; body?: unknown}
}

class ArmError extends Error {
  constructor(readonly status: number, readonly code: string, message: string, readonly headers: Record<string, string> = {}) {
    super(message)
  }
}

const API_VERSIONS: Record<string, string[]> = {
  'microsoft.resources': ['2025-04-01', '2024-11-01', '2024-03-01', '2022-09-01', '2021-04-01'],
  'microsoft.network': ['2025-05-01', '2025-03-01', '2024-07-01', '2024-05-01', '2024-03-01'],
  'microsoft.compute/virtualmachines': ['2026-03-01', '2025-04-01', '2024-11-01', '2024-07-01', '2024-03-01'],
  'microsoft.compute/disks': ['2025-01-02', '2024-03-02', '2023-10-02'],
  'microsoft.compute/locations': ['2026-03-01', '2025-04-01', '2024-11-01', '2024-07-01', '2024-03-01', '2025-01-02'],
}

/** Sizes this "region" offers; anything else is SkuNotAvailable, as in a region without it. */
export const SIM_SIZES = ['Standard_B1s', 'Standard_B1ms', 'Standard_B2s', 'Standard_B2ms', 'Standard_B2ats_v2', 'Standard_B2als_v2', 'Standard_B2s_v2', 'Standard_D2s_v5']
const RESERVED = new Set(['root', 'admin', 'administrator', 'user', 'test', 'guest', 'sys', 'adm', 'backup', 'support'])

const PROVIDER_TYPES: Record<string, string> = {
  networksecuritygroups: 'Microsoft.Network/networkSecurityGroups',
  virtualnetworks: 'Microsoft.Network/virtualNetworks',
  publicipaddresses: 'Microsoft.Network/publicIPAddresses',
  networkinterfaces: 'Microsoft.Network/networkInterfaces',
  virtualmachines: 'Microsoft.Compute/virtualMachines',
  disks: 'Microsoft.Compute/disks',
}

export class AzureSim {
  readonly subscriptionId: string
  readonly tenantId: string
  readonly clientId: string
  readonly clientSecret: string
  url = ''
  caPem = ''
  caFile = ''
  readonly calls: SimCall[] = []
  /** 429s answered, by operation class. */
  readonly throttled = {reads: 0, writes: 0, deletes: 0}
  private buckets?: Record<keyof ArmLimits, {tokens: number; at: number}>
  private server?: https.Server
  private readonly groups = new Map<string, {name: string; location: string; tags?: Record<string, string>; deleting?: boolean}>()
  private readonly res = new Map<string, Resource>()
  private readonly ops = new Map<string, Operation>()
  private readonly tokens = new Map<string, string>()
  private readonly faults: Fault[] = []
  private readonly reservedNics = new Map<string, number>()
  private readonly pending = new Set<Promise<unknown>>()
  private ipCounter = 4
  /** Lab hosts booting at once (the rest stay Creating). */
  private readonly boots = slots(8)
  private readonly t0 = Date.now()
  /** The vnet and its router, with the real topology. */
  readonly network?: CloudNetwork
  private readonly firewalls = new HostFirewalls(line => console.error(line))

  constructor(readonly opts: AzureSimOptions) {
    if (opts.topology) this.network = new CloudNetwork(opts.topology)
    this.subscriptionId = opts.subscriptionId ?? '00000000-1111-2222-3333-444444444444'
    this.tenantId = opts.tenantId ?? '72f988bf-86f1-41af-91ab-2d7cd011db47'
    this.clientId = opts.clientId ?? 'b0b0b0b0-0000-4000-8000-000000000001'
    this.clientSecret = opts.clientSecret ?? randomBytes(18).toString('base64url')
  }

  /** Environment for a berth process that should talk to this simulator. */
  env(): Record<string, string> {
    return {
      AZURE_SUBSCRIPTION_ID: this.subscriptionId, AZURE_TENANT_ID: this.tenantId, AZURE_CLIENT_ID: this.clientId,
      AZURE_CLIENT_SECRET: this.clientSecret, AZURE_AUTHORITY_HOST: this.url, AZURE_RESOURCE_MANAGER_ENDPOINT: this.url,
      NODE_EXTRA_CA_CERTS: this.caFile,
    }
  }

  async start(): Promise<this> {
    const ca = await makeCA('azure-sim')
    const cert = await issue(ca, {cn: '127.0.0.1', usage: 'server', sans: ['127.0.0.1', 'localhost']})
    const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'berth-azsim-'))
    this.caPem = ca.certPem
    this.caFile = path.join(dir, 'ca.pem')
    await fs.writeFile(this.caFile, ca.certPem)
    this.server = https.createServer({key: cert.keyPem, cert: cert.certPem}, (req, res) => void this.handle(req, res))
    await new Promise<void>(resolve => this.server!.listen(0, '127.0.0.1', resolve))
    const addr = this.server.address() as {port: number}
    this.url = `https://127.0.0.1:${addr.port}`
    return this
  }

  /** Throttle from now on as ARM does (token buckets per operation class), or stop throttling. */
  setThrottle(limits: ArmLimits | undefined): void {
    this.opts.throttle = limits
    const now = Date.now()
    this.buckets = limits && {reads: {tokens: limits.reads.bucket, at: now}, writes: {tokens: limits.writes.bucket, at: now}, deletes: {tokens: limits.deletes.bucket, at: now}}
  }

  /** ARM throttles after authentication and before the resource provider sees the request. */
  private takeToken(method: string): {headers: Record<string, string>; error?: ArmError} {
    const limits = this.opts.throttle
    if (!limits) return {headers: {}}
    if (!this.buckets) this.setThrottle(limits)
    const cls: keyof ArmLimits = method === 'GET' || method === 'HEAD' ? 'reads' : method === 'DELETE' ? 'deletes' : 'writes'
    const b = this.buckets![cls]
    const now = Date.now()
    b.tokens = Math.min(limits[cls].bucket, b.tokens + ((now - b.at) / 1000) * limits[cls].perSecond)
    b.at = now
    if (b.tokens >= 1) {
      b.tokens--
      return {headers: {[`x-ms-ratelimit-remaining-subscription-${cls}`]: String(Math.floor(b.tokens))}}
    }
    this.throttled[cls]++
    const after = Math.max(1, Math.ceil((1 - b.tokens) / limits[cls].perSecond))
    const verb = cls.slice(0, -1)
    return {headers: {}, error: new ArmError(429, 'SubscriptionRequestsThrottled',
      `Number of '${verb}' requests for subscription '${this.subscriptionId}' actor '${this.clientId}' exceeded. Please try again after '${after}' seconds after additional tokens are available. Refer to https://aka.ms/arm-throttling`,
      {'retry-after': String(after), [`x-ms-ratelimit-remaining-subscription-${cls}`]: '0'})}
  }

  inject(f: Fault): void {
    this.faults.push({times: 1, phase: 'request', status: 400, ...f})
  }

  clearFaults(): void {
    this.faults.length = 0
  }

  /** Every resource and resource group, by id: the "nothing left" view. */
  inventory(): string[] {
    const out = [...this.groups.values()].map(g => `/subscriptions/${this.subscriptionId}/resourceGroups/${g.name}`)
    for (const r of this.res.values()) out.push(r.id)
    return out.sort()
  }

  /** The lab hosts standing in for VMs now. */
  hosts(): LabHost[] {
    return [...this.res.values()].filter(r => r.vm?.host).map(r => r.vm!.host!)
  }

  resource(type: string, name: string): Resource | undefined {
    return [...this.res.values()].find(r => r.type.toLowerCase().endsWith('/' + type.toLowerCase()) && r.name === name)
  }

  /** Wait for background work (VM boots, deletes) still running. */
  async settle(): Promise<void> {
    while (this.pending.size) await Promise.allSettled([...this.pending])
  }

  async close(): Promise<void> {
    await this.settle()
    for (const h of this.hosts()) await destroyHost(h).catch(() => {})
    await this.network?.close()
    this.server?.closeAllConnections()
    await new Promise<void>(resolve => (this.server ? this.server.close(() => resolve()) : resolve()))
    if (this.caFile) await fs.rm(path.dirname(this.caFile), {recursive: true, force: true})
  }

  // ---- HTTP plumbing ----

  private send(res: ServerResponse, status: number, body?: unknown, headers: Record<string, string> = {}): void {
    const text = body === undefined ? '' : JSON.stringify(body)
    res.writeHead(status, {
      ...(text ? {'content-type': 'application/json; charset=utf-8'} : {}),
      'x-ms-request-id': randomUUID(), 'x-ms-correlation-request-id': randomUUID(), ...headers,
    })
    res.end(text)
  }

  private async body(req: IncomingMessage): Promise<string> {
    const chunks: Buffer[] = []
    for await (const c of req) chunks.push(c as Buffer)
    return Buffer.concat(chunks).toString()
  }

  private track<T>(p: Promise<T>): Promise<T> {
    this.pending.add(p)
    void p.finally(() => this.pending.delete(p)).catch(() => {})
    return p
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const u = new URL(req.url ?? '/', this.url)
    const method = req.method ?? 'GET'
    let kind: SimCall['kind'] = 'arm'
    try {
      const text = await this.body(req)
      if (/\/oauth2\/v2\.0\/token$|\/\.well-known\/openid-configuration$/.test(u.pathname)) {
        kind = 'token'
        const [status, body] = this.identity(method, u, text)
        this.calls.push({method, path: u.pathname, status, kind, at: Date.now() - this.t0})
        return this.send(res, status, body)
      }
      if (/\/operations\/|\/operationResults\//i.test(u.pathname)) kind = 'poll'
      this.authorize(req)
      const gate = this.takeToken(method)
      if (gate.error) throw gate.error
      const out = await this.arm(method, u, text)
      this.calls.push({method, path: u.pathname, status: out.status, kind, at: Date.now() - this.t0})
      this.send(res, out.status, out.body, {...gate.headers, ...out.headers})
    } catch (err) {
      const e = err instanceof ArmError ? err : new ArmError(500, 'InternalServerError', (err as Error).message)
      this.calls.push({method, path: u.pathname, status: e.status, kind, at: Date.now() - this.t0})
      this.send(res, e.status, {error: {code: e.code, message: e.message}}, e.headers)
    }
  }

  // ---- Entra ID ----

  private identity(method: string, u: URL, text: string): [number, unknown] {
    const tenant = u.pathname.split('/')[1]
    if (tenant !== this.tenantId) return [400, {error: 'invalid_tenant', error_description: `AADSTS90002: Tenant '${tenant}' not found.`}]
    const authority = `${this.url}/${tenant}`
    if (method === 'GET') {
      return [200, {
        token_endpoint: `${authority}/oauth2/v2.0/token`, authorization_endpoint: `${authority}/oauth2/v2.0/authorize`,
        issuer: `${authority}/v2.0`, jwks_uri: `${authority}/discovery/v2.0/keys`, end_session_endpoint: `${authority}/oauth2/v2.0/logout`,
        token_endpoint_auth_methods_supported: ['client_secret_post', 'private_key_jwt', 'client_secret_basic'],
        response_types_supported: ['code', 'id_token', 'code id_token', 'id_token token'], scopes_supported: ['openid', 'profile', 'email', 'offline_access'],
        tenant_region_scope: 'AS', cloud_instance_name: 'microsoftonline.com',
      }]
    }
    const form = new URLSearchParams(text)
    const fault = this.takeFault('POST', 'token')
    if (fault) return [fault.status ?? 401, {error: fault.code, error_description: fault.message}]
    if (form.get('grant_type') !== 'client_credentials') return [400, {error: 'unsupported_grant_type', error_description: 'AADSTS70003: app requested an unsupported grant type.'}]
    if (form.get('client_id') !== this.clientId) return [400, {error: 'unauthorized_client', error_description: `AADSTS700016: Application with identifier '${form.get('client_id')}' was not found in the directory.`}]
    if (form.get('client_secret') !== this.clientSecret) return [401, {error: 'invalid_client', error_description: 'AADSTS7000215: Invalid client secret provided.'}]
    const scope = form.get('scope') ?? ''
    const audience = scope.split(' ').find(s => s.endsWith('/.default'))?.replace(/\/\.default$/, '')
    if (!audience) return [400, {error: 'invalid_scope', error_description: 'AADSTS1002012: The provided value for scope is not valid.'}]
    const token = randomBytes(24).toString('base64url')
    this.tokens.set(token, audience.replace(/\/+$/, ''))
    return [200, {token_type: 'Bearer', expires_in: 3599, ext_expires_in: 3599, access_token: token}]
  }

  private authorize(req: IncomingMessage): void {
    const h = req.headers.authorization ?? ''
    if (!h) throw new ArmError(401, 'AuthenticationFailed', "Authentication failed. The 'Authorization' header is missing.", {'www-authenticate': `Bearer authorization_uri="${this.url}/${this.tenantId}", error="invalid_token"`})
    const aud = this.tokens.get(h.replace(/^Bearer /, ''))
    if (aud === undefined) throw new ArmError(401, 'InvalidAuthenticationToken', 'The access token is invalid.')
    // The token must be for this endpoint, whatever audience an SDK defaults to.
    if (aud !== this.url) throw new ArmError(401, 'InvalidAuthenticationTokenAudience', `The access token has been obtained for wrong audience or resource '${aud}'. It should exactly match with one of the allowed audiences '${this.url}'.`)
  }

  private takeFault(method: string, type: string, action?: string, phase: 'request' | 'async' = 'request'): Fault | undefined {
    const i = this.faults.findIndex(f => (f.phase ?? 'request') === phase && f.type.toLowerCase() === type.toLowerCase() &&
      (!f.method || f.method === method) && (f.action ?? '').toLowerCase() === (action ?? '').toLowerCase())
    if (i < 0) return undefined
    const f = this.faults[i]
    f.times = (f.times ?? 1) - 1
    if (f.times <= 0) this.faults.splice(i, 1)
    return f
  }

  // ---- ARM ----

  private checkApiVersion(u: URL, provider: string): string {
    const v = u.searchParams.get('api-version')
    if (!v) throw new ArmError(400, 'MissingApiVersionParameter', 'The api-version query parameter (?api-version=) is required for all requests.')
    const ok = API_VERSIONS[provider] ?? API_VERSIONS[provider.split('/')[0]]
    if (!ok?.includes(v)) throw new ArmError(400, 'NoRegisteredProviderFound', `No registered resource provider found for API version '${v}' and type '${provider}'. The supported api-versions are '${(ok ?? []).join(', ')}'.`)
    return v
  }

  private async arm(method: string, u: URL, text: string): Promise<{status: number; body?: unknown; headers?: Record<string, string>}> {
    const seg = u.pathname.split('/').filter(Boolean).map(decodeURIComponent)
    if (seg[0]?.toLowerCase() !== 'subscriptions') throw new ArmError(404, 'InvalidResourceType', `The resource type could not be found: ${u.pathname}`)
    if (seg[1] !== this.subscriptionId) throw new ArmError(404, 'SubscriptionNotFound', `The subscription '${seg[1]}' could not be found.`)
    const rest = seg.slice(2)
    const low = rest.map(s => s.toLowerCase())
    // Operation status: .../providers/{ns}/locations/{loc}/operations|operationResults/{id}
    if (low[0] === 'providers' && low[2] === 'locations' && (low[4] === 'operations' || low[4] === 'operationresults')) {
      this.checkApiVersion(u, low[1] === 'microsoft.compute' ? 'microsoft.compute/locations' : low[1])
      return this.poll(rest[5], low[4] === 'operations')
    }
    if (low[0] !== 'resourcegroups' || !rest[1]) throw new ArmError(404, 'InvalidResourceType', `The resource type could not be found: ${u.pathname}`)
    const rgName = rest[1]
    if (rest.length === 2) {
      this.checkApiVersion(u, 'microsoft.resources')
      return this.resourceGroup(method, rgName, text, u)
    }
    if (low[2] === 'resources' && rest.length === 3) {
      this.checkApiVersion(u, 'microsoft.resources')
      const g = this.group(rgName)
      return {status: 200, body: {value: [...this.res.values()].filter(r => r.rg.toLowerCase() === g.name.toLowerCase()).map(r => ({id: r.id, name: r.name, type: r.type, location: r.location, ...(r.tags ? {tags: r.tags} : {})}))}}
    }
    if (low[2] !== 'providers' || rest.length < 6) throw new ArmError(404, 'InvalidResourceType', `The resource type could not be found: ${u.pathname}`)
    const type = PROVIDER_TYPES[low[4]]
    if (!type || type.toLowerCase().split('/')[0] !== low[3]) throw new ArmError(404, 'InvalidResourceType', `The resource type '${rest[4]}' could not be found in the namespace '${rest[3]}'.`)
    this.checkApiVersion(u, type.toLowerCase().startsWith('microsoft.compute') ? type.toLowerCase() : 'microsoft.network')
    const g = this.group(rgName)
    const name = rest[5]
    const id = `/subscriptions/${this.subscriptionId}/resourceGroups/${g.name}/providers/${type}/${name}`
    const sub = rest.slice(6)
    const fault = this.takeFault(method, sub[0] === 'subnets' ? 'subnets' : rest[4], method === 'POST' || sub[0]?.toLowerCase() === 'instanceview' ? sub[0] : undefined)
    if (fault) throw new ArmError(fault.status ?? 400, fault.code, fault.message, fault.retryAfter !== undefined ? {'retry-after': String(fault.retryAfter)} : {})
    if (type.endsWith('virtualNetworks') && low[6] === 'subnets' && rest[7]) return this.subnet(method, id, rest[7], text, u)
    if (type.endsWith('virtualMachines') && sub.length) return this.vmAction(method, id, sub[0], u)
    if (sub.length) throw new ArmError(404, 'InvalidResourceType', `The resource type could not be found: ${u.pathname}`)
    if (g.deleting && method === 'PUT') throw new ArmError(409, 'ResourceGroupBeingDeleted', `The resource group '${g.name}' is in deprovisioning state and cannot perform this operation.`)
    switch (method) {
      case 'GET': return {status: 200, body: this.view(this.get(id, type, name, g.name))}
      case 'PUT': return this.put(id, type, name, g.name, text, u)
      case 'DELETE': return this.delete(id, u)
      default: throw new ArmError(405, 'MethodNotAllowed', `The requested method ${method} is not allowed.`)
    }
  }

  private group(name: string) {
    const g = this.groups.get(name.toLowerCase())
    if (!g) throw new ArmError(404, 'ResourceGroupNotFound', `Resource group '${name}' could not be found.`)
    return g
  }

  private get(id: string, type: string, name: string, rg: string): Resource {
    const r = this.res.get(id.toLowerCase())
    if (!r) throw new ArmError(404, type.startsWith('Microsoft.Compute') ? 'ResourceNotFound' : 'ResourceNotFound', `The Resource '${type}/${name}' under resource group '${rg}' was not found. For more details please go to https://aka.ms/ARMResourceNotFoundFix`)
    return r
  }

  private resourceGroup(method: string, name: string, text: string, u: URL) {
    const key = name.toLowerCase()
    const fault = this.takeFault(method, 'resourcegroups')
    if (fault) throw new ArmError(fault.status ?? 400, fault.code, fault.message, fault.retryAfter !== undefined ? {'retry-after': String(fault.retryAfter)} : {})
    const shape = (g: {name: string; location: string; tags?: Record<string, string>; deleting?: boolean}) => ({
      id: `/subscriptions/${this.subscriptionId}/resourceGroups/${g.name}`, name: g.name, type: 'Microsoft.Resources/resourceGroups',
      location: g.location, ...(g.tags ? {tags: g.tags} : {}), properties: {provisioningState: g.deleting ? 'Deleting' : 'Succeeded'},
    })
    switch (method) {
      case 'HEAD': return {status: this.groups.has(key) ? 204 : 404}
      case 'GET': return {status: 200, body: shape(this.group(name))}
      case 'PUT': {
        const b = JSON.parse(text || '{}')
        if (!b.location) throw new ArmError(400, 'LocationRequired', 'The location property is required for this definition.')
        const existing = this.groups.get(key)
        if (existing?.deleting) throw new ArmError(409, 'ResourceGroupBeingDeleted', `The resource group '${name}' is in deprovisioning state and cannot perform this operation.`)
        if (existing && existing.location !== b.location.toLowerCase()) throw new ArmError(409, 'InvalidResourceGroupLocation', `Invalid resource group location '${b.location}'. The Resource group already exists in location '${existing.location}'.`)
        const g = {name: existing?.name ?? name, location: b.location.toLowerCase(), tags: b.tags}
        this.groups.set(key, g)
        return {status: existing ? 200 : 201, body: shape(g)}
      }
      case 'DELETE': {
        const g = this.groups.get(key)
        if (!g) throw new ArmError(404, 'ResourceGroupNotFound', `Resource group '${name}' could not be found.`)
        g.deleting = true
        return this.operation(u, 'Microsoft.Resources', g.location, 'location', async () => {
          for (const r of [...this.res.values()].filter(r => r.rg.toLowerCase() === key)) await this.drop(r)
          this.groups.delete(key)
        }, {status: 204})
      }
      default: throw new ArmError(405, 'MethodNotAllowed', `The requested method ${method} is not allowed.`)
    }
  }

  /**
   * Start an operation: `work` runs in the background; pollers see InProgress at least
   * pollsBeforeDone times and until it settles. Mode 'async' answers with Azure-AsyncOperation
   * (and Location), 'location' with Location only.
   */
  private operation(u: URL, ns: string, location: string, mode: 'async' | 'location', work: () => Promise<void>, result: {status: number; body?: unknown}, initial?: {status: number; body?: unknown}, asyncFault?: Fault) {
    const id = randomUUID()
    const op: Operation = {id, status: 'InProgress', polls: 0, settled: false, startTime: new Date().toISOString(), result}
    this.ops.set(id, op)
    this.track((async () => {
      try {
        if (asyncFault) throw new ArmError(asyncFault.status ?? 400, asyncFault.code, asyncFault.message)
        await work()
        // What the operation changed is enforced before ARM calls it done.
        await this.applyFirewalls()
        op.status = 'Succeeded'
      } catch (err) {
        op.status = 'Failed'
        op.error = err instanceof ArmError ? {code: err.code, message: err.message} : {code: 'InternalExecutionError', message: (err as Error).message}
      } finally {
        op.settled = true
        op.endTime = new Date().toISOString()
      }
    })())
    const v = u.searchParams.get('api-version')
    const base = `${this.url}/subscriptions/${this.subscriptionId}/providers/${ns}/locations/${location}`
    const headers: Record<string, string> = {
      location: `${base}/operationResults/${id}?api-version=${v}`, 'retry-after': String(this.opts.retryAfter ?? 1),
    }
    if (mode === 'async') headers['azure-asyncoperation'] = `${base}/operations/${id}?api-version=${v}`
    return {status: initial?.status ?? 202, body: initial?.body, headers}
  }

  private poll(id: string, asyncOp: boolean) {
    const op = this.ops.get(id)
    if (!op) throw new ArmError(404, 'OperationNotFound', `The operation '${id}' could not be found.`)
    op.polls++
    // An operation lasts at least its Retry-After: a client polling sooner (the SDKs poll once at once) sees InProgress.
    const done = op.settled && op.polls > (this.opts.pollsBeforeDone ?? 1) && Date.now() - Date.parse(op.startTime) >= (this.opts.retryAfter ?? 1) * 1000
    const retry = {'retry-after': String(this.opts.retryAfter ?? 1)}
    if (asyncOp) {
      const status = done ? op.status : 'InProgress'
      return {status: 200, headers: done ? {} : retry, body: {name: op.id, status, startTime: op.startTime, ...(done ? {endTime: op.endTime} : {}), ...(done && op.error ? {error: op.error} : {})}}
    }
    if (!done) return {status: 202, headers: retry}
    if (op.error) throw new ArmError(op.error.code.startsWith('Nic') || /InUse/.test(op.error.code) ? 400 : 409, op.error.code, op.error.message)
    // Deletes end in 204, actions (start, deallocate...) in 200, as the samples show.
    return {status: op.result!.status, body: op.result!.body}
  }

  // ---- resources ----

  private ipConfigsUsing(field: 'subnet' | 'publicIPAddress' | 'networkSecurityGroup', id: string): {id: string}[] {
    const out: {id: string}[] = []
    for (const r of this.res.values()) {
      if (!r.type.endsWith('networkInterfaces')) continue
      if (field === 'networkSecurityGroup') {
        if (r.properties.networkSecurityGroup?.id?.toLowerCase() === id.toLowerCase()) out.push({id: r.id})
        continue
      }
      for (const c of r.properties.ipConfigurations ?? []) {
        if (c.properties?.[field]?.id?.toLowerCase() === id.toLowerCase()) out.push({id: `${r.id}/ipConfigurations/${c.name}`})
      }
    }
    return out
  }

  /** The resource as ARM shows it, with back-references computed. */
  private view(r: Resource): unknown {
    const p: Record<string, any> = structuredClone(r.properties)
    if (r.type.endsWith('virtualNetworks')) {
      p.subnets = (p.subnets ?? []).map((s: any) => {
        const sid = `${r.id}/subnets/${s.name}`
        const used = this.ipConfigsUsing('subnet', sid)
        return {...s, id: sid, type: 'Microsoft.Network/virtualNetworks/subnets', properties: {...s.properties, ...(used.length ? {ipConfigurations: used} : {})}}
      })
    }
    if (r.type.endsWith('publicIPAddresses')) {
      const used = this.ipConfigsUsing('publicIPAddress', r.id)
      if (used.length) p.ipConfiguration = used[0]
    }
    if (r.type.endsWith('networkSecurityGroups')) {
      const used = this.ipConfigsUsing('networkSecurityGroup', r.id)
      if (used.length) p.networkInterfaces = used
      p.securityRules = (p.securityRules ?? []).map((s: any) => ({...s, id: `${r.id}/securityRules/${s.name}`, type: 'Microsoft.Network/networkSecurityGroups/securityRules'}))
    }
    if (r.type.endsWith('networkInterfaces')) {
      p.ipConfigurations = (p.ipConfigurations ?? []).map((c: any) => ({...c, id: `${r.id}/ipConfigurations/${c.name}`, type: 'Microsoft.Network/networkInterfaces/ipConfigurations'}))
    }
    return {
      id: r.id, name: r.name, type: r.type, location: r.location, ...(r.tags ? {tags: r.tags} : {}),
      ...(r.sku ? {sku: r.sku} : {}), ...(r.zones ? {zones: r.zones} : {}),
      ...(r.type.startsWith('Microsoft.Network') ? {etag: `W/"${randomUUID()}"`} : {}), properties: p,
    }
  }

  private mustExist(id: string | undefined, what: string, by: string): Resource {
    const r = id ? this.res.get(id.toLowerCase()) : undefined
    if (!r) throw new ArmError(400, 'InvalidResourceReference', `Resource ${id ?? '(none)'} referenced by resource ${by} was not found. Please make sure that the referenced resource exists, and that both resources are in the same region.`)
    void what
    return r
  }

  private subnetRef(id: string | undefined, by: string): void {
    const m = /^(.*\/virtualNetworks\/[^/]+)\/subnets\/([^/]+)$/i.exec(id ?? '')
    const vnet = m ? this.res.get(m[1].toLowerCase()) : undefined
    if (!vnet || !(vnet.properties.subnets ?? []).some((s: any) => s.name === m![2])) {
      throw new ArmError(400, 'InvalidResourceReference', `Resource ${id} referenced by resource ${by} was not found. Please make sure that the referenced resource exists, and that both resources are in the same region.`)
    }
  }

  private put(id: string, type: string, name: string, rg: string, text: string, u: URL) {
    let b: any
    try {
      b = JSON.parse(text)
    } catch {
      throw new ArmError(400, 'InvalidRequestContent', 'The request content was invalid and could not be deserialized.')
    }
    if (!b?.location) throw new ArmError(400, 'LocationRequired', 'The location property is required for this definition.')
    const existing = this.res.get(id.toLowerCase())
    if (existing && existing.properties.provisioningState !== 'Succeeded' && existing.properties.provisioningState !== 'Failed') {
      throw new ArmError(409, 'AnotherOperationInProgress', `Another operation on this or dependent resource is in progress. To retrieve status of the operation use uri: ${this.url}.`)
    }
    const location = String(b.location).toLowerCase().replace(/\s+/g, '')
    const props: Record<string, any> = structuredClone(b.properties ?? {})
    const r: Resource = {id, name, type, rg, location, tags: b.tags, sku: b.sku, zones: b.zones, properties: props}
    const ns = type.split('/')[0]
    const asyncFault = this.takeFault('PUT', type.split('/')[1], undefined, 'async')
    let work: () => Promise<void> = async () => {}
    switch (type.split('/')[1]) {
      case 'networkSecurityGroups':
        for (const s of props.securityRules ?? []) {
          if (!s.name || !s.properties?.priority || !s.properties?.direction || !s.properties?.access || !s.properties?.protocol) throw new ArmError(400, 'SecurityRuleInvalid', `Security rule ${s.name ?? ''} is missing a required property.`)
        }
        props.defaultSecurityRules = defaultSecurityRules()
        break
      case 'virtualNetworks':
        if (!props.addressSpace?.addressPrefixes?.length) throw new ArmError(400, 'InvalidAddressSpace', 'The virtual network must have an address space.')
        props.subnets = (props.subnets ?? []).map((s: any) => ({name: s.name, properties: {addressPrefix: s.properties?.addressPrefix, provisioningState: 'Succeeded'}}))
        break
      case 'publicIPAddresses':
        props.publicIPAllocationMethod ??= 'Dynamic'
        if (b.sku?.name === 'Standard' && props.publicIPAllocationMethod !== 'Static') throw new ArmError(400, 'StandardSkuPublicIPAddressesMustBeStatic', `Standard sku publicIp /subscriptions/.../${name} must have AllocationMethod set to Static.`)
        props.ipTags ??= []
        props.idleTimeoutInMinutes ??= 4
        props.resourceGuid = randomUUID()
        if (props.dnsSettings?.domainNameLabel) props.dnsSettings.fqdn = `${props.dnsSettings.domainNameLabel}.${location}.cloudapp.azure.com`
        // A static IP is allocated with the resource (a dynamic one when its VM starts), and keeps it across updates.
        if (this.network && props.publicIPAllocationMethod === 'Static') {
          const net = this.network
          const known = existing?.properties.ipAddress
          work = async () => {
            props.ipAddress = known ?? await net.allocate()
          }
        }
        break
      case 'networkInterfaces': {
        if (!props.ipConfigurations?.length) throw new ArmError(400, 'NetworkInterfaceMustHaveIpConfiguration', 'A network interface must have at least one IP configuration.')
        if (props.networkSecurityGroup) this.mustExist(props.networkSecurityGroup.id, 'nsg', id)
        for (const c of props.ipConfigurations) {
          this.subnetRef(c.properties?.subnet?.id, id)
          if (c.properties?.publicIPAddress) {
            this.mustExist(c.properties.publicIPAddress.id, 'pip', id)
            const used = this.ipConfigsUsing('publicIPAddress', c.properties.publicIPAddress.id).filter(x => !x.id.toLowerCase().startsWith(id.toLowerCase() + '/'))
            if (used.length) throw new ArmError(400, 'PublicIPAddressInUse', `Resource ${c.properties.publicIPAddress.id} is already in use by ${used[0].id}.`)
          }
          c.properties.privateIPAddress = `192.168.0.${this.ipCounter++ % 250 + 4}`
          c.properties.privateIPAllocationMethod ??= 'Dynamic'
          c.properties.provisioningState = 'Succeeded'
        }
        props.macAddress = '00-0D-3A-' + randomBytes(3).toString('hex').toUpperCase().match(/../g)!.join('-')
        break
      }
      case 'virtualMachines':
        work = this.vmCreate(r, b, existing)
        break
      default:
        throw new ArmError(400, 'InvalidResourceType', `${type} cannot be created directly.`)
    }
    props.provisioningState = type.endsWith('virtualMachines') ? 'Creating' : 'Updating'
    this.res.set(id.toLowerCase(), r)
    const mode = 'async'
    return this.operation(u, ns, location, mode, async () => {
      try {
        if (asyncFault) throw new ArmError(asyncFault.status ?? 400, asyncFault.code, asyncFault.message)
        await work()
        r.properties.provisioningState = 'Succeeded'
      } catch (err) {
        r.properties.provisioningState = 'Failed'
        throw err
      }
    }, {status: 200, body: undefined}, {status: existing ? 200 : 201, body: this.view(r)})
  }

  private vmCreate(r: Resource, b: any, existing?: Resource): () => Promise<void> {
    const p = r.properties
    if (existing) throw new ArmError(409, 'PropertyChangeNotAllowed', 'Changing property is not allowed: the simulator does not update VMs.')
    const size = p.hardwareProfile?.vmSize
    if (!SIM_SIZES.includes(size)) throw new ArmError(409, 'SkuNotAvailable', `The requested VM size for resource 'Following SKUs have failed for Capacity Restrictions: ${size}' is currently not available in location '${r.location}'. Please try another size or deploy to a different location or different zone. See https://aka.ms/azureskunotavailable for details.`)
    const os = p.osProfile ?? {}
    if (!os.adminUsername || RESERVED.has(String(os.adminUsername).toLowerCase())) throw new ArmError(400, 'InvalidParameter', `The Admin Username specified is not allowed.`)
    const keys: string[] = (os.linuxConfiguration?.ssh?.publicKeys ?? []).map((k: any) => k.keyData).filter(Boolean)
    if (!keys.length && !os.adminPassword) throw new ArmError(400, 'InvalidParameter', 'Required parameter \'adminPassword\' is missing (null).')
    let customData: string | undefined
    if (os.customData !== undefined) {
      const buf = Buffer.from(String(os.customData), 'base64')
      if (buf.toString('base64') !== String(os.customData) || buf.length > 65535) throw new ArmError(400, 'InvalidParameter', 'Custom data in OSProfile must be in Base64 encoding and with a maximum length of 87380 characters.')
      customData = String(os.customData)
      delete os.customData // ARM never returns customData
    }
    const img = p.storageProfile?.imageReference
    if (!img?.publisher || !img?.offer || !img?.sku) throw new ArmError(400, 'InvalidParameter', 'The value of parameter imageReference is invalid.')
    const nics = p.networkProfile?.networkInterfaces ?? []
    if (!nics.length) throw new ArmError(400, 'InvalidParameter', 'At least one network interface is required.')
    const nic = this.mustExist(nics[0].id, 'nic', r.id)
    if (nic.properties.virtualMachine && nic.properties.virtualMachine.id.toLowerCase() !== r.id.toLowerCase()) throw new ArmError(400, 'NicInUse', `Network Interface ${nic.id} is used by existing resource ${nic.properties.virtualMachine.id}.`)
    const until = this.reservedNics.get(nic.id.toLowerCase())
    if (until && until > Date.now()) throw new ArmError(400, 'NicReservedForAnotherVm', `Nic(s) in request is reserved for another Virtual Machine for 180 seconds. Please provide another nic(s) or retry after 180 seconds. Reserved VM: ${r.name}`)
    nic.properties.virtualMachine = {id: r.id}
    const vmId = randomUUID()
    p.vmId = vmId
    p.timeCreated = new Date().toISOString()
    // The OS disk exists as soon as the VM is accepted, as in Azure.
    const diskName = p.storageProfile.osDisk?.name ?? `${r.name}_OsDisk_1_${vmId.replace(/-/g, '')}`
    const diskId = `/subscriptions/${this.subscriptionId}/resourceGroups/${r.rg}/providers/Microsoft.Compute/disks/${diskName}`
    p.storageProfile.osDisk = {osType: 'Linux', createOption: 'FromImage', caching: 'ReadWrite', ...p.storageProfile.osDisk, name: diskName, managedDisk: {...p.storageProfile.osDisk?.managedDisk, id: diskId}, diskSizeGB: 30}
    p.storageProfile.dataDisks ??= []
    this.res.set(diskId.toLowerCase(), {id: diskId, name: diskName, type: 'Microsoft.Compute/disks', rg: r.rg, location: r.location, zones: r.zones, sku: {name: 'Standard_LRS', tier: 'Standard'}, properties: {osType: 'Linux', diskSizeGB: 30, diskState: 'Reserved', provisioningState: 'Succeeded', creationData: {createOption: 'FromImage'}}})
    r.vm = {power: 'starting', adminUser: os.adminUsername, keys: keys.join('\n'), customData}
    void b
    return async () => {
      const where = this.network?.boot() ?? {subnet: this.opts.labSubnet ?? SIM_SUBNET}
      const h = await this.boots(() => bootHost({id: vmId.replace(/-/g, ''), hostname: os.computerName ?? r.name, authorizedKeys: r.vm!.keys, ...where, root: this.opts.labRoot}))
      r.vm!.host = h
      await prepareAdmin(h, r.vm!.adminUser)
      if (customData) await runCustomData(h, Buffer.from(customData, 'base64'))
      await this.attachAddresses(r)
      r.vm!.power = 'running'
    }
  }

  /** The public IPs a VM's NIC holds. */
  private pipsOf(vm: Resource): Resource[] {
    const nic = this.res.get(String(vm.properties.networkProfile?.networkInterfaces?.[0]?.id).toLowerCase())
    return (nic?.properties.ipConfigurations ?? []).flatMap((c: any) => {
      const pip = c.properties.publicIPAddress ? this.res.get(c.properties.publicIPAddress.id.toLowerCase()) : undefined
      return pip ? [pip] : []
    })
  }

  /**
   * Private and public IP of a running VM. Flat: both are the lab host's one address. Real
   * topology: the private one is the host's on the vnet, the public one leased on the internet
   * (at attach when dynamic, as Azure does) and mapped to it by the vnet's router.
   */
  private async attachAddresses(vm: Resource): Promise<void> {
    const nic = this.res.get(String(vm.properties.networkProfile.networkInterfaces[0].id).toLowerCase())
    const ip = vm.vm?.host?.ip
    if (!nic || !ip) return
    for (const c of nic.properties.ipConfigurations ?? []) c.properties.privateIPAddress = ip
    for (const pip of this.pipsOf(vm)) {
      if (!this.network) {
        pip.properties.ipAddress = ip
        continue
      }
      pip.properties.ipAddress ??= await this.network.allocate()
      await this.network.bind(pip.properties.ipAddress, ip)
    }
  }

  /** Deallocation releases a dynamic public IP; a static one stays (mapped to nothing meanwhile). */
  private async releaseDynamic(vm: Resource): Promise<void> {
    for (const pip of this.pipsOf(vm)) {
      const addr = pip.properties.ipAddress
      if (addr) await this.network?.unbind(addr)
      if (pip.properties.publicIPAllocationMethod === 'Static') continue
      delete pip.properties.ipAddress
      if (addr) await this.network?.release(addr)
    }
  }

  private subnet(method: string, vnetId: string, name: string, text: string, u: URL) {
    const vnet = this.res.get(vnetId.toLowerCase())
    if (!vnet) throw new ArmError(404, 'ResourceNotFound', `The Resource 'Microsoft.Network/virtualNetworks/${vnetId.split('/').pop()}' under resource group '${vnetId.split('/')[4]}' was not found.`)
    const subnets: any[] = vnet.properties.subnets ??= []
    const sid = `${vnet.id}/subnets/${name}`
    const s = subnets.find(x => x.name === name)
    switch (method) {
      case 'GET': {
        if (!s) throw new ArmError(404, 'NotFound', `Resource ${sid} not found.`)
        const used = this.ipConfigsUsing('subnet', sid)
        return {status: 200, body: {id: sid, name, type: 'Microsoft.Network/virtualNetworks/subnets', etag: `W/"${randomUUID()}"`, properties: {...s.properties, ...(used.length ? {ipConfigurations: used} : {})}}}
      }
      case 'PUT': {
        const b = JSON.parse(text || '{}')
        if (!b.properties?.addressPrefix) throw new ArmError(400, 'InvalidAddressPrefix', 'Subnet must have an address prefix.')
        const entry = {name, properties: {addressPrefix: b.properties.addressPrefix, provisioningState: 'Updating'}}
        if (s) Object.assign(s, entry)
        else subnets.push(entry)
        return this.operation(u, 'Microsoft.Network', vnet.location, 'async', async () => {
          entry.properties.provisioningState = 'Succeeded'
        }, {status: 200}, {status: s ? 200 : 201, body: {id: sid, name, type: 'Microsoft.Network/virtualNetworks/subnets', properties: entry.properties}})
      }
      case 'DELETE': {
        if (!s) return {status: 204}
        if (this.ipConfigsUsing('subnet', sid).length) throw new ArmError(400, 'InUseSubnetCannotBeDeleted', `Subnet ${name} is in use by ${this.ipConfigsUsing('subnet', sid)[0].id} and cannot be deleted.`)
        return this.operation(u, 'Microsoft.Network', vnet.location, 'location', async () => {
          vnet.properties.subnets = subnets.filter(x => x.name !== name)
        }, {status: 204})
      }
      default: throw new ArmError(405, 'MethodNotAllowed', `The requested method ${method} is not allowed.`)
    }
  }

  private delete(id: string, u: URL) {
    const r = this.res.get(id.toLowerCase())
    // ARM answers 204 for a resource that is already gone.
    if (!r) return {status: 204}
    const t = r.type.split('/')[1]
    if (t === 'networkSecurityGroups' && this.ipConfigsUsing('networkSecurityGroup', id).length) {
      throw new ArmError(400, 'InUseNetworkSecurityGroupCannotBeDeleted', `Network security group ${id} cannot be deleted because it is in use by the following resources: ${this.ipConfigsUsing('networkSecurityGroup', id).map(x => x.id).join(', ')}.`)
    }
    if (t === 'publicIPAddresses' && this.ipConfigsUsing('publicIPAddress', id).length) {
      throw new ArmError(400, 'PublicIPAddressCannotBeDeleted', `Public IP address ${id} can not be deleted since it is still allocated to resource ${this.ipConfigsUsing('publicIPAddress', id)[0].id}.`)
    }
    if (t === 'virtualNetworks' && (r.properties.subnets ?? []).some((s: any) => this.ipConfigsUsing('subnet', `${r.id}/subnets/${s.name}`).length)) {
      throw new ArmError(400, 'InUseSubnetCannotBeDeleted', `Subnet of virtual network ${r.name} is in use and cannot be deleted.`)
    }
    if (t === 'networkInterfaces') {
      if (r.properties.virtualMachine) throw new ArmError(400, 'NicInUse', `Network Interface ${id} is used by existing resource ${r.properties.virtualMachine.id}. In order to delete the network interface, it must be dissociated from the resource.`)
      const until = this.reservedNics.get(id.toLowerCase())
      if (until && until > Date.now()) throw new ArmError(400, 'NicReservedForAnotherVm', `Nic(s) in request is reserved for another Virtual Machine for 180 seconds. Please provide another nic(s) or retry after 180 seconds. Reserved VM: ${id}`)
    }
    if (t === 'disks' && r.properties.diskState === 'Attached') throw new ArmError(409, 'OperationNotAllowed', `Disk ${r.name} is attached to VM ${r.properties.managedBy ?? ''}.`)
    if (r.properties.provisioningState === 'Deleting') throw new ArmError(409, 'AnotherOperationInProgress', 'Another operation on this or dependent resource is in progress.')
    const asyncFault = this.takeFault('DELETE', t, undefined, 'async')
    const before = r.properties.provisioningState
    r.properties.provisioningState = 'Deleting'
    return this.operation(u, r.type.split('/')[0], r.location, t === 'virtualMachines' ? 'async' : 'location', async () => {
      try {
        if (asyncFault) throw new ArmError(asyncFault.status ?? 400, asyncFault.code, asyncFault.message)
        await this.drop(r)
      } catch (err) {
        r.properties.provisioningState = before
        throw err
      }
    }, {status: 204})
  }

  /** Remove a resource for good (VMs: their lab host, OS disk per deleteOption, NIC reservation). */
  private async drop(r: Resource): Promise<void> {
    if (r.vm) {
      for (const pip of this.pipsOf(r)) if (pip.properties.ipAddress) await this.network?.unbind(pip.properties.ipAddress)
      if (r.vm.host) {
        await destroyHost(r.vm.host)
        this.firewalls.forget(r.vm.host.netns)
      }
      r.vm.host = undefined
      const disk = r.properties.storageProfile?.osDisk
      if (disk?.managedDisk?.id && disk.deleteOption === 'Delete') this.res.delete(disk.managedDisk.id.toLowerCase())
      else if (disk?.managedDisk?.id) {
        const d = this.res.get(disk.managedDisk.id.toLowerCase())
        if (d) d.properties.diskState = 'Unattached'
      }
      for (const n of r.properties.networkProfile?.networkInterfaces ?? []) {
        const nic = this.res.get(String(n.id).toLowerCase())
        if (!nic) continue
        if (n.properties?.deleteOption === 'Delete' || n.deleteOption === 'Delete') this.res.delete(nic.id.toLowerCase())
        else {
          delete nic.properties.virtualMachine
          this.reservedNics.set(nic.id.toLowerCase(), Date.now() + (this.opts.nicReservationMs ?? 1000))
        }
      }
    }
    if (r.type.endsWith('publicIPAddresses') && r.properties.ipAddress) await this.network?.release(r.properties.ipAddress)
    this.res.delete(r.id.toLowerCase())
  }

  /** Every running VM's NSGs as iptables rules in its lab host (firewall.ts; only hosts whose filter changed). */
  private async applyFirewalls(): Promise<void> {
    if (this.opts.enforceNsgs === false) return
    const get = (id: string) => this.res.get(id.toLowerCase())
    await Promise.all([...this.res.values()].filter(r => r.vm?.host && r.vm.power === 'running').map(r => {
      const nic = get(String(r.properties.networkProfile.networkInterfaces[0].id))
      const ip = nic?.properties.ipConfigurations?.[0]?.properties?.privateIPAddress
      return nic && ip ? this.firewalls.apply(r.vm!.host!.netns, ip, nsgFilter(nic, get, this.res.values())) : undefined
    }))
  }

  private vmAction(method: string, id: string, action: string, u: URL) {
    const r = this.res.get(id.toLowerCase())
    const name = id.split('/').pop()!
    if (!r) throw new ArmError(404, 'ResourceNotFound', `The Resource 'Microsoft.Compute/virtualMachines/${name}' under resource group '${id.split('/')[4]}' was not found.`)
    const vm = r.vm!
    const a = action.toLowerCase()
    if (a === 'instanceview' && method === 'GET') {
      const power = vm.power
      const display: Record<string, string> = {running: 'VM running', stopped: 'VM stopped', deallocated: 'VM deallocated', starting: 'VM starting', stopping: 'VM stopping', deallocating: 'VM deallocating'}
      const prov = r.properties.provisioningState
      return {status: 200, body: {
        computerName: r.properties.osProfile?.computerName, osName: 'debian', osVersion: '12',
        vmAgent: {vmAgentVersion: '2.13.1.1', statuses: [{code: 'ProvisioningState/succeeded', level: 'Info', displayStatus: 'Ready', message: 'Guest Agent is running', time: new Date().toISOString()}]},
        disks: [{name: r.properties.storageProfile?.osDisk?.name, statuses: [{code: 'ProvisioningState/succeeded', level: 'Info', displayStatus: 'Provisioning succeeded'}]}],
        hyperVGeneration: 'V2',
        statuses: [
          {code: `ProvisioningState/${String(prov).toLowerCase()}`, level: prov === 'Failed' ? 'Error' : 'Info', displayStatus: `Provisioning ${String(prov).toLowerCase()}`, time: new Date().toISOString()},
          {code: `PowerState/${power}`, level: 'Info', displayStatus: display[power]},
        ],
      }}
    }
    if (method !== 'POST') throw new ArmError(405, 'MethodNotAllowed', `The requested method ${method} is not allowed.`)
    if (r.properties.provisioningState !== 'Succeeded') throw new ArmError(409, 'OperationNotAllowed', `Operation '${action}' is not allowed on VM '${name}' since the VM is ${r.properties.provisioningState}.`)
    const h = vm.host
    const asyncFault = this.takeFault('POST', 'virtualMachines', action, 'async')
    const run = (work: () => Promise<void>, mode: 'async' | 'location') => this.operation(u, 'Microsoft.Compute', r.location, mode, work, {status: 200}, undefined, asyncFault)
    switch (a) {
      case 'start':
        return run(async () => {
          if (vm.power === 'running') return
          vm.power = 'starting'
          await startHost(h!)
          await prepareAdmin(h!, vm.adminUser)
          await this.attachAddresses(r)
          vm.power = 'running'
        }, 'async')
      case 'restart':
        if (vm.power !== 'running') throw new ArmError(409, 'OperationNotAllowed', `Cannot restart VM '${name}' because it is not running.`)
        return run(async () => {
          await stopHost(h!, 3000)
          await startHost(h!)
          await prepareAdmin(h!, vm.adminUser)
        }, 'async')
      case 'poweroff':
        return run(async () => {
          vm.power = 'stopping'
          if (u.searchParams.get('skipShutdown') === 'true') await killHost(h!)
          else await stopHost(h!, 3000)
          vm.power = 'stopped'
        }, 'location')
      case 'deallocate':
        return run(async () => {
          vm.power = 'deallocating'
          await stopHost(h!, 3000)
          vm.power = 'deallocated'
          await this.releaseDynamic(r)
        }, 'location')
      default:
        throw new ArmError(404, 'InvalidResourceType', `The resource type could not be found: ${action}`)
    }
  }
}

export async function startAzureSim(opts: AzureSimOptions): Promise<AzureSim> {
  return new AzureSim(opts).start()
}
