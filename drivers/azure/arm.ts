/** Credentials and SDK clients, loaded lazily: only commands acting on Azure machines pay for the SDK. */
import {promises as fs} from 'node:fs'
import type {AccessToken, TokenCredential} from '@azure/identity'
import type {ComputeManagementClient} from '@azure/arm-compute'
import type {NetworkManagementClient} from '@azure/arm-network'
import type {ResourceManagementClient} from '@azure/arm-resources'
import {Pacer} from '../../src/sdk/index.js'
import {CLOUDS, type AzureData} from './config.js'

export interface Clients {
  compute: ComputeManagementClient
  network: NetworkManagementClient
  resources: ResourceManagementClient
  credential: TokenCredential
  /** Shared by the three clients: ARM's limits are per subscription and principal. */
  pacer: Pacer
}

/** The parts of a core-rest-pipeline policy berth uses (its types are the SDK's own). */
interface Wire {
  status: number
  headers: {get(name: string): string | undefined}
}
interface Policy {
  name: string
  sendRequest(request: {abortSignal?: AbortSignal}, next: (request: never) => Promise<Wire>): Promise<Wire>
}

/** How long a request keeps honouring 429s (then the SDK's own retry and error take over). */
const THROTTLE_MS = Number(process.env.BERTH_AZURE_THROTTLE_MS) || 10 * 60_000

function retryAfterMs(res: Wire): number | undefined {
  // ARM sends whole seconds; some services send milliseconds in their own headers.
  const ms = Number(res.headers.get('retry-after-ms') ?? res.headers.get('x-ms-retry-after-ms'))
  if (ms > 0) return ms
  const v = res.headers.get('retry-after')
  if (!v) return undefined
  if (/^\s*\d+\s*$/.test(v)) return Number(v) * 1000
  const at = Date.parse(v)
  return Number.isNaN(at) ? undefined : Math.max(0, at - Date.now())
}

/**
 * Next to the wire, inside the SDK's retry policy: a 429 is answered here for every client of
 * the subscription at once (the pacer), so the SDK's three retries never run out under load.
 */
function throttlePolicy(pacer: Pacer): Policy {
  return {
    name: 'berthThrottle',
    async sendRequest(request, next) {
      const until = Date.now() + THROTTLE_MS
      for (let n = 0; ; n++) {
        await pacer.take(request.abortSignal)
        const res = await next(request as never)
        if (res.status !== 429) {
          pacer.ok()
          return res
        }
        if (Date.now() > until) return res
        pacer.throttled(Math.min(retryAfterMs(res) ?? 0, 60_000) || undefined, Math.min(30_000, 1000 * 2 ** n))
      }
    },
  }
}

/** One token request for every client and machine of a process, refreshed 5 minutes before it expires. */
function sharedTokens(inner: TokenCredential): TokenCredential {
  const cache = new Map<string, Promise<AccessToken | null>>()
  return {
    async getToken(scopes, options) {
      const key = [scopes].flat().join(' ')
      const hit = cache.get(key)
      if (hit) {
        const t = await hit.catch(() => null)
        if (t && t.expiresOnTimestamp - Date.now() > 5 * 60_000) return t
        if (cache.get(key) !== hit) return cache.get(key)!
      }
      const p = inner.getToken(scopes, options)
      cache.set(key, p)
      p.catch(() => cache.delete(key))
      return p
    },
  }
}

/** The client secret: flag or env at create, env or file afterwards. Never stored. */
export async function clientSecret(d: Pick<AzureData, 'clientSecretFile'>, given?: string): Promise<string | undefined> {
  if (given) return given
  if (process.env.AZURE_CLIENT_SECRET) return process.env.AZURE_CLIENT_SECRET
  if (d.clientSecretFile) return (await fs.readFile(d.clientSecretFile, 'utf8')).trim()
  return undefined
}

export async function makeCredential(d: AzureData, secret?: string): Promise<TokenCredential> {
  const {ClientSecretCredential, DefaultAzureCredential} = await import('@azure/identity')
  const authorityHost = process.env.AZURE_AUTHORITY_HOST?.replace(/\/+$/, '') || d.authorityHost
  // MSAL asks login.microsoftonline.com to validate any other authority unless told not to.
  const known = Object.values(CLOUDS).some(c => c.authorityHost === authorityHost)
  const opts = {authorityHost, disableInstanceDiscovery: !known}
  const tenantId = process.env.AZURE_TENANT_ID || d.tenantId
  const clientId = process.env.AZURE_CLIENT_ID || d.clientId
  if (tenantId && clientId && secret) return new ClientSecretCredential(tenantId, clientId, secret, opts)
  return new DefaultAzureCredential({...opts, ...(tenantId ? {tenantId} : {})})
}

export async function makeClients(d: AzureData, secret?: string): Promise<Clients> {
  const [{ComputeManagementClient}, {NetworkManagementClient}, {ResourceManagementClient}] = await Promise.all([
    import('@azure/arm-compute'), import('@azure/arm-network'), import('@azure/arm-resources'),
  ])
  const credential = sharedTokens(await makeCredential(d, await clientSecret(d, secret)))
  const endpoint = d.endpoint
  // arm-compute asks for management.azure.com whatever the endpoint: give every client the endpoint's audience.
  const scope = `${endpoint}/.default`
  const pacer = new Pacer()
  const additionalPolicies = [{policy: throttlePolicy(pacer) as never, position: 'perRetry' as const}]
  return {
    credential, pacer,
    compute: new ComputeManagementClient(credential, d.subscriptionId, {endpoint, credentials: {scopes: [scope]}, additionalPolicies}),
    network: new NetworkManagementClient(credential, d.subscriptionId, {endpoint, $host: endpoint, credentialScopes: [scope], additionalPolicies}),
    resources: new ResourceManagementClient(credential, d.subscriptionId, {endpoint, $host: endpoint, credentialScopes: [scope], additionalPolicies}),
  }
}
