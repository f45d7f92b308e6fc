/**
 * The install path, beside the no-install path, in one run: SSH handshakes per host when berth
 * installs Docker (goal: the one connection of every create), and create-to-engine-ready time of
 * a lab host on its own Debian tree and of a qemu VM from an image without Docker, each beside
 * the same driver on a host that has Docker already. apt goes through an apt-cacher-ng.
 */
import {bridgeName, ensureBridge, maybeRemoveBridge} from '../drivers/lab/network.js'
import {startAptProxy} from '../test/aptproxy.js'
import {ensureLabImage, labImage} from '../test/hostimages.js'
import {tmp} from './tmp.js'
import {qemuInstallRows, quietBerth as quiet, timedBerth as berth} from './vmrun.js'

const SUBNET = '172.30.141.0/24'
const BRIDGE_IP = '172.30.141.1'

async function lab(out: Record<string, number | string>, proxyUrl: string, buildProxy: string): Promise<void> {
  const image = labImage('bookworm')
  const built = await ensureLabImage(buildProxy)
  if (built !== undefined) out['lab image build (s)'] = built
  const env = () => ({BERTH_STORAGE_PATH: tmp('store'), BERTH_LAB_DIR: tmp('lab'), BERTH_LAB_SUBNET: SUBNET})
  const e1 = env()
  out['lab host: create to engine ready, Docker already there (s)'] = berth(['create', 'n1'], e1)
  quiet(['rm', '-f', '-y', 'n1'], e1)
  const e2 = env()
  out['lab host on its tree: create to engine ready, Docker installed (s)'] = berth(['create', '-d', 'lab', '--lab-image', image, '--engine-install-proxy', proxyUrl, 'i1'], e2)
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

export async function benchInstall(): Promise<Record<string, number | string>> {
  const out: Record<string, number | string> = {}
  await ensureBridge(SUBNET, bridgeName(SUBNET))
  const proxy = await startAptProxy({bind: ['127.0.0.1', BRIDGE_IP], cache: 'bench'})
  try {
    await lab(out, proxy.url(BRIDGE_IP), proxy.url('127.0.0.1'))
    if (!process.env.BERTH_SKIP_QEMU_E2E) await qemuInstallRows(out, proxy.port, proxy.url('127.0.0.1'))
  } finally {
    await proxy.stop()
    await maybeRemoveBridge(bridgeName(SUBNET)).catch(() => {})
  }
  return out
}
