/**
 * Boot-to-Docker-ready time of local qemu VMs: `berth create -d qemu` from the command to an
 * engine answering over TLS (boot, cloud-init, provisioning through systemd), for one VM and
 * for three at once. Uses the e2e test's cached base image, building it first when absent.
 */
import {spawnSync} from 'node:child_process'
import {existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync} from 'node:fs'
import path from 'node:path'
import {fileURLToPath} from 'node:url'
import {chooseAccel, probeKvm} from '../drivers/qemu/accel.js'
import {recipeHash} from '../drivers/qemu/image.js'

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..')
const BIN = path.join(ROOT, 'bin', 'run.js')
const CACHE = process.env.BERTH_TEST_CACHE ?? '/var/cache/berth-test'

function berth(args: string[], env: Record<string, string>): number {
  const t0 = process.hrtime.bigint()
  const r = spawnSync(process.execPath, [BIN, ...args], {env: {...process.env, ...env}, stdio: ['ignore', 'ignore', 'pipe'], timeout: 1_800_000})
  if (r.status !== 0) throw new Error(`berth ${args.join(' ')} failed: ${r.stderr}`)
  return Number(process.hrtime.bigint() - t0) / 1e9
}

/** QEMU processes left by a store (a failed run): ended by PID. */
function killLeftovers(store: string): void {
  for (const ent of readdirSync('/proc')) {
    if (!/^\d+$/.test(ent)) continue
    try {
      if (readFileSync(`/proc/${ent}/cmdline`, 'utf8').includes(store)) process.kill(Number(ent), 'SIGKILL')
    } catch { /* gone */ }
  }
}

export async function benchQemu(): Promise<Record<string, number | string>> {
  const out: Record<string, number | string> = {}
  const image = path.join(CACHE, `qemu-bookworm-${recipeHash('bookworm')}.raw`)
  if (!existsSync(image)) {
    mkdirSync(CACHE, {recursive: true})
    out['base image build (s)'] = Number(berth(['qemu', 'build-image', image], {}).toFixed(1))
  }
  out.accelerator = chooseAccel('auto', await probeKvm()).accel
  const create = ['create', '-d', 'qemu', '--qemu-image', image, '--qemu-memory', '1024', '--qemu-restrict']
  // 1 vCPU each is what three VMs sharing 2 host cores get; one VM also with the driver's default 2.
  const runs: Array<[string, string[], string]> = [
    ['boot to Docker ready, 1 VM, 1 vCPU (s)', ['b1'], '1'],
    ['boot to Docker ready, 1 VM, 2 vCPUs (s)', ['b1'], '2'],
    ['boot to Docker ready, 3 VMs at once, 1 vCPU each (s)', ['b1', 'b2', 'b3'], '1'],
  ]
  for (const [label, names, cpus] of runs) {
    const store = mkdtempSync(path.join('/var/tmp', 'qemu-bench-store-'))
    const env = {BERTH_STORAGE_PATH: store}
    try {
      out[label] = Number(berth([...create, '--qemu-cpus', cpus, ...names], env).toFixed(1))
    } finally {
      spawnSync(process.execPath, [BIN, 'rm', '-f', ...names], {env: {...process.env, ...env}, stdio: 'ignore'})
      killLeftovers(store)
      rmSync(store, {recursive: true, force: true})
    }
  }
  return out
}
