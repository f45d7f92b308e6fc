/**
 * Waits on Nova and Cinder, with backoff. A state that can never lead to the one wanted (ERROR,
 * gone) ends the wait at once with what the cloud said. Each is abortable by the signal of the
 * operation its Cloud serves.
 */
import {poll, UserError} from '../../src/sdk/index.js'
import type {Cloud} from './api.js'
import {OpenStackError} from './errors.js'
import type {Server} from './schemas.js'

/** Every error ends a wait: a failed call, or a state that cannot lead to the one wanted. */
const fatal = () => true

/** Poll with backoff until the server reaches one of `want`; ERROR ends the wait at once. */
export async function waitServer(cloud: Cloud, id: string, want: (s: Server) => boolean, timeoutSec: number, what: string): Promise<Server> {
  let last: Server | undefined
  return poll(async () => {
    const s = await cloud.server(id)
    if (!s) throw new UserError(`nova server ${id} disappeared while ${what}`)
    if (want(s)) return s
    if (s.status === 'ERROR') throw new UserError(`nova server ${id} went to ERROR${s.fault?.message ? `: ${s.fault.message}` : ''}`)
    last = s
    return undefined
  }, {
    timeoutMs: timeoutSec * 1000, intervalMs: 200, backoff: 1.5, maxIntervalMs: 5000, signal: cloud.signal, fatal,
    timeoutError: () => new UserError(`nova server ${id} is still ${last?.status}${last?.['OS-EXT-STS:task_state'] ? ` (${last['OS-EXT-STS:task_state']})` : ''} after ${timeoutSec} s ${what}: raise --openstack-active-timeout or check the cloud`),
  })
}

export async function waitGone(cloud: Cloud, id: string, timeoutSec: number): Promise<void> {
  await poll(async () => (await cloud.server(id)) ? undefined : true, {
    timeoutMs: timeoutSec * 1000, intervalMs: 200, backoff: 1.5, maxIntervalMs: 3000, signal: cloud.signal, fatal,
    timeoutError: () => new UserError(`nova server ${id} is still being deleted after ${timeoutSec} s`),
  })
}

export async function waitVolume(cloud: Cloud, id: string, timeoutSec: number): Promise<void> {
  let status = ''
  await poll(async () => {
    const v = await cloud.volume(id)
    if (!v) throw new UserError(`cinder volume ${id} disappeared while being made`)
    if (v.status === 'available') return true
    if (v.status.startsWith('error')) throw new UserError(`cinder volume ${id} went to ${v.status}: check --openstack-volume-type and the quota`)
    status = v.status
    return undefined
  }, {
    timeoutMs: timeoutSec * 1000, intervalMs: 200, backoff: 1.5, maxIntervalMs: 5000, signal: cloud.signal, fatal,
    timeoutError: () => new UserError(`cinder volume ${id} is still ${status} after ${timeoutSec} s`),
  })
}

/** A volume is detached a little after its server is gone. */
export async function waitVolumeFree(cloud: Cloud, id: string): Promise<void> {
  let status = ''
  await poll(async () => {
    const v = await cloud.volume(id)
    if (!v || !['in-use', 'detaching', 'attaching', 'creating', 'downloading'].includes(v.status)) return true
    status = v.status
    return undefined
  }, {
    timeoutMs: 60_000, intervalMs: 200, backoff: 1.5, maxIntervalMs: 3000, signal: cloud.signal, fatal,
    timeoutError: () => new UserError(`cinder volume ${id} is still ${status} after 60 s`),
  })
}

const inUse = (err: unknown) => err instanceof OpenStackError && err.status === 409

export async function deleteGroup(cloud: Cloud, id: string, shared: boolean): Promise<void> {
  await poll(async () => {
    try {
      await cloud.deleteSecurityGroup(id)
    } catch (err) {
      // Our server is gone by now, so a swarm's group still in use serves other members: it stays.
      // A machine's own group frees up as soon as Neutron has let go of the server's port.
      if (!inUse(err) || !shared) throw err
    }
    return true
  }, {timeoutMs: 30_000, intervalMs: 1000, signal: cloud.signal, fatal: err => !inUse(err), timeoutError: last => last as Error})
}
