/**
 * From flags, environment, clouds.yaml and presets to one checked configuration. Nothing
 * here talks to the cloud: every mistake that can be seen offline is reported before
 * anything is made.
 */
import {promises as fs} from 'node:fs'
import path from 'node:path'
import {type Cidr, parseCidr as parseNetwork, UserError} from '../../src/sdk/index.js'
import {identityEndpoint, type Interface} from './catalog.js'
import type {AuthConfig} from './client.js'
import {authString, loadCloud} from './clouds.js'

export type Preset = 'conoha'

export interface ResolvedConfig {
  preset?: Preset
  /** ConoHa's API generation: v2 (Keystone v2.0, tyo1/sin1/sjc1) or v3 (c3j1, boot volumes). */
  conoha?: 'v2' | 'v3'
  /** Includes the secrets: never persist this as a whole. */
  auth: AuthConfig
  region?: string
  interface: Interface
  availabilityZone?: string
  flavor: {id?: string; name?: string}
  image: {id?: string; name?: string}
  network: {id?: string; name?: string}
  secGroups: string[]
  floatingIpPool?: string
  ipVersion: 4 | 6
  /** An existing keypair of the user's (not imported, never deleted). */
  keypairName?: string
  privateKeyFile?: string
  /** Public key to import when only --openstack-private-key-file is given. */
  publicKey?: string
  sshUser: string
  sshPort: number
  /** Base64, ready for Nova. */
  userData?: string
  activeTimeoutSec: number
  bootVolume?: {size: number; type?: string}
  /** CIDR admitted to 22 and 2376 by a security group berth makes; unset: berth makes none (unless --swarm). */
  openCidr?: string
  /** ConoHa shows metadata.instance_name_tag as the server's name. */
  nameTag: boolean
  timeoutMs: number
  retries: number
  retryBaseMs: number
}

export const CONOHA_V2_REGIONS = ['tyo1', 'sin1', 'sjc1']
export const CONOHA_V3_REGIONS = ['c3j1']

const str = (v: unknown) => (typeof v === 'string' && v.trim() !== '' ? v.trim() : undefined)
const int = (v: unknown) => (v === undefined || v === null || v === '' ? undefined : Number(v))

export function parseCidr(cidr: string): Cidr {
  const c = parseNetwork(cidr.trim())
  if (!c) throw new UserError(`bad --openstack-open-cidr "${cidr}": use a CIDR such as 203.0.113.7/32`)
  return c
}

function interfaceOf(v: string | undefined): Interface {
  if (!v) return 'public'
  const s = v.replace(/URL$/, '')
  if (s === 'public' || s === 'internal' || s === 'admin') return s
  throw new UserError(`bad --openstack-endpoint-type "${v}": use publicURL, internalURL or adminURL`)
}

/** ConoHa: which API generation and which Keystone URL, from the region or the URL given. */
export function conohaTarget(region: string | undefined, authUrl: string | undefined): {region: string; generation: 'v2' | 'v3'; authUrl: string} {
  const fromHost = authUrl ? /identity\.([a-z0-9]+)\.conoha\.io/.exec(authUrl)?.[1] : undefined
  const urlVersion = authUrl ? identityEndpoint(authUrl).version : undefined
  const r = region ?? fromHost ?? (urlVersion === '2.0' ? 'tyo1' : 'c3j1')
  const generation = CONOHA_V2_REGIONS.includes(r) ? 'v2' : CONOHA_V3_REGIONS.includes(r) ? 'v3' : undefined
  if (!generation) throw new UserError(`unknown ConoHa region "${r}": use tyo1, sin1 or sjc1 (VPS v2, Keystone v2.0) or c3j1 (VPS v3)`)
  const url = authUrl ?? `https://identity.${r}.conoha.io/${generation === 'v2' ? 'v2.0' : 'v3'}`
  const v = identityEndpoint(url).version
  if ((generation === 'v2') !== (v === '2.0')) throw new UserError(`ConoHa region ${r} uses Keystone ${generation === 'v2' ? 'v2.0' : 'v3'}, but the auth URL ${url} is Keystone v${v}`)
  return {region: r, generation, authUrl: url}
}

/**
 * Resolve options (keys are the flag names) with env fallbacks docker-machine users rely on
 * (OS_PROJECT_NAME, OS_INTERFACE...) and clouds.yaml under them. Flags and env win over clouds.yaml.
 */
export async function resolveConfig(o: Record<string, unknown>, env: NodeJS.ProcessEnv = process.env, cwd = process.cwd()): Promise<ResolvedConfig> {
  const opt = (k: string) => str(o[`openstack-${k}`])
  const cloudName = opt('cloud')
  const cloud = cloudName ? (await loadCloud(cloudName, env, cwd)).cloud : undefined
  const c = (...keys: string[]) => (cloud ? authString(cloud, ...keys) : undefined)

  let preset = opt('preset') as Preset | undefined
  if (preset && preset !== 'conoha') throw new UserError(`unknown --openstack-preset "${preset}": the presets are: conoha`)
  let authUrl = opt('auth-url') ?? c('auth_url')
  if (!preset && authUrl && /\.conoha\.io(\/|:|$)/.test(authUrl)) preset = 'conoha'
  if (cloud?.profile === 'conoha') preset = 'conoha'

  let region = opt('region') ?? cloud?.region_name ?? (() => {
    const first = cloud?.regions?.[0]
    return typeof first === 'string' ? first : first?.name
  })()
  let conoha: 'v2' | 'v3' | undefined
  if (preset === 'conoha') {
    const t = conohaTarget(region, authUrl)
    region = t.region
    conoha = t.generation
    authUrl = t.authUrl
  }
  if (!authUrl) throw new UserError('the Keystone URL is missing: set OS_AUTH_URL, pass --openstack-auth-url, or name a clouds.yaml cloud with --openstack-cloud')
  if (!/^https?:\/\/[^/\s]+/.test(authUrl)) throw new UserError(`bad --openstack-auth-url "${authUrl}": use an http(s) URL such as https://keystone.example.com:5000/v3`)
  // clouds.yaml may name the version apart from a bare URL.
  const apiVersion = String(cloud?.identity_api_version ?? env.OS_IDENTITY_API_VERSION ?? '')
  if (!/\/v(3|2\.0)\/?$/.test(authUrl) && /^2/.test(apiVersion)) authUrl = authUrl.replace(/\/+$/, '') + '/v2.0'

  const domainName = opt('domain-name')
  const domainId = opt('domain-id')
  const auth: AuthConfig = {
    url: authUrl,
    username: opt('username') ?? c('username', 'user_name'),
    userId: opt('user-id') ?? c('user_id'),
    password: opt('password') ?? c('password'),
    userDomainName: domainName ?? str(env.OS_USER_DOMAIN_NAME) ?? c('user_domain_name', 'domain_name'),
    userDomainId: domainId ?? str(env.OS_USER_DOMAIN_ID) ?? c('user_domain_id', 'domain_id'),
    projectName: opt('tenant-name') ?? str(env.OS_PROJECT_NAME) ?? c('project_name', 'tenant_name'),
    projectId: opt('tenant-id') ?? str(env.OS_PROJECT_ID) ?? c('project_id', 'tenant_id'),
    projectDomainName: domainName ?? str(env.OS_PROJECT_DOMAIN_NAME) ?? c('project_domain_name', 'domain_name'),
    projectDomainId: domainId ?? str(env.OS_PROJECT_DOMAIN_ID) ?? c('project_domain_id', 'domain_id'),
    applicationCredentialId: opt('application-credential-id') ?? c('application_credential_id'),
    applicationCredentialName: opt('application-credential-name') ?? c('application_credential_name'),
    applicationCredentialSecret: opt('application-credential-secret') ?? c('application_credential_secret'),
  }
  const version = identityEndpoint(authUrl).version
  const appCred = !!(auth.applicationCredentialId || auth.applicationCredentialName)
  if (appCred) {
    if (version !== '3') throw new UserError('application credentials need Keystone v3 (an auth URL ending in /v3)')
    if (!auth.applicationCredentialSecret) throw new UserError('the application credential secret is missing: set OS_APPLICATION_CREDENTIAL_SECRET')
    if (!auth.applicationCredentialId && !auth.username && !auth.userId) throw new UserError('an application credential given by name needs the user (OS_USERNAME or OS_USER_ID)')
  } else {
    if (!auth.username && !auth.userId) throw new UserError('the user is missing: set OS_USERNAME (or OS_USER_ID), pass --openstack-username, or use --openstack-cloud')
    if (version === '2.0' && !auth.username) throw new UserError('Keystone v2.0 needs the user name (OS_USERNAME), not an id')
    if (!auth.password) throw new UserError('the password is missing: set OS_PASSWORD (or put it in clouds.yaml/secure.yaml)')
    if (!auth.projectName && !auth.projectId) throw new UserError('the project is missing: set OS_TENANT_NAME or OS_TENANT_ID (or OS_PROJECT_NAME / OS_PROJECT_ID)')
  }

  const flavor = {id: opt('flavor-id'), name: opt('flavor-name')}
  const image = {id: opt('image-id'), name: opt('image-name')}
  const network = {id: opt('net-id'), name: opt('net-name')}
  for (const [what, v] of [['flavor', flavor], ['image', image], ['net', network]] as const) {
    if (v.id && v.name) throw new UserError(`give --openstack-${what}-name or --openstack-${what}-id, not both`)
  }
  if (!flavor.id && !flavor.name) throw new UserError(`the flavor is missing: pass --openstack-flavor-name or --openstack-flavor-id${conoha === 'v2' ? ' (e.g. g-1gb)' : conoha === 'v3' ? ' (e.g. g2l-t-c2m1)' : ''}`)
  if (!image.id && !image.name) throw new UserError(`the image is missing: pass --openstack-image-name or --openstack-image-id${conoha ? ' (e.g. vmi-ubuntu-24.04-amd64)' : ''}`)

  const ipVersion = int(o['openstack-ip-version']) ?? 4
  if (ipVersion !== 4 && ipVersion !== 6) throw new UserError(`bad --openstack-ip-version ${ipVersion}: use 4 or 6`)
  const sshPort = int(o['openstack-ssh-port']) ?? 22
  if (!Number.isInteger(sshPort) || sshPort < 1 || sshPort > 65535) throw new UserError(`bad --openstack-ssh-port ${o['openstack-ssh-port']}: use a port number`)
  const activeTimeoutSec = int(o['openstack-active-timeout']) ?? 200
  if (!Number.isFinite(activeTimeoutSec) || activeTimeoutSec <= 0) throw new UserError(`bad --openstack-active-timeout ${o['openstack-active-timeout']}: use a number of seconds`)

  const keypairName = opt('keypair-name')
  let privateKeyFile = opt('private-key-file')
  let publicKey: string | undefined
  if (privateKeyFile) {
    privateKeyFile = path.resolve(cwd, privateKeyFile)
    if (!await fs.access(privateKeyFile).then(() => true, () => false)) throw new UserError(`--openstack-private-key-file ${privateKeyFile}: no such file`)
    if (!keypairName) {
      publicKey = await fs.readFile(privateKeyFile + '.pub', 'utf8').then(s => s.trim(), () => undefined)
      if (!publicKey) throw new UserError(`--openstack-private-key-file without --openstack-keypair-name needs ${privateKeyFile}.pub to import`)
    }
  } else if (keypairName) {
    throw new UserError('--openstack-keypair-name needs --openstack-private-key-file (the private key of that keypair)')
  }

  let userData: string | undefined
  const udFile = opt('user-data-file')
  if (udFile) {
    const raw = await fs.readFile(path.resolve(cwd, udFile)).catch(() => {
      throw new UserError(`--openstack-user-data-file ${udFile}: no such file`)
    })
    userData = raw.toString('base64')
    const limit = conoha === 'v3' ? 16 * 1024 : 65535
    if (userData.length > limit) throw new UserError(`--openstack-user-data-file ${udFile} is ${raw.length} bytes: ${conoha === 'v3' ? 'ConoHa takes at most 16 KiB of (base64) user data' : 'Nova takes at most 64 KiB once base64-encoded'}`)
  }

  let bootVolume: ResolvedConfig['bootVolume']
  const bvSize = int(o['openstack-boot-volume-size'])
  const volumeType = opt('volume-type')
  if (bvSize !== undefined && (!Number.isInteger(bvSize) || bvSize <= 0)) throw new UserError(`bad --openstack-boot-volume-size ${o['openstack-boot-volume-size']}: use a size in GB`)
  if (conoha === 'v3') {
    // ConoHa VPS v3 boots only from a volume made beforehand; 512 MB plans take the small "as01" type.
    const small = /m512/.test(flavor.name ?? '')
    bootVolume = {size: bvSize ?? (small ? 30 : 100), type: volumeType ?? `${region}-${small ? 'as01' : 'ds02'}-boot`}
  } else if (bvSize !== undefined) {
    bootVolume = {size: bvSize, type: volumeType}
  } else if (volumeType) {
    throw new UserError('--openstack-volume-type needs --openstack-boot-volume-size')
  }

  const secGroups = (opt('sec-groups') ?? '').split(',').map(s => s.trim()).filter(Boolean)
  let openCidr = opt('open-cidr')
  if (openCidr) parseCidr(openCidr)
  // ConoHa v3's default group admits nothing inbound: without groups of the user's, berth must open SSH and the engine.
  if (conoha === 'v3' && !secGroups.length && !openCidr) openCidr = '0.0.0.0/0'

  const envInt = (k: string, d: number) => {
    const v = Number(env[k])
    return env[k] && Number.isFinite(v) && v >= 0 ? v : d
  }
  return {
    preset, conoha, auth, region,
    interface: interfaceOf(opt('endpoint-type') ?? str(env.OS_INTERFACE) ?? cloud?.interface),
    availabilityZone: opt('availability-zone'),
    flavor, image, network, secGroups,
    floatingIpPool: opt('floatingip-pool'),
    ipVersion, keypairName, privateKeyFile, publicKey,
    sshUser: opt('ssh-user') ?? 'root',
    sshPort, userData, activeTimeoutSec, bootVolume, openCidr,
    nameTag: preset === 'conoha',
    // Knobs for slow clouds (and fast tests); not flags, since few users need them.
    timeoutMs: envInt('BERTH_OPENSTACK_API_TIMEOUT', 60) * 1000,
    retries: envInt('BERTH_OPENSTACK_RETRIES', 4),
    retryBaseMs: envInt('BERTH_OPENSTACK_RETRY_BASE_MS', 500),
  }
}
