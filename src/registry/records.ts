/** Store registries on disk: one JSON file each under `<store>/registries/`, written atomically. */
import {promises as fs} from 'node:fs'
import path from 'node:path'
import {acquireLock, mkdirPrivate, NotFoundError, writeFileAtomic, type Lock} from '../core/index.js'
import type {Store} from '../store/index.js'

export interface RegistryRecord {
  /** `MACHINE:PORT`: what ls shows and inspect/rm take. */
  name: string
  swarm: string
  machine: string
  port: number
  /** HOST:PORT as members reach it (and as images are tagged: ADDRESS/repo:tag). */
  address: string
  /** Set while a create is in flight: a record left so is what `registry rm` undoes. */
  status: 'creating' | 'ready'
  createdAt: string
  /** Upstream of a pull-through cache: members get this registry as a registry mirror. */
  mirror?: string
  /** htpasswd user (the password is only in the host's bcrypt file). */
  user?: string
  /** How it runs on its host: a systemd unit, or a supervising shell where there is no init. */
  service: 'systemd' | 'process'
}

const dir = (store: Store) => path.join(store.root, 'registries')
const file = (store: Store, name: string) => path.join(dir(store), `${name.replace(':', '_')}.json`)

export async function listRecords(store: Store): Promise<RegistryRecord[]> {
  let names: string[]
  try {
    names = (await fs.readdir(dir(store))).filter(n => n.endsWith('.json'))
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return []
    throw err
  }
  const out = await Promise.all(names.map(async n => JSON.parse(await fs.readFile(path.join(dir(store), n), 'utf8')) as RegistryRecord))
  return out.sort((a, b) => a.name.localeCompare(b.name))
}

/** A registry by `MACHINE:PORT`, by its address, or by its machine when that has only one. */
export async function findRecord(store: Store, ref: string): Promise<RegistryRecord> {
  const all = await listRecords(store)
  const hit = all.filter(r => r.name === ref || r.address === ref)
  const onMachine = all.filter(r => r.machine === ref)
  if (hit.length === 1) return hit[0]
  if (onMachine.length === 1) return onMachine[0]
  if (onMachine.length > 1) throw new NotFoundError(`machine "${ref}" has ${onMachine.length} registries: name one of ${onMachine.map(r => r.name).join(', ')}`)
  throw new NotFoundError(`no registry "${ref}" (see "berth registry ls")`)
}

export async function saveRecord(store: Store, r: RegistryRecord): Promise<void> {
  await mkdirPrivate(dir(store))
  await writeFileAtomic(file(store, r.name), JSON.stringify(r, null, 2) + '\n')
}

export async function removeRecord(store: Store, name: string): Promise<void> {
  await fs.rm(file(store, name), {force: true})
}

/** One registry change at a time per store: trust and mirrors of members are read-modify-write. */
export async function registriesLock(store: Store): Promise<Lock> {
  await mkdirPrivate(dir(store))
  return acquireLock(path.join(dir(store), '.lock'), {timeoutMs: 120_000, what: 'the store\'s registries'})
}
