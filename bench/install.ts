/**
 * The install path, beside the no-install path, in one run: SSH handshakes per host when berth
 * installs Docker (goal: the one connection of every create), and create-to-engine-ready time of
 * a lab host on its own Debian tree and of a qemu VM from an image without Docker, each beside
 * the same driver on a host that has Docker already. apt goes through an apt-cacher-ng.
 */
import {spawnSync} from 'node:child_process'
import {existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync} from 'node:fs'
import path from 'node:path'
import {fileURLToPath} from 'node:url'
import {DEFAULT_IMAGES, labImageId} from '../drivers/lab/image.js'
import {bridgeName, ensureBridge, maybeRemoveBridge} from '../drivers/lab/network.js'
import {recipeHash} from '../drivers/qemu/image.js'
import {startAptProxy} from '../test/aptproxy.js'
import {tmp} from './tmp.js'

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..')
const BIN = path.join(ROOT, 'bin', 'run.js')
const CACHE = process.env.BERTH_TEST_CACHE ?? '/var/cache/berth-test'
const SUBNET = '172.30.141.0/24'
const BRIDGE_IP = '172.30.141.1'

function berth(args: string[], env: Record<string, string>): number {
  const t0 = process.hrtime.bigint()
  const r = spawnSync(process.execPath, [BIN, ...args], {env: {...process.env, ...env}, stdio: ['ignore', 'ignore', 'pipe'], timeout: 1_800_000})
  if (r.status !== 0) throw new Error(`berth ${args.join(' ')} failed: ${r.stderr}`)
  return Number(process.hrtime.bigint() - t0) / 1e9
}

const quiet = (args: string[], env: Record<string, string>) => spawnSync(process.execPath, [BIN, ...args], {env: {...process.env, ...env}, stdio: 'ignore'})

function killLeftovers(store: string): void {
  for (const ent of readdirSync('/proc')) {
    if (!/^\d+$/.test(ent)) continue
    try {
      if (readFileSync(`/proc/${ent}/cmdline`, 'utf8').includes(store)) process.kill(Number(ent), 'SIGKILL')
    } catch { /* gone */ }
  }
}

async function lab(out: Record<string, number | string>, proxyUrl: string, buildProxy: string): Promise<void> {
  const image = path.join(DEFAULT_IMAGES, labImageId('bookworm'))
  if (!existsSync(image)) out['lab image build (s)'] = Number(berth(['lab', 'build-image', '--proxy', buildProxy, image], {}).toFixed(1))
  const env = () => ({BERTH_STORAGE_PATH: tmp('store'), BERTH_LAB_DIR: tmp('lab'), BERTH_LAB_SUBNET: SUBNET})
  const e1 = env()
  out['lab host: create to engine ready, Docker already there (s)'] = Number(berth(['create', 'n1'], e1).toFixed(1))
  quiet(['rm', '-f', '-y', 'n1'], e1)
  const e2 = env()
  out['lab host on its tree: create to engine ready, Docker installed (s)'] = Number(berth(['create', '-d', 'lab', '--lab-image', image, '--engine-install-proxy', proxyUrl, 'i1'], e2).toFixed(1))
  quiet(['rm', '-f', '-y', 'i1'], e2)
  // In-process, so the SSH module's own counter is read: every handshake, retries included.
  const {Store, recordSchemas} = await import('../src/store/index.js')
  const {createMachine, removeMachine} = await import('../src/machine/index.js')
  const {sshStats} = await import('../src/ssh/index.js')
  const {drivers} = await import('../drivers/index.js')
  const {EngineOptions} = await recordSchemas()
  const e3 = env()
  const ctx = {store: new Store(e3.BERTH_STORAGE_PATH), drivers}
  const names = ['h1', 'h2']
  const before = sshStats.handshakes
  const driverOptions = {'lab-subnet': SUBNET, 'lab-dir': e3.BERTH_LAB_DIR, 'lab-image': image}
  try {
    await Promise.all(names.map(n => createMachine(ctx, n, {driver: 'lab', driverOptions, engine: EngineOptions.parse({installProxy: proxyUrl})})))
    out['SSH handshakes per host, install path (goal 1)'] = ((sshStats.handshakes - before) / names.length).toFixed(2)
  } finally {
    for (const n of names) await removeMachine(ctx, n, {force: true}).catch(() => {})
  }
}

function qemu(out: Record<string, number | string>, proxyPort: number, buildProxy: string): void {
  const withDocker = path.join(CACHE, `qemu-bookworm-${recipeHash('bookworm')}.raw`)
  const without = path.join(CACHE, `qemu-bookworm-nodocker-${recipeHash('bookworm', {withoutDocker: true})}.raw`)
  mkdirSync(CACHE, {recursive: true})
  if (!existsSync(withDocker)) out['qemu image build (s)'] = Number(berth(['qemu', 'build-image', withDocker], {http_proxy: buildProxy}).toFixed(1))
  if (!existsSync(without)) out['qemu image build, without Docker (s)'] = Number(berth(['qemu', 'build-image', '--without-docker', without], {http_proxy: buildProxy}).toFixed(1))
  const base = ['create', '-d', 'qemu', '--qemu-cpus', '2', '--qemu-memory', '1536', '--qemu-restrict']
  const runs: Array<[string, string[]]> = [
    ['qemu VM: create to engine ready, Docker in the image (s)', ['--qemu-image', withDocker]],
    ['qemu VM: create to engine ready, Docker installed (s)', ['--qemu-image', without, '--qemu-guestfwd', `10.0.2.100:3142=127.0.0.1:${proxyPort}`, '--engine-install-proxy', 'http://10.0.2.100:3142']],
  ]
  for (const [label, args] of runs) {
    const store = mkdtempSync(path.join('/var/tmp', 'install-bench-store-'))
    const env = {BERTH_STORAGE_PATH: store}
    try {
      out[label] = Number(berth([...base, ...args, 'q1'], env).toFixed(1))
    } finally {
      quiet(['rm', '-f', '-y', 'q1'], env)
      killLeftovers(store)
      rmSync(store, {recursive: true, force: true})
    }
  }
}

export async function benchInstall(): Promise<Record<string, number | string>> {
  const out: Record<string, number | string> = {}
  await ensureBridge(SUBNET, bridgeName(SUBNET))
  const proxy = await startAptProxy({bind: ['127.0.0.1', BRIDGE_IP], cache: 'bench'})
  try {
    await lab(out, proxy.url(BRIDGE_IP), proxy.url('127.0.0.1'))
    if (!process.env.BERTH_SKIP_QEMU_E2E) qemu(out, proxy.port, proxy.url('127.0.0.1'))
  } finally {
    await proxy.stop()
    await maybeRemoveBridge(bridgeName(SUBNET)).catch(() => {})
  }
  return out
}
