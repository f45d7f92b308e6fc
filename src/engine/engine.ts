/**
 * The one Docker Engine API client: JSON calls, streamed bodies both ways, and hijacked
 * connections (attach, exec start). Every part of berth that speaks to an engine goes through
 * here, so each shares the TLS contexts per client identity and the lazy load of https.
 */
import type http from 'node:http'
import type https from 'node:https'
import type {Duplex, Readable} from 'node:stream'
import type tls from 'node:tls'
import {poll} from '../core/index.js'
import {EngineError, engineError, type HttpResult} from './errors.js'
import {lazyHttps, secureContextFor, type EngineTLS} from './tls.js'

export interface EngineClientOptions {
  /** Parallel connections kept to the engine (streams such as `logs -f` each hold one). Default 8. */
  maxSockets?: number
}

export interface CallOptions {
  timeoutMs?: number
  headers?: Record<string, string>
}

/** An answer to a hijack request: the raw connection after `101 UPGRADED`, or the engine's refusal. */
export type Hijacked =
  | {upgraded: true; res: http.IncomingMessage; socket: Duplex; head: Buffer}
  | {upgraded: false; res: http.IncomingMessage}

type Headers = Record<string, string | string[]>

function parseBody(text: string): unknown {
  try {
    return text ? JSON.parse(text) : undefined
  } catch {
    return text
  }
}

export class Engine {
  private agentInstance?: https.Agent

  constructor(readonly host: string, readonly port: number, readonly tls: EngineTLS, readonly apiVersion?: string, private readonly opts: EngineClientOptions = {}) {}

  private get agent(): https.Agent {
    this.agentInstance ??= new (lazyHttps().Agent)({secureContext: secureContextFor(this.tls), keepAlive: true, maxSockets: this.opts.maxSockets ?? 8})
    return this.agentInstance
  }

  get url(): string {
    return `tcp://${this.host}:${this.port}`
  }

  private path(urlPath: string): string {
    return (this.apiVersion ? `/v${this.apiVersion}` : '') + urlPath
  }

  private send(method: string, urlPath: string, data: Buffer | undefined, opts: CallOptions, timedOut: () => Error): Promise<{status: number; text: string}> {
    return new Promise((resolve, reject) => {
      const req = lazyHttps().request({
        host: this.host, port: this.port, method, path: this.path(urlPath), agent: this.agent,
        // Certificates name the host's IP, but Node only checks IP SANs against an IP host.
        servername: undefined,
        headers: {...(data ? {'Content-Type': 'application/json', 'Content-Length': String(data.length)} : {}), ...opts.headers},
        timeout: opts.timeoutMs ?? 30_000,
      }, res => {
        const chunks: Buffer[] = []
        res.on('data', c => chunks.push(c))
        res.on('error', reject)
        res.on('end', () => resolve({status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString()}))
      })
      req.on('timeout', () => req.destroy(timedOut()))
      req.on('error', reject)
      req.end(data)
    })
  }

  /** A JSON call that resolves with the parsed answer; an error status rejects (typed: 404 NotFound, 409 Conflict). */
  async request<T = unknown>(method: string, urlPath: string, body?: unknown, opts: CallOptions & {raw?: boolean} = {}): Promise<T> {
    const data = body === undefined ? undefined : Buffer.from(JSON.stringify(body))
    const where = `${method} ${urlPath} on ${this.host}:${this.port}`
    const {status, text} = await this.send(method, urlPath, data, opts, () => new EngineError(`${where}: timed out`))
    if (status >= 400) {
      let msg = text.trim()
      try {
        msg = JSON.parse(text).message ?? msg
      } catch { /* plain text error */ }
      throw engineError(`${where}: ${msg || `HTTP ${status}`}`, status)
    }
    if (opts.raw) return text as T
    return parseBody(text) as T
  }

  /** A JSON call that resolves with any status: for callers that pass the engine's own answer on. */
  async call<T = unknown>(method: string, urlPath: string, body?: unknown, opts: CallOptions = {}): Promise<HttpResult<T>> {
    const data = body === undefined ? undefined : Buffer.from(JSON.stringify(body))
    const timeoutMs = opts.timeoutMs ?? 10_000
    const r = await this.send(method, urlPath, data, {...opts, timeoutMs}, () => new EngineError(`${method} ${urlPath.replace(/^\/v[\d.]+/, '')} timed out after ${timeoutMs / 1000} s`))
    return {status: r.status, body: parseBody(r.text) as T, text: r.text}
  }

  /**
   * A request whose answer is read as it comes (logs -f, stats, wait), its body streamed in from
   * `body` when given. Resolves at the response headers; aborting `signal` ends both directions.
   */
  stream(method: string, urlPath: string, opts: {headers?: Headers; body?: Readable; signal?: AbortSignal} = {}): Promise<http.IncomingMessage> {
    return new Promise((resolve, reject) => {
      const req = lazyHttps().request({host: this.host, port: this.port, method, path: this.path(urlPath), headers: opts.headers, agent: this.agent, signal: opts.signal}, resolve)
      req.on('error', reject)
      if (opts.body) opts.body.pipe(req)
      else req.end()
    })
  }

  /**
   * attach and exec start: the engine answers `101 UPGRADED` and the connection becomes a raw
   * stream both ways. A hijacked connection leaves the pool, so it gets one of its own.
   */
  hijack(method: string, urlPath: string, opts: {headers?: Headers; body?: Buffer} = {}): Promise<Hijacked> {
    return new Promise((resolve, reject) => {
      // https passes the socket options on to tls.connect, the context included.
      const socketOptions: tls.ConnectionOptions = {secureContext: secureContextFor(this.tls)}
      const req = lazyHttps().request({
        host: this.host, port: this.port, method, path: this.path(urlPath), agent: false, ...socketOptions,
        headers: {Connection: 'Upgrade', Upgrade: 'tcp', ...opts.headers},
      })
      req.on('upgrade', (res, socket, head) => resolve({upgraded: true, res, socket, head}))
      req.on('response', res => resolve({upgraded: false, res}))
      req.on('error', reject)
      req.end(opts.body)
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
    await poll(async left => {
      // A plain connect first: an engine still starting refuses it, and a refused TLS attempt
      // costs a TLS socket set up and torn down (most of berth's CPU while engines start).
      await tcpOpen(this.host, this.port, Math.max(500, Math.min(5000, left)))
      await this.ping(Math.max(500, Math.min(5000, left)))
      return true
    }, {
      timeoutMs: deadlineMs, intervalMs: 50, backoff: 2, maxIntervalMs: 250, signal,
      what: `Docker engine at ${this.host}:${this.port} did not answer over TLS within ${Math.round(deadlineMs / 1000)} s`,
    })
  }

  close(): void {
    this.agentInstance?.destroy()
  }
}

/** Resolves once something accepts a TCP connection on host:port (closed at once); rejects otherwise. */
async function tcpOpen(host: string, port: number, timeoutMs: number): Promise<void> {
  const net = await import('node:net')
  await new Promise<void>((resolve, reject) => {
    const sock = net.connect({host, port})
    sock.setTimeout(timeoutMs, () => sock.destroy(new Error(`connect to ${host}:${port} timed out`)))
    sock.once('connect', () => {
      sock.destroy()
      resolve()
    })
    sock.once('error', reject)
  })
}

/**
 * The multiplexed stream of a container without a TTY: an 8-byte header (stream, 0, 0, 0, size)
 * before each frame. Calls `frame` with 1 (stdout) or 2 (stderr) as frames complete.
 */
export function demux(stream: Readable, frame: (fd: number, data: Buffer) => void): Promise<void> {
  return new Promise((resolve, reject) => {
    let buf = Buffer.alloc(0)
    stream.on('data', (chunk: Buffer) => {
      buf = Buffer.concat([buf, chunk])
      while (buf.length >= 8) {
        const size = buf.readUInt32BE(4)
        if (buf.length < 8 + size) break
        frame(buf[0] === 2 ? 2 : 1, buf.subarray(8, 8 + size))
        buf = buf.subarray(8 + size)
      }
    })
    stream.on('end', () => resolve())
    stream.on('error', reject)
  })
}
