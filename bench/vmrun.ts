/**
 * What the qemu and install benchmarks share: berth run as a user runs it (timed), a store of its
 * own per measured create that is removed with whatever QEMU a failed run left, and the pair of
 * rows of a qemu VM's create with Docker in the image beside the same with berth installing it.
 */
import {spawnSync} from 'node:child_process'
import {mkdtempSync, rmSync} from 'node:fs'
import path from 'node:path'
import {fileURLToPath} from 'node:url'
import {ensureQemuImage, guestProxyArgs, killProcessesMentioning, qemuImage} from '../test/hostimages.js'

const BIN = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', '..', 'bin', 'run.js')

/** Seconds `berth ARGS` took; its failure ends the benchmark with berth's own message. */
export function timedBerth(args: string[], env: Record<string, string>): number {
  const t0 = process.hrtime.bigint()
  const r = spawnSync(process.execPath, [BIN, ...args], {env: {...process.env, ...env}, stdio: ['ignore', 'ignore', 'pipe'], timeout: 1_800_000})
  if (r.status !== 0) throw new Error(`berth ${args.join(' ')} failed: ${r.stderr}`)
  return Math.round(Number(process.hrtime.bigint() - t0) / 1e8) / 10
}

/** `berth ARGS`, its outcome ignored (clean-up). */
export function quietBerth(args: string[], env: Record<string, string>): void {
  spawnSync(process.execPath, [BIN, ...args], {env: {...process.env, ...env}, stdio: 'ignore'})
}

/** fn with a fresh store for qemu machines, removed after with its machines and any QEMU left. */
export function withQemuStore<T>(names: string[], fn: (env: Record<string, string>) => T): T {
  const store = mkdtempSync(path.join('/var/tmp', 'qemu-bench-store-'))
  const env = {BERTH_STORAGE_PATH: store}
  try {
    return fn(env)
  } finally {
    quietBerth(['rm', '-f', '-y', ...names], env)
    killProcessesMentioning(store)
    rmSync(store, {recursive: true, force: true})
  }
}

/**
 * Create to engine ready of one qemu VM (2 vCPUs) from the image with Docker, then from the image
 * without it, berth installing docker.io through the apt proxy on loopback `proxyPort`; the images
 * are the e2e tests' (built here, through `buildProxy`, only when absent).
 */
export async function qemuInstallRows(out: Record<string, number | string>, proxyPort: number, buildProxy: string): Promise<void> {
  for (const withoutDocker of [false, true]) {
    const built = await ensureQemuImage(buildProxy, {withoutDocker})
    if (built !== undefined) out[`qemu image build${withoutDocker ? ', without Docker' : ''} (s)`] = built
  }
  const base = ['create', '-d', 'qemu', '--qemu-cpus', '2', '--qemu-memory', '1536', '--qemu-restrict']
  const runs: Array<[string, string[]]> = [
    ['qemu VM: create to engine ready, Docker in the image (s)', ['--qemu-image', qemuImage()]],
    ['qemu VM: create to engine ready, Docker installed by berth (s)', ['--qemu-image', qemuImage({withoutDocker: true}), ...guestProxyArgs(proxyPort)]],
  ]
  for (const [label, args] of runs) {
    try {
      out[label] = withQemuStore(['q1'], env => timedBerth([...base, ...args, 'q1'], env))
    } catch (err) {
      // One failed create (a TCG guest too slow on a busy box) costs its row, not the section's others.
      out[label] = `failed: ${String((err as Error).message).split('\n').filter(l => l.startsWith('berth:')).at(-1) ?? 'see stderr'}`
    }
  }
  const [a, b] = runs.map(([label]) => out[label])
  if (typeof a === 'number' && typeof b === 'number') out['qemu VM: the install\'s share of create (s)'] = Math.round((b - a) * 10) / 10
}
