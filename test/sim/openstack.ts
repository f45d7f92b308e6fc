/**
 * An OpenStack API simulator on 127.0.0.1 for tests and benchmarks: Keystone v3 and v2.0
 * (with a catalog pointing back at itself), Nova, Glance, Neutron and Cinder, answering in
 * the shapes of the official samples. Its servers are real lab hosts (drivers/lab/host.ts)
 * booted with the imported keypair's public key, so berth provisions real engines on them.
 *
 * It enforces tokens, answers 404/409/413 where the real APIs do, can inject faults (500,
 * 503, 429 with Retry-After, or a lost answer on the Nth call of an operation), throttles
 * like an API gateway, and keeps an inventory so tests can assert nothing is left behind.
 *
 * Profiles: "generic" (RegionOne, m1.* flavors, a private network and an external one with
 * floating IPs), "conoha-v2" (tyo1, Keystone v2.0, compute under /v2/{tenant}, g-1gb,
 * gncs-ipv4-all) and "conoha-v3" (c3j1, boot volumes required, default group closed).
 */
import {createHash, randomBytes, randomUUID} from 'node:crypto'
import {spawn} from 'node:child_process'
import {promises as fs} from 'node:fs'
import http from 'node:http'
import type {AddressInfo} from 'node:net'
import {bootHost, destroyHost, type LabHost, startHost, stopHost} from '../../drivers/lab/host.js'
import {type LabNet, parseSubnet} from '../../drivers/lab/network.js'
import {
  FloatingIpCreateRequest, FloatingIpUpdateRequest, KeypairCreateRequest, SecurityGroupCreateRequest, SecurityGroupRuleCreateRequest,
  ServerAction, ServerCreateRequest, V2AuthRequest, V3AuthRequest, VolumeCreateRequest,
} from '../../drivers/openstack/schemas.js'
import {iso, shaped, templates} from './openstack-shapes.js'
import {slots} from './slots.js'
import {CloudNetwork, type TopologyOptions} from './topology.js'
import {HostFirewalls} from './firewall.js'
import {securityGroupFilter} from './openstack-sg.js'

export type SimProfile = 'generic' | 'conoha-v2' | 'conoha-v3'
export type FaultKind = 500 | 503 | 429 | 'timeout'

export interface SimOptions {
  profile?: SimProfile
  /** lab: servers are lab hosts (needs root); fake: servers only get an address. */
  boot?: 'lab' | 'fake'
  subnet?: string
  labRoot?: string
  /** Regions beside the main one, in the catalog only (their URLs are not served). */
  extraRegions?: string[]
  tokenTtlSec?: number
  buildDelayMs?: number
  deleteDelayMs?: number
  volumeDelayMs?: number
  rateLimit?: {perSecond: number; burst: number; retryAfterSec?: number}
  quota?: {instances?: number; volumes?: number; floatingIps?: number}
  /**
   * Real topology (test/sim/topology.ts). generic: servers on the tenant network (`subnet`) behind
   * a router, floating IPs leased on the internet subnet and mapped 1:1 to the fixed addresses.
   * ConoHa: servers get their address on the ext-* network directly, which is the internet subnet.
   * Absent: one flat lab subnet (`subnet`), floating IPs added to the server's own interface.
   */
  topology?: TopologyOptions
  /**
   * Security groups become iptables rules in each lab host (ingress and egress, firewall.ts):
   * on by default where servers are lab hosts; false leaves every port open.
   */
  enforceSecurityGroups?: boolean
  log?: (line: string) => void
}

interface Fault {
  op: string
  kind: FaultKind
  nth: number
  times: number
  retryAfter: number
  seen: number
}

interface User {id: string; name: string; password: string; domainId: string}
interface Project {id: string; name: string; domainId: string}
interface AppCred {id: string; name: string; secret: string; userId: string; projectId: string}
interface Token {id: string; userId: string; projectId?: string; expiresAt: number; issuedAt: number; methods: string[]}

interface SimServer {
  id: string
  name: string
  projectId: string
  userId: string
  status: string
  taskState: string | null
  powerState: number
  flavorId: string
  imageId: string
  keyName: string
  metadata: Record<string, string>
  groupIds: string[]
  networkId: string
  volumeIds: string[]
  az: string
  fault?: {code: number; message: string}
  created: number
  updated: number
  host?: LabHost
  plannedHostId: string
  fixedIp?: string
  mac: string
  deleting: boolean
  /** Lifecycle work (boot, power, delete) runs one step at a time. */
  chain: Promise<void>
}

interface SimRule {id: string; groupId: string; direction: 'ingress' | 'egress'; ethertype: 'IPv4' | 'IPv6'; protocol: string | null; min: number | null; max: number | null; prefix: string | null; remoteGroupId: string | null; description: string}
interface SimGroup {id: string; name: string; description: string; projectId: string; builtin: boolean; created: number}
interface SimPort {id: string; networkId: string; deviceId: string; ip: string; mac: string; groupIds: string[]; created: number}
interface SimFip {id: string; address: string; networkId: string; portId: string | null; description: string; projectId: string; created: number}
interface SimVolume {id: string; name: string; size: number; status: string; type: string; imageId: string; serverId?: string; projectId: string; created: number; description: string}
interface SimNetwork {id: string; name: string; external: boolean; subnetId: string; cidr: string; shared: boolean}

class HttpError extends Error {
  constructor(readonly status: number, readonly kind: string, message: string) {
    super(message)
  }
}

type Api = 'keystone' | 'nova' | 'neutron' | 'glance' | 'cinder'
interface Reply {status: number; body?: unknown; headers?: Record<string, string>; text?: string}
interface Ctx {api: Api; token?: Token; legacy: boolean; body: unknown; query: URLSearchParams}

const sleep = (ms: number) => new Promise(r => setTimeout(r, ms))
const hex = (n: number) => randomBytes(n).toString('hex')

/** Nova's, Cinder's, Neutron's, Keystone's and Glance's error bodies. */
function errorBody(api: Api, status: number, kind: string, message: string): Reply {
  if (status === 401) return {status, body: {error: {code: 401, title: 'Unauthorized', message}}}
  switch (api) {
    case 'keystone':
      return {status, body: {error: {code: status, title: kind, message}}}
    case 'neutron':
      return {status, body: {NeutronError: {type: kind, message, detail: ''}}}
    case 'glance':
      return {status, text: `<html>\n <head>\n  <title>${status} ${kind}</title>\n </head>\n <body>\n  <h1>${status} ${kind}</h1>\n  ${message}<br /><br />\n\n\n </body>\n</html>`, headers: {'Content-Type': 'text/html; charset=UTF-8'}}
    default:
      return {status, body: {[kind]: {code: status, message, ...(status === 413 ? {retryAfter: '0'} : {})}}}
  }
}

const NOVA_KIND: Record<number, string> = {400: 'badRequest', 403: 'forbidden', 404: 'itemNotFound', 409: 'conflictingRequest', 413: 'overLimit', 429: 'overLimit', 500: 'computeFault', 503: 'serviceUnavailable'}
const fail = (status: number, message: string, kind?: string) => new HttpError(status, kind ?? NOVA_KIND[status] ?? 'error', message)

function md5Fingerprint(publicKey: string): string | undefined {
  const m = /^(ssh-(?:rsa|ed25519|dss)|ecdsa-sha2-nistp\d+)\s+([A-Za-z0-9+/]+={0,2})(\s|$)/.exec(publicKey.trim())
  if (!m) return undefined
  const raw = Buffer.from(m[2], 'base64')
  if (raw.length < 16) return undefined
  return createHash('md5').update(raw).digest('hex').match(/../g)!.join(':')
}

function ipv4ToInt(ip: string): number {
  return ip.split('.').reduce((a, o) => (a << 8) + Number(o), 0) >>> 0
}
function intToIpv4(n: number): string {
  return [n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255].join('.')
}
function inCidr(ip: string, cidr: string): boolean {
  const [base, bits] = cidr.split('/')
  if (!ip.includes('.') || !base.includes('.')) return false
  const mask = Number(bits) === 0 ? 0 : (~0 << (32 - Number(bits))) >>> 0
  return (ipv4ToInt(ip) & mask) === (ipv4ToInt(base) & mask)
}

async function run(cmd: string, args: string[], input?: string): Promise<void> {
  await new Promise<void>((resolve, reject) => {
    const child = spawn(cmd, args, {stdio: ['pipe', 'ignore', 'pipe']})
    let err = ''
    child.stderr.on('data', d => (err += d))
    child.on('error', reject)
    child.on('close', code => (code === 0 ? resolve() : reject(new Error(`${cmd} ${args.join(' ')}: ${err.trim() || `exit ${code}`}`))))
    // A command that fails before reading its input must not crash the simulator with EPIPE.
    child.stdin.on('error', () => {})
    child.stdin.end(input ?? '')
  })
}

export class OpenStackSim {
  url = ''
  readonly profile: SimProfile
  readonly region: string
  readonly users: User[] = []
  readonly projects: Project[] = []
  readonly appCreds: AppCred[] = []
  /** Calls per operation (e.g. "nova.servers.create"), including faulted and throttled ones. */
  readonly calls = new Map<string, number>()
  readonly requests: {op: string; method: string; path: string; status: number}[] = []
  /** Which catalog interface served each call. */
  readonly interfaceHits = {public: 0, internal: 0, admin: 0}
  throttled = 0
  authCount = 0
  /** Every lab host id this simulator booted, for leftover checks (namespaces, links). */
  readonly hostIds: string[] = []

  private server!: http.Server
  private readonly opts: Required<Pick<SimOptions, 'boot' | 'subnet' | 'tokenTtlSec' | 'buildDelayMs' | 'deleteDelayMs' | 'volumeDelayMs'>> & SimOptions
  private tokens = new Map<string, Token>()
  private faults: Fault[] = []
  private buildFailures = 0
  private bucket = {tokens: 0, at: Date.now()}
  private hung = new Set<http.ServerResponse>()
  private timers = new Set<Promise<void>>()
  private fakeNext = 10
  /** Lab hosts booting at once (the rest stay in BUILD). */
  private readonly boots = slots(8)
  /** The tenant network and its router, with the real topology of the generic profile. */
  readonly network?: CloudNetwork

  readonly flavors: {id: string; name: string; ram: number; vcpus: number; disk: number}[] = []
  readonly images: {id: string; name: string; minDisk: number}[] = []
  readonly networks: SimNetwork[] = []
  readonly volumeTypes: string[] = []
  readonly keypairs = new Map<string, {name: string; publicKey: string; fingerprint: string; userId: string; created: number}>()
  readonly servers = new Map<string, SimServer>()
  readonly groups = new Map<string, SimGroup>()
  readonly rules = new Map<string, SimRule>()
  readonly ports = new Map<string, SimPort>()
  readonly fips = new Map<string, SimFip>()
  readonly volumes = new Map<string, SimVolume>()

  private constructor(o: SimOptions) {
    this.profile = o.profile ?? 'generic'
    this.region = this.profile === 'conoha-v2' ? 'tyo1' : this.profile === 'conoha-v3' ? 'c3j1' : 'RegionOne'
    this.opts = {boot: 'lab', subnet: '172.30.90.0/24', tokenTtlSec: 3600, buildDelayMs: 100, deleteDelayMs: 100, volumeDelayMs: 150, ...o}
    if (this.opts.boot === 'lab') parseSubnet(this.opts.subnet)
    if (o.topology && this.profile === 'generic') this.network = new CloudNetwork({...o.topology, subnet: o.topology.subnet ?? this.opts.subnet})
    this.bucket.tokens = o.rateLimit?.burst ?? 0
    this.seed()
  }

  static async start(o: SimOptions = {}): Promise<OpenStackSim> {
    const sim = new OpenStackSim(o)
    sim.server = http.createServer((req, res) => void sim.handle(req, res))
    // A cloud's load balancer keeps idle connections about a minute; Node's 5 s default would close
    // them under a client that a 429 told to wait, racing its next request.
    sim.server.keepAliveTimeout = 65_000
    await new Promise<void>(resolve => sim.server.listen(0, '127.0.0.1', resolve))
    sim.url = `http://127.0.0.1:${(sim.server.address() as AddressInfo).port}`
    return sim
  }

  authUrl(version: '3' | '2.0' = this.profile === 'conoha-v2' ? '2.0' : '3'): string {
    return `${this.url}/v${version}`
  }

  get user(): User {
    return this.users[0]
  }
  get project(): Project {
    return this.projects[0]
  }

  /** Fail the nth call (counted from now) of an operation, and `times` calls after it. */
  inject(op: string, kind: FaultKind, o: {nth?: number; times?: number; retryAfter?: number} = {}): void {
    this.faults.push({op, kind, nth: o.nth ?? 1, times: o.times ?? Infinity, retryAfter: o.retryAfter ?? 1, seen: 0})
  }

  clearFaults(): void {
    this.faults = []
    this.buildFailures = 0
  }

  /** The next n servers end in ERROR ("No valid host was found"). */
  failBuilds(n: number): void {
    this.buildFailures += n
  }

  /** Throttle from now on like an API gateway (token bucket), answering 429 with Retry-After. */
  setRateLimit(rl: SimOptions['rateLimit']): void {
    this.opts.rateLimit = rl
    this.bucket = {tokens: rl?.burst ?? 0, at: Date.now()}
  }

  /** Expire every token at once (as a Keystone restart or revocation would). */
  revokeTokens(): void {
    this.tokens.clear()
  }

  totalCalls(): number {
    let n = 0
    for (const v of this.calls.values()) n += v
    return n
  }

  resetCounters(): void {
    this.calls.clear()
    this.requests.length = 0
    this.throttled = 0
    this.authCount = 0
    Object.assign(this.interfaceHits, {public: 0, internal: 0, admin: 0})
  }

  /** Everything made through the API (not the cloud's own groups), plus the lab hosts on disk. */
  async inventory(): Promise<Record<string, string[]>> {
    const labHosts = this.opts.boot === 'lab' && this.opts.labRoot ? (await fs.readdir(this.opts.labRoot).catch(() => [])).sort() : []
    return {
      servers: [...this.servers.values()].map(s => `${s.name} ${s.id}`).sort(),
      keypairs: [...this.keypairs.keys()].sort(),
      volumes: [...this.volumes.values()].map(v => `${v.name} ${v.id}`).sort(),
      securityGroups: [...this.groups.values()].filter(g => !g.builtin).map(g => `${g.name} ${g.id}`).sort(),
      rules: [...this.rules.values()].filter(r => !this.groups.get(r.groupId)?.builtin).map(r => r.id).sort(),
      floatingIps: [...this.fips.values()].map(f => f.address).sort(),
      ports: [...this.ports.keys()].sort(),
      labHosts,
    }
  }

  /** Wait for queued lifecycle work (boots, deletes) to finish. */
  async settle(): Promise<void> {
    await Promise.all([...this.servers.values()].map(s => s.chain.catch(() => {})))
    await Promise.all([...this.timers])
  }

  /** Work that finishes a little later, as the real services do; settle() waits for it. */
  private later(ms: number, fn: () => void): void {
    const p = sleep(ms).then(fn).finally(() => this.timers.delete(p))
    this.timers.add(p)
  }

  async close(): Promise<void> {
    for (const res of this.hung) res.destroy()
    this.server.closeAllConnections()
    await new Promise<void>(resolve => this.server.close(() => resolve()))
    await this.settle()
    for (const s of this.servers.values()) if (s.host) await destroyHost(s.host).catch(() => {})
    await this.network?.close()
  }

  /** Where a server's lab host boots: the tenant network, the internet (ConoHa's ext-*), or the flat subnet. */
  private where(): {subnet: string; net?: LabNet} {
    if (this.network) return this.network.boot()
    return {subnet: this.opts.topology?.internet ?? this.opts.subnet}
  }

  // ---- seed data ----

  private seed(): void {
    this.users.push({id: hex(16), name: 'demo', password: 'secretsecret', domainId: 'default'})
    this.projects.push({id: hex(16), name: 'demo', domainId: 'default'})
    this.appCreds.push({id: hex(16), name: 'berth-ci', secret: 'app-cred-secret', userId: this.users[0].id, projectId: this.projects[0].id})
    const flavors: [string, number, number, number][] = this.profile === 'generic'
      ? [['m1.tiny', 512, 1, 1], ['m1.small', 2048, 1, 20], ['m1.medium', 4096, 2, 40]]
      : this.profile === 'conoha-v2' ? [['g-512mb', 512, 1, 20], ['g-1gb', 1024, 2, 50], ['g-2gb', 2048, 3, 50]]
        : [['g2l-t-c1m512', 512, 1, 0], ['g2l-t-c2m1', 1024, 2, 0], ['g2l-t-c3m2', 2048, 3, 0]]
    for (const [name, ram, vcpus, disk] of flavors) this.flavors.push({id: this.profile === 'generic' ? String(this.flavors.length + 1) : randomUUID(), name, ram, vcpus, disk})
    const images = this.profile === 'generic' ? ['cirros-0.3.2-x86_64-disk', 'ubuntu-24.04']
      : this.profile === 'conoha-v2' ? ['vmi-ubuntu-14.04-amd64', 'vmi-ubuntu-16.04-amd64-unified'] : ['vmi-ubuntu-24.04-amd64', 'vmi-docker-27.1-ubuntu-24.04-amd64']
    for (const name of images) this.images.push({id: randomUUID(), name, minDisk: this.profile === 'conoha-v3' ? 30 : 0})
    const labCidr = this.opts.boot !== 'lab' ? '10.0.0.0/24' : this.network?.subnet ?? this.opts.topology?.internet ?? this.opts.subnet
    if (this.profile === 'generic') {
      this.networks.push({id: randomUUID(), name: 'private', external: false, subnetId: randomUUID(), cidr: labCidr, shared: false})
      this.networks.push({id: randomUUID(), name: 'public', external: true, subnetId: randomUUID(), cidr: this.opts.boot === 'lab' ? this.network?.internet ?? labCidr : '172.24.4.0/24', shared: true})
    } else {
      this.networks.push({id: randomUUID(), name: this.profile === 'conoha-v2' ? 'ext-133-130-0-0-23' : 'ext-160-251-0-0-21', external: false, subnetId: randomUUID(), cidr: labCidr, shared: true})
    }
    if (this.profile === 'conoha-v3') this.volumeTypes.push('c3j1-ds02-boot', 'c3j1-as01-boot')
    else this.volumeTypes.push('__DEFAULT__', 'ssd')
    // The cloud's own security groups.
    const def = this.addGroup('default', 'Default security group', true)
    for (const et of ['IPv4', 'IPv6'] as const) this.addRule(def.id, {direction: 'egress', ethertype: et})
    if (this.profile !== 'conoha-v3') {
      // OpenStack's default group admits its own members; ConoHa v3's admits nothing.
      for (const et of ['IPv4', 'IPv6'] as const) this.addRule(def.id, {direction: 'ingress', ethertype: et, remoteGroupId: def.id})
    }
    if (this.profile === 'conoha-v2') {
      const all = this.addGroup('gncs-ipv4-all', 'all IPv4', true)
      this.addRule(all.id, {direction: 'ingress', ethertype: 'IPv4', prefix: '0.0.0.0/0'})
      const ssh = this.addGroup('gncs-ipv4-ssh', 'SSH over IPv4', true)
      this.addRule(ssh.id, {direction: 'ingress', ethertype: 'IPv4', protocol: 'tcp', min: 22, max: 22, prefix: '0.0.0.0/0'})
      this.addGroup('gncs-ipv6-all', 'all IPv6', true)
    }
    if (this.profile === 'conoha-v3') {
      const ssh = this.addGroup('IPv4v6-SSH', 'SSH', true)
      this.addRule(ssh.id, {direction: 'ingress', ethertype: 'IPv4', protocol: 'tcp', min: 22, max: 22, prefix: '0.0.0.0/0'})
      this.addRule(ssh.id, {direction: 'ingress', ethertype: 'IPv6', protocol: 'tcp', min: 22, max: 22, prefix: '::/0'})
      const web = this.addGroup('IPv4v6-Web', 'HTTP and HTTPS', true)
      for (const port of [80, 443]) this.addRule(web.id, {direction: 'ingress', ethertype: 'IPv4', protocol: 'tcp', min: port, max: port, prefix: '0.0.0.0/0'})
      this.addGroup('IPv4v6-ICMP', 'ICMP', true)
    }
  }

  private addGroup(name: string, description: string, builtin: boolean): SimGroup {
    const g: SimGroup = {id: randomUUID(), name, description, projectId: this.project.id, builtin, created: Date.now()}
    this.groups.set(g.id, g)
    return g
  }

  private addRule(groupId: string, r: Partial<SimRule> & Pick<SimRule, 'direction' | 'ethertype'>): SimRule {
    const rule: SimRule = {id: randomUUID(), groupId, protocol: null, min: null, max: null, prefix: null, remoteGroupId: null, description: '', ...r}
    this.rules.set(rule.id, rule)
    return rule
  }

  // ---- HTTP ----

  private async handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const chunks: Buffer[] = []
    for await (const c of req) chunks.push(c as Buffer)
    const url = new URL(req.url ?? '/', this.url)
    const method = req.method ?? 'GET'
    let pathname = url.pathname.replace(/\/+$/, '') || '/'
    let iface: 'public' | 'internal' | 'admin' = 'public'
    const im = /^\/(internal|admin)(\/.*)$/.exec(pathname)
    if (im) {
      iface = im[1] as 'internal' | 'admin'
      pathname = im[2]
    }
    const route = this.route(method, pathname)
    const op = route?.op ?? `unknown ${method} ${pathname}`
    this.calls.set(op, (this.calls.get(op) ?? 0) + 1)
    this.interfaceHits[iface]++
    let reply: Reply
    let hang = false
    try {
      if (!route) throw fail(404, `no route for ${method} ${pathname}`, 'itemNotFound')
      // An API gateway throttles before anything is processed.
      const throttle = this.takeToken()
      const fault = this.faultFor(op)
      if (throttle !== undefined || fault?.kind === 429) {
        this.throttled++
        const after = throttle ?? fault!.retryAfter
        reply = {...errorBody(route.api, 429, route.api === 'neutron' ? 'OverQuota' : 'overLimit', 'Rate limit exceeded: retry later'), headers: {'Retry-After': String(after)}}
        if (route.api === 'nova' || route.api === 'cinder') reply.body = {overLimit: {code: 429, message: 'This request was rate-limited.', retryAfter: String(after)}}
      } else if (fault && fault.kind !== 'timeout') {
        reply = errorBody(route.api, fault.kind, fault.kind === 503 ? 'serviceUnavailable' : route.api === 'neutron' ? 'HTTPInternalServerError' : 'computeFault', fault.kind === 503 ? 'Service Unavailable' : 'Unexpected API Error. Please report this at http://bugs.launchpad.net/ and attach the Nova API log if possible.')
        if (route.api === 'neutron' && fault.kind === 500) reply = errorBody('neutron', 500, 'HTTPInternalServerError', 'Request Failed: internal server error while processing your request.')
      } else {
        // A lost answer: the request is carried out, the client never hears back.
        hang = fault?.kind === 'timeout'
        let body: unknown
        if (chunks.length) {
          try {
            body = JSON.parse(Buffer.concat(chunks).toString('utf8'))
          } catch {
            throw fail(400, 'Malformed request body', route.api === 'neutron' ? 'HTTPBadRequest' : 'badRequest')
          }
        }
        const ctx: Ctx = {api: route.api, legacy: false, body, query: url.searchParams}
        if (route.api !== 'keystone') ctx.token = this.checkToken(req.headers['x-auth-token'])
        reply = await route.run(ctx)
      }
    } catch (err) {
      if (err instanceof HttpError) {
        const api = route?.api ?? 'nova'
        const kind = api === 'neutron' && /^[a-z]/.test(err.kind) ? neutronKind(err.status) : err.kind
        reply = errorBody(api, err.status, kind, err.message)
      } else {
        this.opts.log?.(`sim: ${method} ${pathname}: ${(err as Error).stack}`)
        reply = errorBody(route?.api ?? 'nova', 500, 'computeFault', 'Unexpected API Error.')
      }
    }
    this.requests.push({op, method, path: pathname, status: hang ? 0 : reply.status})
    this.opts.log?.(`sim: ${method} ${pathname}${url.search} -> ${hang ? 'no answer' : reply.status}`)
    if (hang) {
      this.hung.add(res)
      res.on('close', () => this.hung.delete(res))
      return
    }
    const headers: Record<string, string> = {'x-openstack-request-id': `req-${randomUUID()}`, ...reply.headers}
    if (reply.text !== undefined) {
      res.writeHead(reply.status, {'Content-Type': 'text/plain', ...headers})
      res.end(reply.text)
    } else if (reply.body !== undefined) {
      const text = JSON.stringify(reply.body)
      res.writeHead(reply.status, {'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(text), ...headers})
      res.end(text)
    } else {
      res.writeHead(reply.status, {'Content-Length': 0, ...headers})
      res.end()
    }
  }

  private takeToken(): number | undefined {
    const rl = this.opts.rateLimit
    if (!rl) return undefined
    const now = Date.now()
    this.bucket.tokens = Math.min(rl.burst, this.bucket.tokens + ((now - this.bucket.at) / 1000) * rl.perSecond)
    this.bucket.at = now
    if (this.bucket.tokens >= 1) {
      this.bucket.tokens--
      return undefined
    }
    return rl.retryAfterSec ?? 1
  }

  private faultFor(op: string): Fault | undefined {
    let hit: Fault | undefined
    for (const f of this.faults) {
      if (f.op !== op) continue
      f.seen++
      if (!hit && f.seen >= f.nth && f.seen < f.nth + f.times) hit = f
    }
    return hit
  }

  private checkToken(header: string | string[] | undefined): Token {
    const t = typeof header === 'string' ? this.tokens.get(header) : undefined
    if (!t || t.expiresAt <= Date.now()) throw fail(401, 'The request you have made requires authentication.')
    return t
  }

  private route(method: string, p: string): {op: string; api: Api; run: (c: Ctx) => Promise<Reply> | Reply} | undefined {
    let m: RegExpExecArray | null
    if (method === 'POST' && p === '/v3/auth/tokens') return {op: 'keystone.tokens', api: 'keystone', run: c => this.authV3(c)}
    if (method === 'POST' && p === '/v2.0/tokens') return {op: 'keystone.tokens', api: 'keystone', run: c => this.authV2(c)}
    if ((m = /^\/compute\/v2\.1(\/.*)?$/.exec(p)) || (m = /^\/compute\/v2\/([0-9a-f]+)(\/.*)?$/.exec(p))) {
      const legacy = m.length === 3 && p.startsWith('/compute/v2/')
      const tenant = legacy ? m[1] : undefined
      const rest = (legacy ? m[2] : m[1]) ?? '/'
      const r = this.novaRoute(method, rest)
      if (!r) return undefined
      return {op: r.op, api: 'nova', run: c => {
        c.legacy = legacy
        if (tenant && tenant !== c.token!.projectId) throw fail(400, `Malformed request URL: URL's project_id '${tenant}' doesn't match Context's project_id '${c.token!.projectId}'`)
        return r.run(c)
      }}
    }
    if ((m = /^\/network\/v2\.0(\/.*)$/.exec(p))) {
      const r = this.neutronRoute(method, m[1])
      return r && {op: r.op, api: 'neutron', run: r.run}
    }
    if ((m = /^\/image\/v2(\/.*)$/.exec(p))) {
      const r = this.glanceRoute(method, m[1])
      return r && {op: r.op, api: 'glance', run: r.run}
    }
    if ((m = /^\/volume\/v3\/([0-9a-f]+)(\/.*)$/.exec(p))) {
      const tenant = m[1]
      const r = this.cinderRoute(method, m[2])
      return r && {op: r.op, api: 'cinder', run: c => {
        if (tenant !== c.token!.projectId) throw fail(403, 'Policy does not allow this request to be performed.')
        return r.run(c)
      }}
    }
    return undefined
  }

  // ---- Keystone ----

  private catalogV3(projectId: string): unknown[] {
    const regions = [this.region, ...(this.opts.extraRegions ?? [])]
    const ifaces = this.profile === 'conoha-v3' ? ['public'] : ['public', 'internal', 'admin']
    const svc = (type: string, name: string, pathFor: (base: string) => string) => ({
      endpoints: regions.flatMap((r, i) => ifaces.map(iface => {
        const base = this.url + (i ? `/r${i}` : '') + (iface === 'public' ? '' : `/${iface}`)
        return {region_id: r, url: pathFor(base), region: r, interface: iface, id: hex(16)}
      })),
      type, id: hex(16), name,
    })
    return [
      svc('identity', 'keystone', b => `${b}/v3`),
      svc('compute', 'nova', b => `${b}/compute/v2.1`),
      svc('network', 'neutron', b => `${b}/network`),
      svc('image', 'glance', b => `${b}/image`),
      svc('volumev3', 'cinderv3', b => `${b}/volume/v3/${projectId}`),
    ]
  }

  private catalogV2(projectId: string): unknown[] {
    const regions = [this.region, ...(this.opts.extraRegions ?? [])]
    const conoha = this.profile.startsWith('conoha')
    const ep = (pathFor: (base: string) => string) => regions.map((r, i) => {
      const base = this.url + (i ? `/r${i}` : '')
      // ConoHa's catalog lists only public URLs.
      return conoha ? {region: r, publicURL: pathFor(base)}
        : {adminURL: pathFor(base + '/admin'), region: r, internalURL: pathFor(base + '/internal'), id: hex(16), publicURL: pathFor(base)}
    })
    const out: unknown[] = [
      {endpoints: ep(b => `${b}/compute/v2/${projectId}`), endpoints_links: [], type: 'compute', name: conoha ? 'Compute Service' : 'nova'},
      {endpoints: ep(b => `${b}/network`), endpoints_links: [], type: 'network', name: conoha ? 'Network Service' : 'neutron'},
      {endpoints: ep(b => `${b}/image`), endpoints_links: [], type: 'image', name: conoha ? 'Image Service' : 'glance'},
      {endpoints: ep(b => `${b}/volume/v3/${projectId}`), endpoints_links: [], type: 'volume', name: conoha ? 'Block Storage Service' : 'cinder'},
    ]
    if (conoha) {
      // ConoHa's own services and an identity entry per region, as its catalog has.
      out.push({endpoints: ['sjc1', 'tyo1', 'sin1'].map(r => ({region: r, publicURL: `${this.url}/v2.0`})), endpoints_links: [], type: 'identity', name: 'Identity Service'})
      for (const [type, name] of [['account', 'Account Service'], ['dns', 'DNS Service'], ['object-store', 'Object Storage Service'], ['mailhosting', 'Mail Hosting Service']]) {
        out.push({endpoints: [{region: this.region, publicURL: `${this.url}/unused/${type}`}], endpoints_links: [], type, name})
      }
    } else {
      out.push({endpoints: ep(b => `${b}/v2.0`), endpoints_links: [], type: 'identity', name: 'keystone'})
    }
    return out
  }

  private newToken(userId: string, projectId: string | undefined, methods: string[]): Token {
    const now = Date.now()
    const t: Token = {id: hex(32), userId, projectId, issuedAt: now, expiresAt: now + this.opts.tokenTtlSec * 1000, methods}
    this.tokens.set(t.id, t)
    this.authCount++
    return t
  }

  private findProject(p: {id?: string; name?: string; domain?: {id?: string; name?: string}}): Project | undefined {
    return this.projects.find(x => (p.id ? x.id === p.id : x.name === p.name && (!p.domain || p.domain.id === x.domainId || (p.domain.name ?? '').toLowerCase() === x.domainId)))
  }

  private authV3(c: Ctx): Reply {
    const parsed = V3AuthRequest.safeParse(c.body)
    if (!parsed.success) throw new HttpError(400, 'Bad Request', `Invalid input for field '${parsed.error.issues[0].path.join('/')}': ${parsed.error.issues[0].message}`)
    const {identity, scope} = parsed.data.auth
    let user: User | undefined
    let projectId: string | undefined
    const denied = () => new HttpError(401, 'Unauthorized', 'The request you have made requires authentication.')
    if (identity.methods[0] === 'application_credential') {
      const a = identity.application_credential
      const cred = a && this.appCreds.find(x => (a.id ? x.id === a.id : x.name === a.name && (x.userId === a.user?.id || this.users.find(u => u.id === x.userId)?.name === a.user?.name)))
      if (!cred || cred.secret !== a!.secret) throw denied()
      if (scope) throw new HttpError(401, 'Unauthorized', 'Application credentials cannot request a scope.')
      user = this.users.find(u => u.id === cred.userId)
      projectId = cred.projectId
    } else {
      const u = identity.password?.user
      if (!u) throw new HttpError(400, 'Bad Request', 'Expecting to find password in identity.')
      user = this.users.find(x => (u.id ? x.id === u.id : x.name === u.name && (!u.domain || u.domain.id === x.domainId || (u.domain.name ?? '').toLowerCase() === x.domainId)))
      if (!user || user.password !== u.password) throw denied()
      if (scope) {
        const p = this.findProject(scope.project)
        if (!p) throw denied()
        projectId = p.id
      }
    }
    const t = this.newToken(user!.id, projectId, identity.methods)
    const project = this.projects.find(p => p.id === projectId)
    const token = shaped(templates.v3Token(), {
      methods: identity.methods,
      expires_at: new Date(t.expiresAt).toISOString().replace('Z', '000Z'),
      issued_at: new Date(t.issuedAt).toISOString().replace('Z', '000Z'),
      project: project ? {domain: {id: project.domainId, name: 'Default'}, id: project.id, name: project.name} : undefined,
      catalog: project ? this.catalogV3(project.id) : undefined,
      user: {domain: {id: user!.domainId, name: 'Default'}, id: user!.id, name: user!.name, password_expires_at: null},
      audit_ids: [randomBytes(16).toString('base64url').slice(0, 22)],
    })
    if (!project) {
      delete (token as Record<string, unknown>).project
      delete (token as Record<string, unknown>).catalog
    }
    return {status: 201, headers: {'X-Subject-Token': t.id, Vary: 'X-Auth-Token'}, body: {token}}
  }

  private authV2(c: Ctx): Reply {
    const parsed = V2AuthRequest.safeParse(c.body)
    if (!parsed.success) throw new HttpError(400, 'Bad Request', 'Expecting to find passwordCredentials in auth')
    const a = parsed.data.auth
    const user = this.users.find(u => u.name === a.passwordCredentials.username)
    if (!user || user.password !== a.passwordCredentials.password) throw new HttpError(401, 'Unauthorized', 'The request you have made requires authentication.')
    const project = a.tenantId || a.tenantName ? this.projects.find(p => (a.tenantId ? p.id === a.tenantId : p.name === a.tenantName)) : undefined
    if ((a.tenantId || a.tenantName) && !project) throw new HttpError(401, 'Unauthorized', `Tenant ${a.tenantId ?? a.tenantName} not found`)
    const t = this.newToken(user.id, project?.id, ['password'])
    const access = shaped(templates.v2Access(), {
      token: {
        // Keystone v2.0 writes microseconds and no zone, as in the sample.
        issued_at: new Date(t.issuedAt).toISOString().replace('Z', '000'),
        expires: iso(t.expiresAt),
        id: t.id,
        ...(project ? {tenant: {description: null, enabled: true, id: project.id, name: project.name, ...(this.profile === 'conoha-v2' ? {tyo1_image_size: '550GB'} : {})}} : {}),
        audit_ids: [randomBytes(16).toString('base64url').slice(0, 22)],
      },
      serviceCatalog: project ? this.catalogV2(project.id) : [],
      user: {username: user.name, roles_links: [], id: user.id, roles: [{name: '_member_'}], name: user.name},
    })
    delete (access as Record<string, unknown>).trust
    return {status: 200, body: {access}}
  }

  // ---- Nova ----

  private novaRoute(method: string, p: string): {op: string; run: (c: Ctx) => Promise<Reply> | Reply} | undefined {
    let m: RegExpExecArray | null
    if (method === 'GET' && p === '/flavors') return {op: 'nova.flavors.list', run: () => ({status: 200, body: {flavors: this.flavors.map(f => this.flavorView(f, true))}})}
    if (method === 'GET' && p === '/flavors/detail') return {op: 'nova.flavors.list', run: () => ({status: 200, body: {flavors: this.flavors.map(f => this.flavorView(f, false))}})}
    if (method === 'GET' && (m = /^\/flavors\/([^/]+)$/.exec(p))) {
      const id = decodeURIComponent(m[1])
      return {op: 'nova.flavors.get', run: () => {
        const f = this.flavors.find(x => x.id === id)
        if (!f) throw fail(404, `Flavor ${id} could not be found.`)
        return {status: 200, body: {flavor: this.flavorView(f, false)}}
      }}
    }
    if (method === 'POST' && p === '/os-keypairs') return {op: 'nova.keypairs.create', run: c => this.importKeypair(c)}
    if (method === 'GET' && p === '/os-keypairs') return {op: 'nova.keypairs.list', run: c => ({status: 200, body: {keypairs: [...this.keypairs.values()].filter(k => k.userId === c.token!.userId).map(k => ({keypair: shaped(templates.keypairListed(), {fingerprint: k.fingerprint, name: k.name, public_key: k.publicKey})}))}})}
    if ((m = /^\/os-keypairs\/([^/]+)$/.exec(p))) {
      const name = decodeURIComponent(m[1])
      if (method === 'GET') return {op: 'nova.keypairs.get', run: c => ({status: 200, body: {keypair: this.keypairView(this.mustKeypair(name, c))}})}
      if (method === 'DELETE') return {op: 'nova.keypairs.delete', run: c => {
        this.mustKeypair(name, c)
        this.keypairs.delete(name)
        return {status: 202}
      }}
    }
    if (method === 'POST' && p === '/servers') return {op: 'nova.servers.create', run: c => this.createServer(c)}
    if (method === 'GET' && (p === '/servers' || p === '/servers/detail')) {
      const detail = p.endsWith('detail')
      return {op: 'nova.servers.list', run: c => {
        const re = c.query.get('name') ? new RegExp(c.query.get('name')!) : undefined
        const list = [...this.servers.values()].filter(s => s.projectId === c.token!.projectId && (!re || re.test(s.name)))
        return {status: 200, body: {servers: list.map(s => (detail ? this.serverView(s) : shaped(templates.serverBrief(), {id: s.id, name: s.name, links: this.links('servers', s.id)})))}}
      }}
    }
    if ((m = /^\/servers\/([^/]+)(\/action|\/ips)?$/.exec(p))) {
      const id = decodeURIComponent(m[1])
      if (method === 'GET' && !m[2]) return {op: 'nova.servers.get', run: c => ({status: 200, body: {server: this.serverView(this.mustServer(id, c))}})}
      if (method === 'GET' && m[2] === '/ips') return {op: 'nova.servers.ips', run: c => ({status: 200, body: {addresses: this.addresses(this.mustServer(id, c), false)}})}
      if (method === 'DELETE' && !m[2]) return {op: 'nova.servers.delete', run: c => this.deleteServer(this.mustServer(id, c))}
      if (method === 'POST' && m[2] === '/action') return {op: 'nova.servers.action', run: c => this.serverAction(this.mustServer(id, c), c)}
    }
    return undefined
  }

  private links(kind: string, id: string) {
    return [
      {href: `${this.url}/compute/v2.1/${this.project.id}/${kind}/${id}`, rel: 'self'},
      {href: `${this.url}/compute/${this.project.id}/${kind}/${id}`, rel: 'bookmark'},
    ]
  }

  private flavorView(f: (typeof this.flavors)[number], brief: boolean) {
    if (brief) return shaped(templates.flavorBrief(), {id: f.id, name: f.name, links: this.links('flavors', f.id)})
    return shaped(templates.flavor(), {id: f.id, name: f.name, ram: f.ram, vcpus: f.vcpus, disk: f.disk, links: this.links('flavors', f.id)})
  }

  private keypairView(k: {name: string; publicKey: string; fingerprint: string; userId: string; created: number}) {
    return shaped(templates.keypairShow(), {fingerprint: k.fingerprint, name: k.name, public_key: k.publicKey, user_id: k.userId, created_at: new Date(k.created).toISOString().replace('Z', '').slice(0, 23) + '000', id: 1})
  }

  private mustKeypair(name: string, c: Ctx) {
    const k = this.keypairs.get(name)
    if (!k || k.userId !== c.token!.userId) throw fail(404, `Keypair ${name} not found for user ${c.token!.userId}`)
    return k
  }

  private importKeypair(c: Ctx): Reply {
    const parsed = KeypairCreateRequest.safeParse(c.body)
    if (!parsed.success) throw fail(400, `Invalid input for field/attribute keypair. Value: ${JSON.stringify(c.body)}. ${parsed.error.issues[0].message}`)
    const {name, public_key: pub} = parsed.data.keypair
    if (!/^[A-Za-z0-9 _.-]{1,255}$/.test(name)) throw fail(400, 'Keypair data is invalid: Keypair name contains unsafe characters')
    if (!pub) throw fail(400, 'This simulator imports keys only: give public_key')
    if (this.keypairs.has(name)) throw fail(409, `Key pair '${name}' already exists.`)
    const fingerprint = md5Fingerprint(pub)
    if (!fingerprint) throw fail(400, 'Keypair data is invalid: failed to generate fingerprint')
    this.keypairs.set(name, {name, publicKey: pub, fingerprint, userId: c.token!.userId, created: Date.now()})
    return {status: 200, body: {keypair: shaped(templates.keypairImported(), {fingerprint, name, public_key: pub, user_id: c.token!.userId})}}
  }

  private mustServer(id: string, c: Ctx): SimServer {
    const s = this.servers.get(id)
    if (!s || s.projectId !== c.token!.projectId) throw fail(404, `Instance ${id} could not be found.`)
    return s
  }

  private groupByRef(ref: string, projectId: string): SimGroup {
    const byId = this.groups.get(ref)
    if (byId && byId.projectId === projectId) return byId
    const named = [...this.groups.values()].filter(g => g.name === ref && g.projectId === projectId)
    if (named.length > 1) throw fail(409, `Multiple security groups found matching '${ref}'. Use an ID to be more specific.`)
    if (!named.length) throw fail(400, `Security group ${ref} not found for project ${projectId}.`)
    return named[0]
  }

  private createServer(c: Ctx): Reply {
    const parsed = ServerCreateRequest.safeParse(c.body)
    if (!parsed.success) throw fail(400, `Invalid input for field/attribute ${parsed.error.issues[0].path.join('.')}. ${parsed.error.issues[0].message}`)
    const s = parsed.data.server
    const projectId = c.token!.projectId!
    const flavor = this.flavors.find(f => f.id === s.flavorRef)
    if (!flavor) throw fail(400, 'Invalid flavorRef provided.')
    const volumeIds: string[] = []
    let imageId = ''
    const bdm = s.block_device_mapping_v2
    if (bdm?.length) {
      for (const b of bdm) {
        if ((b.source_type ?? 'volume') !== 'volume' || !b.uuid) throw fail(400, 'This simulator boots only from existing volumes in block_device_mapping_v2')
        const v = this.volumes.get(b.uuid)
        if (!v || v.projectId !== projectId) throw fail(400, `Block Device Mapping is Invalid: failed to get volume ${b.uuid}.`)
        if (v.status !== 'available') throw fail(400, `Block Device Mapping is Invalid: volume ${b.uuid} is ${v.status}, not available.`)
        volumeIds.push(v.id)
      }
    } else {
      if (this.profile === 'conoha-v3') throw fail(400, 'Block Device Mapping is Invalid: a boot volume is required (block_device_mapping_v2).')
      const img = this.images.find(i => i.id === s.imageRef)
      if (!img) throw fail(400, `Image ${s.imageRef ?? ''} could not be found.`)
      imageId = img.id
    }
    const kp = s.key_name ? this.keypairs.get(s.key_name) : undefined
    if (s.key_name && (!kp || kp.userId !== c.token!.userId)) throw fail(400, 'Invalid key_name provided.')
    const groupIds = (s.security_groups ?? [{name: 'default'}]).map(g => this.groupByRef(g.name, projectId).id)
    let networkId = this.networks.find(n => !n.external)!.id
    const nets = Array.isArray(s.networks) ? s.networks : []
    if (nets.length) {
      const n = this.networks.find(x => x.id === nets[0].uuid)
      if (!n) throw fail(400, `Network ${nets[0].uuid} could not be found.`)
      if (n.external) throw fail(400, `Network ${n.id} is an external network: attach a floating IP instead.`)
      networkId = n.id
    }
    if (s.user_data !== undefined) {
      if (!/^[A-Za-z0-9+/]*={0,2}$/.test(s.user_data)) throw fail(400, 'User data needs to be valid base 64.')
      const limit = this.profile === 'conoha-v3' ? 16 * 1024 : 65535
      if (s.user_data.length > limit) throw fail(400, `User data too large. User data must be no larger than ${limit} bytes once base64 encoded.`)
    }
    const quota = this.opts.quota?.instances
    if (quota !== undefined && [...this.servers.values()].filter(x => x.projectId === projectId).length >= quota) {
      // The legacy v2 API answered 413; v2.1 answers 403.
      throw fail(c.legacy ? 413 : 403, `Quota exceeded for instances: Requested 1, but already used ${quota} of ${quota} instances`)
    }
    const now = Date.now()
    const server: SimServer = {
      id: randomUUID(), name: s.name, projectId, userId: c.token!.userId, status: 'BUILD', taskState: 'scheduling', powerState: 0,
      flavorId: flavor.id, imageId, keyName: s.key_name ?? '', metadata: s.metadata ?? {}, groupIds, networkId, volumeIds,
      az: s.availability_zone ?? 'nova', created: now, updated: now, plannedHostId: hex(16), mac: `fa:16:3e:${hex(1)}:${hex(1)}:${hex(1)}`,
      deleting: false, chain: Promise.resolve(),
    }
    for (const id of volumeIds) {
      const v = this.volumes.get(id)!
      v.status = 'in-use'
      v.serverId = server.id
    }
    this.servers.set(server.id, server)
    this.enqueue(server, () => this.boot(server, kp?.publicKey))
    return {status: 202, headers: {Location: this.links('servers', server.id)[0].href}, body: {server: shaped(templates.serverCreated(), {id: server.id, adminPass: randomBytes(9).toString('base64url'), links: this.links('servers', server.id), security_groups: groupIds.map(g => ({name: this.groups.get(g)!.name}))})}}
  }

  private enqueue(s: SimServer, fn: () => Promise<void>): void {
    s.chain = s.chain.then(fn).catch(err => this.opts.log?.(`sim: server ${s.id}: ${(err as Error).message}`))
  }

  private async boot(s: SimServer, publicKey: string | undefined): Promise<void> {
    await sleep(this.opts.buildDelayMs)
    if (s.deleting) return
    s.taskState = 'spawning'
    if (this.buildFailures > 0) {
      this.buildFailures--
      Object.assign(s, {status: 'ERROR', taskState: null, fault: {code: 500, message: 'No valid host was found. There are not enough hosts available.'}})
      return
    }
    try {
      if (this.opts.boot === 'lab') {
        this.hostIds.push(s.plannedHostId)
        s.host = await this.boots(() => bootHost({id: s.plannedHostId, hostname: s.name, authorizedKeys: publicKey ?? '', ...this.where(), root: this.opts.labRoot}))
        s.fixedIp = s.host.ip
      } else {
        s.fixedIp = `10.0.0.${this.fakeNext++}`
      }
    } catch (err) {
      Object.assign(s, {status: 'ERROR', taskState: null, fault: {code: 500, message: `Build of instance ${s.id} aborted: ${(err as Error).message.split('\n')[0]}`}})
      return
    }
    const net = this.networks.find(n => n.id === s.networkId)!
    const port: SimPort = {id: randomUUID(), networkId: net.id, deviceId: s.id, ip: s.fixedIp!, mac: s.mac, groupIds: s.groupIds, created: Date.now()}
    this.ports.set(port.id, port)
    Object.assign(s, {status: 'ACTIVE', taskState: null, powerState: 1, updated: Date.now()})
    await this.applyFirewalls()
  }

  private deleteServer(s: SimServer): Reply {
    if (s.deleting) return {status: 204}
    s.deleting = true
    s.taskState = 'deleting'
    this.enqueue(s, async () => {
      await sleep(this.opts.deleteDelayMs)
      if (s.host) {
        await destroyHost(s.host)
        this.firewalls.forget(s.host.netns)
      }
      for (const p of [...this.ports.values()].filter(x => x.deviceId === s.id)) {
        for (const f of this.fips.values()) {
          if (f.portId !== p.id) continue
          f.portId = null
          await this.network?.unbind(f.address)
        }
        this.ports.delete(p.id)
      }
      for (const id of s.volumeIds) {
        const v = this.volumes.get(id)
        if (v) {
          v.status = 'available'
          v.serverId = undefined
        }
      }
      this.servers.delete(s.id)
      await this.applyFirewalls()
    })
    return {status: 204}
  }

  private serverAction(s: SimServer, c: Ctx): Reply {
    const parsed = ServerAction.safeParse(c.body)
    if (!parsed.success) throw fail(400, 'Invalid action: this simulator knows os-start, os-stop and reboot')
    const a = parsed.data
    const busy = (what: string) => fail(409, `Cannot '${what}' instance ${s.id} while it is in ${s.taskState ? `task_state ${s.taskState}` : `vm_state ${s.status.toLowerCase()}`}`)
    if (s.taskState || s.deleting) throw busy(Object.keys(a)[0])
    if ('os-stop' in a) {
      if (s.status !== 'ACTIVE') throw busy('stop')
      s.taskState = 'powering-off'
      this.enqueue(s, async () => {
        if (s.host) await stopHost(s.host, 3000)
        Object.assign(s, {status: 'SHUTOFF', taskState: null, powerState: 4, updated: Date.now()})
      })
    } else if ('os-start' in a) {
      if (s.status !== 'SHUTOFF') throw busy('start')
      s.taskState = 'powering-on'
      this.enqueue(s, async () => {
        if (s.host) await startHost(s.host)
        Object.assign(s, {status: 'ACTIVE', taskState: null, powerState: 1, updated: Date.now()})
      })
    } else {
      const hard = a.reboot.type === 'HARD'
      if (s.status !== 'ACTIVE' && !(hard && s.status === 'SHUTOFF')) throw busy('reboot')
      Object.assign(s, {status: hard ? 'HARD_REBOOT' : 'REBOOT', taskState: hard ? 'reboot_started_hard' : 'reboot_started'})
      this.enqueue(s, async () => {
        if (s.host) {
          await stopHost(s.host, hard ? 0 : 3000)
          await startHost(s.host)
        }
        Object.assign(s, {status: 'ACTIVE', taskState: null, powerState: 1, updated: Date.now()})
      })
    }
    return {status: 202}
  }

  private addresses(s: SimServer, extended = true): Record<string, unknown[]> {
    if (!s.fixedIp) return {}
    const net = this.networks.find(n => n.id === s.networkId)!
    const port = [...this.ports.values()].find(p => p.deviceId === s.id)
    const list: Record<string, unknown>[] = [extended ? {addr: s.fixedIp, 'OS-EXT-IPS-MAC:mac_addr': s.mac, 'OS-EXT-IPS:type': 'fixed', version: 4} : {addr: s.fixedIp, version: 4}]
    for (const f of this.fips.values()) {
      if (port && f.portId === port.id) list.push(extended ? {addr: f.address, 'OS-EXT-IPS-MAC:mac_addr': s.mac, 'OS-EXT-IPS:type': 'floating', version: 4} : {addr: f.address, version: 4})
    }
    return {[net.name]: list}
  }

  private serverView(s: SimServer) {
    const image = s.imageId ? {id: s.imageId, links: [{href: `${this.url}/compute/${this.project.id}/images/${s.imageId}`, rel: 'bookmark'}]} : ''
    const view = shaped(templates.server(), {
      accessIPv4: '', accessIPv6: '',
      addresses: this.addresses(s),
      created: iso(s.created), updated: iso(s.updated),
      flavor: {id: s.flavorId, links: [{href: `${this.url}/compute/${this.project.id}/flavors/${s.flavorId}`, rel: 'bookmark'}]},
      hostId: s.status === 'BUILD' ? '' : createHash('sha224').update(s.projectId + s.plannedHostId).digest('hex'),
      id: s.id, image, key_name: s.keyName || null,
      links: this.links('servers', s.id),
      metadata: s.metadata, name: s.name,
      'OS-EXT-AZ:availability_zone': s.az,
      'OS-EXT-SRV-ATTR:host': s.host ? s.host.netns : null,
      'OS-EXT-SRV-ATTR:instance_name': `instance-${s.plannedHostId.slice(0, 8)}`,
      'OS-EXT-STS:power_state': s.powerState,
      'OS-EXT-STS:task_state': s.taskState,
      'OS-EXT-STS:vm_state': s.status === 'SHUTOFF' ? 'stopped' : s.status === 'BUILD' ? 'building' : s.status === 'ERROR' ? 'error' : 'active',
      'os-extended-volumes:volumes_attached': s.volumeIds.map(id => ({id})),
      'OS-SRV-USG:launched_at': s.status === 'BUILD' ? null : new Date(s.created).toISOString().replace('Z', ''),
      progress: s.status === 'BUILD' ? 50 : 0,
      security_groups: s.groupIds.map(g => ({name: this.groups.get(g)?.name ?? g})),
      status: s.status,
      tenant_id: s.projectId, user_id: s.userId,
      ...(s.fault ? {fault: {code: s.fault.code, created: iso(s.updated), message: s.fault.message}} : {}),
    }, ['fault'])
    return view
  }

  // ---- Glance ----

  private glanceRoute(method: string, p: string): {op: string; run: (c: Ctx) => Reply} | undefined {
    let m: RegExpExecArray | null
    if (method === 'GET' && p === '/images') {
      return {op: 'glance.images.list', run: c => {
        const name = c.query.get('name')
        return {status: 200, body: {images: this.images.filter(i => !name || i.name === name).map(i => this.imageView(i)), schema: '/v2/schemas/images', first: '/v2/images'}}
      }}
    }
    if (method === 'GET' && (m = /^\/images\/([^/]+)$/.exec(p))) {
      const id = decodeURIComponent(m[1])
      return {op: 'glance.images.get', run: () => {
        const i = this.images.find(x => x.id === id)
        if (!i) throw new HttpError(404, 'Not Found', `No image found with ID ${id}`)
        return {status: 200, body: this.imageView(i)}
      }}
    }
    return undefined
  }

  private imageView(i: (typeof this.images)[number]) {
    return shaped(templates.image(), {name: i.name, id: i.id, self: `/v2/images/${i.id}`, file: `/v2/images/${i.id}/file`, min_disk: i.minDisk, owner: this.project.id})
  }

  // ---- Neutron ----

  private neutronRoute(method: string, p: string): {op: string; run: (c: Ctx) => Promise<Reply> | Reply} | undefined {
    let m: RegExpExecArray | null
    const list = <T>(items: T[], c: Ctx, fields: Record<string, (x: T) => unknown>) => items.filter(x => Object.entries(fields).every(([k, get]) => {
      const want = c.query.getAll(k)
      return !want.length || want.includes(String(get(x)))
    }))
    if (method === 'GET' && p === '/networks') return {op: 'neutron.networks.list', run: c => ({status: 200, body: {networks: list(this.networks, c, {name: n => n.name, id: n => n.id}).map(n => this.networkView(n))}})}
    if (method === 'GET' && (m = /^\/networks\/([^/]+)$/.exec(p))) {
      const id = m[1]
      return {op: 'neutron.networks.get', run: () => {
        const n = this.networks.find(x => x.id === id)
        if (!n) throw new HttpError(404, 'NetworkNotFound', `Network ${id} could not be found.`)
        return {status: 200, body: {network: this.networkView(n)}}
      }}
    }
    if (method === 'GET' && p === '/subnets') {
      return {op: 'neutron.subnets.list', run: () => ({status: 200, body: {subnets: this.networks.map(n => shaped(templates.subnet(), {
        name: `${n.name}-subnet`, network_id: n.id, project_id: this.project.id, tenant_id: this.project.id, cidr: n.cidr, id: n.subnetId,
        gateway_ip: intToIpv4(ipv4ToInt(n.cidr.split('/')[0]) + 1), allocation_pools: [], 'router:external': n.external,
      }))}})}
    }
    if (method === 'GET' && p === '/ports') return {op: 'neutron.ports.list', run: c => ({status: 200, body: {ports: list([...this.ports.values()], c, {device_id: x => x.deviceId, network_id: x => x.networkId, id: x => x.id}).map(pt => this.portView(pt))}})}
    if (method === 'GET' && p === '/security-groups') return {op: 'neutron.secgroups.list', run: c => ({status: 200, body: {security_groups: list([...this.groups.values()].filter(g => g.projectId === c.token!.projectId), c, {name: g => g.name, id: g => g.id}).map(g => this.groupView(g))}})}
    if (method === 'POST' && p === '/security-groups') return {op: 'neutron.secgroups.create', run: c => this.createGroup(c)}
    if ((m = /^\/security-groups\/([^/]+)$/.exec(p))) {
      const id = m[1]
      if (method === 'GET') return {op: 'neutron.secgroups.get', run: c => ({status: 200, body: {security_group: this.groupView(this.mustGroup(id, c))}})}
      if (method === 'DELETE') return {op: 'neutron.secgroups.delete', run: c => this.deleteGroup(this.mustGroup(id, c))}
    }
    if (method === 'POST' && p === '/security-group-rules') return {op: 'neutron.rules.create', run: c => this.createRule(c)}
    if (method === 'GET' && p === '/security-group-rules') return {op: 'neutron.rules.list', run: c => ({status: 200, body: {security_group_rules: list([...this.rules.values()], c, {security_group_id: r => r.groupId}).map(r => this.ruleView(r))}})}
    if (method === 'DELETE' && (m = /^\/security-group-rules\/([^/]+)$/.exec(p))) {
      const id = m[1]
      return {op: 'neutron.rules.delete', run: async () => {
        if (!this.rules.delete(id)) throw new HttpError(404, 'SecurityGroupRuleNotFound', `Security group rule ${id} does not exist`)
        await this.applyFirewalls()
        return {status: 204}
      }}
    }
    if (method === 'GET' && p === '/floatingips') return {op: 'neutron.floatingips.list', run: c => ({status: 200, body: {floatingips: list([...this.fips.values()].filter(f => f.projectId === c.token!.projectId), c, {description: f => f.description, floating_network_id: f => f.networkId, port_id: f => f.portId ?? ''}).map(f => this.fipView(f))}})}
    if (method === 'POST' && p === '/floatingips') return {op: 'neutron.floatingips.create', run: c => this.createFip(c)}
    if ((m = /^\/floatingips\/([^/]+)$/.exec(p))) {
      const id = m[1]
      const get = (c: Ctx) => {
        const f = this.fips.get(id)
        if (!f || f.projectId !== c.token!.projectId) throw new HttpError(404, 'FloatingIPNotFound', `Floating IP ${id} could not be found`)
        return f
      }
      if (method === 'GET') return {op: 'neutron.floatingips.get', run: c => ({status: 200, body: {floatingip: this.fipView(get(c))}})}
      if (method === 'PUT') return {op: 'neutron.floatingips.update', run: async c => {
        const f = get(c)
        const parsed = FloatingIpUpdateRequest.safeParse(c.body)
        if (!parsed.success) throw new HttpError(400, 'HTTPBadRequest', 'Invalid input for port_id')
        await this.associate(f, parsed.data.floatingip.port_id)
        return {status: 200, body: {floatingip: this.fipView(f)}}
      }}
      if (method === 'DELETE') return {op: 'neutron.floatingips.delete', run: async c => {
        const f = get(c)
        await this.associate(f, null)
        this.fips.delete(f.id)
        await this.network?.release(f.address)
        return {status: 204}
      }}
    }
    return undefined
  }

  private networkView(n: SimNetwork) {
    return shaped(templates.network(), {
      id: n.id, name: n.name, 'router:external': n.external, shared: n.shared, subnets: [n.subnetId], project_id: this.project.id, tenant_id: this.project.id,
      availability_zones: ['nova'], dns_domain: '', qos_policy_id: null, description: '',
    })
  }

  private portView(p: SimPort) {
    return shaped(templates.port(), {
      id: p.id, network_id: p.networkId, device_id: p.deviceId, device_owner: 'compute:nova', mac_address: p.mac, name: '',
      fixed_ips: [{ip_address: p.ip, subnet_id: this.networks.find(n => n.id === p.networkId)!.subnetId}],
      dns_assignment: [], dns_name: '', dns_domain: '', extra_dhcp_opts: [],
      security_groups: p.groupIds, project_id: this.project.id, tenant_id: this.project.id, tags: [], port_security_enabled: true,
      created_at: iso(p.created), updated_at: iso(p.created),
    })
  }

  private ruleView(r: SimRule) {
    return shaped(templates.rule(), {
      direction: r.direction, ethertype: r.ethertype, id: r.id, port_range_max: r.max, port_range_min: r.min, protocol: r.protocol,
      remote_group_id: r.remoteGroupId, remote_address_group_id: null, remote_ip_prefix: r.prefix, security_group_id: r.groupId,
      project_id: this.project.id, tenant_id: this.project.id, description: r.description, belongs_to_default_sg: this.groups.get(r.groupId)?.name === 'default',
    })
  }

  private groupView(g: SimGroup) {
    return shaped(templates.securityGroup(), {
      description: g.description, id: g.id, name: g.name, project_id: g.projectId, tenant_id: g.projectId, tags: [],
      security_group_rules: [...this.rules.values()].filter(r => r.groupId === g.id).map(r => this.ruleView(r)),
      created_at: new Date(g.created).toISOString(), updated_at: iso(g.created),
    })
  }

  private fipView(f: SimFip) {
    const port = f.portId ? this.ports.get(f.portId) : undefined
    return shaped(templates.floatingIp(), {
      floating_network_id: f.networkId, router_id: port ? 'd23abc8d-2991-4a55-ba98-2aaea84cc72f' : null, fixed_ip_address: port?.ip ?? null,
      floating_ip_address: f.address, project_id: f.projectId, tenant_id: f.projectId, status: port ? 'ACTIVE' : 'DOWN', port_id: f.portId,
      id: f.id, description: f.description, dns_domain: '', dns_name: '', created_at: iso(f.created), updated_at: iso(f.created),
      port_details: port ? {status: 'ACTIVE', name: '', admin_state_up: true, network_id: port.networkId, device_owner: 'compute:nova', mac_address: port.mac, device_id: port.deviceId} : null,
      tags: [], qos_network_policy_id: null, qos_policy_id: null,
    })
  }

  private mustGroup(id: string, c: Ctx): SimGroup {
    const g = this.groups.get(id)
    if (!g || g.projectId !== c.token!.projectId) throw new HttpError(404, 'SecurityGroupNotFound', `Security group ${id} does not exist`)
    return g
  }

  private createGroup(c: Ctx): Reply {
    const parsed = SecurityGroupCreateRequest.safeParse(c.body)
    if (!parsed.success) throw new HttpError(400, 'HTTPBadRequest', `Invalid input for operation: ${parsed.error.issues[0].message}`)
    const {name, description} = parsed.data.security_group
    if (name === 'default') throw new HttpError(409, 'SecurityGroupDefaultAlreadyExists', 'Default security group already exists.')
    const g: SimGroup = {id: randomUUID(), name, description: description ?? '', projectId: c.token!.projectId!, builtin: false, created: Date.now()}
    this.groups.set(g.id, g)
    for (const et of ['IPv4', 'IPv6'] as const) this.addRule(g.id, {direction: 'egress', ethertype: et})
    return {status: 201, body: {security_group: this.groupView(g)}}
  }

  private async deleteGroup(g: SimGroup): Promise<Reply> {
    if (g.name === 'default') throw new HttpError(409, 'SecurityGroupCannotRemoveDefault', 'Removing default security group not allowed.')
    const users = [...this.ports.values()].filter(p => p.groupIds.includes(g.id))
    // Nova records the group on a server still building, before its port exists.
    const pending = [...this.servers.values()].filter(s => s.groupIds.includes(g.id))
    if (users.length || pending.length) throw new HttpError(409, 'SecurityGroupInUse', `Security Group ${g.id} in use.`)
    for (const r of [...this.rules.values()]) if (r.groupId === g.id || r.remoteGroupId === g.id) this.rules.delete(r.id)
    this.groups.delete(g.id)
    await this.applyFirewalls()
    return {status: 204}
  }

  private async createRule(c: Ctx): Promise<Reply> {
    const parsed = SecurityGroupRuleCreateRequest.safeParse(c.body)
    if (!parsed.success) throw new HttpError(400, 'HTTPBadRequest', `Invalid input for operation: ${parsed.error.issues[0].path.join('.')}: ${parsed.error.issues[0].message}`)
    const r = parsed.data.security_group_rule
    const g = this.mustGroup(r.security_group_id, c)
    if (r.remote_group_id && !this.groups.has(r.remote_group_id)) throw new HttpError(404, 'SecurityGroupNotFound', `Security group ${r.remote_group_id} does not exist`)
    if (r.remote_group_id && r.remote_ip_prefix) throw new HttpError(400, 'InvalidInput', 'Only remote_ip_prefix or remote_group_id may be provided.')
    const min = r.port_range_min == null ? null : Number(r.port_range_min)
    const max = r.port_range_max == null ? null : Number(r.port_range_max)
    if (min !== null && max !== null && min > max) throw new HttpError(400, 'SecurityGroupInvalidPortRange', 'For TCP/UDP protocols, port_range_min must be <= port_range_max')
    if ((min !== null || max !== null) && !['tcp', 'udp', '6', '17'].includes(r.protocol ?? '')) throw new HttpError(400, 'SecurityGroupInvalidPortRange', 'Must also specify protocol if port range is given.')
    const rule: Omit<SimRule, 'id'> = {groupId: g.id, direction: r.direction, ethertype: r.ethertype ?? 'IPv4', protocol: r.protocol ?? null, min, max, prefix: r.remote_ip_prefix ?? null, remoteGroupId: r.remote_group_id ?? null, description: r.description ?? ''}
    const dup = [...this.rules.values()].find(x => x.groupId === g.id && x.direction === rule.direction && x.ethertype === rule.ethertype && x.protocol === rule.protocol && x.min === rule.min && x.max === rule.max && x.prefix === rule.prefix && x.remoteGroupId === rule.remoteGroupId)
    if (dup) throw new HttpError(409, 'SecurityGroupRuleExists', `Security group rule already exists. Rule id is ${dup.id}.`)
    const made = this.addRule(g.id, rule)
    await this.applyFirewalls()
    return {status: 201, body: {security_group_rule: this.ruleView(made)}}
  }

  private async createFip(c: Ctx): Promise<Reply> {
    const parsed = FloatingIpCreateRequest.safeParse(c.body)
    if (!parsed.success) throw new HttpError(400, 'HTTPBadRequest', `Invalid input for operation: ${parsed.error.issues[0].message}`)
    const req = parsed.data.floatingip
    const net = this.networks.find(n => n.id === req.floating_network_id)
    if (!net) throw new HttpError(404, 'NetworkNotFound', `Network ${req.floating_network_id} could not be found.`)
    if (!net.external) throw new HttpError(400, 'BadRequest', `Bad floatingip request: Network ${net.id} is not a valid external network.`)
    const projectId = c.token!.projectId!
    const quota = this.opts.quota?.floatingIps
    if (quota !== undefined && [...this.fips.values()].filter(f => f.projectId === projectId).length >= quota) throw new HttpError(409, 'OverQuota', `Quota exceeded for resources: ['floatingip'].`)
    if (req.port_id) {
      if (!this.ports.has(req.port_id)) throw new HttpError(404, 'PortNotFound', `Port ${req.port_id} could not be found.`)
      if ([...this.fips.values()].some(f => f.portId === req.port_id)) throw new HttpError(409, 'FloatingIPPortAlreadyAssociated', `Cannot associate floating IP with port ${req.port_id}: it already has a floating IP.`)
    }
    const address = this.network ? await this.network.allocate() : this.freeFloatingAddress(net)
    if (!address) throw new HttpError(409, 'IpAddressGenerationFailure', `No more IP addresses available on network ${net.id}.`)
    const f: SimFip = {id: randomUUID(), address, networkId: net.id, portId: null, description: req.description ?? '', projectId, created: Date.now()}
    this.fips.set(f.id, f)
    await this.associate(f, req.port_id ?? null)
    return {status: 201, body: {floatingip: this.fipView(f)}}
  }

  /** Floating addresses: the top of the lab subnet (.200-.250), which lab leases (from .2 up) do not reach. */
  private freeFloatingAddress(net: SimNetwork): string | undefined {
    const base = ipv4ToInt(net.cidr.split('/')[0])
    const used = new Set([...this.fips.values()].map(f => f.address))
    for (let n = 200; n <= 250; n++) {
      const a = intToIpv4(base + n)
      if (!used.has(a)) return a
    }
    return undefined
  }

  private async associate(f: SimFip, portId: string | null): Promise<void> {
    if (f.portId === portId) return
    if (this.network) return this.mapFloating(f, portId)
    const hostOf = (pid: string | null) => {
      const port = pid ? this.ports.get(pid) : undefined
      return port ? this.servers.get(port.deviceId)?.host : undefined
    }
    const prefix = this.opts.subnet.split('/')[1]
    const old = hostOf(f.portId)
    if (old) await run('ip', ['-n', old.netns, 'addr', 'del', `${f.address}/${prefix}`, 'dev', 'eth0']).catch(() => {})
    if (portId && !this.ports.has(portId)) throw new HttpError(404, 'PortNotFound', `Port ${portId} could not be found.`)
    f.portId = portId
    const host = hostOf(portId)
    // The floating address lands on the host's interface: clients reach the host through it for real.
    if (host) await run('ip', ['-n', host.netns, 'addr', 'add', `${f.address}/${prefix}`, 'dev', 'eth0'])
    // A floating address is one more address of its port's groups' members.
    await this.applyFirewalls()
  }

  /** Real topology: the router maps the floating address to the port's fixed one (and nothing, disassociated). */
  private async mapFloating(f: SimFip, portId: string | null): Promise<void> {
    const port = portId ? this.ports.get(portId) : undefined
    if (portId && !port) throw new HttpError(404, 'PortNotFound', `Port ${portId} could not be found.`)
    f.portId = portId
    if (port) await this.network!.bind(f.address, port.ip)
    else await this.network!.unbind(f.address)
    await this.applyFirewalls()
  }

  // ---- Cinder ----

  private cinderRoute(method: string, p: string): {op: string; run: (c: Ctx) => Reply} | undefined {
    let m: RegExpExecArray | null
    if (method === 'POST' && p === '/volumes') return {op: 'cinder.volumes.create', run: c => this.createVolume(c)}
    if (method === 'GET' && (p === '/volumes' || p === '/volumes/detail')) {
      return {op: 'cinder.volumes.list', run: c => {
        const name = c.query.get('name')
        return {status: 200, body: {volumes: [...this.volumes.values()].filter(v => v.projectId === c.token!.projectId && (!name || v.name === name)).map(v => this.volumeView(v))}}
      }}
    }
    if ((m = /^\/volumes\/([^/]+)$/.exec(p))) {
      const id = m[1]
      const get = (c: Ctx) => {
        const v = this.volumes.get(id)
        if (!v || v.projectId !== c.token!.projectId) throw fail(404, `Volume ${id} could not be found.`)
        return v
      }
      if (method === 'GET') return {op: 'cinder.volumes.get', run: c => ({status: 200, body: {volume: this.volumeView(get(c))}})}
      if (method === 'DELETE') return {op: 'cinder.volumes.delete', run: c => {
        const v = get(c)
        if (!['available', 'error', 'error_restoring', 'error_extending', 'error_managing'].includes(v.status)) {
          throw fail(400, 'Invalid volume: Volume status must be available or error or error_restoring or error_extending or error_managing and must not be migrating, attached, belong to a group, have snapshots or be disassociated from snapshots after volume transfer.')
        }
        v.status = 'deleting'
        this.later(this.opts.volumeDelayMs, () => this.volumes.delete(v.id))
        return {status: 202}
      }}
    }
    return undefined
  }

  private volumeView(v: SimVolume) {
    return {
      id: v.id, name: v.name, status: v.status, size: v.size, volume_type: v.type, bootable: v.imageId ? 'true' : 'false',
      attachments: v.serverId ? [{server_id: v.serverId, attachment_id: v.id.split('').reverse().join(''), attached_at: iso(v.created), host_name: null, volume_id: v.id, device: '/dev/vda', id: v.id}] : [],
      availability_zone: 'nova', created_at: new Date(v.created).toISOString().replace('Z', ''), updated_at: null, description: v.description,
      encrypted: false, multiattach: false, metadata: {}, snapshot_id: null, source_volid: null, consistencygroup_id: null, replication_status: null,
      user_id: this.user.id, 'os-vol-tenant-attr:tenant_id': v.projectId,
      links: [{href: `${this.url}/volume/v3/${v.projectId}/volumes/${v.id}`, rel: 'self'}],
      ...(v.imageId ? {volume_image_metadata: {image_id: v.imageId, image_name: this.images.find(i => i.id === v.imageId)?.name ?? ''}} : {}),
    }
  }

  private createVolume(c: Ctx): Reply {
    const parsed = VolumeCreateRequest.safeParse(c.body)
    if (!parsed.success) throw fail(400, `Invalid input received: ${parsed.error.issues[0].path.join('.')}: ${parsed.error.issues[0].message}`)
    const r = parsed.data.volume
    const img = r.imageRef ? this.images.find(i => i.id === r.imageRef) : undefined
    if (r.imageRef && !img) throw fail(400, 'Invalid image identifier or unable to access requested image.')
    const type = r.volume_type ?? this.volumeTypes[0] ?? '__DEFAULT__'
    if (!this.volumeTypes.includes(type)) throw fail(404, `Volume type with name ${type} could not be found.`)
    if (img && r.size < img.minDisk) throw fail(400, `Invalid input received: Volume size ${r.size}GB cannot be smaller than the image minDisk size ${img.minDisk}GB.`)
    const projectId = c.token!.projectId!
    const quota = this.opts.quota?.volumes
    if (quota !== undefined && [...this.volumes.values()].filter(v => v.projectId === projectId).length >= quota) {
      throw fail(413, `VolumeLimitExceeded: Maximum number of volumes allowed (${quota}) exceeded for quota 'volumes'.`)
    }
    const v: SimVolume = {id: randomUUID(), name: r.name ?? '', size: r.size, status: 'creating', type, imageId: img?.id ?? '', projectId, created: Date.now(), description: ''}
    this.volumes.set(v.id, v)
    this.later(this.opts.volumeDelayMs, () => {
      if (v.status === 'creating') v.status = 'available'
    })
    return {status: 202, body: {volume: this.volumeView(v)}}
  }

  // ---- Security groups on the lab hosts ----

  private readonly firewalls = new HostFirewalls(line => this.opts.log?.(line))

  /** Rewrite every lab host's filter from its port's groups' rules (only hosts whose filter changed). */
  private async applyFirewalls(): Promise<void> {
    if (this.opts.enforceSecurityGroups === false || this.opts.boot !== 'lab') return
    // Remote groups resolve to their members' addresses, fixed and floating, as Neutron's agents do.
    const members = (groupId: string) => [...this.ports.values()].filter(p => p.groupIds.includes(groupId)).flatMap(p => [p.ip, ...[...this.fips.values()].filter(f => f.portId === p.id).map(f => f.address)])
    await Promise.all([...this.servers.values()].filter(s => s.host && !s.deleting && s.fixedIp).map(s => this.firewalls.apply(s.host!.netns, s.fixedIp!, securityGroupFilter(s.groupIds, this.rules.values(), members))))
  }
}

function neutronKind(status: number): string {
  return {400: 'HTTPBadRequest', 401: 'HTTPUnauthorized', 403: 'HTTPForbidden', 404: 'HTTPNotFound', 409: 'HTTPConflict'}[status] ?? 'HTTPInternalServerError'
}

/** A single fact tests use: is this address inside the sim's lab subnet? */
export function inLabSubnet(ip: string, subnet = '172.30.90.0/24'): boolean {
  return inCidr(ip, subnet)
}
