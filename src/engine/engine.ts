import {readFileSync} from 'node:fs'
import type https from 'node:https'
import type tls from 'node:tls'
import {createRequire} from 'node:module'
import path from 'node:path'

/** The Docker Engine API over mutual TLS, as the stock docker CLI speaks it. */
export interface EngineTLS {
  ca: string | Buffer
  cert: string | Buffer
  key: string | Buffer
}

export class EngineError extends Error {
  constructor(message: string, readonly statusCode?: number) {
    super(message)
  }
}

export function tlsFromDir(dir: string): EngineTLS {
  return {
    ca: readFileSync(path.join(dir, 'ca.pem')),
    cert: readFileSync(path.join(dir, 'cert.pem')),
    key: readFileSync(path.join(dir, 'key.pem')),
  }
}

// node:https (and TLS with it) loads on the first request: `ls` of stopped machines never pays for it.
const lazyHttps = (): typeof https => createRequire(import.meta.url)('node:https')

// Without a given context, every TLS connection parses the CA, certificate and key again (the
// polls of engines still starting included): one context per client identity serves them all.
const contexts = new Map<string, tls.SecureContext>()
function secureContextFor(t: EngineTLS): tls.SecureContext {
  const id = `${t.ca}\0${t.cert}\0${t.key}`
  let c = contexts.get(id)
  if (!c) {
    c = (createRequire(import.meta.url)('node:tls') as typeof tls).createSecureContext({ca: t.ca, cert: t.cert, key: t.key})
    contexts.set(id, c)
  }
  return c
}

export class Engine {
  private agentInstance?: https.Agent

  constructor(readonly host: string, readonly port: number, private readonly tls: EngineTLS, readonly apiVersion?: string) {}

  private get agent(): https.Agent {
    this.agentInstance ??= new (lazyHttps().Agent)({secureContext: secureContextFor(this.tls), keepAlive: true, maxSockets: 8})
    return this.agentInstance
  }

  get url(): string {
    return `tcp://${this.host}:${this.port}`
  }

  async request<T = unknown>(method: string, urlPath: string, body?: unknown, opts: {timeoutMs?: number; raw?: boolean; headers?: Record<string, string>} = {}): Promise<T> {
    const data = body === undefined ? undefined : Buffer.from(JSON.stringify(body))
    const prefix = this.apiVersion ? `/v${this.apiVersion}` : ''
    return new Promise<T>((resolve, reject) => {
      const req = lazyHttps().request({
        host: this.host,
        port: this.port,
        method,
        path: prefix + urlPath,
        agent: this.agent,
        // Certificates name the host's IP, but Node only checks IP SANs against an IP host.
        servername: undefined,
        headers: {
          ...(data ? {'Content-Type': 'application/json', 'Content-Length': String(data.length)} : {}),
          ...opts.headers,
        },
        timeout: opts.timeoutMs ?? 30_000,
      }, res => {
        const chunks: Buffer[] = []
        res.on('data', c => chunks.push(c))
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString()
          const status = res.statusCode ?? 0
          if (status >= 400) {
            let msg = text.trim()
            try {
              msg = JSON.parse(text).message ?? msg
            } catch { /* plain text error */ }
            return reject(new EngineError(`${method} ${urlPath} on ${this.host}:${this.port}: ${msg || `HTTP ${status}`}`, status))
          }
          if (opts.raw) return resolve(text as T)
          if (!text) return resolve(undefined as T)
          try {
            resolve(JSON.parse(text) as T)
          } catch {
            resolve(text as T)
          }
        })
      })
      req.on('timeout', () => req.destroy(new EngineError(`${method} ${urlPath} on ${this.host}:${this.port}: timed out`)))
      req.on('error', reject)
      if (data) req.end(data)
      else req.end()
    })
  }

  ping(timeoutMs = 5000): Promise<string> {
    return this.request<string>('GET', '/_ping', undefined, {timeoutMs, raw: true})
  }

  version(timeoutMs?: number): Promise<{Version: string; ApiVersion: string; Os: string; KernelVersion: string}> {
    return this.request('GET', '/version', undefined, {timeoutMs})
  }

  info(timeoutMs?: number): Promise<Record<string, any>> {
    return this.request('GET', '/info', undefined, {timeoutMs})
  }

  /** Poll /_ping until the engine answers over mutual TLS or the deadline passes. */
  async waitReady(deadlineMs: number, signal?: AbortSignal): Promise<void> {
    const end = Date.now() + deadlineMs
    let delay = 50
    let last: Error | undefined
    while (Date.now() < end) {
      signal?.throwIfAborted()
      try {
        await this.ping(Math.max(500, Math.min(5000, end - Date.now())))
        return
      } catch (err) {
        last = err as Error
      }
      await new Promise(r => setTimeout(r, delay))
      delay = Math.min(delay * 2, 250)
    }
    throw new Error(`Docker engine at ${this.host}:${this.port} did not answer over TLS within ${Math.round(deadlineMs / 1000)} s${last ? `: ${last.message}` : ''}`)
  }

  close(): void {
    this.agentInstance?.destroy()
  }
}
