import {spawn, execFileSync} from 'node:child_process'
import {mkdtempSync, mkdirSync, rmSync, symlinkSync, writeFileSync, existsSync, readdirSync} from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import {fileURLToPath} from 'node:url'

/** Repository root (tests run from dist/test). */
export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..')
export const BIN = path.join(ROOT, 'bin', 'run.js')

export interface RunResult {
  code: number
  stdout: string
  stderr: string
}

const made: string[] = []
process.on('exit', () => {
  // Leave no temp folders behind (a test that failed midway also left its hosts: rm is its job).
  for (const d of made) rmSync(d, {recursive: true, force: true})
})

export function tmpDir(prefix: string): string {
  const d = mkdtempSync(path.join(os.tmpdir(), `berth-${prefix}-`))
  made.push(d)
  return d
}

/** Run the real CLI as a user would, in its own process. */
export function berth(args: string[], opts: {env?: Record<string, string | undefined>; input?: string; timeoutMs?: number} = {}): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, ...args], {env: {...process.env, BERTH_DEBUG: '', ...opts.env}, stdio: ['pipe', 'pipe', 'pipe']})
    let stdout = ''
    let stderr = ''
    child.stdout.on('data', d => (stdout += d))
    child.stderr.on('data', d => (stderr += d))
    const timer = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs ?? 180_000)
    child.on('error', reject)
    child.on('close', code => {
      clearTimeout(timer)
      resolve({code: code ?? 137, stdout, stderr})
    })
    child.stdin.on('error', () => {}) // the CLI may exit before reading its input
    child.stdin.end(opts.input ?? '')
  })
}

/** The environment `berth env NAME` prints, parsed, for running the stock docker CLI. */
export async function dockerEnv(name: string, env: Record<string, string | undefined>): Promise<Record<string, string>> {
  const r = await berth(['env', name, '--json'], {env})
  if (r.code !== 0) throw new Error(`berth env ${name}: ${r.stderr}`)
  return JSON.parse(r.stdout)
}

export function docker(args: string[], env: Record<string, string>, input?: Buffer): {code: number; stdout: string; stderr: string} {
  try {
    const stdout = execFileSync('docker', args, {env: {...process.env, ...env}, input, stdio: ['pipe', 'pipe', 'pipe'], timeout: 60_000}).toString()
    return {code: 0, stdout, stderr: ''}
  } catch (err) {
    const e = err as {status?: number; stdout?: Buffer; stderr?: Buffer}
    return {code: e.status ?? 1, stdout: e.stdout?.toString() ?? '', stderr: e.stderr?.toString() ?? ''}
  }
}

/** A tiny image made from busybox-static with `docker import` (no registry here). */
export function busyboxTar(): Buffer {
  const dir = tmpDir('rootfs')
  mkdirSync(path.join(dir, 'bin'))
  execFileSync('cp', ['/bin/busybox', path.join(dir, 'bin', 'busybox')])
  for (const c of ['sh', 'ls', 'echo', 'cat', 'sleep', 'hostname', 'nc', 'wget', 'httpd', 'ping', 'nslookup', 'ip', 'ifconfig', 'mkdir', 'touch', 'true', 'env']) {
    symlinkSync('busybox', path.join(dir, 'bin', c))
  }
  mkdirSync(path.join(dir, 'tmp'))
  mkdirSync(path.join(dir, 'etc'))
  writeFileSync(path.join(dir, 'etc', 'passwd'), 'root:x:0:0:root:/:/bin/sh\n')
  return execFileSync('tar', ['-C', dir, '-c', '.'], {maxBuffer: 64 << 20})
}

/** Namespaces, links and processes that a set of lab host ids would leave behind. */
export function labLeftovers(ids: string[]): string[] {
  const left: string[] = []
  const netns = execFileSync('ip', ['netns', 'list']).toString()
  const links = execFileSync('ip', ['-o', 'link']).toString()
  for (const id of ids) {
    if (netns.includes(`berth-${id}`)) left.push(`netns berth-${id}`)
    if (links.includes(`bl${id.slice(0, 12)}`)) left.push(`link bl${id}`)
    for (const ctl of existsSync('/sys/fs/cgroup') ? readdirSync('/sys/fs/cgroup') : []) {
      if (existsSync(`/sys/fs/cgroup/${ctl}/berth-lab-${id}`)) left.push(`cgroup ${ctl}/berth-lab-${id}`)
    }
  }
  return left
}

export function isRoot(): boolean {
  return process.getuid?.() === 0
}

// The one sleep berth has (src/core/poll.ts), for tests too.
import {sleep} from '../src/core/index.js'
export {sleep}

/** Ask again every `everyMs` until `fn` gives something truthy; fail naming what was awaited and the last answer. */
export async function until<T>(what: string, fn: () => Promise<T | undefined | false> | T | undefined | false, timeoutMs = 90_000, everyMs = 500): Promise<T> {
  const end = Date.now() + timeoutMs
  let last: T | undefined | false
  while (Date.now() < end) {
    last = await fn()
    if (last) return last
    await sleep(everyMs)
  }
  throw new Error(`timed out waiting for ${what} (last: ${JSON.stringify(last)})`)
}

/** PIDs whose command line mentions a path (lab hosts' sshd runs with its folder in argv). */
export function processesMentioning(p: string): number[] {
  const out: number[] = []
  for (const ent of readdirSync('/proc')) {
    if (!/^\d+$/.test(ent)) continue
    try {
      if (execFileSync('cat', [`/proc/${ent}/cmdline`]).toString().includes(p)) out.push(Number(ent))
    } catch { /* gone */ }
  }
  return out
}
