/**
 * The engine of the machine berth runs on, as the docker CLI finds it: DOCKER_HOST (a unix
 * socket, or tcp with DOCKER_TLS_VERIFY/DOCKER_CERT_PATH as `berth env` sets), else the
 * default socket. Only what reading images from it needs: a request whose answer is streamed.
 */
import type http from 'node:http'
import {UserError} from '../core/index.js'
import {Engine} from './engine.js'
import {tlsFromDir} from './tls.js'

export interface StreamingEngine {
  readonly label: string
  stream(method: string, urlPath: string): Promise<http.IncomingMessage>
}

export async function localEngine(env: NodeJS.ProcessEnv = process.env): Promise<StreamingEngine & {close(): void}> {
  const host = env.DOCKER_HOST || 'unix:///var/run/docker.sock'
  if (host.startsWith('unix://')) {
    const socketPath = host.slice('unix://'.length)
    const http = await import('node:http')
    return {
      label: `the local engine (${host})`,
      stream: (method, urlPath) => new Promise((resolve, reject) => {
        const req = http.request({socketPath, method, path: urlPath}, resolve)
        req.on('error', err => reject((err as NodeJS.ErrnoException).code === 'ENOENT' || (err as NodeJS.ErrnoException).code === 'ECONNREFUSED'
          ? new UserError(`no local Docker engine at ${host}: set DOCKER_HOST (eval $(berth env NAME)), or use --from MACHINE or --file TAR`)
          : err))
        req.end()
      }),
      close: () => {},
    }
  }
  const m = /^tcp:\/\/([^:/]+):(\d+)\/?$/.exec(host)
  if (!m || !env.DOCKER_CERT_PATH || !env.DOCKER_TLS_VERIFY) throw new UserError(`DOCKER_HOST "${host}": berth reads a local engine over a unix socket, or over tcp with DOCKER_TLS_VERIFY and DOCKER_CERT_PATH`)
  const engine = new Engine(m[1], Number(m[2]), tlsFromDir(env.DOCKER_CERT_PATH))
  return {label: `the engine at ${host}`, stream: (method, urlPath) => engine.stream(method, urlPath), close: () => engine.close()}
}
