import type {DriverModule} from '../src/driver.js'
import * as azure from './azure/flags.js'
import * as generic from './generic/flags.js'
import * as lab from './lab/flags.js'

/**
 * Every driver, by name. Flags load eagerly (they are the help), implementations lazily so
 * a command pays only for the driver it uses.
 */
export const drivers: Record<string, DriverModule> = {
  lab: {...lab, load: async () => (await import('./lab/driver.js')).default},
  generic: {...generic, load: async () => (await import('./generic/driver.js')).default},
  azure: {...azure, load: async () => (await import('./azure/driver.js')).default},
}

export const DEFAULT_DRIVER = 'lab'
