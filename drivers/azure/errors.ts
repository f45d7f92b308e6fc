/** ARM and sign-in failures as one line the user can act on. */
import {CloudApiError, UserError} from '../../src/sdk/index.js'

interface ArmFailure {
  status?: number
  code?: string
  message: string
}

/** The status, ARM error code and message of an SDK error, a failed LRO or an identity error. */
export function armFailure(err: unknown): ArmFailure {
  const e = err as {statusCode?: number; code?: string; message?: string; name?: string; details?: {error?: {code?: string; message?: string}}}
  const message = String(e?.message ?? err)
  // A failed long-running operation surfaces as "The long-running operation has failed. CODE. message".
  const lro = /^The long-running operation has failed\. ([\w.]+)\. ([\s\S]*)$/.exec(message)
  if (lro) return {code: lro[1], message: lro[2]}
  const inner = e?.details?.error
  return {status: e?.statusCode, code: inner?.code ?? (typeof e?.code === 'string' && !/^(ECONN|ENOTFOUND|EAI_|ETIMEDOUT|REQUEST_SEND_ERROR)/.test(e.code) ? e.code : undefined), message: inner?.message ?? message}
}

const firstLine = (s: string) => s.split('\n')[0].replace(/\s+/g, ' ').trim()

/** The built-in role that grants an action, for a 403 AuthorizationFailed. */
export function roleFor(action: string): string {
  const a = action.toLowerCase()
  if (a.startsWith('microsoft.compute/')) return 'Virtual Machine Contributor'
  if (a.startsWith('microsoft.network/')) return 'Network Contributor'
  return 'Contributor'
}

/**
 * Turn what the SDK threw into an error for the user. `what` names the step (e.g.
 * "create virtual machine m1-ab12"); anything unrecognised keeps its ARM code and message.
 */
export function mapArmError(err: unknown, what: string, ctx: {subscriptionId?: string; location?: string; size?: string} = {}): Error {
  if (err instanceof UserError) return err
  const out = mapped(err, what, ctx)
  // Callers that retry look at the original ARM code.
  Object.defineProperty(out, 'cause', {value: err, enumerable: false})
  return out
}

function mapped(err: unknown, what: string, ctx: {subscriptionId?: string; location?: string; size?: string}): Error {
  const name = (err as {name?: string})?.name
  if (name === 'AbortError') return new UserError(`${what}: timed out or interrupted`, 130)
  const f = armFailure(err)
  const msg = firstLine(f.message)
  const code = f.code ?? ''
  if (name === 'CredentialUnavailableError' || name === 'AggregateAuthenticationError') {
    return new UserError(`no Azure credentials: set AZURE_TENANT_ID, AZURE_CLIENT_ID and AZURE_CLIENT_SECRET (a service principal), or sign in with "az login"`)
  }
  if (name === 'AuthenticationError' || /AADSTS\d+/.test(msg)) {
    const aad = /AADSTS\d+/.exec(msg)?.[0]
    return new UserError(`Azure sign-in failed${aad ? ` (${aad})` : ''}: check AZURE_TENANT_ID, AZURE_CLIENT_ID and the client secret, or run "az login"`)
  }
  if (code === 'SubscriptionNotFound' || code === 'InvalidSubscriptionId') {
    return new CloudApiError(`Azure subscription ${ctx.subscriptionId ?? ''} not found: check AZURE_SUBSCRIPTION_ID (az account list -o table)`.replace(/ {2}/g, ' '), f.status)
  }
  if (f.status === 401 || /^InvalidAuthenticationToken/.test(code) || code === 'ExpiredAuthenticationToken') {
    return new CloudApiError(`${what}: Azure rejected the credentials (${code || '401'}): check AZURE_TENANT_ID/AZURE_CLIENT_ID/AZURE_CLIENT_SECRET, or "az login" again`, f.status)
  }
  if (f.status === 403 || code === 'AuthorizationFailed' || code === 'LinkedAuthorizationFailed') {
    const action = /action '([^']+)'/.exec(msg)?.[1]
    const scope = /scope '([^']+)'/.exec(msg)?.[1]
    return new CloudApiError(`${what}: not authorized${action ? ` to ${action}` : ''}: give the identity the ${roleFor(action ?? '')} role (or Contributor) on ${scope ?? (ctx.subscriptionId ? `subscription ${ctx.subscriptionId}` : 'the subscription')}`, f.status)
  }
  if (code === 'SkuNotAvailable' || /not available in location|currently not available/i.test(msg)) {
    return new CloudApiError(`${what}: size ${ctx.size ?? ''} is not available in ${ctx.location ?? 'this location'}: pick another --azure-size or --azure-location (az vm list-skus -l ${ctx.location ?? 'LOCATION'} --resource-type virtualMachines -o table)`.replace(/size {2}/, 'size '), f.status)
  }
  if (/quota/i.test(code) || /quota/i.test(msg) || code === 'PublicIPCountLimitReached') {
    return new CloudApiError(`${what}: quota exceeded (${code || 'quota'}): ${msg.replace(/\.$/, '')}; free resources, choose a smaller --azure-size or request more quota for ${ctx.location ?? 'the location'}`, f.status)
  }
  if (/ImageNotFound|PlatformImageNotFound|InvalidTemplateDeployment/.test(code) && /image/i.test(msg)) {
    return new CloudApiError(`${what}: image not found (${code}): check --azure-image (az vm image list --all -p PUBLISHER -o table)`, f.status)
  }
  if (f.status === 409 || code === 'Conflict' || /InProgress|BeingDeleted|Conflict/.test(code)) {
    return new CloudApiError(`${what}: conflict (${code || '409'}): ${msg.replace(/\.$/, '')}; wait for the other operation or pick another name`, f.status)
  }
  if (f.status === 429) return new CloudApiError(`${what}: Azure is throttling requests (429 ${code}): try again in a minute`, f.status)
  if (code) return new CloudApiError(`${what}: ${code}: ${msg}`, f.status)
  if (f.status) return new CloudApiError(`${what}: HTTP ${f.status}: ${msg}`, f.status)
  return new Error(`${what}: ${msg}`)
}
