/** nock stand-ins for ARM and the sign-in endpoint, for tests of the driver without a simulator. */
import nock from 'nock'
import type {MachineHandle} from '../../src/sdk/driver.js'
import {parseOptions, type AzureData} from '../../drivers/azure/config.js'

export const ARM = 'https://management.azure.com'
export const LOGIN = 'https://login.berth-test.example'
export const SUB = '11111111-2222-3333-4444-555555555555'

export interface Route {
  method: string
  path: RegExp
  reply: (body: any, uri: string) => [number, unknown?, Record<string, string>?]
  times?: number
}

export interface Seen {
  method: string
  uri: string
  body: any
}

/** ARM answering from a list of routes, each used once (or `times`), first match wins. */
export function fakeArm(routes: Route[]): {seen: Seen[]; routes: Route[]} {
  const seen: Seen[] = []
  for (const method of ['GET', 'PUT', 'POST', 'DELETE', 'HEAD', 'PATCH']) {
    nock(ARM).persist().intercept(() => true, method).reply((uri, body) => {
      seen.push({method, uri, body})
      const i = routes.findIndex(r => r.method === method && r.path.test(uri))
      // 4xx, not 5xx: the SDK would retry a 5xx and hide the mistake.
      if (i < 0) return [418, {error: {code: 'Unrouted', message: `${method} ${uri}`}}]
      const r = routes[i]
      r.times = (r.times ?? 1) - 1
      if (r.times <= 0) routes.splice(i, 1)
      const [status, out, headers] = r.reply(body, uri)
      return [status, out === undefined ? '' : out, headers ?? {}]
    })
  }
  return {seen, routes}
}

/** Entra ID for one tenant: OpenID metadata and a token, or a refusal. */
export function fakeLogin(tenant: string, refuse?: {status: number; error: string; description: string}): void {
  const base = `${LOGIN}/${tenant}`
  nock(LOGIN).persist().get(`/${tenant}/v2.0/.well-known/openid-configuration`).query(true).reply(200, {
    token_endpoint: `${base}/oauth2/v2.0/token`, authorization_endpoint: `${base}/oauth2/v2.0/authorize`,
    issuer: `${base}/v2.0`, jwks_uri: `${base}/discovery/v2.0/keys`,
  })
  nock(LOGIN).persist().post(`/${tenant}/oauth2/v2.0/token`).query(true).reply(() => refuse
    ? [refuse.status, {error: refuse.error, error_description: refuse.description}]
    : [200, {token_type: 'Bearer', expires_in: 3599, access_token: `tok-${tenant}`}])
}

let n = 0
/** Azure data for a machine, signed in as a service principal of its own tenant. */
export async function azureData(over: Record<string, unknown> = {}): Promise<{d: AzureData; tenant: string}> {
  n++
  const tenant = `7e57${String(n).padStart(4, '0')}-0000-4000-8000-000000000000`
  process.env.AZURE_CLIENT_SECRET = 'nock-secret'
  const d = await parseOptions({
    'azure-subscription-id': SUB, 'azure-tenant-id': tenant, 'azure-client-id': 'c1d2e3f4-0000-4000-8000-000000000000',
    'azure-resource-group': 'rg1', 'azure-location': 'japaneast', 'azure-size': 'Standard_B2s', ...over,
  }, {machineName: 'm1', machineId: '0123456789abcdef'}, {AZURE_AUTHORITY_HOST: LOGIN})
  // An existing machine: everything made (create tests start from made = []).
  d.made = ['rg', 'nsg', 'vnet', 'pip', 'nic', 'vm']
  return {d, tenant}
}

export function handle(d: AzureData): MachineHandle<AzureData> {
  return {machineName: 'm1', machineId: '0123456789abcdef', machineDir: '/nonexistent', driverDir: '/nonexistent', data: d, log() {}, debug() {}, save: async () => {}}
}

export const asyncOp = (ns: string, id: string) => ({
  'azure-asyncoperation': `${ARM}/subscriptions/${SUB}/providers/${ns}/locations/japaneast/operations/${id}?api-version=2025-05-01`, 'retry-after': '0',
})
export const locationOp = (ns: string, id: string) => ({
  location: `${ARM}/subscriptions/${SUB}/providers/${ns}/locations/japaneast/operationResults/${id}?api-version=2025-05-01`, 'retry-after': '0',
})
