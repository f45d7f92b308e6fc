/**
 * clouds.yaml, read as OpenStack's own tools read it: OS_CLIENT_CONFIG_FILE, else the first
 * of ./clouds.yaml, ~/.config/openstack/clouds.yaml and /etc/openstack/clouds.yaml; secrets
 * may live in a secure.yaml beside it, merged over the cloud's entry.
 */
import {promises as fs} from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import {parse} from 'yaml'
import {z} from 'zod'
import {UserError} from '../../src/sdk/index.js'

const CloudEntry = z.object({
  auth: z.record(z.string(), z.unknown()).default({}),
  auth_type: z.string().optional(),
  region_name: z.string().optional(),
  regions: z.array(z.union([z.string(), z.object({name: z.string()})])).optional(),
  interface: z.string().optional(),
  identity_api_version: z.union([z.string(), z.number()]).optional(),
  profile: z.string().optional(),
}).loose()
export type CloudEntry = z.infer<typeof CloudEntry>

const CloudsFile = z.object({clouds: z.record(z.string(), CloudEntry.nullable())})

export function configDirs(env: NodeJS.ProcessEnv = process.env, cwd = process.cwd()): string[] {
  const home = env.HOME || os.homedir()
  const xdg = env.XDG_CONFIG_HOME || path.join(home, '.config')
  return [cwd, path.join(xdg, 'openstack'), '/etc/openstack']
}

async function firstFile(dirs: string[], names: string[]): Promise<string | undefined> {
  for (const d of dirs) {
    for (const n of names) {
      const p = path.join(d, n)
      if (await fs.access(p).then(() => true, () => false)) return p
    }
  }
  return undefined
}

async function readYaml(file: string): Promise<unknown> {
  try {
    return parse(await fs.readFile(file, 'utf8'))
  } catch (err) {
    throw new UserError(`cannot read ${file}: ${(err as Error).message.split('\n')[0]}`)
  }
}

function deepMerge(a: Record<string, unknown>, b: Record<string, unknown>): Record<string, unknown> {
  const out = {...a}
  for (const [k, v] of Object.entries(b)) {
    out[k] = v && typeof v === 'object' && !Array.isArray(v) && out[k] && typeof out[k] === 'object' ? deepMerge(out[k] as Record<string, unknown>, v as Record<string, unknown>) : v
  }
  return out
}

/** The named cloud, with secure.yaml merged in, and the file it came from. */
export async function loadCloud(name: string, env: NodeJS.ProcessEnv = process.env, cwd = process.cwd()): Promise<{cloud: CloudEntry; file: string}> {
  const dirs = configDirs(env, cwd)
  const file = env.OS_CLIENT_CONFIG_FILE || await firstFile(dirs, ['clouds.yaml', 'clouds.yml'])
  if (!file) throw new UserError(`--openstack-cloud ${name}: no clouds.yaml in ${dirs.join(', ')} (or set OS_CLIENT_CONFIG_FILE)`)
  const parsed = CloudsFile.safeParse(await readYaml(file))
  if (!parsed.success) throw new UserError(`${file}: not a clouds.yaml (expected a top-level "clouds:" map)`)
  const entry = parsed.data.clouds[name]
  if (!entry) throw new UserError(`cloud "${name}" is not in ${file} (it has: ${Object.keys(parsed.data.clouds).join(', ') || 'none'})`)
  let merged: Record<string, unknown> = entry
  const secureFile = env.OS_CLIENT_SECURE_FILE || await firstFile([path.dirname(file), ...dirs], ['secure.yaml', 'secure.yml'])
  if (secureFile) {
    const secure = CloudsFile.safeParse(await readYaml(secureFile))
    const s = secure.success ? secure.data.clouds[name] : undefined
    if (s) merged = deepMerge(merged, s)
  }
  return {cloud: CloudEntry.parse(merged), file}
}

/** A clouds.yaml auth value as a string, when present. */
export function authString(cloud: CloudEntry, ...keys: string[]): string | undefined {
  for (const k of keys) {
    const v = cloud.auth[k]
    if (typeof v === 'string' && v) return v
    if (typeof v === 'number') return String(v)
  }
  return undefined
}
