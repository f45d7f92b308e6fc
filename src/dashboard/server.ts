/**
 * The HTTP side: every request must carry the token as the first path segment
 * (http://127.0.0.1:PORT/TOKEN/...), so relative URLs of the page (its scripts, its event
 * stream) carry it too without any templating. Anything else is refused with 403.
 */
import {createHash, randomBytes, timingSafeEqual} from 'node:crypto'
import http from 'node:http'
import type {AddressInfo} from 'node:net'
import type {EventHub, SseEvent} from './sse.js'

export function newToken(): string {
  return randomBytes(24).toString('base64url')
}

/** Constant time whatever the lengths: both sides are hashed to 32 bytes before comparing. */
export function tokenMatches(given: string | undefined, expected: string): boolean {
  if (!expected) throw new Error('the dashboard token must not be empty')
  const h = (s: string) => createHash('sha256').update(s).digest()
  return timingSafeEqual(h(given ?? ''), h(expected))
}

export interface Asset {
  type: string
  body: string
}

export interface ServerOptions {
  host: string
  port: number
  token: string
  hub: EventHub
  asset: (name: string) => Asset | undefined
  /** What a new page (or state.json) starts from. */
  initial: () => SseEvent[]
}

const SECURITY = {
  'Content-Security-Policy': "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
  'X-Content-Type-Options': 'nosniff',
  'Referrer-Policy': 'no-referrer',
  'Cache-Control': 'no-store',
}

function send(res: http.ServerResponse, status: number, type: string, body: string, head = false): void {
  res.writeHead(status, {...SECURITY, 'Content-Type': type, 'Content-Length': Buffer.byteLength(body)})
  res.end(head ? undefined : body)
}

export function handler(opts: ServerOptions): http.RequestListener {
  return (req, res) => {
    const url = new URL(req.url ?? '/', 'http://dashboard')
    const [, token, ...rest] = url.pathname.split('/')
    if (!tokenMatches(token, opts.token)) return send(res, 403, 'text/plain; charset=utf-8', 'forbidden: open the URL berth dashboard printed\n')
    if (req.method !== 'GET' && req.method !== 'HEAD') return send(res, 405, 'text/plain; charset=utf-8', 'method not allowed\n')
    if (!rest.length) {
      res.writeHead(302, {...SECURITY, Location: `/${opts.token}/`})
      return res.end()
    }
    const name = rest.join('/') || 'index.html'
    if (name === 'events') return opts.hub.add(res, opts.initial())
    if (name === 'state.json') {
      const state = Object.fromEntries(opts.initial().map(e => [e.event, e.data]))
      return send(res, 200, 'application/json', JSON.stringify(state), req.method === 'HEAD')
    }
    const a = opts.asset(name)
    if (!a) return send(res, 404, 'text/plain; charset=utf-8', 'not found\n')
    send(res, 200, a.type, a.body, req.method === 'HEAD')
  }
}

export async function listen(opts: ServerOptions): Promise<{server: http.Server; url: string}> {
  const server = http.createServer(handler(opts))
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(opts.port, opts.host, () => resolve())
  })
  const {port} = server.address() as AddressInfo
  const host = opts.host.includes(':') ? `[${opts.host}]` : opts.host
  return {server, url: `http://${host}:${port}/${opts.token}/`}
}
