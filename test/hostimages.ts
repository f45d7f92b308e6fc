/**
 * The host images the e2e tests and benchmarks boot, in one cache keyed by their recipes: qemu base
 * images (with Docker, and without it as a cloud image ships) and lab root filesystems. One build a
 * recipe a machine: the file name carries the recipe's hash, and a lock beside it makes a second
 * caller (another test file or a bench section running at the same time) wait for the first's
 * build instead of starting its own. Also what the qemu tests share: the skip reason, the guest's
 * view of the apt proxy, and the sweep of processes a failed run left.
 */
import {execFileSync, spawn} from 'node:child_process'
import {closeSync, existsSync, mkdirSync, openSync, readdirSync, readFileSync, rmSync, writeSync} from 'node:fs'
import path from 'node:path'
import {fileURLToPath} from 'node:url'
import {DEFAULT_IMAGES, labImageId} from '../drivers/lab/image.js'
import {recipeHash} from '../drivers/qemu/image.js'
import {sleep} from '../src/core/index.js'

export const CACHE = process.env.BERTH_TEST_CACHE ?? '/var/cache/berth-test'
const BIN = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', '..', 'bin', 'run.js')

/** Where a qemu guest sees the apt proxy (QEMU's user network is 10.0.2.0/24; .2-.4 are taken). */
export const GUEST_PROXY = '10.0.2.100:3142'

/** The create flags that give a restricted VM the apt proxy on loopback `port`, for the install only. */
export function guestProxyArgs(port: number): string[] {
  return ['--qemu-guestfwd', `${GUEST_PROXY}=127.0.0.1:${port}`, '--engine-install-proxy', `http://${GUEST_PROXY}`]
}

export function qemuImage(opts: {withoutDocker?: boolean} = {}): string {
  return path.join(CACHE, `qemu-bookworm-${opts.withoutDocker ? 'nodocker-' : ''}${recipeHash('bookworm', opts)}.raw`)
}

export function labImage(suite: 'bookworm' | 'trixie' = 'bookworm'): string {
  return path.join(DEFAULT_IMAGES, labImageId(suite))
}

const has = (cmd: string) => {
  try {
    execFileSync('sh', ['-c', `command -v ${cmd} || test -x /usr/sbin/${cmd}`], {stdio: 'ignore'})
    return true
  } catch {
    return false
  }
}

/** Why the qemu e2e tests cannot run here, or false. */
export function qemuSkip(): string | false {
  const missing = ['qemu-system-x86_64', 'qemu-img', 'debootstrap', 'docker'].filter(c => !has(c))
  if (process.getuid?.() !== 0) return 'needs root'
  if (missing.length) return `needs ${missing.join(', ')}`
  return process.env.BERTH_SKIP_QEMU_E2E ? 'BERTH_SKIP_QEMU_E2E is set' : false
}

/** Live (not zombie) processes whose command line mentions `p`. */
export function liveProcessesMentioning(p: string): number[] {
  const out: number[] = []
  for (const ent of readdirSync('/proc')) {
    if (!/^\d+$/.test(ent)) continue
    try {
      if (!readFileSync(`/proc/${ent}/cmdline`, 'utf8').includes(p)) continue
      const stat = readFileSync(`/proc/${ent}/stat`, 'utf8')
      if (!stat.slice(stat.lastIndexOf(')') + 2).startsWith('Z')) out.push(Number(ent))
    } catch { /* gone */ }
  }
  return out
}

/** Whatever rm could not end (a failed run midway), by PID: QEMU's command line names the store. */
export function killProcessesMentioning(p: string): void {
  for (const pid of liveProcessesMentioning(p)) {
    try {
      process.kill(pid, 'SIGKILL')
    } catch { /* gone */ }
  }
}

const alive = (pid: number) => {
  try {
    process.kill(pid, 0)
    return true
  } catch {
    return false
  }
}

/** Take `lock` (a file holding the owner's PID); a lock whose owner is gone is taken over. */
async function withBuildLock<T>(lock: string, done: () => boolean, fn: () => Promise<T>): Promise<T | undefined> {
  mkdirSync(path.dirname(lock), {recursive: true})
  for (const end = Date.now() + 1_800_000; Date.now() < end;) {
    if (done()) return undefined
    let fd: number
    try {
      fd = openSync(lock, 'wx')
    } catch {
      const owner = Number(readFileSync(lock, 'utf8').trim() || 0)
      if (owner && !alive(owner)) rmSync(lock, {force: true})
      else await sleep(2000)
      continue
    }
    try {
      writeSync(fd, `${process.pid}\n`)
      closeSync(fd)
      return done() ? undefined : await fn()
    } finally {
      rmSync(lock, {force: true})
    }
  }
  throw new Error(`waited 30 min for another build holding ${lock}`)
}

function buildWith(args: string[], env: Record<string, string>): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, ...args], {env: {...process.env, ...env}, stdio: ['ignore', 'ignore', 'pipe']})
    let err = ''
    child.stderr.on('data', (d: Buffer) => {
      err = (err + d.toString()).slice(-4000)
    })
    child.on('error', reject)
    child.on('close', code => (code === 0 ? resolve() : reject(new Error(`berth ${args.join(' ')} failed: ${err}`))))
  })
}

/**
 * The image at `out`, built by `args` (through the apt proxy at `proxy`, if any) unless it is there;
 * returns the build's seconds when this call built it.
 */
async function ensure(out: string, args: string[], proxy?: string): Promise<number | undefined> {
  const t0 = Date.now()
  const built = await withBuildLock(`${out}.lock`, () => existsSync(out), async () => {
    await buildWith([...args, out], proxy ? {http_proxy: proxy} : {})
    return true
  })
  return built ? Math.round((Date.now() - t0) / 100) / 10 : undefined
}

/** A qemu base image; debootstrap's and apt's downloads go through the proxy (they honour http_proxy). */
export function ensureQemuImage(proxy: string | undefined, opts: {withoutDocker?: boolean} = {}): Promise<number | undefined> {
  mkdirSync(CACHE, {recursive: true})
  return ensure(qemuImage(opts), ['qemu', 'build-image', ...(opts.withoutDocker ? ['--without-docker'] : [])], proxy)
}

/** A lab root filesystem without Docker. */
export function ensureLabImage(proxy: string, suite: 'bookworm' | 'trixie' = 'bookworm'): Promise<number | undefined> {
  return ensure(labImage(suite), ['lab', 'build-image', '--suite', suite, '--proxy', proxy], proxy)
}
