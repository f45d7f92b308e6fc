/**
 * A create that dies: run as its own process, it creates a machine with the fake driver (cloud
 * kept in a file) and SIGKILLs itself once the VM exists, as a crash or `kill -9` would.
 * argv: STORE_ROOT CLOUD_FILE NAME
 */
import {createBerth} from '../../src/machine/index.js'
import {EngineOptions} from '../../src/store/record.js'
import {Store} from '../../src/store/index.js'
import {FakeCloud, fakeRegistry} from './driver.js'

const [root, cloudFile, name] = process.argv.slice(2)
const drivers = fakeRegistry({
  cloud: new FakeCloud(cloudFile), sshPort: () => 1,
  afterVm: () => {
    process.kill(process.pid, 'SIGKILL')
  },
})
await createBerth({store: new Store(root), drivers}).create(name, {driver: 'fake', driverOptions: {}, engine: EngineOptions.parse({})})
