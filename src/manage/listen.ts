import net from 'node:net'
import os from 'node:os'
import {UserError} from '../core/index.js'

/** `host:port`, `:port`, `port`, `[::1]:port`. */
export function parseListen(text: string): {host: string; port: number} {
  const m = /^(?:\[([^\]]+)\]|([^:]*))?:?(\d+)$/.exec(text.trim())
  const port = m ? Number(m[3]) : NaN
  if (!m || !Number.isInteger(port) || port > 65535) throw new UserError(`bad --listen "${text}": use host:port, e.g. 127.0.0.1:3376`)
  const host = m[1] ?? (m[2] || '127.0.0.1')
  if (!net.isIP(host) && host !== 'localhost') throw new UserError(`bad --listen "${text}": the host must be an IP address or localhost`)
  return {host, port}
}

/**
 * Names in the endpoint's own server certificate (not an engine's: provision's serverSans makes
 * those): the listen address, loopback, and every local address when it listens on all.
 */
export function endpointSans(host: string): string[] {
  const out = [host, '127.0.0.1', 'localhost', '::1']
  if (host === '0.0.0.0' || host === '::') {
    for (const list of Object.values(os.networkInterfaces())) for (const a of list ?? []) out.push(a.address.replace(/%.*$/, ''))
  }
  return [...new Set(out.filter(h => h !== '0.0.0.0' && h !== '::'))]
}
