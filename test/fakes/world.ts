/**
 * One berth with the fake driver, wired to a fake host (a real SSH server in this process) and
 * its engine endpoint: what the pipeline tests create machines in.
 */
import net from 'node:net'
import {createBerth, type Berth, type CreateOptions} from '../../src/machine/index.js'
import {EngineOptions} from '../../src/store/record.js'
import {Store} from '../../src/store/index.js'
import {tmpDir} from '../helpers.js'
import {FakeCloud, type FakeDriverOptions, fakeRegistry} from './driver.js'
import {FakeEngine} from './engine.js'
import {FakeSshd} from './sshd.js'

export interface World {
  berth: Berth
  store: Store
  cloud: FakeCloud
  host: FakeSshd
  engine: FakeEngine
  progress: string[]
  close(): Promise<void>
}

export interface WorldOptions extends Partial<Pick<FakeDriverOptions, 'failAt' | 'afterVm'>> {
  /** SSH goes to a loopback port nothing listens on. */
  noSsh?: boolean
  /** Commands matching this fail on the host (exit 1). */
  failCommand?: RegExp
  /** dockerd "starts" but its engine never answers. */
  engineDark?: boolean
  cloud?: FakeCloud
  storeRoot?: string
}

/** A loopback port with no listener: connections to it are refused at once. */
export async function closedPort(): Promise<number> {
  const srv = net.createServer()
  await new Promise<void>(resolve => srv.listen(0, '127.0.0.1', () => resolve()))
  const {port} = srv.address() as net.AddressInfo
  await new Promise<void>(resolve => srv.close(() => resolve()))
  return port
}

/** Create options for the fake driver, with short SSH and engine waits. */
export const createOptions = (o: Partial<CreateOptions> = {}): CreateOptions => ({
  driver: 'fake', driverOptions: {}, engine: EngineOptions.parse({}), sshTimeoutSec: 5, engineTimeoutSec: 5, ...o,
})

export async function world(o: WorldOptions = {}): Promise<World> {
  const engine = await FakeEngine.listen()
  const host = await FakeSshd.start({
    files: {'/etc/os-release': 'ID=debian\nPRETTY_NAME="Debian GNU/Linux 12 (bookworm)"\n', '/usr/bin/dockerd': ''},
    exec: (cmd, h) => {
      if (o.failCommand?.test(cmd)) return {code: 1, stderr: `fake host: ${cmd.split('\n')[0]}: refused`}
      if (cmd.includes('hostname')) return {code: 0, stdout: 'fakehost\n127.0.0.1\n'}
      if (cmd.includes('exec /usr/bin/dockerd') && !o.engineDark) engine.start(h)
      return undefined
    },
  })
  const noSsh = o.noSsh ? await closedPort() : 0
  const cloud = o.cloud ?? new FakeCloud()
  const store = new Store(o.storeRoot ?? tmpDir('pipeline'))
  const progress: string[] = []
  const drivers = fakeRegistry({
    cloud, failAt: o.failAt, afterVm: o.afterVm,
    sshPort: () => noSsh || host.port, enginePort: () => engine.port,
    onVm: key => host.authorized.push(key),
  })
  const berth = createBerth({store, drivers, io: {progress: (m, s) => progress.push(`${m}: ${s}`), warn: m => progress.push(`warning: ${m}`)}})
  return {
    berth, store, cloud, host, engine, progress,
    async close() {
      await host.close()
      await engine.close()
    },
  }
}
