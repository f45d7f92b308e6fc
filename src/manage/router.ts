/**
 * Which Docker API calls the endpoint serves, and how: a pure map from method and path to a
 * route. Anything else is `unsupported` (501 with a JSON message, so the docker CLI never hangs).
 */

export type Route =
  | {kind: 'ping' | 'version' | 'info' | 'ps' | 'create' | 'images' | 'pull' | 'load' | 'save' | 'build' | 'events' | 'unsupported'}
  | {kind: 'networks' | 'network-create' | 'volumes' | 'volume-create'}
  | {kind: 'image' | 'image-tag' | 'image-push' | 'image-get' | 'image-remove'; ref: string}
  | {kind: 'network' | 'network-remove' | 'volume' | 'volume-remove'; ref: string}
  | {kind: 'network-connect'; ref: string; op: 'connect' | 'disconnect'}
  /** Goes to the engine holding the container; `inspect` is answered with the machine added. */
  | {kind: 'container'; ref: string; op: string}
  | {kind: 'remove'; ref: string}
  | {kind: 'exec'; id: string; op: string}
  /** `docker inspect NAME` tries each kind in turn: these answer "no such" rather than 501. */
  | {kind: 'other'; what: string; name: string}

export type UpgradeRoute = {kind: 'attach'; ref: string} | {kind: 'exec-start'; id: string}

/** Container operations that go to the engine holding the container, unchanged. */
const CONTAINER_OPS = new Set(['json', 'logs', 'start', 'stop', 'restart', 'kill', 'wait', 'attach', 'top', 'stats', 'pause', 'unpause', 'rename', 'resize', 'update', 'exec', 'changes', 'export', 'archive'])

/** Versions older than this are refused, as dockerd does. */
export const MIN_API_VERSION = '1.24'

/** `/v1.41/containers/json?all=1` → version 1.41, path `/containers/json`, the query. */
export function splitUrl(url: string): {version?: string; path: string; query: URLSearchParams; search: string} {
  const u = new URL(url, 'http://endpoint')
  const m = /^\/v(\d+(?:\.\d+)*)(\/.*)$/.exec(u.pathname)
  return {version: m?.[1], path: decodeURIComponent(m ? m[2] : u.pathname), query: u.searchParams, search: u.search}
}

export function route(method: string, p: string): Route {
  if ((method === 'GET' || method === 'HEAD') && p === '/_ping') return {kind: 'ping'}
  if (method === 'GET' && p === '/version') return {kind: 'version'}
  if (method === 'GET' && p === '/info') return {kind: 'info'}
  if (method === 'GET' && p === '/containers/json') return {kind: 'ps'}
  if (method === 'POST' && p === '/containers/create') return {kind: 'create'}
  if (method === 'GET' && p === '/images/json') return {kind: 'images'}
  if (method === 'POST' && p === '/images/create') return {kind: 'pull'}
  if (method === 'POST' && p === '/images/load') return {kind: 'load'}
  if (method === 'GET' && p === '/images/get') return {kind: 'save'}
  if (method === 'POST' && p === '/build') return {kind: 'build'}
  if (method === 'GET' && p === '/events') return {kind: 'events'}
  const img = /^\/images\/(.+)\/(json|tag|push|get)$/.exec(p)
  if (img && method === (img[2] === 'json' || img[2] === 'get' ? 'GET' : 'POST')) {
    return {kind: img[2] === 'json' ? 'image' : img[2] === 'tag' ? 'image-tag' : img[2] === 'push' ? 'image-push' : 'image-get', ref: img[1]}
  }
  const rmi = /^\/images\/(.+)$/.exec(p)
  if (rmi && method === 'DELETE') return {kind: 'image-remove', ref: rmi[1]}
  const res = resourceRoute(method, p)
  if (res) return res
  const op = /^\/containers\/(.+)\/([a-z]+)$/.exec(p)
  if (op && CONTAINER_OPS.has(op[2]) && method !== 'DELETE') return {kind: 'container', ref: op[1], op: op[2]}
  const del = /^\/containers\/(.+)$/.exec(p)
  if (del && method === 'DELETE') return {kind: 'remove', ref: del[1]}
  const ex = /^\/exec\/([^/]+)\/(json|start|resize)$/.exec(p)
  if (ex) return {kind: 'exec', id: ex[1], op: ex[2]}
  const other = /^\/(plugins|services|tasks|nodes|secrets|configs)\/([^/]+)(?:\/json)?$/.exec(p)
  if (other && method === 'GET') return {kind: 'other', what: other[1], name: other[2]}
  return {kind: 'unsupported'}
}

/** Networks and volumes: lists, create, inspect, remove, connect. */
function resourceRoute(method: string, p: string): Route | undefined {
  if (p === '/networks' && method === 'GET') return {kind: 'networks'}
  if (p === '/networks/create' && method === 'POST') return {kind: 'network-create'}
  if (p === '/volumes' && method === 'GET') return {kind: 'volumes'}
  if (p === '/volumes/create' && method === 'POST') return {kind: 'volume-create'}
  const conn = /^\/networks\/(.+)\/(connect|disconnect)$/.exec(p)
  if (conn && method === 'POST') return {kind: 'network-connect', ref: conn[1], op: conn[2] as 'connect' | 'disconnect'}
  const one = /^\/(networks|volumes)\/(.+)$/.exec(p)
  if (!one || one[2] === 'prune') return undefined
  const what = one[1] === 'networks' ? 'network' : 'volume'
  if (method === 'GET') return {kind: what, ref: one[2]}
  if (method === 'DELETE') return {kind: `${what}-remove`, ref: one[2]}
  return undefined
}

/** The hijacked calls: attach and exec start. */
export function upgradeRoute(p: string): UpgradeRoute | undefined {
  const att = /^\/containers\/(.+)\/attach$/.exec(p)
  if (att) return {kind: 'attach', ref: att[1]}
  const ex = /^\/exec\/([^/]+)\/start$/.exec(p)
  if (ex) return {kind: 'exec-start', id: ex[1]}
  return undefined
}
