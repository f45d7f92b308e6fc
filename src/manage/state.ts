/** The state file of a running endpoint: how `berth env --swarm S --manage` and `--stop` find it. */
import {promises as fs} from 'node:fs'
import path from 'node:path'
import {mkdirPrivate, pidAlive, writeFileAtomic} from '../core/index.js'
import type {StrategyName} from '../placement/index.js'
import type {Store} from '../store/index.js'

export interface ManageState {
  swarm: string
  pid: number
  host: string
  port: number
  url: string
  strategy: StrategyName
  startedAt: string
}

export function manageFile(store: Store, swarm: string): string {
  return path.join(store.root, 'swarms', `${swarm}.manage.json`)
}

/** The running endpoint of a swarm, or undefined (none, or its process is gone). */
export async function readManageState(store: Store, swarm: string): Promise<ManageState | undefined> {
  let state: ManageState
  try {
    state = JSON.parse(await fs.readFile(manageFile(store, swarm), 'utf8'))
  } catch {
    return undefined
  }
  return pidAlive(state.pid) ? state : undefined
}

/** Writes the state file that `berth env --swarm S --manage` reads. */
export async function writeManageState(store: Store, state: ManageState): Promise<void> {
  await mkdirPrivate(path.join(store.root, 'swarms'))
  await writeFileAtomic(manageFile(store, state.swarm), JSON.stringify(state, null, 2) + '\n')
}

/** Removes the state file if it is still ours (a newer endpoint may have replaced it). */
export async function clearManageState(store: Store, swarm: string, pid = process.pid): Promise<void> {
  try {
    const state = JSON.parse(await fs.readFile(manageFile(store, swarm), 'utf8')) as ManageState
    if (state.pid === pid) await fs.rm(manageFile(store, swarm), {force: true})
  } catch { /* already gone */ }
}
