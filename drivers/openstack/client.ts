/**
 * A small OpenStack client on Node's fetch: Keystone v3 and v2.0 authentication, service
 * catalog lookup (region + interface), token refresh, retries with backoff on 429/5xx
 * (honouring Retry-After), and one-line errors that name the API and the request.
 * Request bodies are never logged or echoed, so passwords cannot leak through errors.
 */
import type {z} from 'zod'
import {Pacer, sleep} from '../../src/sdk/index.js'
import {API_NAME, endpointFromCatalog, type Endpoint, type CatalogEntry, identityEndpoint, type Interface, normalizeInterface, type ServiceKind, withVersion} from './catalog.js'
import {errorDetail, OpenStackError, retryAfterMs} from './errors.js'
import {V2TokenResponse, V3TokenResponse} from './schemas.js'

export interface AuthConfig {
  /** Keystone URL; a bare URL (no /v3 or /v2.0) means v3. */
  url: string
  username?: string
  userId?: string
  password?: string
  userDomainName?: string
  userDomainId?: string
  projectName?: string
  projectId?: string
  projectDomainName?: string
  projectDomainId?: string
  applicationCredentialId?: string
  applicationCredentialName?: string
  applicationCredentialSecret?: string
}

export interface ClientOptions {
  auth: AuthConfig
  region?: string
  interface?: Interface
  /** Service URLs that replace the catalog's (a cloud behind a proxy, or a simulator). */
  endpointOverrides?: Partial<Record<ServiceKind, string>>
  /** Per request, in ms. */
  timeoutMs?: number
  /** Retries after a 5xx or a network error (idempotent requests only). */
  retries?: number
  /** Retries after a 429 (always safe: the request was not processed). */
  throttleRetries?: number
  /** Keep honouring 429s (beyond throttleRetries) until this many ms after the first attempt. */
  throttleTimeoutMs?: number
  retryBaseMs?: number
  maxRetryAfterMs?: number
  /** Nova microversion sent on compute requests. */
  microversion?: string
  debug?: (line: string) => void
  fetch?: typeof fetch
  signal?: AbortSignal
}

export interface Token {
  id: string
  /** Local clock times (ms), derived from the token's own lifetime so clock skew does not matter. */
  expiresAt: number
  refreshAt: number
  catalog: CatalogEntry[]
  projectId?: string
  userId?: string
}

export interface RequestOptions<T> {
  body?: unknown
  query?: Record<string, string | number | undefined>
  schema?: z.ZodType<T>
  /** Statuses that count as success (default: any 2xx). */
  ok?: number[]
  /** Safe to repeat after a 5xx or a lost answer (default: every method but POST). */
  idempotent?: boolean
  headers?: Record<string, string>
  /** Authentication itself: no token header, and a 401 is final. */
  noToken?: boolean
  /** Aborts this call (and its retries) in addition to the client's own signal. */
  signal?: AbortSignal
}

export interface Response<T> {
  status: number
  headers: Headers
  data: T
}

export class OpenStackClient {
  readonly version: '3' | '2.0'
  private readonly identityUrl: string
  private token?: Token
  private authing?: Promise<Token>
  private readonly fetch: typeof fetch
  /** Counts per "api METHOD" for benchmarks and tests. */
  readonly stats = {requests: 0, auths: 0, retries: 0, throttled: 0}
  /** Every request of this client (every machine of a create) shares one pace: the cloud's limit is per project. */
  readonly pacer = new Pacer()

  constructor(readonly opts: ClientOptions) {
    const id = identityEndpoint(opts.auth.url)
    this.identityUrl = id.base
    this.version = id.version
    this.fetch = opts.fetch ?? globalThis.fetch
  }

  get interface(): Interface {
    return this.opts.interface ?? 'public'
  }

  /** A valid token, authenticating (once, however many callers wait) when missing or about to expire. */
  async getToken(): Promise<Token> {
    if (this.token && Date.now() < this.token.refreshAt) return this.token
    this.authing ??= this.authenticate().finally(() => {
      this.authing = undefined
    })
    return this.authing
  }

  /** Drop the token (after a 401) unless another caller already replaced it. */
  private invalidate(t: Token): void {
    if (this.token === t) this.token = undefined
  }

  private async authenticate(): Promise<Token> {
    this.stats.auths++
    const token = this.version === '3' ? await this.authV3() : await this.authV2()
    this.token = token
    return token
  }

  private lifetime(expires: string, issued: string | undefined): {expiresAt: number; refreshAt: number} {
    const now = Date.now()
    const exp = Date.parse(expires)
    const iss = issued ? Date.parse(issued.endsWith('Z') || /[+-]\d\d:?\d\d$/.test(issued) ? issued : issued + 'Z') : NaN
    let ttl = Number.isNaN(exp) ? 3600_000 : exp - (Number.isNaN(iss) ? now : iss)
    if (ttl <= 0) ttl = 60_000
    // Refresh a quarter of the lifetime early, at most 5 minutes: long operations never meet a 401 midway.
    return {expiresAt: now + ttl, refreshAt: now + ttl - Math.min(300_000, ttl / 4)}
  }

  private async authV3(): Promise<Token> {
    const a = this.opts.auth
    const domain = (id?: string, name?: string) => (id ? {id} : name ? {name} : undefined)
    let identity: Record<string, unknown>
    if (a.applicationCredentialSecret && (a.applicationCredentialId || a.applicationCredentialName)) {
      const user = a.userId ? {id: a.userId} : {name: a.username, domain: domain(a.userDomainId, a.userDomainName)}
      identity = {
        methods: ['application_credential'],
        application_credential: a.applicationCredentialId
          ? {id: a.applicationCredentialId, secret: a.applicationCredentialSecret}
          : {name: a.applicationCredentialName, secret: a.applicationCredentialSecret, user},
      }
    } else {
      const user = a.userId ? {id: a.userId} : {name: a.username, domain: domain(a.userDomainId, a.userDomainName)}
      identity = {methods: ['password'], password: {user: {...user, password: a.password ?? ''}}}
    }
    const appCred = (identity.methods as string[])[0] === 'application_credential'
    // An application credential carries its own project: a scope is an error then.
    const scope = appCred ? undefined
      : a.projectId ? {project: {id: a.projectId}}
        : a.projectName ? {project: {name: a.projectName, domain: domain(a.projectDomainId, a.projectDomainName)}}
          : undefined
    const res = await this.request('identity', 'POST', '/auth/tokens', {
      body: {auth: {identity, ...(scope ? {scope} : {})}}, schema: V3TokenResponse, ok: [201, 200], noToken: true, idempotent: true,
    })
    const id = res.headers.get('x-subject-token')
    if (!id) throw new OpenStackError('keystone', 'POST', '/auth/tokens', res.status, 'no X-Subject-Token header in the answer')
    const t = res.data.token
    if (!t.catalog?.length) throw new OpenStackError('keystone', 'POST', '/auth/tokens', res.status, 'the token has no service catalog: give a project (--openstack-tenant-name or --openstack-tenant-id)')
    return {
      id, ...this.lifetime(t.expires_at, t.issued_at), projectId: t.project?.id, userId: t.user.id,
      catalog: t.catalog.map(s => ({
        type: s.type, name: s.name,
        endpoints: s.endpoints.flatMap(e => {
          const i = normalizeInterface(e.interface)
          return i ? [{interface: i, region: e.region_id ?? e.region ?? undefined, url: e.url}] : []
        }),
      })),
    }
  }

  private async authV2(): Promise<Token> {
    const a = this.opts.auth
    if (!a.username) throw new OpenStackError('keystone', 'POST', '/tokens', undefined, 'Keystone v2.0 needs a user name (--openstack-username or OS_USERNAME)')
    const body = {
      auth: {
        passwordCredentials: {username: a.username, password: a.password ?? ''},
        ...(a.projectId ? {tenantId: a.projectId} : a.projectName ? {tenantName: a.projectName} : {}),
      },
    }
    const res = await this.request('identity', 'POST', '/tokens', {body, schema: V2TokenResponse, ok: [200], noToken: true, idempotent: true})
    const acc = res.data.access
    if (!acc.serviceCatalog.length) throw new OpenStackError('keystone', 'POST', '/tokens', res.status, 'the token has no service catalog: give a tenant (--openstack-tenant-name or --openstack-tenant-id)')
    return {
      id: acc.token.id, ...this.lifetime(acc.token.expires, acc.token.issued_at), projectId: acc.token.tenant?.id, userId: acc.user?.id,
      catalog: acc.serviceCatalog.map(s => ({
        type: s.type, name: s.name,
        endpoints: s.endpoints.flatMap(e => {
          const out: Endpoint[] = [{interface: 'public', region: e.region ?? undefined, url: e.publicURL}]
          if (e.internalURL) out.push({interface: 'internal', region: e.region ?? undefined, url: e.internalURL})
          if (e.adminURL) out.push({interface: 'admin', region: e.region ?? undefined, url: e.adminURL})
          return out
        }),
      })),
    }
  }

  /** The URL of a service for the configured region and interface. */
  async endpoint(kind: ServiceKind): Promise<string> {
    const override = this.opts.endpointOverrides?.[kind]
    if (override) return withVersion(kind, override)
    if (kind === 'identity') return this.identityUrl
    const token = await this.getToken()
    return endpointFromCatalog(token.catalog, kind, this.interface, this.opts.region)
  }

  async projectId(): Promise<string | undefined> {
    return (await this.getToken()).projectId
  }

  /**
   * One API call with retries. 429 is always retried (after Retry-After when given); 5xx and
   * lost answers only when repeating is safe, so a create is never made twice.
   */
  async request<T = unknown>(kind: ServiceKind, method: string, path: string, o: RequestOptions<T> = {}): Promise<Response<T>> {
    const api = API_NAME[kind]
    const noToken = o.noToken === true
    const idempotent = o.idempotent ?? method !== 'POST'
    const retries = this.opts.retries ?? 4
    const throttleRetries = this.opts.throttleRetries ?? 12
    // A 429 is the service asking us to come back: honour it for a while, not a fixed count
    // (20 machines behind one rate limit can each be told to wait many times).
    const throttleUntil = Date.now() + (this.opts.throttleTimeoutMs ?? 300_000)
    const base = this.opts.retryBaseMs ?? 500
    const timeoutMs = this.opts.timeoutMs ?? 60_000
    const qs = o.query ? Object.entries(o.query).filter(([, v]) => v !== undefined && v !== '') : []
    const shownPath = path + (qs.length ? '?' + new URLSearchParams(qs.map(([k, v]) => [k, String(v)])).toString() : '')
    // A service echoing the request back (some proxies do) must not put a secret into an error.
    const secrets = [this.opts.auth.password, this.opts.auth.applicationCredentialSecret].filter((x): x is string => !!x && x.length >= 3)
    const redact = (t: string) => secrets.reduce((acc, sec) => acc.split(sec).join('***'), t)
    const fail = (status: number | undefined, detail: string) => new OpenStackError(api, method, shownPath, status, redact(detail))
    const callerSignals = [this.opts.signal, o.signal].filter((x): x is AbortSignal => !!x)
    const caller = callerSignals.length > 1 ? AbortSignal.any(callerSignals) : callerSignals[0]
    let failures = 0
    let throttled = 0
    let reauthed = false
    const backoff = (n: number) => Math.min(10_000, base * 2 ** n) * (0.5 + Math.random() / 2)

    for (;;) {
      const token = noToken ? undefined : await this.getToken()
      const url = (await this.endpoint(kind)) + shownPath
      const headers: Record<string, string> = {Accept: 'application/json', 'User-Agent': 'berth', ...o.headers}
      if (o.body !== undefined) headers['Content-Type'] = 'application/json'
      if (token) headers['X-Auth-Token'] = token.id
      if (kind === 'compute' && this.opts.microversion) {
        headers['X-OpenStack-Nova-API-Version'] = this.opts.microversion
        headers['OpenStack-API-Version'] = `compute ${this.opts.microversion}`
      }
      await this.pacer.take(caller)
      const signals = [AbortSignal.timeout(timeoutMs), ...callerSignals]
      const t0 = Date.now()
      this.stats.requests++
      let res: globalThis.Response
      try {
        res = await this.fetch(url, {method, headers, body: o.body === undefined ? undefined : JSON.stringify(o.body), signal: AbortSignal.any(signals)})
      } catch (err) {
        if (caller?.aborted) throw caller.reason
        const timedOut = (err as Error).name === 'TimeoutError' || (err as Error).name === 'AbortError'
        const code = (err as {cause?: {code?: string}}).cause?.code
        this.opts.debug?.(`${api} ${method} ${shownPath} -> ${timedOut ? 'timeout' : code ?? 'error'} (${Date.now() - t0} ms)`)
        // A refused connection never reached the service: safe to repeat even for a create.
        if ((idempotent || code === 'ECONNREFUSED') && failures < retries) {
          failures++
          this.stats.retries++
          await sleep(backoff(failures - 1), caller)
          continue
        }
        throw fail(undefined, timedOut ? `no answer within ${Math.round(timeoutMs / 100) / 10} s` : `cannot reach ${new URL(url).host} (${code ?? (err as Error).message})`)
      }
      this.opts.debug?.(`${api} ${method} ${shownPath} -> ${res.status} (${Date.now() - t0} ms)`)
      if (res.status === 401 && token && !reauthed) {
        // The token expired or was revoked early: authenticate again, once.
        await res.body?.cancel().catch(() => {})
        reauthed = true
        this.invalidate(token)
        continue
      }
      if (res.status === 429 && (throttled < throttleRetries || Date.now() < throttleUntil)) {
        await res.body?.cancel().catch(() => {})
        throttled++
        this.stats.throttled++
        const after = retryAfterMs(res.headers.get('retry-after'))
        // The pacer closes the gate for every request of the client, never earlier than asked.
        this.pacer.throttled(after === undefined ? undefined : Math.min(after, this.opts.maxRetryAfterMs ?? 60_000), backoff(throttled - 1))
        continue
      }
      this.pacer.ok()
      if (res.status >= 500 && (idempotent || res.status === 503) && failures < retries) {
        await res.body?.cancel().catch(() => {})
        failures++
        this.stats.retries++
        const wait = retryAfterMs(res.headers.get('retry-after'))
        await sleep(Math.min(wait ?? backoff(failures - 1), this.opts.maxRetryAfterMs ?? 60_000), caller)
        continue
      }
      const text = await res.text().catch(() => '')
      const okStatus = o.ok ? o.ok.includes(res.status) : res.status >= 200 && res.status < 300
      if (!okStatus) {
        let detail = errorDetail(text)
        if (res.status === 401 && noToken) detail += ' (check the user name, password and project)'
        if (res.status === 429 || res.status >= 500) detail += ` (after ${failures + throttled + 1} attempts)`
        throw fail(res.status, detail)
      }
      let data: unknown
      if (text.trim()) {
        try {
          data = JSON.parse(text)
        } catch {
          throw fail(res.status, 'the answer is not JSON')
        }
      }
      if (o.schema) {
        const parsed = o.schema.safeParse(data)
        if (!parsed.success) {
          const issue = parsed.error.issues[0]
          throw fail(res.status, `unexpected answer: ${issue.path.join('.') || 'body'}: ${issue.message}`)
        }
        data = parsed.data
      }
      return {status: res.status, headers: res.headers, data: data as T}
    }
  }
}
