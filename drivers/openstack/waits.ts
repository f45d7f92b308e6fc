/**
 * Waits on Nova and Cinder, with backoff. A state that can never lead to the one wanted (ERROR,
 * gone) ends the wait at once with what the cloud said.
 */
import {sleep, UserError} from '../../src/sdk/index.js'
import type {Cloud} from './api.js'
import {OpenStackError} from './errors.js'
import type {Server} from './schemas.js'

/** Poll with backoff until the server reaches one of `want`; ERROR ends the wait at once. */
export async function waitServer(cloud: Cloud, id: string, want: (s: Server) => boolean, timeoutSec: number, what: string, signal?: AbortSignal): Promise<Server> {
  const deadline = Date.now() + timeoutSec * 1000
  let delay = 200
  for (;;) {
    const s = await cloud.server(id)
    if (!s) throw new UserError(`nova server ${id} disappeared while ${what}`)
    if (want(s)) return s
    if (s.status === 'ERROR') throw new UserError(`nova server ${id} went to ERROR${s.fault?.message ? `: ${s.fault.message}` : ''}`)
    if (Date.now() >= deadline) throw new UserError(`nova server ${id} is still ${s.status}${s['OS-EXT-STS:task_state'] ? ` (${s['OS-EXT-STS:task_state']})` : ''} after ${timeoutSec} s ${what}: raise --openstack-active-timeout or check the cloud`)
    await sleep(Math.min(delay, Math.max(0, deadline - Date.now())), signal)
    delay = Math.min(5000, delay * 1.5)
  }
}

export async function waitGone(cloud: Cloud, id: string, timeoutSec: number): Promise<void> {
  const deadline = Date.now() + timeoutSec * 1000
  let delay = 200
  while (await cloud.server(id)) {
    if (Date.now() >= deadline) throw new UserError(`nova server ${id} is still being deleted after ${timeoutSec} s`)
    await sleep(delay)
    delay = Math.min(3000, delay * 1.5)
  }
}

export async function waitVolume(cloud: Cloud, id: string, timeoutSec: number, signal?: AbortSignal): Promise<void> {
  const deadline = Date.now() + timeoutSec * 1000
  let delay = 200
  for (;;) {
    const v = await cloud.volume(id)
    if (!v) throw new UserError(`cinder volume ${id} disappeared while being made`)
    if (v.status === 'available') return
    if (v.status.startsWith('error')) throw new UserError(`cinder volume ${id} went to ${v.status}: check --openstack-volume-type and the quota`)
    if (Date.now() >= deadline) throw new UserError(`cinder volume ${id} is still ${v.status} after ${timeoutSec} s`)
    await sleep(Math.min(delay, Math.max(0, deadline - Date.now())), signal)
    delay = Math.min(5000, delay * 1.5)
  }
}

/** A volume is detached a little after its server is gone. */
export async function waitVolumeFree(cloud: Cloud, id: string): Promise<void> {
  const deadline = Date.now() + 60_000
  let delay = 200
  for (;;) {
    const v = await cloud.volume(id)
    if (!v || !['in-use', 'detaching', 'attaching', 'creating', 'downloading'].includes(v.status)) return
    if (Date.now() >= deadline) throw new UserError(`cinder volume ${id} is still ${v.status} after 60 s`)
    await sleep(delay)
    delay = Math.min(3000, delay * 1.5)
  }
}

export async function deleteGroup(cloud: Cloud, id: string, shared: boolean): Promise<void> {
  const deadline = Date.now() + 30_000
  for (;;) {
    try {
      await cloud.deleteSecurityGroup(id)
      return
    } catch (err) {
      if (!(err instanceof OpenStackError) || err.status !== 409) throw err
      // Our server is gone by now, so a swarm's group still in use serves other members: it stays.
      if (shared) return
      // A machine's own group frees up as soon as Neutron has let go of the server's port.
      if (Date.now() >= deadline) throw err
      await sleep(1000)
    }
  }
}
