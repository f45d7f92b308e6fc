/** docker events: every engine's stream merged, each event with the node it came from (classic Swarm's `node`). */
import type http from 'node:http'
import type {Cluster, Conn} from '../cluster/index.js'
import {clampVersion} from '../cluster/index.js'
import type {Res} from './http.js'
import {errorText, jsonLines} from './stream.js'

export async function events(res: Res, cluster: Cluster, version: string | undefined, search: string, log: (line: string) => void): Promise<void> {
  const records = await cluster.records()
  const conns = (await Promise.all(records.map(r => cluster.conn(r).catch(() => undefined)))).filter((c): c is Conn => Boolean(c))
  const abort = new AbortController()
  res.on('close', () => abort.abort())
  res.writeHead(200, {'Content-Type': 'application/json'})
  res.flushHeaders()
  await Promise.all(conns.map(async conn => {
    const v = clampVersion(version, cluster.apiVersionOf(conn.machine))
    let up: http.IncomingMessage
    try {
      up = await conn.engine.stream('GET', `${v ? `/v${v}` : ''}/events${search}`, {signal: abort.signal})
    } catch (err) {
      if (!abort.signal.aborted) log(`events: ${conn.machine}: ${(err as Error).message}`)
      return
    }
    if ((up.statusCode ?? 500) >= 400) {
      log(`events: ${conn.machine}: ${await errorText(up)}`)
      return
    }
    const node = {Name: conn.machine, Id: conn.machine, Addr: `${conn.host}:${conn.port}`, Ip: conn.host}
    await jsonLines(up, m => {
      if (!res.destroyed) res.write(JSON.stringify({...m, node}) + '\n')
    }).catch(() => undefined)
  }))
  res.end()
}
