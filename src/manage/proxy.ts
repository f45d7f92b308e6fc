/**
 * The calls the endpoint passes through to the engine that holds the container: streamed both
 * ways as they come (logs -f, wait, stats), or hijacked (attach, exec start) and then relayed
 * byte for byte.
 */
import type {Duplex} from 'node:stream'
import type {Conn} from '../cluster/index.js'
import {errorMessage} from '../core/index.js'
import type {Hijacked} from '../engine/index.js'
import {endToEnd, rawError, rawHeaders, readUpgradeBody, sendError, type Headers, type Req, type Res} from './http.js'

export async function proxy(req: Req, res: Res, conn: Conn, upstreamPath: string): Promise<void> {
  const abort = new AbortController()
  // The client went away (Ctrl-C on logs -f): stop the engine's stream too.
  res.on('close', () => {
    if (!res.writableFinished) abort.abort()
  })
  let ures
  try {
    ures = await conn.engine.stream(req.method ?? 'GET', upstreamPath, {headers: endToEnd(req.headers), body: req, signal: abort.signal})
  } catch (err) {
    sendError(res, 502, `${conn.machine}: ${errorMessage(err)}`)
    return
  }
  if (res.destroyed) {
    ures.destroy()
    return
  }
  res.writeHead(ures.statusCode ?? 502, endToEnd(ures.headers))
  // Streams (logs -f) are flushed chunk by chunk.
  res.flushHeaders()
  await new Promise<void>(resolve => {
    ures.pipe(res)
    ures.on('end', resolve)
    ures.on('error', () => {
      res.destroy()
      resolve()
    })
    res.on('close', resolve)
  })
}

/** attach and exec start: once the engine upgrades, bytes flow both ways unchanged. */
export async function relayHijack(req: Req, socket: Duplex, head: Buffer, conn: Conn, upstreamPath: string, track: (s: Duplex) => void): Promise<void> {
  const headers: Headers = {}
  for (const [k, v] of Object.entries(req.headers)) if (v !== undefined && k !== 'host') headers[k] = v
  const {body, rest} = await readUpgradeBody(socket, head, Number(req.headers['content-length'] ?? 0))
  let h: Hijacked
  try {
    h = await conn.engine.hijack(req.method ?? 'POST', upstreamPath, {headers, body})
  } catch (err) {
    rawError(socket, 502, `${conn.machine}: ${errorMessage(err)}`)
    return
  }
  const ures = h.res
  if (!h.upgraded) {
    // The engine refused to upgrade (no such container, already stopped...): relay its answer.
    const chunks: Buffer[] = []
    ures.on('data', c => chunks.push(c))
    ures.on('end', () => {
      const text = Buffer.concat(chunks)
      socket.end(`HTTP/1.1 ${ures.statusCode} ${ures.statusMessage ?? ''}\r\nContent-Type: ${ures.headers['content-type'] ?? 'application/json'}\r\nContent-Length: ${text.length}\r\nConnection: close\r\n\r\n${text}`)
    })
    return
  }
  const usock = h.socket
  track(usock)
  socket.write(`HTTP/1.1 ${ures.statusCode} ${ures.statusMessage ?? ''}\r\n${rawHeaders(ures.rawHeaders)}\r\n`)
  if (h.head.length) socket.write(h.head)
  if (rest.length) usock.write(rest)
  usock.pipe(socket)
  socket.pipe(usock)
  usock.on('error', () => socket.destroy())
  socket.on('error', () => usock.destroy())
  usock.on('close', () => socket.end())
  socket.on('close', () => usock.destroy())
}
