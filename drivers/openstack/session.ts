/**
 * How the openstack driver talks to a cloud: one client per credentials and region in a process
 * (parallel creates share one token), name lookups made once per client, and the secrets a
 * machine authenticates with, kept in its folder (0600) and never in the record.
 */
import {promises as fs} from 'node:fs'
import path from 'node:path'
import {writeFileAtomic} from '../../src/sdk/index.js'
import {Cloud} from './api.js'
import type {Interface} from './catalog.js'
import {type AuthConfig, OpenStackClient} from './client.js'
import type {Preset} from './config.js'

export type CloudData = Omit<AuthConfig, 'password' | 'applicationCredentialSecret'> & {region?: string; interface: Interface; preset?: Preset; conoha?: 'v2' | 'v3'}

export interface Secrets {
  password?: string
  applicationCredentialSecret?: string
}

const SECRETS_FILE = 'openstack-secrets.json'

const clients = new Map<string, OpenStackClient>()
/** Flavors, images and networks do not change during a create: each is looked up once per client. */
const lookups = new WeakMap<OpenStackClient, Map<string, Promise<unknown>>>()

function runtime(): {timeoutMs: number; retries: number; retryBaseMs: number} {
  const n = (k: string, dflt: number) => {
    const v = Number(process.env[k])
    return process.env[k] && Number.isFinite(v) && v >= 0 ? v : dflt
  }
  return {timeoutMs: n('BERTH_OPENSTACK_API_TIMEOUT', 60) * 1000, retries: n('BERTH_OPENSTACK_RETRIES', 4), retryBaseMs: n('BERTH_OPENSTACK_RETRY_BASE_MS', 500)}
}

export function clientFor(cloud: CloudData, secrets: Secrets, debug?: (l: string) => void): OpenStackClient {
  const {region, interface: iface, preset: _p, conoha: _c, ...auth} = cloud
  const full: AuthConfig = {...auth, ...secrets}
  const key = JSON.stringify([full, region, iface])
  let c = clients.get(key)
  if (!c) {
    c = new OpenStackClient({auth: full, region, interface: iface, microversion: '2.1', ...runtime(), debug})
    clients.set(key, c)
  }
  return c
}

export function memo<T>(c: OpenStackClient, key: string, fn: () => Promise<T>): Promise<T> {
  let m = lookups.get(c)
  if (!m) lookups.set(c, m = new Map())
  let p = m.get(key) as Promise<T> | undefined
  if (!p) {
    p = fn()
    m.set(key, p)
    // A failed lookup (a typo, a 500) is asked again next time.
    p.catch(() => m.delete(key))
  }
  return p
}

/** The secrets file lets a later rm (or a rollback after a crash) authenticate. */
export async function keepSecrets(machineDir: string, secrets: Secrets): Promise<void> {
  await writeFileAtomic(path.join(machineDir, SECRETS_FILE), JSON.stringify(secrets), 0o600)
}

async function readSecrets(dir: string): Promise<Secrets | undefined> {
  try {
    return JSON.parse(await fs.readFile(path.join(dir, SECRETS_FILE), 'utf8')) as Secrets
  } catch {
    return undefined
  }
}

/** Secrets for an existing machine: the machine's own file, else the current environment. */
export async function secretsFor(m: {machineDir: string}): Promise<Secrets> {
  return await readSecrets(m.machineDir) ?? {
    password: process.env.OS_PASSWORD, applicationCredentialSecret: process.env.OS_APPLICATION_CREDENTIAL_SECRET,
  }
}

export async function cloudFor(m: {machineDir: string; data: {cloud: CloudData}; signal?: AbortSignal; debug?: (l: string) => void}): Promise<Cloud> {
  return new Cloud(clientFor(m.data.cloud, await secretsFor(m), m.debug), m.signal)
}

export function resetClients(): void {
  clients.clear()
}
