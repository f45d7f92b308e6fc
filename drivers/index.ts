import type {DriverModule} from '../src/sdk/index.js'
import * as azure from './azure/flags.js'
import * as generic from './generic/flags.js'
import * as lab from './lab/flags.js'
import * as openstack from './openstack/flags.js'
import * as conoha from './conoha/flags.js'
import * as qemu from './qemu/flags.js'
import * as virtualbox from './virtualbox/flags.js'

/**
 * Every driver, by name. Flags load eagerly (they are the help), implementations lazily so
 * a command pays only for the driver it uses.
 */
export const drivers: Record<string, DriverModule> = {
  lab: {...lab, load: async () => (await import('./lab/driver.js')).default},
  generic: {...generic, load: async () => (await import('./generic/driver.js')).default},
  openstack: {...openstack, load: async () => (await import('./openstack/driver.js')).default},
  conoha: {...conoha, load: async () => (await import('./conoha/driver.js')).default},
  azure: {...azure, load: async () => (await import('./azure/driver.js')).default},
  qemu: {...qemu, load: async () => (await import('./qemu/driver.js')).default},
  virtualbox: {...virtualbox, load: async () => (await import('./virtualbox/driver.js')).default},
}

export const DEFAULT_DRIVER = 'lab'
