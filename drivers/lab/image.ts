/**
 * `berth lab build-image`: a Debian root filesystem made with debootstrap, for lab hosts that
 * start as a fresh cloud machine does: openssh-server, curl and apt, no Docker. Lab hosts boot
 * on it read-only (each host writes to an overlay of its own), so one tree serves every host.
 */
import {spawn} from 'node:child_process'
import {createHash, randomBytes} from 'node:crypto'
import {promises as fs} from 'node:fs'
import path from 'node:path'
import {UserError, which} from '../../src/sdk/index.js'

export const DEFAULT_IMAGES = '/var/cache/berth-lab/images'
const MIRROR = 'http://deb.debian.org/debian'
/** What a cloud image has and berth's install paths use (apt, curl for install scripts); no Docker. */
const INCLUDE = ['openssh-server', 'curl', 'ca-certificates', 'iproute2', 'procps']

/** Identifies the recipe: a cache of built trees keys on it (a changed recipe means a new tree). */
export function labImageId(suite: string): string {
  return `${suite}-${createHash('sha256').update(`${suite}\n${INCLUDE.join(' ')}\nrc1`).digest('hex').slice(0, 12)}`
}

export interface LabImageOptions {
  dir?: string
  suite?: string
  mirror?: string
  /** http proxy for debootstrap's downloads (an apt-cacher-ng on this box). */
  proxy?: string
  progress?: (step: string) => void
  signal?: AbortSignal
}

/** A usable tree: an os-release to detect and an sshd to boot. */
export async function checkLabImage(dir: string): Promise<void> {
  for (const f of ['etc/os-release', 'usr/sbin/sshd', 'bin/sh']) {
    if (!await fs.stat(path.join(dir, f)).then(() => true, () => false)) throw new UserError(`--lab-image ${dir} is not a root filesystem a lab host can boot (no /${f}): build one with "berth lab build-image"`)
  }
}

/**
 * Build the tree in a work folder beside DIR and rename it into place when complete, so a
 * DIR that exists is whole (a build that died leaves only its work folder, removed on the way).
 */
export async function buildLabImage(opts: LabImageOptions): Promise<{dir: string; seconds: number; built: boolean}> {
  const t0 = Date.now()
  const suite = opts.suite ?? 'bookworm'
  const dir = path.resolve(opts.dir ?? path.join(DEFAULT_IMAGES, suite))
  if (process.getuid?.() !== 0) throw new UserError('berth lab build-image needs root (debootstrap)')
  if (!await which('debootstrap')) throw new UserError('debootstrap is not installed: apt-get install debootstrap')
  if (await fs.lstat(dir).then(() => true, () => false)) {
    await checkLabImage(dir)
    return {dir, seconds: 0, built: false}
  }
  await fs.mkdir(path.dirname(dir), {recursive: true})
  const work = path.join(path.dirname(dir), `.${path.basename(dir)}.build-${randomBytes(4).toString('hex')}`)
  const env: NodeJS.ProcessEnv = {PATH: '/usr/sbin:/usr/bin:/sbin:/bin', LC_ALL: 'C'}
  if (opts.proxy) env.http_proxy = opts.proxy
  const log: string[] = []
  try {
    opts.progress?.(`debootstrap ${suite}${opts.proxy ? ` through ${opts.proxy}` : ''}`)
    await new Promise<void>((resolve, reject) => {
      const child = spawn('debootstrap', ['--variant=minbase', `--include=${INCLUDE.join(',')}`, suite, work, opts.mirror ?? MIRROR], {env, stdio: ['ignore', 'pipe', 'pipe']})
      const onAbort = () => child.kill('SIGTERM')
      opts.signal?.addEventListener('abort', onAbort, {once: true})
      const keep = (d: Buffer) => {
        log.push(...d.toString().split('\n').filter(Boolean))
        log.splice(0, Math.max(0, log.length - 15))
      }
      child.stdout.on('data', keep)
      child.stderr.on('data', keep)
      child.on('error', reject)
      child.on('close', code => {
        opts.signal?.removeEventListener('abort', onAbort)
        if (code === 0) resolve()
        else reject(new Error(`debootstrap exit ${code}`))
      })
    })
    opts.progress?.('cleaning up')
    // As a cloud image ships: no package lists (the first apt-get update fetches them), no host keys (the host gets its own).
    await fs.rm(path.join(work, 'var/lib/apt/lists'), {recursive: true, force: true})
    await fs.mkdir(path.join(work, 'var/lib/apt/lists/partial'), {recursive: true})
    for (const f of await fs.readdir(path.join(work, 'etc/ssh'))) {
      if (f.startsWith('ssh_host_')) await fs.rm(path.join(work, 'etc/ssh', f))
    }
    for (const f of await fs.readdir(path.join(work, 'var/cache/apt/archives'))) {
      if (f.endsWith('.deb')) await fs.rm(path.join(work, 'var/cache/apt/archives', f))
    }
    await fs.mkdir(path.join(work, 'var/lib/docker'), {recursive: true})
    await fs.rename(work, dir)
    return {dir, seconds: Math.round((Date.now() - t0) / 1000), built: true}
  } catch (err) {
    if (log.length) process.stderr.write(`${log.join('\n')}\n`)
    throw new UserError(`building the lab image failed (${err instanceof Error ? err.message : String(err)}); the last lines of debootstrap's output are above`)
  } finally {
    await fs.rm(work, {recursive: true, force: true})
  }
}
