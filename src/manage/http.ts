/** Small pieces of HTTP the endpoint answers with, on responses and on hijacked sockets. */
import http from 'node:http'
import type {Duplex} from 'node:stream'
import {ClusterError} from '../cluster/index.js'

export type Req = http.IncomingMessage
export type Res = http.ServerResponse
export type Headers = Record<string, string | string[]>

const MAX_BODY = 16 << 20
const HOP = new Set(['connection', 'keep-alive', 'transfer-encoding', 'upgrade', 'proxy-connection', 'proxy-authenticate', 'proxy-authorization', 'te', 'trailer', 'host'])

/** Headers to pass on through a proxy: hop-by-hop ones belong to each connection. */
export function endToEnd(headers: http.IncomingHttpHeaders): Headers {
  const out: Headers = {}
  for (const [k, v] of Object.entries(headers)) if (v !== undefined && !HOP.has(k)) out[k] = v
  return out
}

export function sendJson(res: Res, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const data = Buffer.from(JSON.stringify(body))
  res.writeHead(status, {'Content-Type': 'application/json', 'Content-Length': String(data.length), ...headers})
  res.end(data)
}

export function sendError(res: Res, status: number, message: string): void {
  if (res.headersSent) {
    res.destroy()
    return
  }
  sendJson(res, status, {message})
}

export function readBody(req: Req): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = []
    let size = 0
    req.on('data', (c: Buffer) => {
      size += c.length
      if (size > MAX_BODY) req.destroy(new ClusterError('request body too large', 413))
      else chunks.push(c)
    })
    req.on('end', () => resolve(Buffer.concat(chunks)))
    req.on('error', reject)
  })
}

/**
 * On an upgrade the request body (exec start's {"Detach":false}) arrives in `head` and on the
 * socket, not through req: read exactly Content-Length bytes, and keep the rest for the stream.
 */
export function readUpgradeBody(socket: Duplex, head: Buffer, length: number): Promise<{body: Buffer; rest: Buffer}> {
  if (!(length > 0)) return Promise.resolve({body: Buffer.alloc(0), rest: head})
  return new Promise((resolve, reject) => {
    let buf = head
    const done = () => {
      socket.off('data', onData)
      socket.off('error', reject)
      socket.pause()
      resolve({body: buf.subarray(0, length), rest: buf.subarray(length)})
    }
    const onData = (c: Buffer) => {
      buf = Buffer.concat([buf, c])
      if (buf.length >= length) done()
    }
    if (buf.length >= length) return done()
    socket.on('data', onData)
    socket.on('error', reject)
  })
}

export function rawHeaders(raw: string[]): string {
  let out = ''
  for (let i = 0; i < raw.length; i += 2) out += `${raw[i]}: ${raw[i + 1]}\r\n`
  return out
}

/** An error answer on a socket that is no longer an HTTP response (an upgrade request's). */
export function rawError(socket: Duplex, status: number, message: string): void {
  const body = JSON.stringify({message})
  if (!socket.writable) return
  socket.end(`HTTP/1.1 ${status} ${http.STATUS_CODES[status] ?? ''}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`)
}
