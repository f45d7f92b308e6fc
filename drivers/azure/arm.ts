/** Credentials and SDK clients, loaded lazily: only commands acting on Azure machines pay for the SDK. */
import {promises as fs} from 'node:fs'
import type {TokenCredential} from '@azure/identity'
import type {ComputeManagementClient} from '@azure/arm-compute'
import type {NetworkManagementClient} from '@azure/arm-network'
import type {ResourceManagementClient} from '@azure/arm-resources'
import {CLOUDS, type AzureData} from './config.js'

export interface Clients {
  compute: ComputeManagementClient
  network: NetworkManagementClient
  resources: ResourceManagementClient
  credential: TokenCredential
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
  const credential = await makeCredential(d, await clientSecret(d, secret))
  const endpoint = d.endpoint
  // arm-compute asks for management.azure.com whatever the endpoint: give every client the endpoint's audience.
  const scope = `${endpoint}/.default`
  return {
    credential,
    compute: new ComputeManagementClient(credential, d.subscriptionId, {endpoint, credentials: {scopes: [scope]}}),
    network: new NetworkManagementClient(credential, d.subscriptionId, {endpoint, $host: endpoint, credentialScopes: [scope]}),
    resources: new ResourceManagementClient(credential, d.subscriptionId, {endpoint, $host: endpoint, credentialScopes: [scope]}),
  }
}
