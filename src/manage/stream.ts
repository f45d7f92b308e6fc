/** The engines' JSON progress streams (pull, push, load, build, events): read line by line, merged. */
import type http from 'node:http'
import type {Readable} from 'node:stream'
import {ClusterError, type Conn} from '../cluster/index.js'
import {errorMessage} from '../core/index.js'

export type Message = Record<string, unknown> & {status?: string; id?: string; error?: string; errorDetail?: {message?: string}}

/** Calls `each` with every JSON message of a newline-separated stream, until it ends. */
export function jsonLines(stream: Readable, each: (m: Message) => void): Promise<void> {
  return new Promise((resolve, reject) => {
    let buf = ''
    const flush = (all: boolean) => {
      let nl
      while ((nl = buf.indexOf('\n')) >= 0 || (all && buf.trim())) {
        const line = nl >= 0 ? buf.slice(0, nl) : buf
        buf = nl >= 0 ? buf.slice(nl + 1) : ''
        if (!line.trim()) continue
        try {
          each(JSON.parse(line) as Message)
        } catch {
          each({status: line.trim()})
        }
      }
    }
    stream.setEncoding('utf8')
    stream.on('data', (c: string) => {
      buf += c
      flush(false)
    })
    stream.on('end', () => {
      flush(true)
      resolve()
    })
    stream.on('error', reject)
  })
}

/** An engine's error answer read whole: its `message`, else the text. */
export async function errorText(res: http.IncomingMessage): Promise<string> {
  const chunks: Buffer[] = []
  for await (const c of res) chunks.push(c as Buffer)
  const text = Buffer.concat(chunks).toString().trim()
  try {
    return (JSON.parse(text) as {message?: string}).message ?? text
  } catch {
    return text || `HTTP ${res.statusCode}`
  }
}

/** The error a progress message carries, if any. */
export function messageError(m: Message): string | undefined {
  return m.errorDetail?.message ?? m.error
}

/**
 * A progress call (pull, push, load) on one engine, read to its end. Resolves with the error
 * the engine answered or streamed, or undefined when it succeeded; `each` sees every message.
 */
export async function progress(conn: Conn, method: string, urlPath: string, opts: {headers?: Record<string, string | string[]>; body?: Readable; each?: (m: Message) => void} = {}): Promise<{status: number; error?: string}> {
  let res: http.IncomingMessage
  try {
    res = await conn.engine.stream(method, urlPath, {headers: opts.headers, body: opts.body})
  } catch (err) {
    // A body shared with other engines (tee) must still be read, or they all stall behind this one.
    opts.body?.resume()
    return {status: 502, error: errorMessage(err)}
  }
  if ((res.statusCode ?? 500) >= 400) {
    opts.body?.resume()
    return {status: res.statusCode ?? 500, error: await errorText(res)}
  }
  let error: string | undefined
  await jsonLines(res, m => {
    error ??= messageError(m)
    opts.each?.(m)
  })
  return error ? {status: 500, error} : {status: res.statusCode ?? 200}
}

/** `node: message`, the way classic Swarm told one engine's progress from another's. */
export function tagged(machine: string, m: Message): Message {
  const out: Message = {...m}
  if (typeof m.id === 'string' && m.id) out.id = `${machine}/${m.id}`
  else if (typeof m.status === 'string') out.status = `${machine}: ${m.status}`
  return out
}

/** A 4xx/5xx for one failing engine, or for all of them when every one failed. */
export function combinedError(failures: Array<{machine: string; status: number; error: string}>): ClusterError {
  const status = failures.every(f => f.status === 404) ? 404 : failures.find(f => f.status < 500)?.status ?? 500
  const texts = [...new Set(failures.map(f => f.error))]
  // One cause for all: said once, with the machines it hit.
  const message = texts.length === 1 ? `${texts[0]} (on ${failures.map(f => f.machine).join(', ')})` : failures.map(f => `${f.machine}: ${f.error}`).join('; ')
  return new ClusterError(message, status)
}
