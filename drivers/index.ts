import type {DriverLoaders} from '../src/sdk/index.js'

/**
 * Every driver by name, as code loaded on first use, so a command pays only for the driver it
 * touches. Their flags (the help of create) are in flags.ts, for the commands that read them.
 */
export const drivers: DriverLoaders = {
  lab: {load: async () => (await import('./lab/driver.js')).default},
  generic: {load: async () => (await import('./generic/driver.js')).default},
  openstack: {load: async () => (await import('./openstack/driver.js')).default},
  conoha: {load: async () => (await import('./conoha/driver.js')).default},
  azure: {load: async () => (await import('./azure/driver.js')).default},
  qemu: {load: async () => (await import('./qemu/driver.js')).default},
  virtualbox: {load: async () => (await import('./virtualbox/driver.js')).default},
}

export const DEFAULT_DRIVER = 'lab'
